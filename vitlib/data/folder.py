"""Your own pictures: a folder with one subfolder per class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from ..checks import choice, pair
from .tensor import TensorImageDataset

__all__ = ["IMAGE_SUFFIXES", "load_image_folder"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}


def load_image_folder(root, image_size=None, channels: int = 3, progress: bool = True) -> TensorImageDataset:
    """Load a folder with one subfolder per class (``root/cat/001.jpg``, ``root/dog/xyz.png`` ...).

    Args:
        root: the folder; class names are the subfolder names, sorted.
        image_size: ``S`` or ``(H, W)``: every image is resized to it; ``None`` requires equal sizes.
        channels: 3 (RGB) or 1 (grey).
    """
    choice(channels, "channels", (1, 3))
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"root must be a folder with one subfolder per class, got {str(root)!r} (not a folder)")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir())
    files = [(f, c) for c, name in enumerate(classes) for f in sorted((root / name).iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise ValueError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in the subfolders of {str(root)!r}")
    size = None if image_size is None else pair(image_size, "image_size")
    arrays = []
    for f, _ in tqdm(files, desc=f"loading {root.name}", disable=not progress):
        with Image.open(f) as image:
            image = image.convert("RGB" if channels == 3 else "L")
            if size is not None and image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), Image.BICUBIC)
            arrays.append(np.asarray(image, dtype=np.uint8).reshape(image.size[1], image.size[0], channels))
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"images in {str(root)!r} have different sizes {sorted(shapes)[:3]}...; pass image_size to resize them")
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()  # (N, C, H, W)
    return TensorImageDataset(images, torch.tensor([c for _, c in files]), classes)
