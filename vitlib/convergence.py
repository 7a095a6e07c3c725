"""When a training run counts as converged, when a learning-rate search counts as done, and what may be
concluded from runs that were: the rule behind every stored experiment (lessons 06-08).

A run **converged** when it stopped because its validation accuracy had not improved for ``patience``
checks, well before its step cap (at most ``1 - headroom`` of it). A run that reached the cap was still
learning, or might have been: its number is a lower bound, not a measurement of the model. The learning rate
must not fake convergence either: a cosine that reaches zero at the cap flattens every curve there, so the
experiments keep the rate constant after the warm-up (``TrainConfig(decay="constant")``).

A learning-rate search is **bracketed** when the chosen rate has a tried rate on either side of it; when it
sits at an end of the grid, :func:`widened` gives the next rate to try beyond that end (by the grid's own
ratio at that end).

:func:`compare` draws a verdict from two arms' seeds only when every run behind them converged and both
searches were bracketed; otherwise it says ``"undecided"`` and why. A difference no larger than the
seed-to-seed spread (highest minus lowest seed, the larger of the two arms') is reported as ``"level"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .checks import fraction, positive_int

__all__ = ["ConvergenceRule", "STOPS", "stop_reason", "is_converged", "is_bracketed", "widened", "choose_lr",
           "spread", "compare", "VERDICTS"]

STOPS = ("patience", "cap")  # why a run stopped: its validation accuracy stopped improving, or it ran out of steps
VERDICTS = ("higher", "lower", "level", "undecided")  # the first arm against the second


@dataclass(frozen=True)
class ConvergenceRule:
    """The stopping rule of a run: at most ``max_steps`` steps, a validation check every ``eval_every`` steps,
    stop after ``patience`` checks without a better validation accuracy; converged only if that happened by
    step ``(1 - headroom) * max_steps``."""

    max_steps: int  # the step cap
    eval_every: int  # steps between validation checks
    patience: int  # checks without improvement before the run stops
    headroom: float = 0.2  # a converged run stops at least this share of the cap before it

    def __post_init__(self):
        positive_int(self.max_steps, "max_steps")
        positive_int(self.eval_every, "eval_every")
        positive_int(self.patience, "patience")
        fraction(self.headroom, "headroom")
        if self.eval_every * 10 > self.max_steps:
            raise ValueError(f"eval_every={self.eval_every} leaves fewer than 10 checks in max_steps={self.max_steps}: "
                             f"check at most every {self.max_steps // 10} steps, so a plateau can be seen")
        if self.eval_every * self.patience >= (1 - self.headroom) * self.max_steps:
            raise ValueError(f"patience={self.patience} checks of {self.eval_every} steps cannot end before "
                             f"{1 - self.headroom:.0%} of max_steps={self.max_steps}: no run could converge")

    @property
    def last_converged_step(self) -> int:
        """The latest step at which a run may stop and still count as converged."""
        return math.floor((1 - self.headroom) * self.max_steps)


def stop_reason(steps: int, stopped_by_patience: bool, rule: ConvergenceRule) -> str:
    """``"patience"`` or ``"cap"`` (one of :data:`STOPS`) for a run that took ``steps`` steps."""
    if stopped_by_patience and steps < rule.max_steps:
        return "patience"
    if steps != rule.max_steps:
        raise ValueError(f"a run that did not stop by patience takes all max_steps={rule.max_steps}, got "
                         f"steps={steps}")
    return "cap"


def is_converged(steps: int, stop: str, rule: ConvergenceRule) -> bool:
    """Whether a run that stopped for ``stop`` after ``steps`` steps converged by ``rule``."""
    if stop not in STOPS:
        raise ValueError(f"stop must be one of {STOPS}, got {stop!r}")
    return stop == "patience" and steps <= rule.last_converged_step


def is_bracketed(chosen: float, grid) -> bool:
    """Whether a tried rate lies on either side of ``chosen`` in ``grid`` (the rates tried)."""
    grid = sorted(float(lr) for lr in grid)
    if float(chosen) not in grid:
        raise ValueError(f"the chosen rate {chosen!r} is not in the grid {grid}")
    return grid[0] < float(chosen) < grid[-1]


def widened(chosen: float, grid) -> float | None:
    """The rate to try next when ``chosen`` sits at an end of ``grid``: beyond that end by the grid's ratio there
    (twice or half for a grid of one rate); ``None`` when ``chosen`` is bracketed."""
    grid = sorted(float(lr) for lr in grid)
    if is_bracketed(chosen, grid):
        return None
    if len(grid) == 1:
        return float(chosen) * 2  # a single rate: look above it first
    if float(chosen) == grid[-1]:
        return grid[-1] * grid[-1] / grid[-2]
    return grid[0] * grid[0] / grid[1]


def choose_lr(scores: dict) -> float:
    """The rate with the best validation accuracy in ``{lr: accuracy}``; on a tie, the smaller rate (a smaller
    step is the safer choice). A NaN accuracy never wins."""
    usable = {float(lr): acc for lr, acc in scores.items() if acc is not None and not math.isnan(acc)}
    if not usable:
        raise ValueError(f"no learning rate gave a finite validation accuracy: {scores}")
    return max(sorted(usable), key=lambda lr: usable[lr])


def spread(values) -> float:
    """Highest minus lowest of ``values`` (the seed-to-seed spread)."""
    values = list(values)
    if not values:
        raise ValueError("spread needs at least one value")
    return max(values) - min(values)


def compare(first, second, undecided_because: list[str] | tuple = ()) -> dict:
    """The verdict on two arms from their seeds' accuracies ``first`` and ``second``.

    Returns ``{"difference", "spread", "verdict", "why"}``: the difference of the means (first minus second),
    the larger of the two seed-to-seed spreads, and the verdict, one of :data:`VERDICTS`: ``"undecided"``
    whenever ``undecided_because`` names a reason (runs that did not converge, an unbracketed search),
    ``"level"`` when the difference is no larger than the spread, else ``"higher"`` or ``"lower"``."""
    first, second = list(first), list(second)
    if not first or not second:
        raise ValueError(f"compare needs at least one seed of each arm, got {len(first)} and {len(second)}")
    difference = sum(first) / len(first) - sum(second) / len(second)
    noise = max(spread(first), spread(second))
    reasons = list(undecided_because)
    if reasons:
        verdict, why = "undecided", "; ".join(reasons)
    elif abs(difference) <= noise:
        verdict, why = "level", f"the difference is within the seed-to-seed spread ({noise * 100:.1f} points)"
    else:
        verdict = "higher" if difference > 0 else "lower"
        why = f"the difference is larger than the seed-to-seed spread ({noise * 100:.1f} points)"
    return {"difference": difference, "spread": noise, "verdict": verdict, "why": why}
