"""The training schedule: how many steps, when to evaluate, and the learning rate at each step.

ViT paper, Appendix B.1: a linear warm-up, then a decay (cosine here, as in DeiT) to zero at the end.
Or ``"constant"``: the rate stays at its peak after the warm-up. Experiments that stop a run once its
validation accuracy stops improving use it, because a decay that reaches zero at the step limit makes every
curve flat there, whether the model has finished learning or not (lesson 08).
An epoch is ``floor(N / batch_size)`` full batches (the leftover items wait for the next epoch, which
draws a new order), or one batch of all items when there are fewer than a batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .checks import choice, non_negative_int, non_negative_number, positive_int, positive_number

__all__ = ["lr_at", "Schedule", "DECAYS"]

DECAYS = ("cosine", "constant")  # what the learning rate does after the warm-up


def lr_at(step: int, total: int, warmup: int, peak: float, decay: str = "cosine") -> float:
    """The learning rate of step ``step`` (counted from 0) of ``total``: linear warm-up over the first
    ``warmup`` steps, ``peak * (step + 1) / warmup`` (so the first step already learns), then cosine decay
    from ``peak`` to 0 at step ``total`` (``decay="cosine"``) or ``peak`` until the end (``"constant"``)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    if decay == "constant":
        return peak
    progress = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


@dataclass(frozen=True)
class Schedule:
    """The step arithmetic of one training run."""

    steps_per_epoch: int  # full batches per pass over the data
    total_steps: int  # optimisation steps of the whole run
    warmup_steps: int  # linear warm-up steps
    eval_every_steps: int  # evaluate (and record) every this many steps, and at the end
    peak_lr: float  # the learning rate reached after the warm-up
    decay: str = "cosine"  # one of DECAYS

    @classmethod
    def for_run(cls, num_items: int, batch_size: int, epochs: float, warmup_epochs: float, eval_every: float,
                peak_lr: float, decay: str = "cosine") -> "Schedule":
        """The schedule for ``epochs`` passes over ``num_items`` items in batches of ``batch_size``."""
        positive_int(num_items, "num_items")
        positive_int(batch_size, "batch_size")
        positive_number(epochs, "epochs")
        non_negative_number(warmup_epochs, "warmup_epochs")
        positive_number(eval_every, "eval_every")
        positive_number(peak_lr, "peak_lr")
        choice(decay, "decay", DECAYS)
        steps_per_epoch = max(1, num_items // batch_size)
        total = max(1, round(epochs * steps_per_epoch))
        return cls(
            steps_per_epoch=steps_per_epoch,
            total_steps=total,
            warmup_steps=min(total, max(1, round(warmup_epochs * steps_per_epoch))),
            eval_every_steps=max(1, round(eval_every * steps_per_epoch)),
            peak_lr=peak_lr,
            decay=decay,
        )

    def lr(self, step: int) -> float:
        """The learning rate of step ``step`` (0-based)."""
        non_negative_int(step, "step")
        return lr_at(step, self.total_steps, self.warmup_steps, self.peak_lr, self.decay)

    def epoch_of(self, step: int) -> tuple[int, int]:
        """``(epoch, index of the batch within it)`` of step ``step`` (0-based)."""
        return divmod(step, self.steps_per_epoch)

    def evaluates_after(self, steps_done: int) -> bool:
        """Whether the run evaluates once ``steps_done`` steps are done: every ``eval_every_steps`` and at the end."""
        return steps_done % self.eval_every_steps == 0 or steps_done == self.total_steps
