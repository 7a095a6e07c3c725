"""Small helpers the lessons use to compare a hand-built piece with vitlib's, and to check exercises."""

from __future__ import annotations

import inspect

import torch

__all__ = ["compare", "Exercise"]


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
