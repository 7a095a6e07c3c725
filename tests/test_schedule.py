import math

import pytest
import torch

from vitlib.loader import epoch_batches
from vitlib.schedule import Schedule, lr_at
from vitlib.train import step_batches


def test_warm_up_is_linear_from_the_first_step_and_the_cosine_ends_at_zero():
    # peak 1.0, 10 warm-up steps of 110: 0.1, 0.2, ... 1.0, then 0.5 (1 + cos(pi k / 100))
    assert [lr_at(s, 110, 10, 1.0) for s in range(10)] == pytest.approx([0.1 * (s + 1) for s in range(10)])
    assert lr_at(0, 110, 10, 1.0) == pytest.approx(0.1)  # the first step already learns
    assert lr_at(10, 110, 10, 1.0) == pytest.approx(1.0)
    assert lr_at(35, 110, 10, 1.0) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.25)))  # 0.853553...
    assert lr_at(60, 110, 10, 1.0) == pytest.approx(0.5)  # halfway through the cosine
    assert lr_at(109, 110, 10, 1.0) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.99)))
    assert lr_at(110, 110, 10, 1.0) == pytest.approx(0.0, abs=1e-12)
    assert lr_at(60, 110, 10, 3e-3) == pytest.approx(1.5e-3)


def test_a_constant_rate_stays_at_its_peak_after_the_warm_up_to_the_last_step():
    assert [lr_at(s, 110, 10, 2.0, "constant") for s in (0, 4, 9)] == pytest.approx([0.2, 1.0, 2.0])
    assert [lr_at(s, 110, 10, 2.0, "constant") for s in (10, 60, 109, 110)] == [2.0, 2.0, 2.0, 2.0]
    schedule = Schedule.for_run(1_000, 100, epochs=50, warmup_epochs=1, eval_every=1, peak_lr=3e-3, decay="constant")
    assert schedule.lr(5) == pytest.approx(1.8e-3) and schedule.lr(499) == 3e-3
    with pytest.raises(ValueError, match="decay must be one of"):
        Schedule.for_run(1_000, 100, epochs=5, warmup_epochs=1, eval_every=1, peak_lr=1.0, decay="linear")


def test_fit_follows_the_constant_rate(tiny_model, toy_task):
    from vitlib.train import TrainConfig, fit
    config = TrainConfig(epochs=4, batch_size=16, lr=2e-3, warmup_epochs=1, eval_every=1, decay="constant",
                         augment="none")
    history = fit(tiny_model(), toy_task(64), config=config, progress=False)  # 4 steps an epoch
    assert history["lr"] == pytest.approx([2e-3] * 4)  # the rate of the last step of each epoch
    cosine = fit(tiny_model(), toy_task(64), config=TrainConfig(**{**config.__dict__, "decay": "cosine"}),
                 progress=False)
    assert cosine["lr"][-1] == pytest.approx(2e-3 * 0.5 * (1 + math.cos(math.pi * 11 / 12)))


def test_schedule_arithmetic_of_a_run():
    # 50,000 images, batches of 128: 390 whole batches an epoch; 20 epochs; 1 warm-up epoch
    schedule = Schedule.for_run(50_000, 128, epochs=20, warmup_epochs=1, eval_every=0.5, peak_lr=1e-3)
    assert (schedule.steps_per_epoch, schedule.total_steps, schedule.warmup_steps, schedule.eval_every_steps) == (
        390, 7_800, 390, 195)
    assert schedule.lr(3_900) == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * 3_510 / 7_410)))
    assert schedule.lr(3_900) == pytest.approx(5.4129e-4, rel=1e-4)  # cos(0.4737 pi) = 0.0826
    assert schedule.epoch_of(391) == (1, 1)
    assert schedule.evaluates_after(195) and schedule.evaluates_after(7_800) and not schedule.evaluates_after(196)
    # fewer items than a batch: one step an epoch; fractional epochs round to whole steps
    small = Schedule.for_run(20, 32, epochs=2.5, warmup_epochs=0, eval_every=1, peak_lr=1.0)
    assert (small.steps_per_epoch, small.total_steps, small.warmup_steps) == (1, 2, 1)
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        Schedule.for_run(20, 0, epochs=1, warmup_epochs=0, eval_every=1, peak_lr=1.0)


def test_epochs_are_whole_batches_in_a_fresh_order():
    batches = epoch_batches(10, 3, seed=0, epoch=0)
    assert [len(b) for b in batches] == [3, 3, 3]  # the tenth item waits for another epoch
    assert len(set(torch.cat(batches).tolist())) == 9
    assert not torch.equal(torch.cat(batches), torch.cat(epoch_batches(10, 3, seed=0, epoch=1)))
    assert torch.equal(torch.cat(batches), torch.cat(epoch_batches(10, 3, seed=0, epoch=0)))
    assert [len(b) for b in epoch_batches(4, 8, seed=0, epoch=0)] == [4]  # a dataset smaller than a batch


def test_step_batches_resume_mid_epoch_where_a_full_run_is():
    schedule = Schedule.for_run(10, 3, epochs=2, warmup_epochs=0, eval_every=1, peak_lr=1.0)  # 3 steps an epoch
    full = list(step_batches(schedule, 10, 3, seed=5))
    assert [s for s, _ in full] == [0, 1, 2, 3, 4, 5]
    resumed = list(step_batches(schedule, 10, 3, seed=5, start=4))
    assert [s for s, _ in resumed] == [4, 5]
    for (s, a), (t, b) in zip(full[4:], resumed):
        assert s == t and torch.equal(a, b)
