"""Exercises of lesson 06: pretraining and fine-tuning.

``probe_parameters``: how many parameters a linear probe trains, for K classes and width D.
``position_entries``: how many entries the position table has for a new image size.
``half_B``: a demonstration. Fine-tune the stored pretrained model on half of B as the lesson's live demonstration
fine-tuned it on the whole B (the same steps and learning rate), and pass the model with what it measured.

Lesson 06's B is the stored "pretrain" sweep's (``vitlib.sweep``): the same digits and the same number of labelled
images per class in every profile.
"""

from __future__ import annotations

import numbers

import torch

from ...data import load_dataset
from ...evaluate import evaluate
from ...model import ViT, ViTConfig, vit_config
from ...profile import current_profile
from ...sweep import sweep_spec
from ...train import History, TrainConfig, fit
from ...transfer import count_trainable, prepare_for_task
from ..teach import Exercise

__all__ = ["probe_parameters", "position_entries", "half_B"]


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


# --- the size of a linear probe ----------------------------------------------------------------------
def _probe_count(num_classes: int, dim: int) -> int:
    with torch.random.fork_rng():  # leave the learner's random state alone
        pretrained = ViT(vit_config("digits-tiny", dim=dim, depth=1, heads=1, num_classes=3))
        probe = prepare_for_task(pretrained, num_classes, mode="linear-probe")
    return count_trainable(probe)


def _check_probe_parameters(answer):
    if answer is Ellipsis or not callable(answer):
        return False, "pass a function probe_parameters(K, D) that returns an int"
    for K, D in [(10, 96), (100, 96), (2, 8), (1000, 768)]:
        got = answer(K, D)
        if got is Ellipsis:
            return False, "your function still returns ...; which layer does a linear probe train, and what is in it?"
        if not _is_int(got):
            return False, f"probe_parameters({K}, {D}) returned {got!r}; the answer is a whole number (an int)"
        expected = _probe_count(K, D)
        if got == expected:
            continue
        if got == K * D:
            return False, f"probe_parameters({K}, {D}) = {got}: the weights are right, but the head has a bias too"
        return False, (
            f"probe_parameters({K}, {D}) = {got}, but count_trainable says {expected}. Which layers does a linear "
            "probe leave trainable? Section 4 printed count_trainable for one K and D: check your function there first"
        )
    return True, (
        f"the head alone: K·D + K. A probe on the ViT-B/16 width (D = 768) for 1000 classes trains "
        f"{_probe_count(1000, 768):,} parameters; the whole ViT-B/16 has about 86 million"
    )


def _solution_probe_parameters(K, D):
    return K * D + K  # the new head: a (K, D) weight and a bias per class; everything else is frozen


probe_parameters = Exercise("parameters a linear probe trains", _check_probe_parameters, _solution_probe_parameters)


# --- the position table for a new image size --------------------------------------------------------
def _entries(image_size: int, patch_size: int, stride: int) -> int:
    config = ViTConfig(image_size=image_size, in_channels=1, patch_size=patch_size, stride=stride,
                       dim=8, depth=1, heads=1, num_classes=2)
    with torch.random.fork_rng():  # leave the learner's random state alone
        model = ViT(config)
    return model.pos_embed.shape[1]  # (1, entries, D)


def _check_position_entries(answer):
    if answer is Ellipsis or not callable(answer):
        return False, "pass a function position_entries(image_size, patch_size, stride) that returns an int"
    for size, patch, stride in [(28, 8, 4), (40, 8, 4), (42, 8, 4), (28, 7, 3), (32, 4, 4), (224, 16, 16), (384, 16, 16)]:
        got = answer(size, patch, stride)
        if got is Ellipsis:
            return False, "your function still returns ...; lesson 01 counted patches, lesson 04 added a token"
        if not _is_int(got):
            return False, f"position_entries({size}, {patch}, {stride}) returned {got!r}; the answer is a whole number (an int)"
        expected = _entries(size, patch, stride)
        if got == expected:
            continue
        if got == expected - 1:
            return False, f"position_entries({size}, {patch}, {stride}) = {got}: one entry per patch is right, but the CLS token has an entry too"
        return False, (
            f"position_entries({size}, {patch}, {stride}) = {got}, but the model's table has {expected} entries. "
            "Count the patches along one side as lesson 01 did (can a patch start where it would not fit?), "
            "then the whole grid"
        )
    return True, (
        f"e.g. ViT-B/16 fine-tuned at 384 pixels, as in the paper: {_entries(224, 16, 16)} entries "
        f"resampled to {_entries(384, 16, 16)}"
    )


def _solution_position_entries(image_size, patch_size, stride):
    per_side = (image_size - patch_size) // stride + 1  # patches along each side (lesson 01)
    return per_side * per_side + 1  # one entry per patch of the square grid, and one for the CLS token


position_entries = Exercise("entries of the position table for a new image size", _check_position_entries,
                            _solution_position_entries)


# --- a demonstration: half of B ------------------------------------------------------------------------------
def _B():
    """The data set and labelled images per class of lesson 06's B: the stored "pretrain" sweep's (the gpu
    sweep's B is the same as the cpu sweep's)."""
    spec = sweep_spec("pretrain", "cpu")
    return spec.data, spec.finetune_per_class


def _check_half_B(model, history=None, half=None, full_history=None):
    if model is Ellipsis or history is Ellipsis or half is Ellipsis:
        return False, "replace the ... : draw half of B, fine-tune on it, then check(model, history, half_B, demo_history)"
    if not isinstance(model, ViT):
        return False, f"the first answer is the fine-tuned model (a vitlib ViT), got {type(model).__name__}"
    if not isinstance(history, History) or not isinstance(full_history, History):
        return False, "pass your run's History, then the History of the demonstration on the whole B (demo_history)"
    labels = getattr(half, "labels", None)
    if not isinstance(labels, torch.Tensor):
        return False, f"the third answer is the dataset you trained on, got {type(half).__name__}"
    data, per_class_B = _B()
    per_class = torch.bincount(labels.cpu(), minlength=model.config.num_classes).tolist()
    if set(per_class) != {per_class_B // 2}:
        return False, (f"your dataset holds {per_class} images of each class; B holds {per_class_B} of each: "
                       "draw half as many of every class")
    steps, full_steps = history.last("step"), full_history.last("step")
    if steps != full_steps:
        return False, (f"your run took {steps} steps and the demonstration on the whole B {full_steps}: train for as many "
                       "steps, at the same learning rate, so that only the number of labels differs")
    val = load_dataset(data, "val", limit=current_profile().test_limit)
    measured = evaluate(model, val, device=next(model.parameters()).device).accuracy
    recorded = [a for a in history["val_acc"] if a is not None]
    if not recorded or min(abs(measured - a) for a in recorded) > 0.005:
        return False, (f"this model scores {measured:.1%} on the validation split, which is not among the accuracies "
                       "its history recorded: pass the history of this model's own run, with val_B as its validation data")
    mine, full = history.last("val_acc"), full_history.last("val_acc")
    return True, (
        f"half of B ({len(labels)} images): validation accuracy {mine:.1%} after {steps} steps; the whole B "
        f"({per_class_B * len(per_class)} images), the same steps and rate: {full:.1%} ({(mine - full) * 100:+.1f} points). "
        "A demonstration, not a measurement: one seed, and two short runs that were not trained until they stopped "
        "improving. Set the gap beside the seed-to-seed spread of the stored runs (section 5) before reading anything "
        "into it"
    )


def _solution_half_B(pretrained, task_train, val_B, lr):
    # in the lesson: pretrained, task_train, val_B and finetune_lr (the rate the sweep chose for seed 0)
    P, spec = current_profile(), sweep_spec("pretrain", "cpu")
    half_B = task_train.stratified_subset(spec.finetune_per_class // 2, seed=0)
    torch.manual_seed(0)  # the new head's random weights
    model = prepare_for_task(pretrained, len(task_train.classes))
    per_epoch = len(half_B) // spec.batch_size  # fit counts in epochs; the demonstration in steps
    config = TrainConfig(epochs=P.finetune_steps / per_epoch, batch_size=spec.batch_size, lr=lr, decay="constant",
                         warmup_epochs=spec.warmup_steps / per_epoch,
                         eval_every=min(spec.eval_every, P.finetune_steps) / per_epoch, seed=0)  # the lesson's steps_config
    history = fit(model, half_B, val_B, config, device=P.device, progress=False)
    return model, history, half_B  # then: lesson06.half_B.check(model, history, half_B, demo_history)


half_B = Exercise("demonstration: fine-tune on half of B", _check_half_B, _solution_half_B)
