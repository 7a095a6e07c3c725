"""Datasets for training: bundled digits, CIFAR-10, your own image folders, and a procedural dataset A.

All are ordinary ``torch.utils.data.Dataset`` s that return ``(image, label)`` with ``image`` a float
tensor ``(C, H, W)`` normalised with the dataset's mean and std. :class:`TensorImageDataset` keeps
every image in one uint8 tensor, so ``.to("cuda")`` puts a whole dataset in GPU memory and the trainer
then cuts batches and augments them there, without waiting on the CPU.

One module per source: ``tensor`` (the dataset class), ``digits``, ``cifar`` (with ``download``),
``folder``, ``fractals``; ``paths`` says where data and downloads are kept.
"""

from __future__ import annotations

from ..checks import choice, non_negative_int, positive_int
from .cifar import CIFAR10_CLASSES, load_cifar10, read_cifar10_archive
from .digits import DIGIT_CLASSES, load_digits
from .folder import load_image_folder
from .fractals import FractalDataset
from .paths import CACHE_DIR, DATA_DIR
from .tensor import TensorImageDataset

__all__ = [
    "TensorImageDataset",
    "load_dataset",
    "load_digits",
    "load_cifar10",
    "read_cifar10_archive",
    "load_image_folder",
    "FractalDataset",
    "CACHE_DIR",
    "DATA_DIR",
    "DIGIT_CLASSES",
    "CIFAR10_CLASSES",
]

LOADERS = {"digits": load_digits, "cifar10": load_cifar10}


def load_dataset(name: str, split: str = "train", limit: int | None = None, seed: int = 0) -> TensorImageDataset:
    """A named dataset: ``"digits"`` (bundled) or ``"cifar10"`` (downloaded once, then cached).

    Args:
        name: ``"digits"`` or ``"cifar10"``.
        split: ``"train"``, ``"val"`` (carved from the training images: for every curve, early stop and
            choice) or ``"test"`` (touched once, at the end).
        limit: keep at most this many items, the same number from every class (drawn with ``seed``), so at
            least one per class.
    """
    choice(name, "name", LOADERS)
    if limit is not None:
        positive_int(limit, "limit")
    non_negative_int(seed, "seed")
    dataset = LOADERS[name](split)
    K = len(dataset.classes)
    if limit is not None and limit < K:
        raise ValueError(f"limit={limit} is fewer than the {K} classes of {name!r}: the same number is kept from "
                         f"every class, so give limit >= {K} (or None for all {len(dataset)} items)")
    if limit is not None and limit < len(dataset):
        dataset = dataset.stratified_subset(limit // K, seed=seed)
    return dataset
