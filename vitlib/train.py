"""Training a ViT from random initialisation, or fine-tuning one: ``fit`` and its pieces.

AdamW with linear warm-up and cosine decay (as in the ViT paper, Appendix B.1), label smoothing,
augmentation suited to the data (``vitlib.augment``), bf16 autocast on CUDA, optional
``torch.compile``. Every step's randomness (batch order, augmentation, dropout) is derived from the
seed and the step number, so a run resumed from a checkpoint ends exactly where an uninterrupted run
would. Checkpoints are written atomically (a temporary file, then a rename) and load with
``weights_only=True``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from .augment import AUGMENTATIONS, augment_batch, mix_batch
from .model import ViT
from .profile import best_device

__all__ = ["TrainConfig", "History", "fit", "train_step", "save_checkpoint", "load_checkpoint", "check_dataset", "Callback"]


@dataclass
class TrainConfig:
    epochs: float = 10  # passes over the training data (may be fractional)
    batch_size: int = 128
    lr: float = 1e-3  # peak learning rate, reached after the warm-up
    weight_decay: float = 0.05  # AdamW's decoupled weight decay (not on biases, norms, tokens)
    warmup_epochs: float = 1.0  # linear warm-up from 0, then cosine decay to 0
    label_smoothing: float = 0.1
    augment: str = "auto"  # "auto" (from the dataset's kind), "photo", "photo-strong", "digits" or "none"
    mixup: float = 0.0  # MixUp's Beta alpha (0: off); see vitlib.augment.mix_batch
    cutmix: float = 0.0  # CutMix's Beta alpha (0: off); with both on, each batch uses one of the two
    grad_clip: float | None = 1.0  # clip the global gradient norm; None for no clipping
    amp: bool = True  # bf16 autocast on CUDA (ignored elsewhere)
    compile: bool = False  # torch.compile the model for training
    seed: int = 0
    eval_every: float = 1.0  # evaluate on the validation data every this many epochs
    checkpoint_every: int = 0  # steps between checkpoints; 0: at every evaluation and at the end

    def __post_init__(self):
        if self.epochs <= 0:
            raise ValueError(f"epochs must be > 0, got {self.epochs!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {self.batch_size!r}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if self.mixup < 0 or self.cutmix < 0:
            raise ValueError(f"mixup and cutmix must be >= 0 (0 turns one off), got {self.mixup!r} and {self.cutmix!r}")
        if self.augment not in ("auto", *AUGMENTATIONS):
            raise ValueError(f"augment must be one of {('auto', *AUGMENTATIONS)}, got {self.augment!r}")


@dataclass
class History:
    """What ``fit`` measured: one record per evaluation (``epoch``, ``step``, ``lr``, ``train_loss``,
    ``train_acc``, ``val_loss``, ``val_acc``, ``seconds``)."""

    records: list[dict] = field(default_factory=list)

    def __getitem__(self, key: str) -> list:
        return [r.get(key) for r in self.records]

    def last(self, key: str):
        return self.records[-1][key] if self.records else None

    def best(self, key: str = "val_acc"):
        values = [v for v in self[key] if v is not None]
        return max(values) if values else None


class Callback:
    """Hooks into ``fit``: subclass and override what you need. ``state`` holds ``model``, ``step``,
    ``epoch``, ``history``, ``config`` and, at step end, ``loss``, ``images`` and ``labels``."""

    def on_step_end(self, state: dict) -> None: ...

    def on_evaluate(self, state: dict) -> None: ...

    def on_train_end(self, state: dict) -> None: ...


# --- checks --------------------------------------------------------------------------------------------
def dataset_shape(dataset) -> tuple[int, int, int]:
    if hasattr(dataset, "image_shape"):
        return tuple(dataset.image_shape)
    return tuple(dataset[0][0].shape)


def check_dataset(dataset, model: ViT, name: str = "dataset") -> None:
    """Raise a ValueError if ``dataset`` is empty or its images or labels do not fit ``model``."""
    if dataset is None or len(dataset) == 0:
        raise ValueError(f"{name} is empty: it must hold at least one (image, label) pair")
    c = model.config
    C, H, W = dataset_shape(dataset)
    expected_hw = (c.image_size, c.image_size) if isinstance(c.image_size, int) else tuple(c.image_size)
    if C != c.in_channels:
        raise ValueError(f"{name} has {C}-channel images but the model expects in_channels={c.in_channels}")
    if (H, W) != expected_hw:
        raise ValueError(
            f"{name} has {H}x{W} images but the model was built for image_size={expected_hw}; "
            f"resize the data or call model.set_image_size(({H}, {W}))"
        )
    labels = getattr(dataset, "labels", None)
    if labels is None and hasattr(dataset, "labels_of"):
        labels = dataset.labels_of(torch.arange(len(dataset)))
    if labels is None:
        labels = torch.tensor([int(dataset[i][1]) for i in range(len(dataset))])
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= c.num_classes:
        raise ValueError(
            f"{name} has labels from {low} to {high} but the model has num_classes={c.num_classes} "
            f"(valid labels 0..{c.num_classes - 1}); call model.reset_head({high + 1}) for a new task"
        )


# --- checkpoints ---------------------------------------------------------------------------------------
def save_checkpoint(path, model: ViT, optimizer=None, **extra) -> Path:
    """Write ``{"model", "model_config", "optimizer", **extra}`` atomically: to a temporary file in the
    same folder, then renamed over ``path``, so an interruption never leaves half a checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "model": model.state_dict(),
        "model_config": dataclasses.asdict(model.config),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        **extra,
    }
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(payload, temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def load_checkpoint(path, model: ViT | None = None, map_location="cpu") -> dict:
    """Load a checkpoint with ``weights_only=True``; with ``model``, check that it was saved from the same
    config (raising a ValueError that names the differing fields) and load its weights."""
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if model is not None:
        saved, current = payload["model_config"], dataclasses.asdict(model.config)
        normalise = lambda v: list(v) if isinstance(v, (list, tuple)) else v  # noqa: E731
        differs = {k: (saved.get(k), v) for k, v in current.items() if normalise(saved.get(k)) != normalise(v)}
        if differs:
            details = ", ".join(f"{k}: checkpoint {a!r} vs model {b!r}" for k, (a, b) in differs.items())
            raise ValueError(f"checkpoint {str(path)!r} was saved from a different model config ({details})")
        model.load_state_dict(payload["model"])
    return payload


# --- the loop ------------------------------------------------------------------------------------------
def _param_groups(model: torch.nn.Module, weight_decay: float):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "token" in name or "pos_embed" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def lr_at(step: int, total: int, warmup: int, peak: float) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _epoch_batches(n: int, batch_size: int, seed: int, epoch: int, device=None) -> list[torch.Tensor]:
    """The batches of indices of one epoch: the same order on every device (drawn on the CPU), moved to
    ``device`` in one copy per epoch rather than one per step (each copy makes the CPU wait for the GPU)."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n, generator=generator).to(device or "cpu")
    return [order[i : i + batch_size] for i in range(0, n - batch_size + 1 if n >= batch_size else 1, batch_size)]


class _Loader:
    """Cuts batches of normalised images from a dataset: directly from a tensor dataset (on its device),
    through a DataLoader for any other Dataset."""

    def __init__(self, dataset: Dataset, device: torch.device):
        self.dataset, self.device = dataset, device
        self.direct = hasattr(dataset, "batch") and hasattr(dataset, "images")
        if self.direct and device.type == "cuda" and dataset.images.device.type == "cpu":
            free, _ = torch.cuda.mem_get_info(device)
            if dataset.images.numel() < 0.25 * free:  # fits easily: keep the whole dataset on the GPU
                self.dataset = dataset.to(device)
        # where batch indices should live: with the images, or on the CPU for a Dataset indexed item by item
        self.index_device = self.dataset.images.device if self.direct else torch.device("cpu")

    def get(self, indices: torch.Tensor):
        if self.direct:
            images, labels = self.dataset.batch(indices)
        else:
            items = [self.dataset[int(i)] for i in indices]
            images = torch.stack([x for x, _ in items])
            labels = torch.tensor([int(y) for _, y in items])
        return images.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)

    def batches(self, batch_size: int):
        n = len(self.dataset)
        if self.direct:
            for start in range(0, n, batch_size):
                yield self.get(torch.arange(start, min(n, start + batch_size)))
        else:
            loader = DataLoader(self.dataset, batch_size=batch_size, shuffle=False)
            for images, labels in loader:
                yield images.to(self.device), labels.to(self.device)


def _autocast(device: torch.device, enabled: bool):
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast(device.type, enabled=False)


def train_step(forward, model, optimizer, images, labels, config: TrainConfig, device: torch.device):
    """One optimisation step: forward (bf16 autocast on CUDA), label-smoothed cross-entropy, backward,
    gradient clipping, optimizer step. ``forward`` is the model or its compiled version; ``labels`` are
    class indices ``(B,)`` or soft targets ``(B, K)`` (from MixUp or CutMix).
    Returns the loss and the logits ``(B, K)``."""
    with _autocast(device, config.amp):
        logits = forward(images)  # (B, K)
        loss = F.cross_entropy(logits.float(), labels, label_smoothing=config.label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if config.grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    optimizer.step()
    return loss, logits


def fit(
    model: ViT,
    train_data: Dataset,
    val_data: Dataset | None = None,
    config: TrainConfig | None = None,
    *,
    device: str | torch.device | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = True,
    callbacks=(),
    progress: bool = True,
    live_plot: bool = False,
) -> History:
    """Train ``model`` on ``train_data``; evaluate on ``val_data`` every ``config.eval_every`` epochs.

    Args:
        model: the ViT to train (in place).
        train_data, val_data: datasets of ``(image, label)``; a ``TensorImageDataset`` is batched on the
            device directly.
        config: a :class:`TrainConfig`.
        device: ``"cuda"``, ``"mps"`` or ``"cpu"``; default: the best available.
        checkpoint: a file to save to; if it exists and ``resume``, training continues from it.
        callbacks: :class:`Callback` objects (e.g. ``vitlib.live.LivePlot``).
        progress: show a tqdm progress bar with loss and accuracy.
        live_plot: add a live loss/accuracy plot (``vitlib.live.LivePlot``), redrawn in place.

    Returns:
        the :class:`History`; the model itself is trained in place.
    """
    from tqdm.auto import tqdm

    config = config or TrainConfig()
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    check_dataset(train_data, model, "train_data")
    if val_data is not None:
        check_dataset(val_data, model, "val_data")
    device = torch.device(device or best_device())
    model.to(device)
    kind = config.augment if config.augment != "auto" else getattr(train_data, "kind", "none")
    mean, std = (  # photo-strong's pixel operations undo the normalisation; tensors made once, not every step
        torch.tensor(getattr(train_data, name), dtype=torch.float32, device=device) if getattr(train_data, name, None) is not None else None
        for name in ("mean", "std"))
    mixing = config.mixup > 0 or config.cutmix > 0
    loader = _Loader(train_data, device)
    n = len(train_data)
    steps_per_epoch = max(1, n // config.batch_size) if n >= config.batch_size else 1
    total_steps = max(1, round(config.epochs * steps_per_epoch))
    warmup = min(total_steps, max(1, round(config.warmup_epochs * steps_per_epoch)))
    eval_steps = max(1, round(config.eval_every * steps_per_epoch))
    optimizer = torch.optim.AdamW(_param_groups(model, config.weight_decay), lr=config.lr, betas=(0.9, 0.999),
                                  fused=device.type == "cuda")
    history, step = History(), 0
    if checkpoint is not None and resume and Path(checkpoint).exists():
        saved = load_checkpoint(checkpoint, model, map_location=device)  # raises before anything is written
        optimizer.load_state_dict(saved["optimizer"])
        step, history = int(saved["step"]), History(list(saved["history"]))
    callbacks = list(callbacks)
    if live_plot:
        from .live import LivePlot

        callbacks.append(LivePlot())
    forward = torch.compile(model) if config.compile else model
    state = {"model": model, "config": config, "history": history, "total_steps": total_steps}

    def save():
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, optimizer, step=step, history=history.records,
                            train_config=dataclasses.asdict(config))

    bar = tqdm(total=total_steps, initial=step, desc="training", unit="step", disable=not progress)
    def zeros() -> dict:  # running sums stay on the device: no GPU sync on every step
        return {"loss": torch.zeros((), device=device), "correct": torch.zeros((), device=device), "seen": 0}

    running = zeros()
    started = time.perf_counter()
    model.train()
    while step < total_steps:
        epoch, offset = divmod(step, steps_per_epoch)
        batches = _epoch_batches(n, config.batch_size, config.seed, epoch, loader.index_device)[:steps_per_epoch]
        for indices in batches[offset:]:
            if step >= total_steps:
                break
            torch.manual_seed(config.seed * 1_000_003 + step)  # dropout and augmentation of this step
            generator = torch.Generator(device=device).manual_seed(config.seed * 7_919 + step)
            images, labels = loader.get(indices)
            images = augment_batch(images, kind, generator, mean=mean, std=std)
            targets = labels
            if mixing:
                images, targets = mix_batch(images, labels, model.config.num_classes, config.mixup, config.cutmix,
                                            np.random.default_rng([config.seed, step]))
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, total_steps, warmup, config.lr)
            loss, logits = train_step(forward, model, optimizer, images, targets, config, device)
            step += 1
            running["loss"] += loss.detach() * len(labels)
            running["correct"] += (logits.argmax(-1) == labels).sum()  # mixed batches: against each image's own label
            running["seen"] += len(labels)
            bar.update(1)
            if step % 25 == 0:  # reading the numbers waits for the GPU, so not on every step
                bar.set_postfix(loss=f"{running['loss'].item() / running['seen']:.3f}",
                                acc=f"{running['correct'].item() / running['seen']:.3f}")
            state.update(step=step, epoch=step / steps_per_epoch, loss=loss.detach(), images=images, labels=labels)
            for callback in callbacks:
                callback.on_step_end(state)
            if step % eval_steps == 0 or step == total_steps:
                record = {
                    "epoch": round(step / steps_per_epoch, 3), "step": step, "lr": optimizer.param_groups[0]["lr"],
                    "train_loss": running["loss"].item() / running["seen"],
                    "train_acc": running["correct"].item() / running["seen"],
                    "val_loss": None, "val_acc": None,
                    "seconds": (history.last("seconds") or 0.0) + time.perf_counter() - started,
                }
                started = time.perf_counter()
                if val_data is not None:
                    from .evaluate import evaluate

                    result = evaluate(model, val_data, batch_size=max(256, config.batch_size), device=device)
                    record.update(val_loss=result.loss, val_acc=result.accuracy)
                    bar.set_postfix(loss=f"{record['train_loss']:.3f}", acc=f"{record['train_acc']:.3f}",
                                    val_acc=f"{result.accuracy:.3f}")
                    model.train()
                history.records.append(record)
                running = zeros()
                for callback in callbacks:
                    callback.on_evaluate(state)
                if config.checkpoint_every == 0:
                    save()
            if config.checkpoint_every and step % config.checkpoint_every == 0:
                save()
    bar.close()
    model.eval()
    for callback in callbacks:
        callback.on_train_end(state)
    return history
