"""Exercises of lesson 05: the loss, the number of steps and the learning-rate schedule.

``smoothed_cross_entropy``: label-smoothed cross-entropy by hand, from log_softmax.
``steps_cifar``: how many optimisation steps ``fit`` takes for 50,000 images, batches of 128, 20 epochs.
``lr_halfway``: the learning rate at the step halfway through that run.
``mixup``: MixUp of a batch with itself in reverse order, images and soft targets.
``no_position`` and ``other_stride``: how to run an experiment. Train the lesson's recipe with one change (no
position encoding; another stride) for as many steps as a control run, and pass the model with what it measured.
Both are short one-seed demonstrations: their gap says how to set up a comparison, not what the change is worth.
"""

from __future__ import annotations

import dataclasses
import math
import numbers

import torch
import torch.nn.functional as F

from ...checks import pair
from ...data import load_dataset
from ...evaluate import evaluate
from ...model import ViT, create_vit, vit_config
from ...profile import current_profile
from ...train import History, TrainConfig, fit
from ..teach import Exercise

__all__ = ["smoothed_cross_entropy", "steps_cifar", "lr_halfway", "mixup", "experiment_config", "no_position",
           "other_stride"]

# the run of exercises 2 and 3: CIFAR-10's training set, 20 epochs of batches of 128, peak lr 0.001,
# one epoch of warm-up (TrainConfig's default)
IMAGES, BATCH, EPOCHS, PEAK, WARMUP_EPOCHS = 50_000, 128, 20, 1e-3, 1


def _run_steps() -> tuple[int, int]:
    """(steps per epoch, total steps): whole batches only, as the trainer cuts them (tests check that it does)."""
    per_epoch = IMAGES // BATCH
    return per_epoch, EPOCHS * per_epoch


# --- label-smoothed cross-entropy ---------------------------------------------------------------------
def _check_smoothed_cross_entropy(answer):
    if answer is Ellipsis or not callable(answer):
        return False, "pass a function smoothed_cross_entropy(logits, labels, eps) that returns the loss"
    with torch.random.fork_rng():  # leave the learner's random state alone
        torch.manual_seed(0)
        cases = [(torch.randn(8, 10) * 3, torch.randint(0, 10, (8,))), (torch.randn(5, 3), torch.randint(0, 3, (5,)))]
    for logits, labels in cases:
        for eps in (0.0, 0.1, 0.3):
            got = answer(logits, labels, eps)
            if got is Ellipsis:
                return False, "your function still returns ...; build the smoothed targets first, as in section 3"
            if not isinstance(got, torch.Tensor) or got.numel() != 1:
                return False, f"return one number as a tensor (shape ()), got {got!r}"
            expected = F.cross_entropy(logits, labels, label_smoothing=eps)
            if not torch.allclose(got.reshape(()).float(), expected, rtol=1e-5, atol=1e-6):
                plain = F.cross_entropy(logits, labels)
                if eps > 0 and torch.allclose(got.reshape(()).float(), plain, rtol=1e-5, atol=1e-6):
                    hint = "that is the loss without smoothing: where does eps enter your targets?"
                elif eps == 0:
                    hint = "with eps = 0 there is no smoothing: compare with F.cross_entropy(logits, labels) first"
                else:
                    hint = ("print your targets for one row: do they match smoothed_targets from section 3, "
                            "and does each row sum to 1?")
                return False, f"K = {logits.shape[1]}, eps = {eps}: got {got.item():.5f}, expected {expected.item():.5f}. {hint}"
    return True, "the same loss as F.cross_entropy(logits, labels, label_smoothing=eps), for eps 0, 0.1 and 0.3"


def _solution_smoothed_cross_entropy(logits, labels, eps):
    K = logits.shape[-1]
    log_p = logits.log_softmax(dim=-1)  # (B, K)
    q = (1 - eps) * F.one_hot(labels, K).float() + eps / K  # (B, K): the smoothed targets
    return -(q * log_p).sum(dim=-1).mean()
    # the same without q: (1 - eps) * (-log p_true) + eps * (mean over k of -log p_k)
    # nll = -log_p.gather(1, labels[:, None]).squeeze(1)
    # return ((1 - eps) * nll + eps * (-log_p.mean(dim=-1))).mean()


smoothed_cross_entropy = Exercise(
    "label-smoothed cross-entropy by hand", _check_smoothed_cross_entropy, _solution_smoothed_cross_entropy
)


# --- how many steps -------------------------------------------------------------------------------------
def _check_steps_cifar(answer):
    if answer is Ellipsis:
        return False, "replace the ... with a number"
    if isinstance(answer, bool) or not isinstance(answer, numbers.Integral):
        return False, f"the answer is a whole number (an int), got {answer!r}"
    per_epoch, total = _run_steps()
    if answer == total:
        return True, f"{per_epoch} steps per epoch, {total:,} steps in all"
    if answer == math.ceil(IMAGES / BATCH) * EPOCHS:
        return False, f"{answer} counts the last, incomplete batch of each epoch; fit leaves it out"
    if answer == round(IMAGES / BATCH * EPOCHS):
        return False, f"{answer} counts fractions of batches; a step uses one whole batch"
    return False, f"{answer} is not it. First count the whole batches of {BATCH} in {IMAGES:,} images."


def _solution_steps_cifar():
    per_epoch = 50_000 // 128  # 390 whole batches; the last 80 images of each shuffled epoch are left out
    answer = 20 * per_epoch  # 7,800 steps
    return answer


steps_cifar = Exercise("optimisation steps: 50,000 images, batches of 128, 20 epochs", _check_steps_cifar,
                       _solution_steps_cifar)


# --- the learning rate halfway ---------------------------------------------------------------------------
def _check_lr_halfway(answer):
    if answer is Ellipsis:
        return False, "replace the ... with a number"
    if isinstance(answer, bool) or not isinstance(answer, numbers.Real):
        return False, f"the answer is a number (a float), got {answer!r}"
    per_epoch, total = _run_steps()
    warmup = WARMUP_EPOCHS * per_epoch
    progress = (total // 2 - warmup) / (total - warmup)  # how far through the cosine part
    expected = PEAK * 0.5 * (1 + math.cos(math.pi * progress))
    if math.isclose(answer, expected, rel_tol=1e-3):
        return True, f"{expected:.4g}: more than half the peak, since the cosine starts after the warm-up"
    if math.isclose(answer, PEAK / 2, rel_tol=1e-3):
        return False, f"{answer} would be right without the warm-up; the cosine runs from step {warmup} to {total}"
    return False, (f"{answer} is not it. The run has {total:,} steps, the first {warmup} of them warm-up; "
                   "how far through the cosine part is step total // 2?")


def _solution_lr_halfway():
    per_epoch = 50_000 // 128  # 390 steps per epoch
    total, warmup = 20 * per_epoch, per_epoch  # 7,800 steps, of which 390 warm-up
    step = total // 2  # 3,900
    progress = (step - warmup) / (total - warmup)  # 3,510 / 7,410 = 0.474 of the way through the cosine
    answer = 1e-3 * 0.5 * (1 + math.cos(math.pi * progress))  # about 0.000541, a little over half the peak
    return answer


lr_halfway = Exercise("the learning rate halfway through the run", _check_lr_halfway, _solution_lr_halfway)


# --- MixUp ------------------------------------------------------------------------------------------------
def _check_mixup(answer):
    if answer is Ellipsis or not callable(answer):
        return False, "pass a function mixup(images, labels, num_classes, lam) that returns (images, targets)"
    with torch.random.fork_rng():  # leave the learner's random state alone
        torch.manual_seed(0)
        images, labels = torch.rand(6, 3, 8, 8), torch.tensor([0, 1, 2, 3, 1, 0])
    lam = 0.7
    got = answer(images, labels, 4, lam)
    if got is Ellipsis or not isinstance(got, tuple) or len(got) != 2:
        return False, f"return a pair (mixed images, targets), got {got!r:.80}"
    mixed, targets = got
    partner = images.flip(0)  # image i is mixed with image B - 1 - i
    one_hot = F.one_hot(labels, 4).float()
    expected_targets = lam * one_hot + (1 - lam) * one_hot.flip(0)
    if not isinstance(mixed, torch.Tensor) or mixed.shape != images.shape:
        return False, f"the mixed images must have the shape of the batch {tuple(images.shape)}"
    if torch.allclose(mixed, lam * images + (1 - lam) * images.roll(1, 0)):
        return False, "you paired each image with its neighbour; pair image i with image B - 1 - i (images.flip(0))"
    if torch.allclose(mixed, (1 - lam) * images + lam * partner, atol=1e-6):
        return False, "the right partners, but the proportions are swapped: which of the two images gets lam?"
    if not torch.allclose(mixed, lam * images + (1 - lam) * partner, atol=1e-6):
        return False, "the mixed images are not the blend asked for: check the partner of image 0 and the two weights"
    if not isinstance(targets, torch.Tensor) or targets.shape != (6, 4):
        return False, f"the targets are one row of K = 4 probabilities per image: shape (6, 4), got {getattr(targets, 'shape', targets)!r}"
    if torch.allclose(targets.float(), one_hot):
        return False, "the images are mixed, so the targets must be too: lam on the image's class, 1 - lam on its partner's"
    if not torch.allclose(targets.float(), expected_targets, atol=1e-6):
        return False, "the targets are not mixed like the images: same partners, same proportions"
    return True, "images and targets mixed in the same proportion, as vitlib.augment.mix_batch does for MixUp"


def _solution_mixup(images, labels, num_classes, lam):
    # images: (B, C, H, W), labels: (B,) -> mixed images (B, C, H, W), soft targets (B, K)
    one_hot = F.one_hot(labels, num_classes).float()  # (B, K)
    mixed = lam * images + (1 - lam) * images.flip(0)  # image i with image B - 1 - i
    targets = lam * one_hot + (1 - lam) * one_hot.flip(0)  # each row sums to 1
    return mixed, targets


mixup = Exercise("MixUp by hand: mixed images and soft targets", _check_mixup, _solution_mixup)


# --- experiments: one change to the recipe, against a control -----------------------------------------------
def experiment_config(profile=None) -> TrainConfig:
    """The short run of the experiments: the lesson's recipe for ``profile.experiment_epochs`` epochs."""
    P = profile or current_profile()
    return TrainConfig(epochs=P.experiment_epochs, batch_size=P.batch_size, lr=P.lr, warmup_epochs=P.warmup_epochs,
                       augment=P.augment, mixup=P.mixup, cutmix=P.cutmix)


def _changed_fields(model: ViT) -> dict:
    """The config fields in which ``model`` differs from the profile's recipe: {field: (recipe's, model's)}."""
    recipe, mine = vit_config(current_profile().train_variant), model.config
    changed = {}
    for name in (f.name for f in dataclasses.fields(recipe)):
        before, after = getattr(recipe, name), getattr(mine, name)
        if name in ("patch_size", "stride", "image_size"):  # 7 and (7, 7) are the same; stride None: the patch size
            before = pair(before if before is not None else recipe.patch_size, name)
            after = pair(after if after is not None else mine.patch_size, name)
        if before != after:
            changed[name] = (before, after)
    return changed


# what a short, one-seed run cannot say, and where the course measures it instead
_DEMONSTRATION = ("a short one-seed demonstration of how to run an experiment, not what the change is worth: "
                  "both runs stop long before the model is trained to the end, and another seed moves the gap")


def _check_experiment(model, history, control, *, field: str, what: str, hint: str, measured_in: str):
    if model is Ellipsis or history is Ellipsis:
        return False, "replace the ... : build the model, train it, then check(model, history, control)"
    if not isinstance(model, ViT):
        return False, f"the first answer is the trained model (a vitlib ViT), got {type(model).__name__}"
    if not isinstance(history, History) or not isinstance(control, History):
        return False, "pass the History that fit returned for your model, then the control's: check(model, history, control)"
    changed = _changed_fields(model)
    if field not in changed:
        return False, hint
    others = sorted(set(changed) - {field})
    if others:
        return False, f"change only {field}; your model also differs from the recipe in {', '.join(others)}"
    if history.last("step") != control.last("step"):
        return False, (f"your run took {history.last('step')} steps and the control {control.last('step')}: train with "
                       "the same config as the control, so that only the model differs")
    P = current_profile()
    val = load_dataset(P.train_data, "val", limit=P.test_limit)
    measured = evaluate(model, val, device=next(model.parameters()).device).accuracy
    if history.last("val_acc") is None or abs(measured - history.last("val_acc")) > 0.005:
        return False, (f"this model scores {measured:.1%} on the validation split, but the history ends at "
                       f"{history.last('val_acc')!r}: pass the history of this model's own run, with val as its "
                       "validation data")
    mine, theirs = history.last("val_acc"), control.last("val_acc")
    return True, (
        f"{what}: {mine:.1%} on validation after {history.last('step'):,} steps, the control {theirs:.1%} "
        f"({(mine - theirs) * 100:+.1f} points); training took {history.last('seconds'):.0f} s against "
        f"{control.last('seconds'):.0f} s. This is {_DEMONSTRATION}; {measured_in}"
    )


def _check_no_position(model, history=None, control=None):
    return _check_experiment(model, history, control, field="pos_embed", what="without a position encoding",
                             hint="your model still has the recipe's position encoding; lesson 03 shows how to "
                                  "build one without",
                             measured_in="lesson 08 measures what a position encoding is worth, to convergence "
                                         "over 3 seeds")


def _solution_no_position():
    P = current_profile()
    train = load_dataset(P.train_data, "train", limit=P.train_limit)
    val = load_dataset(P.train_data, "val", limit=P.test_limit)
    torch.manual_seed(0)
    model = create_vit(P.train_variant, pos_embed="none")  # the only change: no position encoding
    history = fit(model, train, val, experiment_config(P), device=P.device, progress=False)
    torch.manual_seed(0)
    control = fit(create_vit(P.train_variant), train, val, experiment_config(P), device=P.device, progress=False)
    return model, history, control  # in the lesson, the control is trained once, before the exercises


no_position = Exercise("experiment: train without a position encoding", _check_no_position, _solution_no_position)


def _check_other_stride(model, history=None, control=None):
    return _check_experiment(model, history, control, field="stride", what="with another stride",
                             hint="your model has the recipe's stride; create_vit takes a stride= like any "
                                  "other config field",
                             measured_in="what the overlap is worth would take both arms trained to convergence "
                                         "over several seeds, which this course does not store")


def _solution_other_stride():
    P = current_profile()
    train = load_dataset(P.train_data, "train", limit=P.train_limit)
    val = load_dataset(P.train_data, "val", limit=P.test_limit)
    patch = vit_config(P.train_variant).patch_size
    torch.manual_seed(0)
    model = create_vit(P.train_variant, stride=patch)  # the only change: patches that tile, no overlap
    history = fit(model, train, val, experiment_config(P), device=P.device, progress=False)
    torch.manual_seed(0)
    control = fit(create_vit(P.train_variant), train, val, experiment_config(P), device=P.device, progress=False)
    return model, history, control


other_stride = Exercise("experiment: patches with another stride", _check_other_stride, _solution_other_stride)
