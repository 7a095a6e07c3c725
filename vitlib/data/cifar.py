"""CIFAR-10 (Krizhevsky, 2009) from its official python release, downloaded once and cached.

The release stores its batches as Python pickles, and unpickling can run any code a file asks for; so
the batches are read with :class:`ArrayUnpickler`, which builds nothing but numpy arrays and plain data.
"""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np
import torch

from ..checks import boolean, choice
from .download import download, md5sum
from .paths import CACHE_DIR
from .tensor import TensorImageDataset

__all__ = ["CIFAR10_CLASSES", "ArrayUnpickler", "read_cifar10_archive", "first_of_each_class", "load_cifar10"]

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"  # published with the dataset
CIFAR10_FILE = "cifar-10-python.tar.gz"
VAL_PER_CLASS = 500  # validation images carved from each class of the training set


class ArrayUnpickler(pickle.Unpickler):
    """An unpickler that builds numpy arrays and plain data (dicts, lists, numbers, bytes) and nothing else:
    what a CIFAR-10 batch holds. Any other type a file names is refused before it is looked up."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),  # _codecs.encode: bytes in protocol 2
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it asks for {module}.{name}, which a CIFAR-10 batch never holds")
        return super().find_class(module, name)


def unpickle_member(archive: tarfile.TarFile, member: tarfile.TarInfo, path) -> dict:
    """A pickled dict inside the archive, read with :class:`ArrayUnpickler`; an error naming the member."""
    try:
        payload = ArrayUnpickler(archive.extractfile(member), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as error:
        raise ValueError(f"{member.name} in {str(path)!r} is not a CIFAR-10 batch, so it was not loaded ({error}); "
                         f"use the official archive from {CIFAR10_URL}") from None
    if not isinstance(payload, dict):
        raise ValueError(f"{member.name} in {str(path)!r} is not a CIFAR-10 batch (a {type(payload).__name__}, "
                         "not a dict)")
    return payload


def batch_arrays(batch: dict, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A batch's images ``(n, 3, 32, 32)`` uint8 and labels ``(n,)`` in 0..9, checked."""
    data, labels = batch.get(b"data"), np.asarray(batch.get(b"labels", []))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"{name}: b'data' must be a uint8 array (n, 3072), got {getattr(data, 'shape', type(data))}")
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer) or (len(labels) and (
            labels.min() < 0 or labels.max() > 9)):
        raise ValueError(f"{name}: b'labels' must be {len(data)} class indices in 0..9")
    return data.reshape(-1, 3, 32, 32), labels


def read_cifar10_archive(path) -> dict[str, TensorImageDataset]:
    """Parse the official ``cifar-10-python.tar.gz``: ``{"train": 50,000 images, "test": 10,000}``.

    The archive holds pickled batches (``data_batch_1`` ... ``data_batch_5``, ``test_batch``), each a
    dict with ``b"data"`` (uint8, ``(n, 3072)``, channel-major 32x32) and ``b"labels"``, and
    ``batches.meta`` with ``b"label_names"``. They are read with :class:`ArrayUnpickler`, which refuses
    anything but arrays and plain data, so an archive from elsewhere cannot run code.
    """
    parts: dict[str, list] = {"train": [], "test": []}
    classes = CIFAR10_CLASSES
    try:
        archive = tarfile.open(path, "r:gz")
    except (tarfile.TarError, OSError) as error:
        raise ValueError(f"{str(path)!r} is not a CIFAR-10 python archive (.tar.gz) ({error}); delete it and "
                         f"download {CIFAR10_URL} again") from None
    with archive:
        for member in sorted(archive.getmembers(), key=lambda m: m.name):
            name = Path(member.name).name
            if not member.isfile():
                continue
            if name == "batches.meta":
                names = unpickle_member(archive, member, path).get(b"label_names", [])
                classes = [c.decode() if isinstance(c, bytes) else str(c) for c in names]
                if len(classes) != 10:
                    raise ValueError(f"{member.name} in {str(path)!r} names {len(classes)} classes, not CIFAR-10's 10")
            elif name.startswith("data_batch_") or name == "test_batch":
                batch = batch_arrays(unpickle_member(archive, member, path), f"{member.name} in {str(path)!r}")
                parts["test" if name == "test_batch" else "train"].append(batch)
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
    boolean(download_if_missing, "download_if_missing")
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
