"""The bundled handwritten digits: a 5,000-image subset of MNIST (see data/README.md)."""

from __future__ import annotations

import numpy as np
import torch

from ..checks import choice
from .paths import DATA_DIR
from .tensor import TensorImageDataset

__all__ = ["DIGIT_CLASSES", "load_digits"]

DIGIT_CLASSES = [str(d) for d in range(10)]


def load_digits(split: str = "train") -> TensorImageDataset:
    """The bundled MNIST subset: 4,000 training and 1,000 test digits, 28x28 grey (see data/README.md).

    Args:
        split: ``"train"``, ``"test"`` or ``"all"``.
    """
    choice(split, "split", ("train", "test", "all"))
    path = DATA_DIR / "digits" / "mnist_5k.npz"
    with np.load(path) as archive:
        images, labels, is_test = archive["images"], archive["labels"], archive["is_test"]
    keep = np.ones_like(is_test) if split == "all" else (is_test if split == "test" else ~is_test)
    images = torch.from_numpy(images[keep]).unsqueeze(1)  # (N, 1, 28, 28)
    # normalisation from the training split, so train and test are treated alike
    return TensorImageDataset(images, torch.from_numpy(labels[keep].astype(np.int64)), DIGIT_CLASSES,
                              mean=[0.1307], std=[0.3081], kind="digits")
