"""Training a ViT from random initialisation, or fine-tuning one: ``fit`` and its steps.

AdamW with linear warm-up and cosine decay (ViT paper, Appendix B.1; ``vitlib.optim``,
``vitlib.schedule``), label smoothing, augmentation suited to the data (``vitlib.augment``), bf16
autocast on CUDA, optional ``torch.compile``. Every step's randomness (batch order, augmentation,
mixing, dropout) is derived from the seed and the step number, and a checkpoint (``vitlib.checkpoint``)
holds the config and the running sums of the current record as well as the weights, so a run resumed
from it ends exactly where an uninterrupted run would, with the same history. A step whose loss is not
finite stops the run before anything is saved. Started by ``torchrun`` on several processes (after
``vitlib.distributed.setup``), the same ``fit`` trains data-parallel: each process keeps its share of every
global batch, and the run computes what one process would (``vitlib.distributed``).
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from .augment import AUGMENTATIONS, augment_batch, mix_batch, resolve_augmentation
from .checks import (
    boolean, choice, fraction, instance, non_negative_int, non_negative_number, positive_int, positive_number,
)
from .checkpoint import check_writable, load_checkpoint, restore_model, save_checkpoint
from .device import autocast, resolve_device
from .distributed import (
    broadcast_flag, check_same, check_shares, evaluate_shared, is_main, rank, share, sum_over_processes, world_size,
    wrap,
)
from .loader import BatchLoader, check_alike, check_dataset, epoch_batches
from .optim import make_optimizer
from .schedule import DECAYS, Schedule

__all__ = [
    "TrainConfig", "History", "Callback", "fit", "train_step", "StepAugmenter", "RunningMeter", "TrainingClock",
    "DivergenceGuard", "step_batches", "UNCOMPARED",
]

UNCOMPARED = ("compile", "checkpoint_every")  # how a run is carried out, not what it computes: may change on resume


@dataclass
class TrainConfig:
    epochs: float = 10  # passes over the training data (may be fractional)
    batch_size: int = 128
    lr: float = 1e-3  # peak learning rate, reached after the warm-up
    weight_decay: float = 0.05  # AdamW's decoupled weight decay (not on biases, norms, tokens)
    warmup_epochs: float = 1.0  # linear warm-up, then the decay
    decay: str = "cosine"  # after the warm-up: "cosine" to 0 at the end, or "constant" (vitlib.schedule.DECAYS)
    label_smoothing: float = 0.1
    augment: str = "auto"  # "auto" (vitlib.augment.resolve_augmentation) or one of AUGMENTATIONS
    mixup: float = 0.0  # MixUp's Beta alpha (0: off); see vitlib.augment.mix_batch
    cutmix: float = 0.0  # CutMix's Beta alpha (0: off); with both on, each batch uses one of the two
    grad_clip: float | None = 1.0  # clip the global gradient norm to this; None for no clipping
    amp: bool = True  # bf16 autocast on CUDA (ignored elsewhere)
    compile: bool = False  # torch.compile the model for training
    seed: int = 0
    eval_every: float = 1.0  # evaluate on the validation data every this many epochs
    checkpoint_every: int = 0  # steps between checkpoints; 0: at every evaluation and at the end

    def __post_init__(self):
        self.check()

    def check(self) -> "TrainConfig":
        """Raise a ValueError naming the first field with a value that makes no sense (``fit`` checks again, in
        case a field was changed after the config was made)."""
        positive_number(self.epochs, "epochs")
        positive_int(self.batch_size, "batch_size")
        positive_number(self.lr, "lr")
        non_negative_number(self.weight_decay, "weight_decay")
        non_negative_number(self.warmup_epochs, "warmup_epochs")
        choice(self.decay, "decay", DECAYS)
        fraction(self.label_smoothing, "label_smoothing")
        choice(self.augment, "augment", ("auto", *AUGMENTATIONS))
        non_negative_number(self.mixup, "mixup")
        non_negative_number(self.cutmix, "cutmix")
        if self.grad_clip is not None:
            positive_number(self.grad_clip, "grad_clip")
        non_negative_int(self.seed, "seed")
        positive_number(self.eval_every, "eval_every")
        non_negative_int(self.checkpoint_every, "checkpoint_every")
        boolean(self.amp, "amp")
        boolean(self.compile, "compile")
        return self


@dataclass
class History:
    """What ``fit`` measured: one record per evaluation (``epoch``, ``step``, ``lr``, ``train_loss``,
    ``train_acc``, ``val_loss``, ``val_acc``, ``seconds``: the training time so far, evaluations, callbacks
    and checkpoints not counted), and ``changes``: where a resumed run continued with new settings
    (``{"step", "changed": {field: [before, after]}}``)."""

    records: list[dict] = field(default_factory=list)
    changes: list[dict] = field(default_factory=list)

    def __getitem__(self, key: str) -> list:
        return [r.get(key) for r in self.records]

    def last(self, key: str):
        return self.records[-1][key] if self.records else None

    def best(self, key: str = "val_acc"):
        values = [v for v in self[key] if v is not None]
        return max(values) if values else None


class Callback:
    """Hooks into ``fit``: subclass and override what you need. ``state`` holds ``model``, ``config``,
    ``history``, ``total_steps``, ``step`` (steps done), ``epoch`` and, at step end, ``loss``, ``images`` and
    ``labels``. A callback that sets ``state["stop"] = True`` in ``on_evaluate`` ends the run there."""

    def on_step_end(self, state: dict) -> None: ...

    def on_evaluate(self, state: dict) -> None: ...

    def on_train_end(self, state: dict) -> None: ...


# --- the steps of fit, each with a name --------------------------------------------------------------------
def train_step(forward, model, optimizer, images, targets, config: TrainConfig, device: torch.device):
    """One optimisation step: forward (bf16 autocast on CUDA), label-smoothed cross-entropy, backward,
    gradient clipping to ``config.grad_clip``, optimizer step. ``forward`` is the model or its compiled
    version; ``targets`` are class indices ``(B,)`` or soft targets ``(B, K)`` (from MixUp or CutMix).
    Returns the loss and the logits ``(B, K)``; the gradients stay in the parameters' ``.grad``."""
    with autocast(device, config.amp):
        logits = forward(images)  # (B, K)
        loss = F.cross_entropy(logits.float(), targets, label_smoothing=config.label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if config.grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    optimizer.step()
    return loss, logits


class StepAugmenter:
    """The training images of a step: the dataset's augmentation (``config.augment``, "auto" resolved from the
    dataset), then MixUp or CutMix if the config turns them on, each drawn from ``(seed, step)``."""

    def __init__(self, dataset, config: TrainConfig, num_classes: int, device: torch.device):
        self.kind = resolve_augmentation(config.augment, dataset)
        self.config, self.num_classes, self.device = config, num_classes, device
        # photo-strong's pixel operations undo the normalisation; the statistics made once, not every step
        self.mean, self.std = (
            torch.tensor(getattr(dataset, name), dtype=torch.float32, device=device)
            if getattr(dataset, name, None) is not None else None
            for name in ("mean", "std")
        )

    def __call__(self, images: torch.Tensor, labels: torch.Tensor, step: int):
        """images ``(B, C, H, W)``, labels ``(B,)`` -> augmented images and targets (labels, or ``(B, K)``)."""
        seed = self.config.seed
        generator = torch.Generator(device=self.device).manual_seed(seed * 7_919 + step)
        images = augment_batch(images, self.kind, generator, mean=self.mean, std=self.std)
        if self.config.mixup > 0 or self.config.cutmix > 0:
            return mix_batch(images, labels, self.num_classes, self.config.mixup, self.config.cutmix,
                             np.random.default_rng([seed, step]))
        return images, labels


class RunningMeter:
    """Loss and accuracy summed over the steps since the last evaluation, kept on the device (reading them
    makes the CPU wait for the GPU, so that happens only when they are shown). On several processes each
    keeps the sums of its own shares, and reading adds them up over the processes (every process reads)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.reset()

    def reset(self) -> None:
        self.loss = torch.zeros((), device=self.device)
        self.correct = torch.zeros((), device=self.device)
        self.seen = 0

    def add(self, loss: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> None:
        """A step's mean ``loss``, its logits ``(B, K)`` and each image's own label ``(B,)``."""
        self.loss += loss.detach() * len(labels)
        self.correct += (logits.argmax(-1) == labels).sum()
        self.seen += len(labels)

    def totals(self) -> tuple[float, float, int]:
        """The loss sum, the correct count and the images seen, added up over the processes."""
        seen = torch.tensor(float(self.seen), device=self.device)
        loss, correct, seen = sum_over_processes(torch.stack([self.loss.detach(), self.correct, seen])).tolist()
        return loss, correct, round(seen)

    def mean_loss(self) -> float:
        loss, _, seen = self.totals()
        return loss / max(1, seen)

    def accuracy(self) -> float:
        _, correct, seen = self.totals()
        return correct / max(1, seen)

    def state(self) -> dict:
        """The sums, for a checkpoint (a run resumed between two records then records the same numbers)."""
        loss, correct, seen = self.totals()
        return {"loss": torch.tensor(loss, dtype=torch.float32), "correct": torch.tensor(correct, dtype=torch.float32),
                "seen": seen}

    def load_state(self, state: dict) -> None:
        self.loss, self.correct = state["loss"].to(self.device), state["correct"].to(self.device)
        self.seen = int(state["seen"])


class DivergenceGuard:
    """Notes the first step whose loss is not finite, on the device (so the CPU need not wait for the GPU at
    every step); :meth:`check` reads it, which waits, and raises a FloatingPointError if there was one, or, given
    the model, if its weights are no longer finite (an update can overflow after a finite loss)."""

    def __init__(self, device: torch.device):
        self.step = torch.full((), -1, dtype=torch.int64, device=device)
        self.loss = torch.zeros((), device=device)

    def watch(self, loss: torch.Tensor, step: int) -> None:
        first = ~torch.isfinite(loss.detach()) & (self.step < 0)
        self.step = torch.where(first, step, self.step)
        self.loss = torch.where(first, loss.detach().float(), self.loss)

    def check(self, schedule: Schedule, config: TrainConfig, checkpoint=None, model=None, steps_done: int = 0) -> None:
        step = int(self.step)
        if step >= 0:
            what = f"the loss was {self.loss.item()} in step {step + 1}"
        elif model is not None and not torch.stack([torch.isfinite(p).all() for p in model.parameters()]).all():
            step, what = steps_done - 1, f"the weights were no longer finite after step {steps_done}"
        else:
            return
        kept = (f"; nothing was saved after it, so {str(checkpoint)!r} still holds the last good state"
                if checkpoint is not None else "")
        raise FloatingPointError(
            f"training diverged: {what} of {schedule.total_steps} (epoch {step / schedule.steps_per_epoch:.2f}, "
            f"learning rate {schedule.lr(step):.3g}), so training stopped{kept}. Likely causes: a learning rate too "
            f"high (try lr={config.lr / 10:.3g}), a dataset std of 0 or near it (normalising divides by it), "
            f"non-finite pixels, or no gradient clipping (grad_clip={config.grad_clip})"
        )


class TrainingClock:
    """Seconds spent training: paused for evaluations, callbacks and checkpoints; ``already`` carries the time of
    a resumed run's earlier part."""

    def __init__(self, already: float = 0.0):
        self.total, self.started = already, time.perf_counter()

    def pause(self) -> float:
        """Stop counting; return the training seconds so far."""
        self.total += time.perf_counter() - self.started
        return self.total

    def resume(self) -> None:
        self.started = time.perf_counter()


def step_batches(schedule: Schedule, num_items: int, batch_size: int, seed: int, start: int = 0, device=None):
    """Yield ``(step, indices)`` from step ``start`` to the end of the run: each epoch's own order
    (``vitlib.loader.epoch_batches``), taken up where step ``start`` falls within its epoch."""
    step = start
    while step < schedule.total_steps:
        epoch, offset = schedule.epoch_of(step)
        for indices in epoch_batches(num_items, batch_size, seed, epoch, device)[offset:]:
            if step >= schedule.total_steps:
                return
            yield step, indices
            step += 1


def config_changes(saved: dict | None, config: TrainConfig) -> dict:
    """``{field: [checkpoint's value, config's value]}`` for every field that changes what is computed and differs
    (every such field when the checkpoint records no config). A field that a recorded config lacks was added to
    vitlib later: the run behaved as its default (``decay``: cosine)."""
    current = dataclasses.asdict(config)
    if saved is not None:
        saved = {**{f.name: f.default for f in dataclasses.fields(TrainConfig)}, **saved}
    saved = saved or {}
    return {k: [saved.get(k), v] for k, v in current.items() if k not in UNCOMPARED and saved.get(k, object()) != v}


def resume_run(checkpoint, model, optimizer, config: TrainConfig, schedule: Schedule, device,
               new_config: bool = False) -> tuple[int, History, dict]:
    """Load a training checkpoint into ``model`` and ``optimizer`` once it is sure to be one this config continues
    (``new_config``: even if its config differs; the change is noted in the history). Returns the steps done, the
    history and the checkpoint's other contents. Raises before the model is changed or anything is written."""
    saved = load_checkpoint(checkpoint, map_location=device)
    where = repr(str(checkpoint))
    missing = [k for k in ("optimizer", "step", "history") if saved.get(k) is None]
    if missing:
        raise ValueError(
            f"checkpoint {where} holds a model but not a training run (no {', '.join(missing)}), so fit cannot "
            "continue it; to train from its weights, load them with load_checkpoint(path, model) and give fit "
            "another checkpoint path (or resume=False to overwrite this file)"
        )
    if saved.get("train_config") is None and not new_config:
        raise ValueError(f"checkpoint {where} does not record the TrainConfig it was trained with (an older vitlib "
                         "saved it); pass new_config=True to continue it with this config, or resume=False to start "
                         "afresh (overwriting it)")
    changed = config_changes(saved.get("train_config"), config)
    if changed and not new_config:
        details = ", ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in changed.items())
        raise ValueError(
            f"checkpoint {where} was trained with a different TrainConfig ({details}); pass the config it was "
            "trained with to continue the run, new_config=True to continue it with these settings (the history "
            "notes the change), or resume=False to start afresh (overwriting it)"
        )
    step = int(saved["step"])
    if step > schedule.total_steps:
        total = schedule.total_steps
        raise ValueError(f"checkpoint {where} is at step {step}, past the end of this config's run "
                         f"(epochs={config.epochs}: {total} step{'s' * (total != 1)}); raise epochs to train on")
    try:  # the optimizer first: it is this run's own, so a refusal here leaves the model as it was
        optimizer.load_state_dict(saved["optimizer"])
    except (ValueError, KeyError) as error:
        raise ValueError(f"the optimizer state in {where} does not fit this model's trainable parameters ({error}); "
                         "were other parameters frozen when it was saved?") from None
    restore_model(model, saved, checkpoint)
    optimizer.param_groups[0]["weight_decay"] = config.weight_decay  # group 0 decays (vitlib.optim.param_groups)
    history = History(list(saved["history"]), list(saved.get("config_changes", [])))
    if changed:
        history.changes.append({"step": step, "changed": changed})
    return step, history, saved


def evaluation_record(model, val_data, optimizer, meter: RunningMeter, schedule: Schedule, steps_done: int,
                      seconds: float, batch_size: int, device) -> dict:
    """One history record: where the run is, the training loss and accuracy since the last record, and the
    validation loss and accuracy (``None`` without validation data); the model is left in train mode."""
    record = {
        "epoch": round(steps_done / schedule.steps_per_epoch, 3), "step": steps_done,
        "lr": optimizer.param_groups[0]["lr"], "train_loss": meter.mean_loss(), "train_acc": meter.accuracy(),
        "val_loss": None, "val_acc": None, "seconds": seconds,
    }
    if val_data is not None:
        loss, accuracy = evaluate_shared(model, val_data, batch_size=max(256, batch_size), device=device)
        record.update(val_loss=loss, val_acc=accuracy)
    model.train()
    return record


# --- the loop ----------------------------------------------------------------------------------------------
def check_callbacks(callbacks) -> list:
    """``callbacks`` as a list of :class:`Callback` objects."""
    if isinstance(callbacks, Callback) or not hasattr(callbacks, "__iter__"):
        raise TypeError(f"callbacks must be a list of Callback objects, e.g. callbacks=[EarlyStopping()], got "
                        f"{type(callbacks).__name__}")
    callbacks = list(callbacks)
    for callback in callbacks:
        instance(callback, "each callback", Callback)
    return callbacks


def fit(
    model,
    train_data: Dataset,
    val_data: Dataset | None = None,
    config: TrainConfig | None = None,
    *,
    device: str | torch.device | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = True,
    new_config: bool = False,
    callbacks=(),
    progress: bool = True,
) -> History:
    """Train ``model`` on ``train_data``; evaluate on ``val_data`` every ``config.eval_every`` epochs.

    Args:
        model: the ViT to train (in place).
        train_data, val_data: datasets of ``(image, label)``; a ``TensorImageDataset`` is batched on the
            device directly. Datasets that say their ``classes`` must say the same ones (and their ``mean``
            and ``std`` about the same, or a warning says so).
        config: a :class:`TrainConfig`.
        device: ``"cuda"``, ``"mps"`` or ``"cpu"``; default: the best available.
        checkpoint: a file to save to (checked before training starts); if it exists and ``resume``, training
            continues from it, when it was trained with the same config.
        new_config: continue from the checkpoint even though ``config`` differs from the one it was trained
            with; ``History.changes`` notes the step and the fields that changed.
        callbacks: :class:`Callback` objects (e.g. the course's live plots).
        progress: show a tqdm progress bar with loss and accuracy.

    Under ``torchrun``, once ``vitlib.distributed.setup`` has joined the processes, every process calls ``fit``
    alike: ``config.batch_size`` is the global batch, split evenly over the processes (a ValueError otherwise);
    only the main process shows progress, runs the callbacks (their ``images`` and ``labels`` are its share)
    and writes the checkpoint, which any number of processes can continue.

    Returns:
        the :class:`History`; the model itself is trained in place.

    Raises:
        FloatingPointError: a step's loss was not finite; the checkpoint keeps the last good state.
    """
    config = instance(config or TrainConfig(), "config", TrainConfig).check()
    check_dataset(train_data, model, "train_data")
    if val_data is not None:
        check_dataset(val_data, model, "val_data")
        check_alike(train_data, val_data, "val_data")
    for name, value in (("resume", resume), ("new_config", new_config), ("progress", progress)):
        boolean(value, name)
    callbacks = check_callbacks(callbacks)
    callbacks = callbacks if is_main() else []  # the other processes only train
    check_shares(config.batch_size, len(train_data))
    device = resolve_device(device)
    if checkpoint is not None:
        checkpoint = check_writable(checkpoint, "checkpoint")
    model.to(device)
    loader = BatchLoader(train_data, device)
    schedule = Schedule.for_run(len(train_data), config.batch_size, config.epochs, config.warmup_epochs,
                                config.eval_every, config.lr, config.decay)
    optimizer = make_optimizer(model, config.lr, config.weight_decay, device)
    meter = RunningMeter(device)
    step, history, saved = 0, History(), {}
    if checkpoint is not None and resume and checkpoint.exists():
        step, history, saved = resume_run(checkpoint, model, optimizer, config, schedule, device, new_config)
        if "meter" in saved and is_main():  # the sums of all processes, kept by one of them
            meter.load_state(saved["meter"])
    check_same(step, "the step to start from", device)
    augmenter = StepAugmenter(train_data, config, model.config.num_classes, device)
    guard = DivergenceGuard(device)
    forward = wrap(model, device)  # in DistributedDataParallel on several processes
    forward = torch.compile(forward) if config.compile else forward
    state = {"model": model, "config": config, "history": history, "total_steps": schedule.total_steps}

    def save(steps_done: int, seconds: float) -> None:
        guard.check(schedule, config, checkpoint, model, steps_done)  # never a model that is no longer finite
        sums = meter.state()  # every process takes part in adding them up
        if is_main():
            save_checkpoint(checkpoint, model, optimizer, step=steps_done, history=history.records,
                            config_changes=history.changes, train_config=dataclasses.asdict(config),
                            meter=sums, seconds=seconds)

    bar = tqdm(total=schedule.total_steps, initial=step, desc="training", unit="step",
               disable=not (progress and is_main()))
    clock = TrainingClock(saved.get("seconds", history.last("seconds") or 0.0))
    model.train()
    for step, indices in step_batches(schedule, len(train_data), config.batch_size, config.seed, step,
                                      loader.index_device):
        torch.manual_seed((config.seed * 1_000_003 + step) * world_size() + rank())  # dropout of this step
        images, labels = loader.get(indices)
        images, targets = augmenter(images, labels, step)  # the global batch, then this process's share of it
        images, targets, labels = share(images), share(targets), share(labels)
        for group in optimizer.param_groups:
            group["lr"] = schedule.lr(step)
        loss, logits = train_step(forward, model, optimizer, images, targets, config, device)
        guard.watch(loss, step)
        meter.add(loss, logits, labels)  # mixed batches: against each image's own label
        done = step + 1
        bar.update(1)
        evaluates = schedule.evaluates_after(done)
        saves = checkpoint is not None and (
            done % config.checkpoint_every == 0 if config.checkpoint_every else evaluates)
        if done % 25 == 0:  # reading the numbers waits for the GPU, so not on every step
            guard.check(schedule, config, checkpoint)
            bar.set_postfix(loss=f"{meter.mean_loss():.3f}", acc=f"{meter.accuracy():.3f}")
        state.update(step=done, epoch=done / schedule.steps_per_epoch, loss=loss.detach(), images=images, labels=labels)
        for callback in callbacks:
            callback.on_step_end(state)
        if evaluates:
            guard.check(schedule, config, checkpoint)
            seconds = clock.pause()
            history.records.append(evaluation_record(model, val_data, optimizer, meter, schedule, done, seconds,
                                                     config.batch_size, device))
            bar.set_postfix({k: f"{history.last(k):.3f}" for k in ("train_loss", "train_acc", "val_acc")
                             if history.last(k) is not None})
            meter.reset()
            for callback in callbacks:
                callback.on_evaluate(state)
            if saves:
                save(done, seconds)
            if broadcast_flag(state.pop("stop", False), device):  # a callback (e.g. EarlyStopping) asked to stop
                break
            clock.resume()
        elif saves:
            save(done, clock.pause())
            clock.resume()
    bar.close()
    guard.check(schedule, config, checkpoint)
    model.eval()
    for callback in callbacks:
        callback.on_train_end(state)
    return history
