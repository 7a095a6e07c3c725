"""A dataset held in one uint8 tensor, so ``.to("cuda")`` moves all of it and batches are cut on the device.

Images are stored as uint8 ``(N, C, H, W)`` and normalised with the dataset's per-channel mean and std
when a batch is cut; ``kind`` says which augmentation suits the data (``vitlib.augment.resolve_augmentation``).
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from ..checks import choice, non_negative_int, per_channel, positive_int

__all__ = ["TensorImageDataset", "KINDS", "class_names", "label_tensor"]

KINDS = ("photo", "digits", "none")  # what the images are, which decides the "auto" augmentation


def class_names(classes) -> list[str]:
    """``classes`` as a list of distinct, non-empty names (a string is one name, not a list of letters)."""
    if isinstance(classes, (str, bytes)) or not hasattr(classes, "__iter__"):
        raise ValueError(f"classes must be a list of class names, e.g. ['cat', 'dog'], got {classes!r}")
    classes = list(classes)
    if not classes or not all(isinstance(c, str) and c for c in classes):
        raise ValueError(f"classes must be a non-empty list of non-empty strings, got {classes!r}")
    repeated = sorted({c for c in classes if classes.count(c) > 1})
    if repeated:
        raise ValueError(f"classes must be distinct names, but {repeated} appear more than once")
    return classes


def label_tensor(labels, n: int, num_classes: int) -> torch.Tensor:
    """``labels`` as an int64 tensor ``(n,)`` of class indices in ``0..num_classes - 1``; float labels must be
    whole numbers (0.5 is no class)."""
    try:
        labels = torch.as_tensor(labels)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"labels must be a tensor or list of class indices, got {type(labels).__name__}") from None
    fractional = labels.is_floating_point() and not torch.equal(labels, labels.round())
    if labels.dtype == torch.bool or labels.is_complex() or fractional:
        raise ValueError(f"labels must be whole class indices, got {labels.dtype} values such as "
                         f"{labels.flatten()[:3].tolist()}")
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), one per image, got {tuple(labels.shape)}")
    labels = labels.to(torch.int64)
    if n and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"labels must be in 0..{num_classes - 1} for {num_classes} classes, "
            f"got values from {labels.min().item()} to {labels.max().item()}"
        )
    return labels


class TensorImageDataset(Dataset):
    """Images held in one uint8 tensor ``(N, C, H, W)`` with int64 labels ``(N,)``.

    Args:
        images: uint8 ``(N, C, H, W)``.
        labels: ``(N,)`` class indices in ``0..len(classes) - 1``.
        classes: class names.
        mean, std: per-channel normalisation; ``None`` computes them from ``images``.
        kind: ``"photo"``, ``"digits"`` or ``"none"``: which augmentation ``"auto"`` picks for the data
            (``vitlib.augment.resolve_augmentation``).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes, mean=None, std=None, kind: str = "photo"):
        if not isinstance(images, torch.Tensor):
            raise TypeError(f"images must be a uint8 torch.Tensor (N, C, H, W), got {type(images).__name__}")
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images must be a uint8 tensor (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
        classes = class_names(classes)
        labels = label_tensor(labels, len(images), len(classes))
        choice(kind, "kind", KINDS)
        self.images, self.labels, self.classes, self.kind = images, labels.to(images.device), classes, kind
        if mean is None or std is None:
            sample = images[:: max(1, len(images) // 2000)].float() / 255  # (n, C, H, W)
            mean = sample.mean(dim=(0, 2, 3)).tolist() if len(sample) else [0.5] * images.shape[1]
            std = sample.std(dim=(0, 2, 3)).clamp(min=1e-3).tolist() if len(sample) > 1 else [0.5] * images.shape[1]
        self.mean = per_channel(mean, "mean", images.shape[1])
        self.std = per_channel(std, "std", images.shape[1], positive=True)
        self._stats_on: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)``."""
        return tuple(self.images.shape[1:])

    @property
    def device(self) -> torch.device:
        return self.images.device

    def __len__(self) -> int:
        return len(self.images)

    def _stats(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """``mean`` and ``std`` as ``(1, C, 1, 1)`` tensors on ``device``, made once per device: copying them
        to a GPU for every batch would make the CPU wait for the GPU each time."""
        key = (device, tuple(self.mean), tuple(self.std))  # still right if mean or std is reassigned
        if key not in self._stats_on:  # checked again: mean and std may have been reassigned
            per_channel(self.mean, "mean", self.images.shape[1])
            per_channel(self.std, "std", self.images.shape[1], positive=True)
            self._stats_on[key] = tuple(torch.tensor(v, device=device).view(1, -1, 1, 1) for v in (self.mean, self.std))
        return self._stats_on[key]

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 ``(B, C, H, W)`` -> normalised float ``(B, C, H, W)``."""
        mean, std = self._stats(images.device)
        return (images.float() / 255 - mean) / std

    def denormalise(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised float ``(B, C, H, W)`` -> values in [0, 1], for plotting."""
        mean, std = self._stats(images.device)
        return (images * std + mean).clamp(0, 1)

    def batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised images ``(B, C, H, W)`` and labels ``(B,)`` for ``indices``, on the dataset's device."""
        indices = indices.to(self.images.device)
        return self.normalise(self.images[indices]), self.labels[indices]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.normalise(self.images[index : index + 1])[0]
        return image, int(self.labels[index])

    def to(self, device) -> "TensorImageDataset":
        """The same dataset with its tensors on ``device`` (e.g. ``"cuda"``)."""
        return TensorImageDataset(self.images.to(device), self.labels.to(device), self.classes, self.mean, self.std, self.kind)

    def subset(self, indices) -> "TensorImageDataset":
        """A dataset of the given items, with the same normalisation."""
        indices = torch.as_tensor(indices, dtype=torch.int64, device=self.images.device)
        return TensorImageDataset(self.images[indices], self.labels[indices], self.classes, self.mean, self.std, self.kind)

    def stratified_subset(self, per_class: int, seed: int = 0) -> "TensorImageDataset":
        """``per_class`` items of every class, drawn at random with ``seed``."""
        positive_int(per_class, "per_class")
        generator = torch.Generator().manual_seed(non_negative_int(seed, "seed"))
        labels = self.labels.cpu()
        chosen = []
        for c in range(len(self.classes)):
            members = torch.nonzero(labels == c).flatten()
            if len(members) < per_class:
                raise ValueError(f"per_class={per_class} but class {self.classes[c]!r} has only {len(members)} items")
            chosen.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
        return self.subset(torch.cat(chosen).sort().values)
