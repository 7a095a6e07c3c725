"""The convergence rule on hand-made curves: which runs converged, when a learning-rate search is bracketed and
how it widens, and the verdicts drawn (or not) from two arms' seeds."""

import math

import pytest
import torch

from vitlib.convergence import (
    ConvergenceRule, choose_lr, compare, is_bracketed, is_converged, spread, stop_reason, widened,
)
from vitlib.early_stopping import EarlyStopping
from vitlib.train import History

RULE = ConvergenceRule(max_steps=1000, eval_every=50, patience=4)  # converged: stopped by step 800


def run_curve(curve, rule=RULE):
    """Feed a validation curve (one value per check) to EarlyStopping as fit would; return (steps, stop)."""
    stopper, history = EarlyStopping(patience=rule.patience, restore_best=False), History()
    state = {"model": torch.nn.Linear(1, 1), "history": history}
    steps = 0
    for value in curve:
        steps += rule.eval_every
        history.records.append({"val_acc": value})
        state["step"] = steps
        stopper.on_evaluate(state)
        if state.get("stop"):
            break
    return steps, stop_reason(steps, stopper.stopped_step is not None, rule)


def test_a_run_that_plateaus_stops_by_patience_and_converged():
    # best at check 3 (step 150), then 4 checks without a better value: stops at step 350
    steps, stop = run_curve([0.5, 0.8, 0.9, 0.9, 0.85, 0.89, 0.9, 0.95, 0.96])
    assert (steps, stop) == (350, "patience") and is_converged(steps, stop, RULE)


def test_a_run_still_improving_at_the_cap_did_not_converge():
    steps, stop = run_curve([0.1 + 0.04 * i for i in range(20)])  # a new best at every check
    assert (steps, stop) == (1000, "cap") and not is_converged(steps, stop, RULE)


def test_a_run_that_stops_by_patience_close_to_the_cap_did_not_converge():
    curve = [0.1 + 0.01 * i for i in range(15)] + [0.2] * 5  # best at check 15 (step 750)
    steps, stop = run_curve(curve)  # 4 checks without a better value: stops at step 950
    assert (steps, stop) == (950, "patience")
    assert not is_converged(steps, stop, RULE) and RULE.last_converged_step == 800
    assert is_converged(800, "patience", RULE) and not is_converged(801, "patience", RULE)


def test_nan_checks_never_count_as_the_best():
    steps, stop = run_curve([float("nan"), 0.5, float("nan"), 0.6, 0.55, 0.6, 0.59, 0.58])
    assert (steps, stop) == (400, "patience")  # best 0.6 at step 200; NaN at step 50 did not stop the run early


def test_the_rule_refuses_checks_too_rare_or_patience_too_long():
    with pytest.raises(ValueError, match="eval_every=200 leaves fewer than 10 checks in max_steps=1000"):
        ConvergenceRule(max_steps=1000, eval_every=200, patience=2)
    with pytest.raises(ValueError, match="patience=20 checks of 50 steps cannot end before 80%"):
        ConvergenceRule(max_steps=1000, eval_every=50, patience=20)
    with pytest.raises(ValueError, match="headroom must be a number in"):
        ConvergenceRule(max_steps=1000, eval_every=50, patience=2, headroom=1.5)
    with pytest.raises(ValueError, match="takes all max_steps=1000, got steps=600"):
        stop_reason(600, False, RULE)
    with pytest.raises(ValueError, match="stop must be one of"):
        is_converged(100, "schedule", RULE)


def test_a_choice_is_bracketed_only_with_a_tried_rate_on_each_side():
    grid = (1e-3, 2e-3, 4e-3)
    assert is_bracketed(2e-3, grid) and not is_bracketed(4e-3, grid) and not is_bracketed(1e-3, grid)
    assert not is_bracketed(1e-3, (1e-3,))
    with pytest.raises(ValueError, match="not in the grid"):
        is_bracketed(3e-3, grid)


def test_the_grid_widens_beyond_the_end_by_its_own_ratio():
    assert widened(4e-3, (1e-3, 2e-3, 4e-3)) == pytest.approx(8e-3)
    assert widened(1e-3, (1e-3, 2e-3, 4e-3)) == pytest.approx(5e-4)
    assert widened(3e-3, (1e-3, 3e-3, 1e-2)) is None
    assert widened(1e-2, (1e-3, 3e-3, 1e-2)) == pytest.approx(1e-2 * 1e-2 / 3e-3)  # the ratio at the top end
    assert widened(1e-3, [1e-3]) == pytest.approx(2e-3)  # one rate: above it first


def test_the_best_rate_wins_the_smaller_on_a_tie_and_nan_never():
    assert choose_lr({"0.001": 0.9, "0.002": 0.95, "0.004": 0.95}) == 0.002
    # the same tie given largest rate first, and as strings whose text order is not their numeric order: the smaller
    # rate still wins (catches a tie settled by the order the rates were tried or by their text, not by their value)
    assert choose_lr({0.004: 0.95, 0.002: 0.95, 0.001: 0.9}) == 0.002
    assert choose_lr({"1e-3": 0.95, "0.002": 0.95}) == 0.001
    assert choose_lr({0.001: float("nan"), 0.002: 0.1}) == 0.002
    assert choose_lr({0.001: None, 0.004: 0.3, 0.002: 0.2}) == 0.004
    with pytest.raises(ValueError, match="no learning rate gave a finite validation accuracy"):
        choose_lr({0.001: float("nan")})


def test_verdicts_by_hand():
    higher = compare([0.90, 0.92, 0.91], [0.85, 0.86, 0.855])
    assert higher["difference"] == pytest.approx(0.91 - 0.855) and higher["spread"] == pytest.approx(0.02)
    assert higher["verdict"] == "higher"
    level = compare([0.90, 0.95], [0.93, 0.94])  # 0.005 apart, spread 0.05
    assert level["verdict"] == "level" and level["difference"] == pytest.approx(-0.01)
    assert compare([0.5, 0.52], [0.9, 0.91])["verdict"] == "lower"
    undecided = compare([0.99], [0.1], undecided_because=["seed 0 reached its cap"])
    assert undecided["verdict"] == "undecided" and undecided["why"] == "seed 0 reached its cap"
    assert spread([0.3, 0.1, 0.2]) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="at least one seed of each arm, got 0 and 1"):
        compare([], [0.5])
    assert math.isclose(compare([0.5], [0.5])["spread"], 0.0)
