"""Your own pictures: a folder with one subfolder per class."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from ..checks import boolean, choice, pair
from .tensor import TensorImageDataset, class_names

__all__ = ["IMAGE_SUFFIXES", "class_folders", "image_files", "load_image_folder"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}


def visible(path: Path) -> bool:
    """False for hidden entries (``.ipynb_checkpoints``, ``.DS_Store``), which are never classes or images."""
    return not path.name.startswith(".")


def class_folders(root: Path) -> dict[str, Path]:
    """``{class name: folder}`` for every visible subfolder of ``root``, sorted by name."""
    return {d.name: d for d in sorted(root.iterdir()) if d.is_dir() and visible(d)}


def image_files(folder: Path) -> list[Path]:
    """The visible files of ``folder`` with an image suffix, sorted; an error naming the folder if there are none."""
    files = [f for f in sorted(folder.iterdir()) if visible(f) and f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise ValueError(f"class folder {str(folder)!r} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}); "
                         "add some or remove the folder")
    return files


def read_image(path: Path, channels: int, size) -> np.ndarray:
    """One image as uint8 ``(H, W, C)``, resized to ``size`` ``(H, W)`` if given; an error naming the file."""
    try:
        with Image.open(path) as image:
            image = image.convert("RGB" if channels == 3 else "L")
            if size is not None and image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), Image.BICUBIC)
            return np.asarray(image, dtype=np.uint8).reshape(image.size[1], image.size[0], channels)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise ValueError(f"cannot read {str(path)!r} as an image ({error}); remove or replace the file") from None


def label_map(root: Path, found: list[str], classes) -> list[str]:
    """The class list the labels index: the folder's own classes, or ``classes`` (a training split's), onto
    which the folder's classes are mapped by name; a folder class that is not among them is an error."""
    if classes is None:
        return found
    classes = class_names(classes)
    unknown = [c for c in found if c not in classes]
    if unknown:
        raise ValueError(f"{str(root)!r} has classes the training data does not have: {unknown} (training classes: "
                         f"{classes}); rename or remove those folders, or train on them too")
    missing = [c for c in classes if c not in found]
    if missing:
        warnings.warn(f"{str(root)!r} has {len(found)} of the {len(classes)} training classes (none of {missing}); "
                      "its labels are mapped onto the training classes by name", stacklevel=3)
    return classes


def load_image_folder(root, image_size=None, channels: int = 3, progress: bool = True,
                      classes=None, mean=None, std=None) -> TensorImageDataset:
    """Load a folder with one subfolder per class (``root/cat/001.jpg``, ``root/dog/xyz.png`` ...).

    Hidden entries (``.ipynb_checkpoints/``, ``.DS_Store``) are ignored; an empty class folder, or a file that
    cannot be read as an image, is an error that names it.

    Args:
        root: the folder; class names are the subfolder names, sorted.
        image_size: ``S`` or ``(H, W)``: every image is resized to it; ``None`` requires equal sizes.
        channels: 3 (RGB) or 1 (grey).
        classes: the training split's class names, for a test split: its labels then follow them by name
            (a warning says so if some are missing here; a class that is not among them is an error).
        mean, std: per-channel normalisation; for a test split, the training split's (``train.mean``,
            ``train.std``); ``None`` computes them from these images.
    """
    choice(channels, "channels", (1, 3))
    size = None if image_size is None else pair(image_size, "image_size")
    boolean(progress, "progress")
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"root must be a folder with one subfolder per class, got {str(root)!r} (not a folder)")
    folders = class_folders(root)
    if not folders:
        raise ValueError(f"{str(root)!r} has no class subfolders: put each class's images in a folder of its own "
                         "(root/cat/001.jpg, root/dog/002.png ...)")
    names = label_map(root, list(folders), classes)
    files = [(f, names.index(name)) for name, folder in folders.items() for f in image_files(folder)]
    arrays = [read_image(f, channels, size) for f, _ in tqdm(files, desc=f"loading {root.name}", disable=not progress)]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"images in {str(root)!r} have different sizes {sorted(shapes)[:3]}...; pass image_size to resize them")
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()  # (N, C, H, W)
    return TensorImageDataset(images, torch.tensor([c for _, c in files]), names, mean, std)
