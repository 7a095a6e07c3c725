"""Every exercise accepts its own worked solution and rejects the untouched placeholder."""

import copy
import functools
import importlib
import inspect
import pkgutil

import pytest
import torch

import vitlib
import vitlib.course.exercises
from vitlib.course.exercises import lesson05, lesson06, lesson07
from vitlib.course.teach import Exercise
from vitlib.data import load_dataset
from vitlib.profile import current_profile
from vitlib.sweep import sweep_spec
from vitlib.train import History

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


@functools.cache
def half_B_run():
    """Lesson 06's demonstration, smoke-sized: an untrained ViT stands in for the pretrained one (the checker looks
    at the data, the model and the history, not at where the weights came from)."""
    P, B = current_profile(), sweep_spec("pretrain", "cpu")
    task_train, val_B = load_dataset(B.data, "train"), load_dataset(B.data, "val", limit=P.test_limit)
    torch.manual_seed(0)
    pretrained = vitlib.create_vit(P.transfer_variant)
    model, history, half = lesson06.half_B._solution(pretrained, task_train, val_B, B.lrs[0])
    full = History([{**r, "val_acc": 0.5} for r in history.records])  # stands in for the run on the whole B
    return model, history, half, full


def answers_of(exercise: Exercise) -> tuple:
    """The answers to pass to ``check``: an experiment's checker takes several (model, history, control)."""
    if exercise is lesson06.half_B:
        return half_B_run()
    answer = answer_of(exercise)
    takes = len(inspect.signature(exercise._checker).parameters)
    return tuple(answer) if takes > 1 else (answer,)


def test_every_lesson_has_exercises():
    lessons = {name.split(".")[0] for name, _ in EXERCISES}
    assert {"lesson00", "lesson01", "lesson02", "lesson03", "lesson04"} <= lessons


@pytest.mark.parametrize("name, exercise", EXERCISES, ids=[n for n, _ in EXERCISES])
def test_solution_passes_and_placeholder_fails(name, exercise, capsys):
    assert exercise.passes(*answers_of(exercise)), name
    assert not exercise.passes(...)
    exercise.check(...)
    assert "not yet" in capsys.readouterr().out
    exercise.solution()
    assert "def " in capsys.readouterr().out


# --- lesson 05's experiments: the checker looks at the model and at what was measured with it -------------
@pytest.fixture(scope="module")
def no_position_run():
    return lesson05.no_position._solution()  # (model, history, control), smoke-sized


def test_experiment_rejects_the_unchanged_recipe(no_position_run):
    model, history, control = no_position_run
    ok, message = lesson05.other_stride._checker(model, history, control)  # pos_embed changed, stride not
    assert not ok and "stride" in message


def test_experiment_rejects_a_history_that_is_not_the_models(no_position_run):
    model, history, control = no_position_run
    forged = copy.deepcopy(history)
    forged.records[-1]["val_acc"] = min(1.0, history.last("val_acc") + 0.2)  # a made-up measurement
    ok, message = lesson05.no_position._checker(model, forged, control)
    assert not ok and "validation split" in message
    short = copy.deepcopy(history)
    short.records[-1]["step"] = control.last("step") - 1  # a shorter run than the control
    ok, message = lesson05.no_position._checker(model, short, control)
    assert not ok and "steps" in message


def test_experiment_reports_the_measured_gap(no_position_run):
    model, history, control = no_position_run
    ok, message = lesson05.no_position._checker(model, history, control)
    gap = (history.last("val_acc") - control.last("val_acc")) * 100
    assert ok and f"{gap:+.1f} points" in message and f"{history.last('val_acc'):.1%}" in message
    # a short one-seed run is labelled a demonstration, and the measurement is sent where it was made
    assert "demonstration" in message and "not what the change is worth" in message and "lesson 08" in message


# --- lesson 06's demonstration --------------------------------------------------------------------------------
def test_lesson06_B_is_the_same_in_every_profile():
    # the checker takes B from the cpu sweep; the lesson loads the gpu sweep's results on a GPU when they exist
    cpu, gpu = sweep_spec("pretrain", "cpu"), sweep_spec("pretrain", "gpu")
    for field in ("data", "finetune_per_class", "batch_size", "eval_every", "warmup_steps", "pretrain_classes"):
        assert getattr(cpu, field) == getattr(gpu, field), field


def test_half_B_rejects_the_whole_B():
    model, history, half, full = half_B_run()
    B = sweep_spec("pretrain", "cpu")
    whole = load_dataset(B.data, "train").stratified_subset(B.finetune_per_class, seed=0)
    ok, message = lesson06.half_B._checker(model, history, whole, full)
    assert not ok and "half as many" in message


def test_half_B_rejects_a_run_of_other_length():
    model, history, half, full = half_B_run()
    longer = History(full.records + [{**full.records[-1], "step": full.last("step") + 1}])
    ok, message = lesson06.half_B._checker(model, history, half, longer)
    assert not ok and "as many steps" in message


def test_half_B_rejects_a_made_up_measurement():
    model, history, half, full = half_B_run()
    forged = History([{**r, "val_acc": 0.999} for r in history.records])
    ok, message = lesson06.half_B._checker(model, forged, half, full)
    assert not ok and "validation split" in message


def test_half_B_reports_the_gap_to_the_whole_B():
    model, history, half, full = half_B_run()
    ok, message = lesson06.half_B._checker(model, history, half, full)
    gap = (history.last("val_acc") - 0.5) * 100
    assert ok and f"{gap:+.1f} points" in message and f"({len(half)} images)" in message and "demonstration" in message


# --- lesson 07: the checkers recognise the common slips ---------------------------------------------------------
def test_rollout_checker_names_the_reversed_product_and_the_missing_renormalisation():
    def reversed_order(attentions):
        return lesson07.rollout._solution()(attentions[::-1])

    ok, message = lesson07.rollout._checker(reversed_order)
    assert not ok and "wrong way" in message

    def not_renormalised(attentions):
        rollout = None
        for attention in attentions:
            step = attention.mean(dim=1) + torch.eye(attention.shape[-1])
            rollout = step if rollout is None else step @ rollout
        return rollout

    ok, message = lesson07.rollout._checker(not_renormalised)
    assert not ok and "sum to 1" in message


def test_distance_checker_names_the_cls_key():
    def keeps_cls_share(attention):
        centres = torch.cartesian_prod(torch.arange(3.0), torch.arange(3.0)).double()
        return (attention[:, 1:, 1:].double() * torch.cdist(centres, centres)).sum(-1).mean(-1)

    ok, message = lesson07.distance_3x3._checker(keeps_cls_share)
    assert not ok and "CLS" in message
