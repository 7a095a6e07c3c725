"""Experiments over data size and position encoding, run fairly and recorded point by point.

Three kinds of sweep (lesson 08):

* ``"scratch"``: each model trained from random weights on ``size`` training images (a stratified draw per
  seed), for every size: the inductive-bias story (a convolution assumes locality and translation
  equivariance; a ViT must learn them from data).
* ``"pretrain"``: each model pretrained on ``size`` images of the procedural dataset A (size 0: no
  pretraining), then fine-tuned on a small dataset B: the ViT paper's Figure 3 at a small scale.
* ``"position"``: the same ViT with each kind of position encoding (``arms`` are
  ``vitlib.position.POSITION_KINDS``), plus the shuffle test on every trained model.

The rule, the same for every arm, is written into the results: every run is checked on a validation
split carved from the training data ``evals`` times over at most ``steps`` optimisation steps (for
pretraining ``pretrain_steps``, checked on held-out images of A), stops once its validation accuracy has not
improved for ``patience`` checks, and keeps its best weights (``patience=0``: every run takes all ``steps``);
the learning rate of each arm at each size is chosen among ``lrs`` on the validation split (seed 0; later
seeds reuse the choice); the test split is read once per trained model, after training. Whether each run
stopped by itself or ran into the step limit is recorded (``stopped_early``), with its validation curve.

:func:`run_sweep` appends one *point* (one arm, one size, one seed) at a time to a JSON file, written
atomically, with what the point took; an interrupted sweep resumes without rerunning finished points, and a
file written by another sweep is refused rather than mixed in.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .checkpoint import atomic_write
from .checks import choice, instance, non_negative_int, positive_int
from .cost import count_flops, count_parameters
from .data import FractalDataset, TensorImageDataset, load_dataset
from .device import resolve_device
from .early_stopping import EarlyStopping
from .evaluate import evaluate
from .model import VARIANTS, create_vit
from .position import POSITION_KINDS
from .resnet import RESNET_VARIANTS, create_resnet
from .train import TrainConfig, fit
from .transfer import prepare_for_task

__all__ = ["SweepSpec", "SWEEPS", "KINDS", "RULE", "sweep_spec", "run_sweep", "load_results", "summarise",
           "build_model", "shuffle_agreement", "model_costs"]

KINDS = ("scratch", "pretrain", "position")
RULE = ("every run trains until its validation accuracy has not improved for `patience` checks, at most `steps` "
        "steps, and keeps its best weights; learning rate of each arm and size chosen among lrs on the validation "
        "split (seed 0), reused for the other seeds; test split read once per trained model, after training")


@dataclass(frozen=True)
class SweepSpec:
    """Everything that decides a sweep's numbers; a results file belongs to exactly one spec."""

    name: str  # e.g. "scratch-cpu": names the results file
    kind: str  # one of KINDS
    data: str  # the dataset trained and tested on ("digits" or "cifar10"); B for "pretrain"
    arms: tuple  # model variants (vitlib.VARIANTS or vitlib.resnet.RESNET_VARIANTS), or position kinds
    sizes: tuple  # training-set sizes ("scratch"), pretraining-set sizes ("pretrain"; 0: none); ignored by "position"
    seeds: int  # repeats of every point
    lrs: tuple  # learning rates tried on the validation split
    steps: int  # optimisation steps of every training run (fine-tuning runs for "pretrain")
    batch_size: int
    warmup_steps: int = 20
    evals: int = 5  # validation checks over a run's steps (the last one at the end)
    patience: int = 0  # stop a run after this many checks without a better validation accuracy (0: never)
    augment: str = "auto"
    variant: str = "digits-vit"  # the ViT of a "position" sweep
    # "pretrain" only
    pretrain_classes: int = 100  # fractal classes in A
    pretrain_steps: int = 0
    pretrain_batch_size: int = 128
    pretrain_lrs: tuple = ()  # chosen on held-out images of A
    finetune_per_class: int = 20  # labelled images of B per class

    def __post_init__(self):
        choice(self.kind, "kind", KINDS)
        for name in ("seeds", "steps", "batch_size", "evals"):
            positive_int(getattr(self, name), name)
        non_negative_int(self.warmup_steps, "warmup_steps")
        non_negative_int(self.patience, "patience")
        if not self.arms or not self.lrs:
            raise ValueError(f"arms {self.arms!r} and lrs {self.lrs!r} must each name at least one")
        valid = POSITION_KINDS if self.kind == "position" else (*VARIANTS, *RESNET_VARIANTS)
        for arm in self.arms:
            choice(arm, "each of arms", valid)
        if self.kind == "scratch":
            for size in self.sizes:
                if size < self.batch_size:
                    raise ValueError(f"sizes holds {size}, fewer images than batch_size={self.batch_size}: every "
                                     "size must fill at least one batch")
        if self.kind == "pretrain":
            positive_int(self.pretrain_steps, "pretrain_steps")
            if not self.pretrain_lrs:
                raise ValueError("a 'pretrain' sweep needs pretrain_lrs, the learning rates tried on A")
            for size in self.sizes:
                if size and size % self.pretrain_classes:
                    raise ValueError(f"pretraining size {size} is not a multiple of pretrain_classes="
                                     f"{self.pretrain_classes} (A takes the same number of images of every class)")

    @property
    def x_values(self) -> tuple:
        return (0,) if self.kind == "position" else tuple(self.sizes)

    def as_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))  # tuples as lists, as they come back from JSON


def _digits_cpu() -> dict:
    # a ViT needs several hundred steps on the digits before it takes off (lesson 05's curve); a ResNet far fewer:
    # every run may take up to 500 steps and stops once validation has not improved for 2 checks
    rule = dict(evals=5, patience=2)
    return {
        "scratch": SweepSpec("scratch-cpu", "scratch", "digits", ("digits-vit", "digits-resnet"),
                             sizes=(250, 1000, 3500), seeds=2, lrs=(2e-3, 5e-3), steps=500, batch_size=128, **rule),
        "pretrain": SweepSpec("pretrain-cpu", "pretrain", "digits", ("digits-vit", "digits-resnet"),
                              sizes=(0, 4000, 16000), seeds=2, lrs=(1e-3, 3e-3), steps=300, batch_size=32,
                              pretrain_steps=300, pretrain_lrs=(2e-3,), finetune_per_class=20, **rule),
        "position": SweepSpec("position-cpu", "position", "digits", ("none", "learned", "sincos1d", "sincos2d"),
                              sizes=(3500,), seeds=2, lrs=(2e-3, 5e-3), steps=500, batch_size=128, **rule),
        # lesson 08's live sweep: a few minutes
        "live": SweepSpec("live-cpu", "scratch", "digits", ("digits-vit", "digits-resnet"), sizes=(500, 3500),
                          seeds=1, lrs=(5e-3,), steps=300, batch_size=128, **rule),
    }


SWEEPS: dict[str, dict[str, SweepSpec]] = {
    "smoke": {
        "scratch": SweepSpec("scratch-smoke", "scratch", "digits", ("digits-vit", "digits-resnet"), sizes=(100, 200),
                             seeds=2, lrs=(1e-3, 3e-3), steps=4, batch_size=32, warmup_steps=1, evals=2),
        "pretrain": SweepSpec("pretrain-smoke", "pretrain", "digits", ("digits-vit", "digits-resnet"),
                              sizes=(0, 80), seeds=2, lrs=(1e-3, 3e-3), steps=3, batch_size=16, warmup_steps=1,
                              evals=2, pretrain_classes=8, pretrain_steps=3, pretrain_batch_size=32,
                              pretrain_lrs=(1e-3, 3e-3), finetune_per_class=3),
        "position": SweepSpec("position-smoke", "position", "digits", ("none", "learned", "sincos1d", "sincos2d"),
                              sizes=(200,), seeds=2, lrs=(1e-3, 3e-3), steps=4, batch_size=32, warmup_steps=1,
                              evals=2),
        "live": SweepSpec("live-smoke", "scratch", "digits", ("digits-vit", "digits-resnet"), sizes=(100, 200),
                          seeds=1, lrs=(3e-3,), steps=3, batch_size=32, warmup_steps=1, evals=1),
    },
    "cpu": _digits_cpu(),
    "gpu": {
        "scratch": SweepSpec("scratch-gpu", "scratch", "cifar10", ("cifar-vit", "cifar-resnet"),
                             sizes=(1000, 3000, 10000, 30000, 45000), seeds=3, lrs=(5e-4, 1e-3, 2e-3), steps=10000,
                             batch_size=256, warmup_steps=500, augment="photo", evals=10, patience=3),
        "pretrain": SweepSpec("pretrain-gpu", "pretrain", "digits", ("digits-vit", "digits-resnet"),
                              sizes=(0, 4000, 16000, 64000), seeds=3, lrs=(1e-3, 3e-3), steps=300, batch_size=32,
                              pretrain_steps=3000, pretrain_batch_size=256, pretrain_lrs=(2e-3, 5e-3),
                              finetune_per_class=20),
        "position": SweepSpec("position-gpu", "position", "cifar10", ("none", "learned", "sincos1d", "sincos2d"),
                              sizes=(45000,), seeds=3, lrs=(1e-3, 2e-3), steps=10000, batch_size=256,
                              warmup_steps=500, augment="photo", variant="cifar-vit", evals=10, patience=3),
        "live": SweepSpec("live-gpu", "scratch", "cifar10", ("cifar-vit", "cifar-resnet"), sizes=(5000, 45000),
                          seeds=1, lrs=(1e-3,), steps=2000, batch_size=256, warmup_steps=100, augment="photo", evals=5, patience=2),
    },
}


def sweep_spec(name: str, profile: str) -> SweepSpec:
    """The preset sweep ``name`` (``"scratch"``, ``"pretrain"``, ``"position"`` or ``"live"``) of a profile."""
    choice(profile, "profile", SWEEPS)
    return SWEEPS[profile][choice(name, "sweep", SWEEPS[profile])]


# --- the models --------------------------------------------------------------------------------------------
def build_model(spec: SweepSpec, arm: str, num_classes: int, image_shape: tuple) -> torch.nn.Module:
    """A fresh model of ``arm`` for images ``(C, H, W)`` (the caller seeds torch first)."""
    channels, height, width = image_shape
    size = height if height == width else (height, width)
    if spec.kind == "position":
        return create_vit(spec.variant, pos_embed=arm, num_classes=num_classes, in_channels=channels,
                          image_size=size)
    if arm in RESNET_VARIANTS:
        return create_resnet(arm, num_classes=num_classes, in_channels=channels, image_size=size)
    return create_vit(arm, num_classes=num_classes, in_channels=channels, image_size=size)


def model_costs(spec: SweepSpec, num_classes: int, image_shape: tuple) -> dict:
    """``{arm: {"parameters", "flops"}}`` of every arm's model (FLOPs of one image's forward pass)."""
    costs = {}
    for arm in spec.arms:
        model = build_model(spec, arm, num_classes, image_shape)
        costs[arm] = {"parameters": count_parameters(model), "flops": count_flops(model)}
    return costs


@torch.no_grad()
def shuffle_agreement(model, dataset: TensorImageDataset, seed: int = 0, batch_size: int = 256) -> float:
    """The share of ``dataset``'s images whose predicted class stays the same when the patch tokens enter the
    encoder in a random order (lesson 03's shuffle test, one order per batch, drawn with ``seed``). A ViT
    without a position encoding is blind to the order: its agreement is 1."""
    instance(model, "model", torch.nn.Module)
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    order = None

    def shuffle(module, inputs, tokens):  # (B, N, D) -> the same tokens in another order (as they are: None)
        return None if order is None else tokens[:, order.to(tokens.device)]

    was_training = model.training
    model.eval()
    same, handle = 0, model.patch_embed.register_forward_hook(shuffle)
    try:
        for start in range(0, len(dataset), batch_size):
            images, _ = dataset.batch(torch.arange(start, min(start + batch_size, len(dataset))))
            images = images.to(device)
            order = None
            plain = model(images).argmax(-1)
            order = torch.randperm(model.config.num_patches, generator=generator)
            same += (model(images).argmax(-1) == plain).sum().item()
    finally:
        handle.remove()
        model.train(was_training)
    return same / len(dataset)


# --- one training run ----------------------------------------------------------------------------------------
def _config(spec: SweepSpec, num_items: int, steps: int, batch_size: int, lr: float, seed: int) -> TrainConfig:
    """A TrainConfig of exactly ``steps`` steps over ``num_items`` items (fit counts in epochs)."""
    per_epoch = max(1, num_items // batch_size)
    return TrainConfig(epochs=steps / per_epoch, batch_size=batch_size, lr=lr,
                       warmup_epochs=min(spec.warmup_steps, steps) / per_epoch,
                       eval_every=max(1, steps // spec.evals) / per_epoch, seed=seed, augment=spec.augment)


@contextlib.contextmanager
def _flush_denormals():
    """Round subnormal floats to zero while training on a CPU. A ResNet's small gradients reach the subnormal
    range after a few steps, where each multiplication takes the CPU many times longer (a step of
    digits-resnet went from about 0.15 s to over 1 s); the numbers lost are below 1e-38. torch cannot report
    the setting, so it is put back to torch's default, off."""
    supported = torch.set_flush_denormal(True)
    try:
        yield supported
    finally:
        torch.set_flush_denormal(False)


def _train(spec, model, train, val, steps, batch_size, lr, seed, device) -> dict:
    """Train by the sweep's rule; the model keeps its best weights when the run stops early."""
    stopper = [EarlyStopping(patience=spec.patience)] if spec.patience else []
    with _flush_denormals():
        history = fit(model, train, val, _config(spec, len(train), steps, batch_size, lr, seed), device=device,
                      progress=False, callbacks=stopper)
    curve = [a for a in history["val_acc"] if a is not None]
    best = max(curve) if spec.patience else curve[-1]
    return {"val_acc": best, "val_curve": curve, "steps": history.last("step"),
            "stopped_early": history.last("step") < steps,  # _config makes runs of exactly `steps` steps
            "train_seconds": history.last("seconds")}


def _choose(runs: dict) -> float:
    """The learning rate with the best validation accuracy (the smaller one on a tie)."""
    return max(sorted(runs), key=lambda lr: runs[lr]["val_acc"])


class _Data:
    """The datasets of a sweep, loaded once: train pool, validation and test of the task; for "pretrain",
    dataset A at its largest size with held-out instances."""

    def __init__(self, spec: SweepSpec):
        self.pool = load_dataset(spec.data, "train")
        self.val = load_dataset(spec.data, "val")
        self.test = load_dataset(spec.data, "test")
        self.classes = len(self.pool.classes)
        self.shape = self.pool.image_shape
        self.A = self.heldout_A = None
        if spec.kind == "pretrain" and max(spec.sizes) > 0:
            per_class, extra = max(spec.sizes) // spec.pretrain_classes, max(2, 2000 // spec.pretrain_classes)
            fractals = FractalDataset(num_classes=spec.pretrain_classes, per_class=per_class + extra,
                                      image_size=self.shape[1:], channels=self.shape[0], seed=0)
            everything = fractals.to_tensor_dataset(device="cpu", progress=False)
            j = torch.arange(len(everything)) % fractals.per_class  # instance number within its class
            self.A = everything.subset(torch.nonzero(j < per_class).flatten())
            self.heldout_A = everything.subset(torch.nonzero(j >= per_class).flatten())
            self.A_instance = j[j < per_class]

    def train_of(self, spec: SweepSpec, size: int, seed: int) -> TensorImageDataset:
        if spec.kind == "scratch":
            return self.pool.stratified_subset(size // self.classes, seed=seed)
        if spec.kind == "pretrain":
            return self.pool.stratified_subset(spec.finetune_per_class, seed=seed)
        return self.pool

    def A_of(self, spec: SweepSpec, size: int) -> TensorImageDataset:
        """The first ``size / classes`` instances of every class of A (smaller A's are inside larger ones)."""
        return self.A.subset(torch.nonzero(self.A_instance < size // spec.pretrain_classes).flatten())


def _pretrained(spec, data, arm, size, device, cache: dict, bar) -> tuple:
    """Seed 0's model pretrained on ``size`` images of A, its pretraining learning rate chosen on held-out A."""
    if (arm, size) not in cache:
        A, runs, models = data.A_of(spec, size), {}, {}
        for lr in spec.pretrain_lrs:
            torch.manual_seed(0)
            models[lr] = build_model(spec, arm, spec.pretrain_classes, data.shape)
            bar.set_postfix_str(f"{arm}, pretraining on {size} images of A, lr {lr:g}")
            runs[lr] = _train(spec, models[lr], A, data.heldout_A, spec.pretrain_steps, spec.pretrain_batch_size, lr,
                              0, device)
        lr = _choose(runs)
        cache[(arm, size)] = (models[lr], {"lr": lr, "lr_search": {str(k): v["val_acc"] for k, v in runs.items()},
                                           "heldout_A_acc": runs[lr]["val_acc"],
                                           "stopped_early": runs[lr]["stopped_early"]})
    return cache[(arm, size)]


def _run_point(spec, data, arm, size, seed, chosen_lr, device, cache, bar) -> dict:
    """Train one point (with the learning-rate search on seed 0) and test it once."""
    start = time.perf_counter()
    point = {"arm": arm, "size": size, "seed": seed}
    train = data.train_of(spec, size, seed)
    if spec.kind == "pretrain" and size > 0:
        pretrained, point["pretraining"] = _pretrained(spec, data, arm, size, device, cache, bar)

        def make():
            return prepare_for_task(pretrained, data.classes)
    else:
        def make():
            return build_model(spec, arm, data.classes, data.shape)
    lrs = spec.lrs if chosen_lr is None else (chosen_lr,)
    runs, models = {}, {}
    for lr in lrs:
        torch.manual_seed(seed)  # the fresh weights (or the new head) of this seed
        models[lr] = make()
        bar.set_postfix_str(f"{arm}, size {size}, seed {seed}, lr {lr:g}")
        runs[lr] = _train(spec, models[lr], train, data.val, spec.steps, spec.batch_size, lr, seed, device)
    lr = _choose(runs)
    model = models[lr]
    point.update(lr=lr, train_size=len(train), **runs[lr])
    if chosen_lr is None:
        point["lr_search"] = {str(k): v["val_acc"] for k, v in runs.items()}
    point["test_acc"] = evaluate(model, data.test, device=device).accuracy  # the one look at the test split
    if spec.kind == "position":
        point["shuffle_agreement"] = shuffle_agreement(model, data.test, seed=seed)
    point["seconds"] = time.perf_counter() - start
    return point


# --- the sweep -------------------------------------------------------------------------------------------------
def load_results(path, spec: SweepSpec | None = None) -> dict:
    """The results file at ``path``; with ``spec``, refuse one written by a different sweep."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no results file at {str(path)!r}; run the sweep first "
                                f"(python -m vitlib.tools.sweep --help)")
    results = json.loads(path.read_text())
    if not isinstance(results, dict) or "spec" not in results or "points" not in results:
        raise ValueError(f"{str(path)!r} is not a sweep's results file (it needs 'spec' and 'points')")
    if spec is not None and results["spec"] != spec.as_dict():
        theirs, ours = results["spec"], spec.as_dict()
        differ = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
        raise ValueError(f"{str(path)!r} holds the results of another sweep (fields that differ: {differ}); "
                         f"write to another file or delete it to start over")
    return results


def _write(path, results: dict) -> None:
    text = json.dumps(results, indent=2) + "\n"
    atomic_write(path, lambda temporary: Path(temporary).write_text(text))


def run_sweep(spec: SweepSpec, path=None, record: dict | None = None, device=None, progress: bool = True) -> dict:
    """Run every point of ``spec`` not yet in the results file at ``path`` (None: keep them in memory), appending
    each to the file as it finishes; return the results ``{"spec", "rule", "record", "costs", "points"}``.

    ``record`` says how the sweep was run (the command, profile, machine, commit; see
    ``vitlib.tools.sweep``); each point adds what it took (``seconds``)."""
    instance(spec, "spec", SweepSpec)
    device = resolve_device(device)
    data = _Data(spec)
    if path is not None and Path(path).exists():
        results = load_results(path, spec)
        if record:  # a resumed sweep: how this part was run
            results.setdefault("resumed", []).append({**record, "after_points": len(results["points"])})
    else:
        results = {"spec": spec.as_dict(), "rule": RULE, "record": record or {},
                   "costs": model_costs(spec, data.classes, data.shape), "points": []}
    done = {(p["arm"], p["size"], p["seed"]): p for p in results["points"]}
    todo = [(arm, size, seed) for size in spec.x_values for arm in spec.arms for seed in range(spec.seeds)]
    cache: dict = {}
    with tqdm(total=len(todo), initial=sum(key in done for key in todo), desc=spec.name, unit="point",
              disable=not progress) as bar:
        for arm, size, seed in todo:
            if (arm, size, seed) in done:
                continue
            first = done.get((arm, size, 0))
            chosen = first["lr"] if seed > 0 and first is not None else None
            point = _run_point(spec, data, arm, size, seed, chosen, device, cache, bar)
            done[(arm, size, seed)] = point
            results["points"].append(point)
            if path is not None:
                _write(path, results)
            bar.update(1)
    return results


def summarise(results: dict, key: str = "test_acc") -> dict:
    """``{arm: {size: {"values", "mean", "spread"}}}`` over seeds (spread: largest minus smallest)."""
    table: dict = {}
    for point in results["points"]:
        table.setdefault(point["arm"], {}).setdefault(point["size"], []).append(point[key])
    return {arm: {size: {"values": v, "mean": sum(v) / len(v), "spread": max(v) - min(v)}
                  for size, v in sorted(sizes.items())} for arm, sizes in table.items()}
