"""Batches for training and evaluation: checking a dataset against a model, the order of each epoch, and
cutting normalised batches on the device.

A :class:`~vitlib.data.TensorImageDataset` is batched directly (on the GPU, when it fits there); any
other ``Dataset`` of ``(image, label)`` pairs goes item by item, or through a ``DataLoader``.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

from .checks import pair, positive_int

__all__ = ["dataset_shape", "dataset_labels", "check_dataset", "epoch_batches", "BatchLoader"]


def dataset_shape(dataset) -> tuple[int, int, int]:
    """``(C, H, W)`` of the dataset's images."""
    if hasattr(dataset, "image_shape"):
        return tuple(dataset.image_shape)
    return tuple(dataset[0][0].shape)


def dataset_labels(dataset) -> torch.Tensor:
    """Every item's label ``(N,)``, without loading the images where the dataset can say them directly."""
    labels = getattr(dataset, "labels", None)
    if labels is None and hasattr(dataset, "labels_of"):
        labels = dataset.labels_of(torch.arange(len(dataset)))
    if labels is None:
        labels = torch.tensor([int(dataset[i][1]) for i in range(len(dataset))])
    return torch.as_tensor(labels)


def check_dataset(dataset, model, name: str = "dataset") -> None:
    """Raise a ValueError if ``dataset`` is empty or its images or labels do not fit ``model`` (anything with a
    ``config`` that has ``in_channels``, ``image_size`` and ``num_classes``)."""
    if dataset is None or len(dataset) == 0:
        raise ValueError(f"{name} is empty: it must hold at least one (image, label) pair")
    c = model.config
    C, H, W = dataset_shape(dataset)
    expected_hw = pair(c.image_size, "image_size")
    if C != c.in_channels:
        raise ValueError(f"{name} has {C}-channel images but the model expects in_channels={c.in_channels}")
    if (H, W) != expected_hw:
        raise ValueError(
            f"{name} has {H}x{W} images but the model was built for image_size={expected_hw}; "
            f"resize the data or call model.set_image_size(({H}, {W}))"
        )
    labels = dataset_labels(dataset)
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= c.num_classes:
        raise ValueError(
            f"{name} has labels from {low} to {high} but the model has num_classes={c.num_classes} "
            f"(valid labels 0..{c.num_classes - 1}); call model.reset_head({high + 1}) for a new task"
        )


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, device=None) -> list[torch.Tensor]:
    """The batches of item indices of one epoch: a random order drawn from ``(seed, epoch)``, cut into full
    batches (the last, partial batch is dropped; a dataset smaller than a batch gives one batch of all).

    The order is drawn on the CPU, so it is the same on every device, then moved to ``device`` in one copy
    per epoch rather than one per step (each copy makes the CPU wait for the GPU).
    """
    positive_int(n, "n")
    positive_int(batch_size, "batch_size")
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n, generator=generator).to(device or "cpu")
    if n < batch_size:
        return [order]
    return [order[i : i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]


class BatchLoader:
    """Cuts batches of normalised images and labels from a dataset, onto ``device``.

    A tensor dataset (one with ``batch`` and ``images``) is cut directly; on CUDA it is first moved to the
    GPU when it takes less than a quarter of the free memory. Any other ``Dataset`` is read item by item.
    """

    def __init__(self, dataset: Dataset, device: torch.device):
        self.dataset, self.device = dataset, torch.device(device)
        self.direct = hasattr(dataset, "batch") and hasattr(dataset, "images")
        if self.direct and self.device.type == "cuda" and dataset.images.device.type == "cpu":
            free, _ = torch.cuda.mem_get_info(self.device)
            if dataset.images.numel() < 0.25 * free:  # fits easily: keep the whole dataset on the GPU
                self.dataset = dataset.to(self.device)
        # where batch indices should live: with the images, or on the CPU for a Dataset read item by item
        self.index_device = self.dataset.images.device if self.direct else torch.device("cpu")

    def __len__(self) -> int:
        return len(self.dataset)

    def get(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``(B, C, H, W)`` and labels ``(B,)`` of the items ``indices``, on the device."""
        if self.direct:
            images, labels = self.dataset.batch(indices)
        else:
            items = [self.dataset[int(i)] for i in indices]
            images = torch.stack([x for x, _ in items])
            labels = torch.tensor([int(y) for _, y in items])
        return images.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)

    def in_order(self, batch_size: int):
        """Every item once, in dataset order, in batches of ``batch_size`` (the last one may be smaller)."""
        n = len(self.dataset)
        if self.direct:
            for start in range(0, n, batch_size):
                yield self.get(torch.arange(start, min(n, start + batch_size)))
        else:
            for images, labels in DataLoader(self.dataset, batch_size=batch_size, shuffle=False):
                yield images.to(self.device), labels.to(self.device)
