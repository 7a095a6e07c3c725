"""Small helpers the lessons use to compare a hand-built piece with vitlib's, and to check exercises."""

from __future__ import annotations

import dis
import inspect
import types

import torch

__all__ = ["compare", "Exercise", "names_used"]


def compare(name: str, mine: torch.Tensor, reference: torch.Tensor, **tolerances) -> None:
    """Print whether ``mine`` equals ``reference`` exactly or within tolerance, with the largest
    difference, then assert it with ``torch.testing.assert_close`` (so a wrong piece stops the lesson).
    Returns nothing, so a notebook cell that ends with it shows only the printed line.
    """
    if mine.shape != reference.shape:
        raise AssertionError(f"{name}: shapes differ, {tuple(mine.shape)} vs {tuple(reference.shape)}")
    exact = torch.equal(mine, reference)
    maxdiff = (mine.detach().double() - reference.detach().double()).abs().max().item() if mine.numel() else 0.0
    try:
        torch.testing.assert_close(mine, reference, **tolerances)
        close = True
    except AssertionError:
        close = False
    print(f"{name:<32} | exact: {str(exact):5} | approximate: {str(close):5} | maxdiff: {maxdiff:.1e}")
    torch.testing.assert_close(mine, reference, **tolerances)


class Exercise:
    """One exercise: ``check(answer)`` prints right or wrong (with a hint), ``solution()`` prints a
    worked solution. The solution is never shown unless asked for.

    An experiment exercise takes more than one answer (``check(model, history, control)``): what the
    learner built and what they measured with it.

    Args:
        name: a short title.
        checker: ``(*answers) -> (ok: bool, message: str)``.
        solution: a function whose source is the worked solution (its body is printed).
    """

    def __init__(self, name: str, checker, solution):
        self.name, self._checker, self._solution = name, checker, solution

    def _judge(self, *answers) -> tuple[bool, str]:
        try:
            return self._checker(*answers)
        except Exception as error:  # a wrong answer may fail in any way; say how, don't crash the lesson
            return False, f"{type(error).__name__}: {error}"

    def check(self, *answers) -> None:
        """Print whether the answer is right, with a hint when it is not."""
        ok, message = self._judge(*answers)
        print(("✅ right! " if ok else "❌ not yet: ") + message)

    def passes(self, *answers) -> bool:
        """Whether the answer is right, silently (for tests)."""
        return self._judge(*answers)[0]

    def solution(self) -> None:
        print(inspect.getsource(self._solution))


def names_used(function) -> set[str]:
    """Every name ``function`` refers to: the globals and attributes its code (and the code nested in it)
    reads, and the real names of the functions its globals and closure cells hold, so that an alias such as
    ``n = num_patches`` shows as ``num_patches``. A function it calls that is defined beside it (in the
    same notebook or module) is looked into in turn, and that helper's own name is left out: a helper the
    learner wrote and named ``softmax`` is not torch's."""
    home = getattr(function, "__module__", None)
    names: set[str] = set()
    todo, seen = [function], set()
    while todo:
        current = todo.pop()
        code = getattr(current, "__code__", None)
        if not isinstance(code, types.CodeType) or code in seen:
            continue
        seen.add(code)
        codes, global_names = [code], set()
        while codes:  # the function's code and every code object nested in it
            inner = codes.pop()
            for instruction in dis.get_instructions(inner):
                if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
                    global_names.add(instruction.argval)
                elif isinstance(instruction.argval, str) and instruction.argval in inner.co_names:
                    names.add(instruction.argval)  # an attribute, as in torch.softmax or x.softmax
            codes += [const for const in inner.co_consts if isinstance(const, types.CodeType)]
        held = [(name, getattr(current, "__globals__", {}).get(name)) for name in global_names]
        held += [(None, cell.cell_contents) for cell in (getattr(current, "__closure__", None) or ()) if _is_filled(cell)]
        for name, value in held:
            if isinstance(value, types.FunctionType) and value.__module__ == home:
                todo.append(value)  # a helper written beside it: look inside that one instead
                continue
            if name is not None:
                names.add(name)
            if callable(value) and isinstance(getattr(value, "__name__", None), str):
                names.add(value.__name__)
    return names


def _is_filled(cell) -> bool:
    """Whether a closure cell holds a value yet (reading an empty one raises ``ValueError``)."""
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True
