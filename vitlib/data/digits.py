"""The bundled handwritten digits: a 5,000-image subset of MNIST (see data/README.md)."""

from __future__ import annotations

import numpy as np
import torch

from ..checks import choice
from .paths import DATA_DIR
from .tensor import TensorImageDataset

__all__ = ["DIGIT_CLASSES", "SPLITS", "load_digits"]

DIGIT_CLASSES = [str(d) for d in range(10)]
SPLITS = ("train", "val", "test", "all")


def load_digits(split: str = "train") -> TensorImageDataset:
    """The bundled MNIST subset, 28x28 grey (see data/README.md), in fixed stratified splits: 3,500
    training digits, 500 for validation (every curve, early stop and choice) and 1,000 for the test,
    touched once at the end.

    Args:
        split: ``"train"``, ``"val"``, ``"test"`` or ``"all"`` (the 5,000).
    """
    choice(split, "split", SPLITS)
    path = DATA_DIR / "digits" / "mnist_5k.npz"
    with np.load(path) as archive:
        images, labels, is_test, is_val = archive["images"], archive["labels"], archive["is_test"], archive["is_val"]
    keep = {"all": np.ones_like(is_test), "test": is_test, "val": is_val, "train": ~is_test & ~is_val}[split]
    images = torch.from_numpy(images[keep]).unsqueeze(1)  # (N, 1, 28, 28)
    # normalisation from MNIST's training images, so every split is treated alike
    return TensorImageDataset(images, torch.from_numpy(labels[keep].astype(np.int64)), DIGIT_CLASSES,
                              mean=[0.1307], std=[0.3081], kind="digits")
