"""Every exercise accepts its own worked solution and rejects the untouched placeholder."""

import importlib
import inspect
import pkgutil

import pytest

import vitlib.course.exercises
from vitlib.course.teach import Exercise

EXERCISES = [
    (f"{info.name}.{name}", obj)
    for info in pkgutil.iter_modules(vitlib.course.exercises.__path__)
    for name, obj in vars(importlib.import_module(f"vitlib.course.exercises.{info.name}")).items()
    if isinstance(obj, Exercise)
]


def answer_of(exercise: Exercise):
    """A solution is either the answer itself (a function the learner writes) or a function of no
    arguments that computes the answer."""
    solution = exercise._solution
    return solution() if not inspect.signature(solution).parameters else solution


def test_every_lesson_has_exercises():
    lessons = {name.split(".")[0] for name, _ in EXERCISES}
    assert {"lesson00", "lesson01", "lesson02", "lesson03", "lesson04"} <= lessons


@pytest.mark.parametrize("name, exercise", EXERCISES, ids=[n for n, _ in EXERCISES])
def test_solution_passes_and_placeholder_fails(name, exercise, capsys):
    assert exercise.passes(answer_of(exercise)), name
    assert not exercise.passes(...)
    exercise.check(...)
    assert "not yet" in capsys.readouterr().out
    exercise.solution()
    assert "def " in capsys.readouterr().out
