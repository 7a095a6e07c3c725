import pytest
import torch

from vitlib.early_stopping import EarlyStopping
from vitlib.evaluate import evaluate
from vitlib.train import Callback, History, TrainConfig, fit


def test_stops_after_patience_evaluations_without_improvement_and_restores_the_best(tiny_model):
    model = tiny_model()
    history, stopper = History(), EarlyStopping(patience=2)
    state = {"model": model, "history": history}
    for step, value in enumerate([0.5, 0.7, 0.6, 0.7, 0.65], start=1):
        with torch.no_grad():
            model.head.bias.fill_(step)  # weights that say which evaluation they belong to
        history.records.append({"val_acc": value})
        state["step"] = step
        stopper.on_evaluate(state)
        assert state.get("stop", False) == (step == 4), step  # 0.6, then 0.7 (no better than 0.7): stop
        if state.get("stop"):
            break
    stopper.on_train_end(state)
    assert (stopper.best, stopper.best_step, stopper.stopped_step) == (0.7, 2, 4)
    assert torch.all(model.head.bias == 2)  # the weights of evaluation 2


def test_fit_stops_when_validation_stops_improving(tiny_model, toy_task):
    data = toy_task(64)
    stopper = EarlyStopping(patience=2)
    # a learning rate too small to change any prediction: validation accuracy never improves after the first
    config = TrainConfig(epochs=10, batch_size=16, lr=1e-12, augment="none")
    history = fit(tiny_model(), data, data, config, callbacks=[stopper], progress=False)
    assert history["epoch"] == [1.0, 2.0, 3.0] and stopper.stopped_step == 12 and stopper.best_step == 4


def test_early_stopping_needs_validation_data(tiny_model, toy_task):
    with pytest.raises(ValueError, match="'val_acc', which fit does not measure here; pass val_data"):
        fit(tiny_model(), toy_task(32), config=TrainConfig(epochs=1, batch_size=16), callbacks=[EarlyStopping()],
            progress=False)
    with pytest.raises(ValueError, match="patience must be a positive int, got 0"):
        EarlyStopping(patience=0)


def test_a_loss_improves_by_falling(tiny_model):
    model, history, stopper = tiny_model(), History(), EarlyStopping(patience=1, key="val_loss", restore_best=False)
    state = {"model": model, "history": history}
    for step, value in enumerate([0.9, 0.5, 0.7], start=1):
        history.records.append({"val_loss": value})
        state["step"] = step
        stopper.on_evaluate(state)
    assert (stopper.best, stopper.best_step, stopper.stopped_step) == (0.5, 2, 3)


def test_a_nan_evaluation_is_never_the_best_and_restores_nothing(tiny_model):
    model, history, stopper = tiny_model(), History(), EarlyStopping(patience=2)
    state = {"model": model, "history": history}
    for step, value in enumerate([float("nan"), 0.4, float("nan"), 0.5, 0.45, float("nan")], start=1):
        with torch.no_grad():
            model.head.bias.fill_(step)
        history.records.append({"val_acc": value})
        state["step"] = step
        stopper.on_evaluate(state)
        assert state.get("stop", False) == (step == 6), step  # still improving at step 4
        if state.get("stop"):
            break
    stopper.on_train_end(state)
    assert (stopper.best, stopper.best_step, stopper.stopped_step) == (0.5, 4, 6)
    assert torch.all(model.head.bias == 4)
    only_nan, state = EarlyStopping(patience=2), {"model": tiny_model(), "history": History()}
    for step in (1, 2):
        state["history"].records.append({"val_acc": float("nan")})
        state["step"] = step
        only_nan.on_evaluate(state)
    assert state["stop"] and only_nan.best is None and only_nan.best_weights is None


class Snapshot(Callback):
    """Keeps a copy of the weights at every check."""

    def __init__(self):
        self.weights = []

    def on_evaluate(self, state):
        self.weights.append({k: v.detach().clone() for k, v in state["model"].state_dict().items()})


class Saboteur(Callback):
    """After check ``after``, makes the model predict class 0 for everything (a bias of 1000 that the following
    steps, each moving it by about the learning rate, cannot undo): every later check on data without class 0
    scores exactly 0."""

    def __init__(self, after):
        self.after, self.checks = after, 0

    def on_evaluate(self, state):
        self.checks += 1
        if self.checks == self.after:
            with torch.no_grad():
                state["model"].head.bias[0] = 1000.0


def test_fit_restores_the_weights_of_the_best_check_bit_for_bit(tiny_model, toy_task):
    # catches a stopper that keeps references instead of copies (the optimizer changes the weights in place, so the
    # "best" weights would be the last ones), one that restores nothing, or one that keeps the last check's weights
    train, val = toy_task(64, seed=0), toy_task(64, seed=1)
    val = val.subset(torch.nonzero(val.labels != 0).flatten())  # no class 0: the sabotaged checks score 0
    snapshot, stopper = Snapshot(), EarlyStopping(patience=10)
    model = tiny_model()
    history = fit(model, train, val, TrainConfig(epochs=4, batch_size=16, lr=3e-3, augment="none"),
                  callbacks=[snapshot, stopper, Saboteur(after=2)], progress=False)
    curve = history["val_acc"]
    # this seed's run, pinned: 20 of the 53 right at checks 1 and 2 (a tie: the first is the best), then sabotaged
    assert curve == pytest.approx([20 / 53, 20 / 53, 0.0, 0.0])
    best = curve.index(max(curve))
    assert best == 0 and not torch.equal(snapshot.weights[0]["head.weight"], snapshot.weights[1]["head.weight"])
    assert (stopper.best, stopper.best_step, stopper.stopped_step) == (curve[best], 4 * (best + 1), None)
    final = model.state_dict()
    for name, tensor in snapshot.weights[best].items():
        assert torch.equal(final[name], tensor), name
    assert not torch.equal(final["head.bias"], snapshot.weights[-1]["head.bias"])
    assert evaluate(model, val).accuracy == stopper.best  # the model one would test is the best check's
