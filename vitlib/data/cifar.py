"""CIFAR-10 (Krizhevsky, 2009) from its official python release, downloaded once and cached."""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np
import torch

from ..checks import choice
from .download import download, md5sum
from .paths import CACHE_DIR
from .tensor import TensorImageDataset

__all__ = ["CIFAR10_CLASSES", "read_cifar10_archive", "first_of_each_class", "load_cifar10"]

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"  # published with the dataset
CIFAR10_FILE = "cifar-10-python.tar.gz"
VAL_PER_CLASS = 500  # validation images carved from each class of the training set


def read_cifar10_archive(path) -> dict[str, TensorImageDataset]:
    """Parse the official ``cifar-10-python.tar.gz``: ``{"train": 50,000 images, "test": 10,000}``.

    The archive holds pickled batches (``data_batch_1`` ... ``data_batch_5``, ``test_batch``), each a
    dict with ``b"data"`` (uint8, ``(n, 3072)``, channel-major 32x32) and ``b"labels"``, and
    ``batches.meta`` with ``b"label_names"``.
    """
    parts: dict[str, list] = {"train": [], "test": []}
    classes = CIFAR10_CLASSES
    with tarfile.open(path, "r:gz") as archive:
        for member in sorted(archive.getmembers(), key=lambda m: m.name):
            name = Path(member.name).name
            if not member.isfile():
                continue
            if name == "batches.meta":
                meta = pickle.load(archive.extractfile(member), encoding="bytes")
                classes = [c.decode() for c in meta[b"label_names"]]
            elif name.startswith("data_batch_") or name == "test_batch":
                batch = pickle.load(archive.extractfile(member), encoding="bytes")
                data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
                parts["test" if name == "test_batch" else "train"].append((data, np.asarray(batch[b"labels"])))
    if not parts["train"] or not parts["test"]:
        raise ValueError(f"{path} is not a CIFAR-10 python archive: no data_batch_* or test_batch inside")
    mean, std = [0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]  # of the training images
    return {
        split: TensorImageDataset(
            torch.from_numpy(np.concatenate([d for d, _ in chunks])),
            torch.from_numpy(np.concatenate([l for _, l in chunks]).astype(np.int64)),
            classes, mean, std, kind="photo",
        )
        for split, chunks in parts.items()
    }


def first_of_each_class(labels: torch.Tensor, per_class: int) -> torch.Tensor:
    """A boolean mask ``(N,)`` of the first ``per_class`` items of every class, in the given order: a fixed,
    stratified split that needs nothing stored beside the data."""
    chosen = torch.zeros(len(labels), dtype=torch.bool)
    for c in labels.unique().tolist():
        members = torch.nonzero(labels == c).flatten()
        if len(members) < per_class:
            raise ValueError(f"per_class={per_class} but class {c} has only {len(members)} items")
        chosen[members[:per_class]] = True
    return chosen


def load_cifar10(split: str = "train", root=None, download_if_missing: bool = True) -> TensorImageDataset:
    """CIFAR-10 (Krizhevsky, 2009) from its official release, cached in ``root`` (default: the cache folder).

    Args:
        split: ``"train"`` (45,000 images), ``"val"`` (5,000: the first 500 training images of each class, in
            the archive's order, for every curve, early stop and choice) or ``"test"`` (10,000, touched once).
        root: where ``cifar-10-python.tar.gz`` is kept; it is downloaded there if missing.
    """
    choice(split, "split", ("train", "val", "test"))
    path = Path(root or CACHE_DIR) / CIFAR10_FILE
    if not path.exists():
        if not download_if_missing:
            raise FileNotFoundError(f"{path} does not exist; download {CIFAR10_URL} and put it there")
        download(CIFAR10_URL, path, CIFAR10_MD5)
    elif md5sum(path) != CIFAR10_MD5:
        raise RuntimeError(f"{path} is not the published CIFAR-10 archive (MD5 differs from {CIFAR10_MD5}); delete it and try again")
    parts = read_cifar10_archive(path)
    if split == "test":
        return parts["test"]
    is_val = first_of_each_class(parts["train"].labels, VAL_PER_CLASS)
    return parts["train"].subset(torch.nonzero(is_val if split == "val" else ~is_val).flatten())
