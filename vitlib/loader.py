"""Batches for training and evaluation: checking a dataset against a model, the order of each epoch, and
cutting normalised batches on the device.

A :class:`~vitlib.data.TensorImageDataset` is batched directly (on the GPU, when it fits there); any
other ``Dataset`` of ``(image, label)`` pairs goes item by item, or through a ``DataLoader``.
"""

from __future__ import annotations

import warnings

import torch
from torch.utils.data import DataLoader, Dataset

from .checks import pair, positive_int

__all__ = ["dataset_shape", "dataset_labels", "check_model", "check_dataset", "check_alike", "epoch_batches",
           "BatchLoader"]


def dataset_shape(dataset) -> tuple[int, int, int]:
    """``(C, H, W)`` of the dataset's images."""
    if hasattr(dataset, "image_shape"):
        return tuple(dataset.image_shape)
    item = dataset[0]
    if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], torch.Tensor)
            and item[0].ndim == 3):
        raise ValueError("a dataset's items must be (image, label) pairs with image a tensor (C, H, W), got "
                         f"{type(item).__name__} {getattr(item, 'shape', '')}".rstrip())
    return tuple(item[0].shape)


def dataset_labels(dataset) -> torch.Tensor:
    """Every item's label ``(N,)``, without loading the images where the dataset can say them directly."""
    labels = getattr(dataset, "labels", None)
    if labels is None and hasattr(dataset, "labels_of"):
        labels = dataset.labels_of(torch.arange(len(dataset)))
    if labels is None:
        labels = torch.tensor([int(dataset[i][1]) for i in range(len(dataset))])
    return torch.as_tensor(labels)


def check_model(model) -> None:
    """Raise a TypeError unless ``model`` is an ``nn.Module`` with a ``config`` that has ``in_channels``,
    ``image_size`` and ``num_classes`` (a vitlib ViT)."""
    config = getattr(model, "config", None)
    if not isinstance(model, torch.nn.Module) or not all(
            hasattr(config, k) for k in ("in_channels", "image_size", "num_classes")):
        raise TypeError(f"model must be a vitlib ViT (an nn.Module with a config of in_channels, image_size and "
                        f"num_classes), got {type(model).__name__}; build one with vitlib.create_vit(...)")


def check_dataset(dataset, model, name: str = "dataset") -> None:
    """Raise a ValueError if ``dataset`` is empty or its images or labels do not fit ``model`` (anything with a
    ``config`` that has ``in_channels``, ``image_size`` and ``num_classes``)."""
    check_model(model)
    if dataset is not None and not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
        raise TypeError(f"{name} must be a Dataset of (image, label) pairs (e.g. vitlib.data.load_dataset(...)), "
                        f"got {type(dataset).__name__}")
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


def check_alike(reference, dataset, name: str, reference_name: str = "train_data") -> None:
    """Raise a ValueError if two datasets that say their ``classes`` say different ones (label ``k`` of one would be
    scored as class ``k`` of the other), and warn if they say a noticeably different ``mean`` or ``std`` (the
    model would see the images otherwise than it learnt them; another sample's statistics are close enough).
    The messages say how to load the data alike."""
    mine, theirs = getattr(reference, "classes", None), getattr(dataset, "classes", None)
    if mine is not None and theirs is not None and list(mine) != list(theirs):
        only_theirs, only_mine = [c for c in theirs if c not in mine], [c for c in mine if c not in theirs]
        difference = (f"only in {name}: {only_theirs}; only in {reference_name}: {only_mine}"
                      if only_theirs or only_mine else f"the same names in another order: {list(theirs)} vs {list(mine)}")
        raise ValueError(
            f"{name} and {reference_name} have different classes ({difference}), so its labels would be scored as "
            f"the wrong classes; load it with the training classes, e.g. load_image_folder(..., "
            f"classes={reference_name}.classes)"
        )
    means = [getattr(d, "mean", None) for d in (reference, dataset)]
    stds = [getattr(d, "std", None) for d in (reference, dataset)]
    if None in means or None in stds:
        return
    m1, m2 = (torch.tensor(list(v), dtype=torch.float64) for v in means)
    s1, s2 = (torch.tensor(list(v), dtype=torch.float64) for v in stds)
    if ((m1 - m2).abs() > 0.1 * s1).any() or ((s1 / s2 - 1).abs() > 0.1).any():  # not just another sample's
        warnings.warn(
            f"{name} is normalised otherwise than {reference_name} (mean {m2.tolist()} vs {m1.tolist()}, std "
            f"{s2.tolist()} vs {s1.tolist()}), so the model sees its images shifted; normalise it as the training "
            f"data: load_image_folder(..., mean={reference_name}.mean, std={reference_name}.std)", stacklevel=3)


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
