"""The photos shipped in ``data/photos``, as tensors the lessons cut into patches."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ..checks import choice, positive_int
from ..data.paths import DATA_DIR

__all__ = ["list_photos", "load_photo", "to_numpy_image"]

PHOTO_DIR = DATA_DIR / "photos"


def list_photos() -> list[str]:
    """Names of the bundled photos (without extension), e.g. ``["astronaut", "chelsea", ...]``."""
    return sorted(p.stem for p in PHOTO_DIR.glob("*.jpg"))


def load_photo(name: str, size: int | None = 224) -> torch.Tensor:
    """A bundled photo as a float tensor ``(3, H, W)`` with values in [0, 1].

    Args:
        name: one of :func:`list_photos`.
        size: centre-crop to a square and resize to ``size x size``; ``None`` keeps the original.
    """
    choice(name, "name", list_photos())
    image = Image.open(PHOTO_DIR / f"{name}.jpg").convert("RGB")
    if size is not None:
        positive_int(size, "size")
        w, h = image.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC)
    array = np.asarray(image, dtype=np.float32) / 255.0  # (H, W, 3)
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()  # (3, H, W)


def to_numpy_image(image: torch.Tensor) -> np.ndarray:
    """``(C, H, W)`` tensor -> ``(H, W, C)`` (or ``(H, W)`` for one channel) array clipped to [0, 1], for plotting."""
    array = image.detach().float().cpu().clamp(0, 1).numpy()
    return array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)
