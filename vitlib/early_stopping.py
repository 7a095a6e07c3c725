"""Early stopping: train until the validation accuracy stops improving, and keep the best weights.

Pass ``EarlyStopping(patience=...)`` to ``vitlib.train.fit``: after each evaluation it notes whether the
watched value (``val_acc`` by default) beat the best so far; after ``patience`` evaluations without an
improvement it asks ``fit`` to stop, and at the end it puts back the weights of the best evaluation. The
rule makes "trained to convergence" something a run can show: the curve has flattened for ``patience``
evaluations before it stops.
"""

from __future__ import annotations

import copy
import math

from .checks import boolean, choice, non_negative_number, positive_int
from .train import Callback

__all__ = ["EarlyStopping", "WATCHABLE"]

WATCHABLE = {"val_acc": 1, "train_acc": 1, "val_loss": -1, "train_loss": -1}  # +1: higher is better, -1: lower


class EarlyStopping(Callback):
    """Stop after ``patience`` evaluations without ``key`` improving by more than ``min_delta`` (an accuracy
    improves by rising, a loss by falling); restore the weights of the best evaluation (``restore_best``).

    A value that is not finite (NaN from NaN pixels, say) never counts as the best: it is an evaluation without
    an improvement, so a run that only ever measures NaN stops after ``patience`` evaluations with nothing to
    restore.

    After training: ``best`` (the best value), ``best_step`` and ``stopped_step`` (None if the run
    reached its last step)."""

    def __init__(self, patience: int = 5, key: str = "val_acc", min_delta: float = 0.0, restore_best: bool = True):
        self.patience = positive_int(patience, "patience")
        self.key, self.min_delta = choice(key, "key", WATCHABLE), non_negative_number(min_delta, "min_delta")
        self.restore_best = boolean(restore_best, "restore_best")
        self.best, self.best_step, self.stopped_step, self.waited = None, None, None, 0
        self.best_weights = None

    def on_evaluate(self, state: dict) -> None:
        value = state["history"].last(self.key)
        if value is None:
            raise ValueError(f"EarlyStopping watches {self.key!r}, which fit does not measure here; pass val_data")
        sign = WATCHABLE[self.key]
        if math.isfinite(value) and (self.best is None or sign * (value - self.best) > self.min_delta):
            self.best, self.best_step, self.waited = value, state["step"], 0
            if self.restore_best:
                self.best_weights = copy.deepcopy({k: v.detach().cpu() for k, v in state["model"].state_dict().items()})
            return
        self.waited += 1
        if self.waited >= self.patience:
            self.stopped_step = state["step"]
            state["stop"] = True

    def on_train_end(self, state: dict) -> None:
        if self.restore_best and self.best_weights is not None:
            state["model"].load_state_dict(self.best_weights)
