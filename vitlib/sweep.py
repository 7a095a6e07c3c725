"""Experiments over data size and position encoding, each run to convergence and recorded point by point.

Three kinds of sweep (lesson 08):

* ``"scratch"``: each model trained from random weights on ``size`` training images (a stratified draw per
  seed), for every size: the inductive-bias story (a convolution assumes locality and translation
  equivariance; a ViT must learn them from data).
* ``"pretrain"``: each model pretrained on ``size`` images of the procedural dataset A (size 0: no
  pretraining), then fine-tuned on a small dataset B: the ViT paper's Figure 3 at a small scale.
* ``"position"``: the same ViT with each kind of position encoding (``arms`` are
  ``vitlib.position.POSITION_KINDS``), plus the shuffle test on every trained model.

The rule (``vitlib.convergence``), the same for every arm, is written into the results: every run is checked
on a validation split carved from the training data every ``eval_every`` steps, at a learning rate that stays
constant after the warm-up, and stops once its validation accuracy has not improved for ``patience`` checks,
keeping its best weights; it converged if that happened well before its cap of ``steps`` steps. Pretraining
follows the same rule on held-out images of A (``pretrain_*``). The learning rate of each arm at each size is
chosen among ``lrs`` on the validation split (seed 0; later seeds reuse it), and when the choice sits at an end
of the grid the grid is widened (up to ``widen`` times) until a tried rate lies on either side. The test split
is read once per trained model, after training. Every run records why it stopped and its validation curve.

:func:`run_sweep` appends one *point* (one arm, one size, one seed) at a time to a JSON file, written
atomically, with what the point took; an interrupted sweep resumes without rerunning finished points (and
without pretraining again: each chosen pretrained model is kept beside the file, and every finished
training run in a folder git ignores, so an interruption loses at most the run in progress), and a file written by
another sweep is refused rather than mixed in. :func:`cell_status` says whether the runs behind a point of the
plot may carry a conclusion.
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

from .checkpoint import atomic_write, check_writable, load_checkpoint, save_checkpoint
from .checks import choice, fraction, instance, non_negative_int, positive_int
from .convergence import ConvergenceRule, choose_lr, is_bracketed, is_converged, stop_reason, widened
from .cost import count_flops, count_parameters
from .data import FractalDataset, TensorImageDataset, load_dataset
from .device import resolve_device
from .early_stopping import EarlyStopping
from .evaluate import evaluate
from .model import VARIANTS, create_vit
from .position import POSITION_KINDS
from .resnet import RESNET_VARIANTS, create_resnet
from .schedule import DECAYS
from .train import TrainConfig, fit
from .transfer import prepare_for_task

__all__ = ["SweepSpec", "SWEEPS", "KINDS", "RULE", "sweep_spec", "run_sweep", "load_results", "summarise",
           "cell_status", "build_model", "shuffle_agreement", "model_costs", "pretrained_path", "runs_path"]

KINDS = ("scratch", "pretrain", "position")
HELDOUT_A = 2000  # images of dataset A held out to judge pretraining (the same number of every class)
RULE = ("every run is checked on the validation split every `eval_every` steps at a learning rate constant after "
        "the warm-up, stops once its validation accuracy has not improved for `patience` checks, and keeps its "
        "best weights; it converged if it stopped so before (1 - headroom) of its cap of `steps` steps. "
        "Pretraining: the same rule on held-out images of A (pretrain_*). The learning rate of each arm and size "
        "is chosen on the validation split (seed 0) and reused for the other seeds; a choice at an end of the grid "
        "widens the grid (at most `widen` times). The test split is read once per trained model, after training. "
        "A point whose runs did not converge, or whose search was not bracketed, is undecided")


@dataclass(frozen=True)
class SweepSpec:
    """Everything that decides a sweep's numbers; a results file belongs to exactly one spec."""

    name: str  # e.g. "scratch-cpu": names the results file
    kind: str  # one of KINDS
    data: str  # the dataset trained and tested on ("digits" or "cifar10"); B for "pretrain"
    arms: tuple  # model variants (vitlib.VARIANTS or vitlib.resnet.RESNET_VARIANTS), or position kinds
    sizes: tuple  # training-set sizes ("scratch"), pretraining-set sizes ("pretrain"; 0: none); ignored by "position"
    seeds: int  # repeats of every point
    lrs: tuple  # learning rates tried first on the validation split
    steps: int  # the step cap of every training run (of the fine-tuning runs for "pretrain")
    batch_size: int
    eval_every: int  # steps between validation checks
    patience: int  # stop a run after this many checks without a better validation accuracy
    warmup_steps: int = 20
    widen: int = 2  # times a learning-rate search may be widened beyond an end of its grid
    headroom: float = 0.2  # a converged run stops at least this share of its cap before it
    decay: str = "constant"  # the learning rate after the warm-up (vitlib.schedule.DECAYS)
    augment: str = "auto"
    variant: str = "digits-vit-p8s4"  # the ViT of a "position" sweep
    # "pretrain" only
    pretrain_classes: int = 100  # fractal classes in A
    pretrain_steps: int = 0  # the step cap of a pretraining run
    pretrain_eval_every: int = 0  # steps between checks on held-out images of A
    pretrain_patience: int = 0
    pretrain_batch_size: int = 128
    pretrain_lrs: tuple = ()  # chosen on held-out images of A, widened like lrs
    finetune_per_class: int = 20  # labelled images of B per class

    def __post_init__(self):
        choice(self.kind, "kind", KINDS)
        for name in ("seeds", "steps", "batch_size", "eval_every", "patience"):
            positive_int(getattr(self, name), name)
        non_negative_int(self.warmup_steps, "warmup_steps")
        non_negative_int(self.widen, "widen")
        fraction(self.headroom, "headroom")
        choice(self.decay, "decay", DECAYS)
        for name in ("arms", "lrs"):
            if not isinstance(getattr(self, name), (tuple, list)) or not getattr(self, name):
                raise ValueError(f"{name} must name at least one, got {getattr(self, name)!r}")
        if self.kind != "position" and (not isinstance(self.sizes, (tuple, list)) or not self.sizes):
            raise ValueError(f"a {self.kind!r} sweep needs sizes, at least one, got {self.sizes!r}")
        valid = POSITION_KINDS if self.kind == "position" else (*VARIANTS, *RESNET_VARIANTS)
        for arm in self.arms:
            choice(arm, "each of arms", valid)
        self.rule  # checks steps, eval_every and patience together
        if self.kind == "scratch":
            for size in self.sizes:
                if size < self.batch_size:
                    raise ValueError(f"sizes holds {size}, fewer images than batch_size={self.batch_size}: every "
                                     "size must fill at least one batch")
        if self.kind == "pretrain":
            for name in ("pretrain_steps", "pretrain_eval_every", "pretrain_patience"):
                positive_int(getattr(self, name), name)
            self.pretrain_rule
            if not self.pretrain_lrs:
                raise ValueError("a 'pretrain' sweep needs pretrain_lrs, the learning rates tried on A")
            for size in self.sizes:
                if size and size % self.pretrain_classes:
                    raise ValueError(f"pretraining size {size} is not a multiple of pretrain_classes="
                                     f"{self.pretrain_classes} (A takes the same number of images of every class)")

    @property
    def rule(self) -> ConvergenceRule:
        """The stopping rule of the training (fine-tuning) runs."""
        return ConvergenceRule(self.steps, self.eval_every, self.patience, self.headroom)

    @property
    def pretrain_rule(self) -> ConvergenceRule:
        """The stopping rule of the pretraining runs on A."""
        return ConvergenceRule(self.pretrain_steps, self.pretrain_eval_every, self.pretrain_patience, self.headroom)

    @property
    def x_values(self) -> tuple:
        return (0,) if self.kind == "position" else tuple(self.sizes)

    def as_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))  # tuples as lists, as they come back from JSON


def _digits_cpu() -> dict:
    # lesson 05's ViT (digits-vit-p8s4) and a ResNet-10 of about its FLOPs and parameters; at a constant learning
    # rate the ViT learns the digits for a few thousand steps, so the cap is far above that, with a check every
    # 100 steps (1/80 of the cap) and patience 8 (800 steps without a better validation accuracy)
    arms = ("digits-vit-p8s4", "digits-resnet10")
    rule = dict(steps=8000, eval_every=100, patience=8, batch_size=128, lrs=(1e-3, 2e-3, 4e-3))
    return {
        "scratch": SweepSpec("scratch-cpu", "scratch", "digits", arms, sizes=(250, 600, 1500, 3500), seeds=3, **rule),
        "pretrain": SweepSpec("pretrain-cpu", "pretrain", "digits", arms, sizes=(0, 2000, 6000, 18000), seeds=3,
                              lrs=(5e-4, 1e-3, 2e-3), steps=3000, batch_size=32, eval_every=25, patience=10,
                              pretrain_steps=12000, pretrain_eval_every=150, pretrain_patience=8,
                              pretrain_lrs=(1e-3, 2e-3, 4e-3), finetune_per_class=20),
        "position": SweepSpec("position-cpu", "position", "digits", ("none", "learned", "sincos1d", "sincos2d"),
                              sizes=(3500,), seeds=3, **rule),
        # lesson 08's live sweep: a demonstration of a few minutes, far from converged (the lesson says so)
        "live": SweepSpec("live-cpu", "scratch", "digits", arms, sizes=(500, 3500), seeds=1, lrs=(4e-3,), steps=300,
                          batch_size=128, eval_every=25, patience=3, widen=0),
    }


_SMOKE = dict(steps=10, eval_every=1, patience=2, warmup_steps=1, widen=1)
SWEEPS: dict[str, dict[str, SweepSpec]] = {
    "smoke": {
        "scratch": SweepSpec("scratch-smoke", "scratch", "digits", ("digits-vit-p8s4", "digits-resnet10"),
                             sizes=(100, 200), seeds=2, lrs=(1e-3, 3e-3), batch_size=32, **_SMOKE),
        "pretrain": SweepSpec("pretrain-smoke", "pretrain", "digits", ("digits-vit-p8s4", "digits-resnet10"),
                              sizes=(0, 80), seeds=2, lrs=(1e-3, 3e-3), batch_size=16, pretrain_classes=8,
                              pretrain_steps=10, pretrain_eval_every=1, pretrain_patience=2, pretrain_batch_size=32,
                              pretrain_lrs=(1e-3, 3e-3), finetune_per_class=3, **_SMOKE),
        "position": SweepSpec("position-smoke", "position", "digits", ("none", "learned", "sincos1d", "sincos2d"),
                              sizes=(200,), seeds=2, lrs=(1e-3, 3e-3), batch_size=32, **_SMOKE),
        "live": SweepSpec("live-smoke", "scratch", "digits", ("digits-vit-p8s4", "digits-resnet10"), sizes=(100, 200),
                          seeds=1, lrs=(3e-3,), batch_size=32, **{**_SMOKE, "widen": 0}),
    },
    "cpu": _digits_cpu(),
    "gpu": {
        "scratch": SweepSpec("scratch-gpu", "scratch", "cifar10", ("cifar-vit", "cifar-resnet"),
                             sizes=(1000, 3000, 10000, 30000, 45000), seeds=3, lrs=(5e-4, 1e-3, 2e-3), steps=40000,
                             batch_size=256, eval_every=500, patience=8, warmup_steps=500, augment="photo"),
        "pretrain": SweepSpec("pretrain-gpu", "pretrain", "digits", ("digits-vit-p8s4", "digits-resnet10"),
                              sizes=(0, 4000, 16000, 64000), seeds=3, lrs=(5e-4, 1e-3, 2e-3), steps=3000,
                              batch_size=32, eval_every=25, patience=10, pretrain_steps=30000,
                              pretrain_eval_every=300, pretrain_patience=8, pretrain_batch_size=256,
                              pretrain_lrs=(1e-3, 2e-3, 4e-3), finetune_per_class=20),
        "position": SweepSpec("position-gpu", "position", "cifar10", ("none", "learned", "sincos1d", "sincos2d"),
                              sizes=(45000,), seeds=3, lrs=(5e-4, 1e-3, 2e-3), steps=40000, batch_size=256,
                              eval_every=500, patience=8, warmup_steps=500, augment="photo", variant="cifar-vit"),
        "live": SweepSpec("live-gpu", "scratch", "cifar10", ("cifar-vit", "cifar-resnet"), sizes=(5000, 45000),
                          seeds=1, lrs=(1e-3,), steps=2000, batch_size=256, eval_every=100, patience=3,
                          warmup_steps=100, augment="photo", widen=0),
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
def _config(spec: SweepSpec, rule: ConvergenceRule, num_items: int, batch_size: int, lr: float,
            seed: int) -> TrainConfig:
    """A TrainConfig of at most ``rule.max_steps`` steps over ``num_items`` items, checked every
    ``rule.eval_every`` steps (fit counts in epochs: both are whole numbers of steps in its arithmetic)."""
    per_epoch = max(1, num_items // batch_size)
    return TrainConfig(epochs=rule.max_steps / per_epoch, batch_size=batch_size, lr=lr,
                       warmup_epochs=min(spec.warmup_steps, rule.max_steps) / per_epoch, decay=spec.decay,
                       eval_every=rule.eval_every / per_epoch, seed=seed, augment=spec.augment)


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


def _train(spec, rule, model, train, val, batch_size, lr, seed, device) -> dict:
    """Train by ``rule``; the model keeps the weights of its best check. Returns what the run did: its best
    validation accuracy, the whole curve, its steps, why it stopped and whether it converged."""
    stopper = EarlyStopping(patience=rule.patience)
    with _flush_denormals():
        history = fit(model, train, val, _config(spec, rule, len(train), batch_size, lr, seed), device=device,
                      progress=False, callbacks=[stopper])
    steps = history.last("step")
    stop = stop_reason(steps, stopper.stopped_step is not None, rule)
    return {"val_acc": stopper.best, "best_step": stopper.best_step, "val_curve": history["val_acc"],
            "val_steps": history["step"], "steps": steps, "stop": stop, "converged": is_converged(steps, stop, rule),
            "train_seconds": history.last("seconds")}


def _search(spec, rule, lrs, make, train, val, batch_size, seed, device, bar, what: str, runs_dir=None,
            key: str = "") -> tuple:
    """Train ``make()`` at every rate of ``lrs``, then beyond an end of the grid while the best sits there (at most
    ``spec.widen`` more rates). Returns the best model, its rate and ``{lr: run}`` of every rate tried.

    With ``runs_dir``, every finished run is kept there (``<key>-lr<rate>.pt``: its weights and what it did) and
    taken from there instead of trained again, so an interrupted sweep loses at most the run in progress."""
    runs, best_model, grid, widenings = {}, None, [float(lr) for lr in lrs], 0
    while grid:
        lr = grid.pop(0)
        torch.manual_seed(seed)  # the fresh weights (or the new head) of this seed, the same for every rate
        model = make()
        kept = None if runs_dir is None else Path(runs_dir) / f"{key}-lr{lr:g}.pt"
        if kept is not None and kept.exists():
            runs[lr] = load_checkpoint(kept, model)["run"]
        else:
            bar.set_postfix_str(f"{what}, lr {lr:g}")
            runs[lr] = _train(spec, rule, model, train, val, batch_size, lr, seed, device)
            if kept is not None:
                kept.parent.mkdir(parents=True, exist_ok=True)
                save_checkpoint(kept, model, run=runs[lr])
            model.to(device)
        chosen = choose_lr({k: v["val_acc"] for k, v in runs.items()})
        if chosen == lr:
            best_model = model
        if not grid and widenings < spec.widen and len(runs) > 1:
            beyond = widened(chosen, runs)
            if beyond is not None:
                grid.append(float(f"{beyond:.3g}"))
                widenings += 1
    chosen = choose_lr({k: v["val_acc"] for k, v in runs.items()})
    return best_model, chosen, runs


def _search_record(chosen: float, runs: dict) -> dict:
    """What a learning-rate search wrote: the grid as tried, each rate's run without its curve, and whether the
    choice is bracketed."""
    return {"lr_grid": sorted(runs), "lr_bracketed": is_bracketed(chosen, runs),
            "lr_search": {str(lr): run["val_acc"] for lr, run in sorted(runs.items())},
            "lr_runs": {str(lr): {k: run[k] for k in ("val_acc", "steps", "stop", "converged")}
                        for lr, run in sorted(runs.items())}}


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
            per_class, extra = max(spec.sizes) // spec.pretrain_classes, max(2, HELDOUT_A // spec.pretrain_classes)
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


def pretrained_path(folder, spec: SweepSpec, arm: str, size: int) -> Path:
    """Where a "pretrain" sweep keeps the model of ``arm`` pretrained on ``size`` images of A (its chosen rate)."""
    return Path(folder) / f"pretrained-{spec.name}" / f"{arm}-A{size}.pt"


def runs_path(folder, spec: SweepSpec) -> Path:
    """Where a sweep keeps every finished training run until its point is done (git ignores it)."""
    return Path(folder) / f".runs-{spec.name}"


def _pretrained(spec, data, arm, size, device, cache: dict, folder, bar) -> tuple:
    """Seed 0's model pretrained on ``size`` images of A, its pretraining rate chosen on held-out A; kept in
    ``folder`` (when given), so that a resumed sweep does not pretrain it again."""
    if (arm, size) in cache:
        return cache[(arm, size)]
    path = None if folder is None else pretrained_path(folder, spec, arm, size)
    if path is not None and path.exists():
        saved = load_checkpoint(path)
        model = build_model(spec, arm, spec.pretrain_classes, data.shape)
        load_checkpoint(path, model)
        cache[(arm, size)] = (model, saved["pretraining"])
        return cache[(arm, size)]

    def make():
        return build_model(spec, arm, spec.pretrain_classes, data.shape)

    model, lr, runs = _search(spec, spec.pretrain_rule, spec.pretrain_lrs, make, data.A_of(spec, size),
                              data.heldout_A, spec.pretrain_batch_size, 0, device, bar,
                              f"{arm}, pretraining on {size} images of A",
                              None if folder is None else runs_path(folder, spec), f"pretrain-{arm}-A{size}")
    chosen = runs[lr]
    record = {"lr": lr, **_search_record(lr, runs), "heldout_A_acc": chosen["val_acc"],
              **{k: chosen[k] for k in ("steps", "best_step", "stop", "converged", "val_curve", "val_steps",
                                        "train_seconds")}}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(path, model.cpu(), pretraining=record)
    cache[(arm, size)] = (model, record)
    return cache[(arm, size)]


def _run_point(spec, data, arm, size, seed, chosen_lr, device, cache, bar, folder=None) -> dict:
    """Train one point (with the learning-rate search on seed 0) and test it once."""
    start = time.perf_counter()
    point = {"arm": arm, "size": size, "seed": seed}
    train = data.train_of(spec, size, seed)
    if spec.kind == "pretrain" and size > 0:
        pretrained, point["pretraining"] = _pretrained(spec, data, arm, size, device, cache, folder, bar)

        def make():
            return prepare_for_task(pretrained, data.classes)
    else:
        def make():
            return build_model(spec, arm, data.classes, data.shape)
    lrs = spec.lrs if chosen_lr is None else (chosen_lr,)
    search = dataclasses.replace(spec, widen=0) if chosen_lr is not None else spec
    model, lr, runs = _search(search, spec.rule, lrs, make, train, data.val, spec.batch_size, seed, device, bar,
                              f"{arm}, size {size}, seed {seed}", None if folder is None else runs_path(folder, spec),
                              f"{arm}-{size}-seed{seed}")
    point.update(lr=lr, train_size=len(train), **runs[lr])
    if chosen_lr is None:
        point.update(_search_record(lr, runs))
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
    try:
        results = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{str(path)!r} is not readable JSON ({error}); it may have been cut short by a copy: "
                         "restore it from git, or delete it to run the sweep afresh") from None
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
    ``vitlib.tools.sweep``); each point adds what it took (``seconds``). A "pretrain" sweep with a ``path`` keeps
    each chosen pretrained model beside it (:func:`pretrained_path`)."""
    instance(spec, "spec", SweepSpec)
    device = resolve_device(device)
    if path is not None:  # before any training: a point that cannot be written would be lost
        path = check_writable(path, "path")
        if path.exists():
            load_results(path, spec)
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
            point = _run_point(spec, data, arm, size, seed, chosen, device, cache, bar,
                               None if path is None else path.parent)
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


def cell_status(results: dict, arm: str, size: int) -> dict:
    """Whether the runs behind one point of a sweep's plot (``arm`` at ``size``, every seed) may carry a
    conclusion: ``{"status": "converged" | "undecided", "why": [reasons], "seeds": n}``. Undecided when a seed
    is missing, a run reached its cap or stopped too late (``vitlib.convergence``), the learning-rate search was
    not bracketed, or, for "pretrain", the pretraining did not converge or its search was not bracketed."""
    spec = results["spec"]
    points = sorted((p for p in results["points"] if p["arm"] == arm and p["size"] == size), key=lambda p: p["seed"])
    why = []
    if len(points) < spec["seeds"]:
        why.append(f"{len(points)} of {spec['seeds']} seeds run")
    for p in points:
        if not p.get("converged", False):
            why.append(f"seed {p['seed']} {_late(p, spec['steps'], spec['headroom'])}")
    first = next((p for p in points if p["seed"] == 0), None)
    if first is not None and not first.get("lr_bracketed", False):
        why.append(f"the chosen learning rate {first['lr']:g} is at an end of the grid tried "
                   f"{first.get('lr_grid', [])}")
    pretraining = first.get("pretraining") if first is not None else None
    if pretraining is not None:
        if not pretraining.get("converged", False):
            why.append(f"pretraining {_late(pretraining, spec['pretrain_steps'], spec['headroom'])}")
        if not pretraining.get("lr_bracketed", False):
            why.append(f"the pretraining rate {pretraining['lr']:g} is at an end of its grid {pretraining.get('lr_grid')}")
    return {"status": "undecided" if why else "converged", "why": why, "seeds": len(points)}


def _late(run: dict, cap: int, headroom: float) -> str:
    """Why a run did not converge, in words."""
    if run.get("stop") == "patience":
        return (f"stopped at step {run['steps']}, later than {1 - headroom:.0%} of its cap of {cap} steps "
                "(it may have been still learning)")
    return f"reached its cap of {cap} steps (still learning)"
