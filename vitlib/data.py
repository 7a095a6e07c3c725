"""Datasets for training: bundled digits, CIFAR-10, your own image folders, and a procedural dataset A.

All are ordinary ``torch.utils.data.Dataset`` s that return ``(image, label)`` with ``image`` a float
tensor ``(C, H, W)`` normalised with the dataset's mean and std. :class:`TensorImageDataset` keeps
every image in one uint8 tensor, so ``.to("cuda")`` puts a whole dataset in GPU memory and the trainer
then cuts batches and augments them there, without waiting on the CPU.

The procedural dataset follows FractalDB (Kataoka et al., ACCV 2020, "Pre-training without Natural
Images"): each class is a random iterated function system (IFS) of 2-4 affine maps, each instance a
perturbation of the class's parameters rendered by the chaos game, with random flips (and colours
when ``channels=3``). Images are generated from their index, so the same index always gives the
same image, and any number of them can be made without a download.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ._checks import as_pair
from .images import DATA_DIR

__all__ = [
    "TensorImageDataset",
    "load_dataset",
    "load_digits",
    "load_cifar10",
    "read_cifar10_archive",
    "load_image_folder",
    "FractalDataset",
    "CACHE_DIR",
    "DIGIT_CLASSES",
    "CIFAR10_CLASSES",
]

CACHE_DIR = Path(os.environ.get("VITLIB_CACHE", Path.home() / ".cache" / "vitlib"))
DIGIT_CLASSES = [str(d) for d in range(10)]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"  # published with the dataset
CIFAR10_FILE = "cifar-10-python.tar.gz"


class TensorImageDataset(Dataset):
    """Images held in one uint8 tensor ``(N, C, H, W)`` with int64 labels ``(N,)``.

    Args:
        images: uint8 ``(N, C, H, W)``.
        labels: ``(N,)`` class indices in ``0..len(classes) - 1``.
        classes: class names.
        mean, std: per-channel normalisation; ``None`` computes them from ``images``.
        kind: ``"photo"`` or ``"digits"``: which augmentation suits the data (see ``vitlib.train``).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes, mean=None, std=None, kind: str = "photo"):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images must be a uint8 tensor (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
        labels = torch.as_tensor(labels, dtype=torch.int64)
        if labels.shape != (len(images),):
            raise ValueError(f"labels must have shape ({len(images)},), got {tuple(labels.shape)}")
        if len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
            raise ValueError(
                f"labels must be in 0..{len(classes) - 1} for {len(classes)} classes, "
                f"got values from {labels.min().item()} to {labels.max().item()}"
            )
        self.images, self.labels, self.classes, self.kind = images, labels.to(images.device), list(classes), kind
        if mean is None or std is None:
            sample = images[:: max(1, len(images) // 2000)].float() / 255  # (n, C, H, W)
            mean = sample.mean(dim=(0, 2, 3)).tolist() if len(sample) else [0.5] * images.shape[1]
            std = sample.std(dim=(0, 2, 3)).clamp(min=1e-3).tolist() if len(sample) > 1 else [0.5] * images.shape[1]
        self.mean, self.std = list(mean), list(std)
        self._stats_on: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)``."""
        return tuple(self.images.shape[1:])

    @property
    def device(self) -> torch.device:
        return self.images.device

    def __len__(self) -> int:
        return len(self.images)

    def _stats(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """``mean`` and ``std`` as ``(1, C, 1, 1)`` tensors on ``device``, made once per device: copying them
        to a GPU for every batch would make the CPU wait for the GPU each time."""
        key = (device, tuple(self.mean), tuple(self.std))  # still right if mean or std is reassigned
        if key not in self._stats_on:
            self._stats_on[key] = tuple(torch.tensor(v, device=device).view(1, -1, 1, 1) for v in (self.mean, self.std))
        return self._stats_on[key]

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 ``(B, C, H, W)`` -> normalised float ``(B, C, H, W)``."""
        mean, std = self._stats(images.device)
        return (images.float() / 255 - mean) / std

    def denormalise(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised float ``(B, C, H, W)`` -> values in [0, 1], for plotting."""
        mean, std = self._stats(images.device)
        return (images * std + mean).clamp(0, 1)

    def batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised images ``(B, C, H, W)`` and labels ``(B,)`` for ``indices``, on the dataset's device."""
        indices = indices.to(self.images.device)
        return self.normalise(self.images[indices]), self.labels[indices]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.normalise(self.images[index : index + 1])[0]
        return image, int(self.labels[index])

    def to(self, device) -> "TensorImageDataset":
        """The same dataset with its tensors on ``device`` (e.g. ``"cuda"``)."""
        return TensorImageDataset(self.images.to(device), self.labels.to(device), self.classes, self.mean, self.std, self.kind)

    def subset(self, indices) -> "TensorImageDataset":
        """A dataset of the given items, with the same normalisation."""
        indices = torch.as_tensor(indices, dtype=torch.int64, device=self.images.device)
        return TensorImageDataset(self.images[indices], self.labels[indices], self.classes, self.mean, self.std, self.kind)

    def stratified_subset(self, per_class: int, seed: int = 0) -> "TensorImageDataset":
        """``per_class`` items of every class, drawn at random with ``seed``."""
        generator = torch.Generator().manual_seed(seed)
        labels = self.labels.cpu()
        chosen = []
        for c in range(len(self.classes)):
            members = torch.nonzero(labels == c).flatten()
            if len(members) < per_class:
                raise ValueError(f"per_class={per_class} but class {self.classes[c]!r} has only {len(members)} items")
            chosen.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
        return self.subset(torch.cat(chosen).sort().values)


def load_dataset(name: str, split: str = "train", limit: int | None = None, seed: int = 0) -> TensorImageDataset:
    """A named dataset: ``"digits"`` (bundled) or ``"cifar10"`` (downloaded once, then cached).

    Args:
        name: ``"digits"`` or ``"cifar10"``.
        split: ``"train"`` or ``"test"``.
        limit: keep at most this many items, the same number from every class (drawn with ``seed``).
    """
    loaders = {"digits": load_digits, "cifar10": load_cifar10}
    if name not in loaders:
        raise ValueError(f"unknown dataset {name!r}; valid: {sorted(loaders)}")
    dataset = loaders[name](split)
    if limit is not None and limit < len(dataset):
        dataset = dataset.stratified_subset(max(1, limit // len(dataset.classes)), seed=seed)
    return dataset


# --- bundled digits ----------------------------------------------------------------------------------
def load_digits(split: str = "train") -> TensorImageDataset:
    """The bundled MNIST subset: 4,000 training and 1,000 test digits, 28x28 grey (see data/README.md).

    Args:
        split: ``"train"``, ``"test"`` or ``"all"``.
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    path = DATA_DIR / "digits" / "mnist_5k.npz"
    with np.load(path) as archive:
        images, labels, is_test = archive["images"], archive["labels"], archive["is_test"]
    keep = np.ones_like(is_test) if split == "all" else (is_test if split == "test" else ~is_test)
    images = torch.from_numpy(images[keep]).unsqueeze(1)  # (N, 1, 28, 28)
    # normalisation from the training split, so train and test are treated alike
    return TensorImageDataset(images, torch.from_numpy(labels[keep].astype(np.int64)), DIGIT_CLASSES,
                              mean=[0.1307], std=[0.3081], kind="digits")


# --- CIFAR-10 ----------------------------------------------------------------------------------------
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


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, path: Path, md5: str, timeout: float = 20.0) -> Path:
    """Download ``url`` to ``path`` with a progress bar and check its MD5; the file appears only when
    complete and correct. Without a network it fails at once, saying where to put the file by hand."""
    from tqdm.auto import tqdm

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".part")
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except (urllib.error.URLError, OSError) as error:
        raise RuntimeError(
            f"could not download {url} ({error}). Without a network, download the file elsewhere and "
            f"put it at {path}; it is checked against its published MD5 {md5}."
        ) from None
    total = int(response.headers.get("Content-Length", 0)) or None
    with response, open(partial, "wb") as f, tqdm(total=total, unit="B", unit_scale=True, desc=path.name) as bar:
        for block in iter(lambda: response.read(1 << 20), b""):
            f.write(block)
            bar.update(len(block))
    if _md5(partial) != md5:
        partial.unlink()
        raise RuntimeError(f"{url} downloaded, but its MD5 is not the published {md5}; try again")
    os.replace(partial, path)
    return path


def load_cifar10(split: str = "train", root=None, download_if_missing: bool = True) -> TensorImageDataset:
    """CIFAR-10 (Krizhevsky, 2009) from its official release, cached in ``root`` (default: the cache folder).

    Args:
        split: ``"train"`` (50,000 images) or ``"test"`` (10,000).
        root: where ``cifar-10-python.tar.gz`` is kept; it is downloaded there if missing.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    path = Path(root or CACHE_DIR) / CIFAR10_FILE
    if not path.exists():
        if not download_if_missing:
            raise FileNotFoundError(f"{path} does not exist; download {CIFAR10_URL} and put it there")
        download(CIFAR10_URL, path, CIFAR10_MD5)
    elif _md5(path) != CIFAR10_MD5:
        raise RuntimeError(f"{path} is not the published CIFAR-10 archive (MD5 differs from {CIFAR10_MD5}); delete it and try again")
    return read_cifar10_archive(path)[split]


# --- your own pictures -------------------------------------------------------------------------------
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}


def load_image_folder(root, image_size=None, channels: int = 3, progress: bool = True) -> TensorImageDataset:
    """Load a folder with one subfolder per class (``root/cat/001.jpg``, ``root/dog/xyz.png`` ...).

    Args:
        root: the folder; class names are the subfolder names, sorted.
        image_size: ``S`` or ``(H, W)``: every image is resized to it; ``None`` requires equal sizes.
        channels: 3 (RGB) or 1 (grey).
    """
    from PIL import Image
    from tqdm.auto import tqdm

    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"root must be a folder with one subfolder per class, got {str(root)!r} (not a folder)")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir())
    files = [(f, c) for c, name in enumerate(classes) for f in sorted((root / name).iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise ValueError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in the subfolders of {str(root)!r}")
    size = None if image_size is None else as_pair(image_size, "image_size")
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


# --- a procedural dataset A: fractals ------------------------------------------------------------------
def _random_system(rng: np.random.Generator, num_maps: int) -> np.ndarray:
    """One iterated function system: ``(num_maps, 2, 3)`` affine maps ``[A | b]``.

    Each A = R(theta) diag(s1, s2 * sign) R(phi) with singular values chosen so that the system's
    sigma-factor sum(s1 + 2 s2) lies within 0.5 of (5 + num_maps) / 2, the range that gives
    well-spread, non-degenerate fractals (Anderson and Farrell, WACV 2022).
    """
    target = (5 + num_maps) / 2
    while True:
        s = np.sort(rng.uniform(0, 1, size=(num_maps, 2)), axis=1)[:, ::-1]  # s1 >= s2
        sigma = (s[:, 0] + 2 * s[:, 1]).sum()
        if abs(sigma - target) <= 0.5:
            break
    maps = np.zeros((num_maps, 2, 3))
    for k in range(num_maps):
        theta, phi = rng.uniform(-np.pi, np.pi, size=2)
        rot = lambda a: np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])  # noqa: E731
        flip = np.diag([1.0, rng.choice([-1.0, 1.0])])
        maps[k, :, :2] = rot(theta) @ np.diag(s[k]) @ flip @ rot(phi)
        maps[k, :, 2] = rng.uniform(-1, 1, size=2)
    return maps


class FractalDataset(Dataset):
    """Formula-driven images: ``num_classes`` random IFS fractals, ``per_class`` perturbed instances each.

    Image ``i`` belongs to class ``i // per_class``; it is rendered from ``(seed, i)`` alone, so it is the
    same every time, in any batch, on any device.

    Args:
        num_classes: how many fractal classes (random IFS).
        per_class: instances per class.
        image_size: ``S`` or ``(H, W)``.
        channels: 1 (grey) or 3 (each map draws in its own random colour).
        seed: picks the classes and instances.
        points: chaos-game points per image.
        jitter: relative perturbation of each instance's map parameters.
    """

    kind = "photo"

    def __init__(self, num_classes: int = 100, per_class: int = 100, image_size=28, channels: int = 1,
                 seed: int = 0, points: int = 1536, jitter: float = 0.1):
        for name, value in (("num_classes", num_classes), ("per_class", per_class), ("points", points)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels!r}")
        self.num_classes, self.per_class, self.channels, self.seed = num_classes, per_class, channels, seed
        self.image_size = as_pair(image_size, "image_size")
        self.points, self.jitter = points, jitter
        self.classes = [f"fractal {c}" for c in range(num_classes)]
        rng = np.random.default_rng([seed, 2**31])
        self.num_maps = rng.integers(2, 5, size=num_classes)  # 2, 3 or 4 maps per class
        self.systems = np.zeros((num_classes, 4, 2, 3))
        for c in range(num_classes):
            self.systems[c, : self.num_maps[c]] = _random_system(rng, int(self.num_maps[c]))
        self.mean, self.std = [0.5] * channels, [0.5] * channels

    def __len__(self) -> int:
        return self.num_classes * self.per_class

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.channels, *self.image_size)

    def labels_of(self, indices: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(indices, dtype=torch.int64) // self.per_class

    def render(self, indices, device="cpu") -> torch.Tensor:
        """uint8 images ``(B, C, H, W)`` for ``indices`` (a sequence or tensor of ints)."""
        indices = [int(i) for i in torch.as_tensor(indices).flatten().tolist()]
        for i in indices:
            if not 0 <= i < len(self):
                raise IndexError(f"index {i} out of range for a FractalDataset of {len(self)} images")
        chains, steps, burn = 64, max(2, -(-self.points // 64)) + 8, 8
        B, H, W = len(indices), *self.image_size
        maps = np.zeros((B, 4, 2, 3))
        probs = np.zeros((B, 4))
        choice_u = np.zeros((B, steps, chains))
        start = np.zeros((B, chains, 2))
        flips = np.zeros((B, 2), dtype=bool)
        colours = np.zeros((B, 4, 3))
        for row, i in enumerate(indices):
            c = i // self.per_class
            rng = np.random.default_rng([self.seed, i])
            n = int(self.num_maps[c])
            system = self.systems[c, :n] * (1 + rng.uniform(-self.jitter, self.jitter, size=(n, 2, 3)))
            maps[row, :n] = system
            det = np.abs(np.linalg.det(system[:, :, :2])) + 1e-3
            probs[row, :n] = det / det.sum()
            choice_u[row] = rng.uniform(size=(steps, chains))
            start[row] = rng.uniform(-1, 1, size=(chains, 2))
            flips[row] = rng.uniform(size=2) < 0.5
            colours[row, :n] = rng.uniform(0.35, 1.0, size=(n, 3)) if self.channels == 3 else 1.0
        maps_t = torch.tensor(maps, dtype=torch.float32, device=device)  # (B, 4, 2, 3)
        cdf = torch.tensor(probs, dtype=torch.float32, device=device).cumsum(-1)  # (B, 4)
        u = torch.tensor(choice_u, dtype=torch.float32, device=device)  # (B, T, K)
        x = torch.tensor(start, dtype=torch.float32, device=device)  # (B, K, 2)
        points, which = [], []
        for t in range(steps):
            k = torch.searchsorted(cdf, u[:, t].contiguous(), right=False).clamp(max=3)  # (B, K) map per chain
            m = torch.gather(maps_t, 1, k[..., None, None].expand(-1, -1, 2, 3))  # (B, K, 2, 3)
            x = (m[..., :2] @ x[..., None]).squeeze(-1) + m[..., 2]  # (B, K, 2)
            if t >= burn:
                points.append(x)
                which.append(k)
        pts = torch.cat(points, dim=1)  # (B, P, 2)
        ks = torch.cat(which, dim=1)  # (B, P)
        low = pts.quantile(0.01, dim=1, keepdim=True)
        high = pts.quantile(0.99, dim=1, keepdim=True)
        scale = (high - low).amax(-1, keepdim=True).clamp(min=1e-6)  # keep the aspect ratio
        centre = (high + low) / 2
        unit = (pts - centre) / scale + 0.5  # mostly in [0, 1]
        margin = 0.1
        cols = (unit[..., 0] * (1 - 2 * margin) + margin) * (W - 1)
        rows = (unit[..., 1] * (1 - 2 * margin) + margin) * (H - 1)
        flip = torch.tensor(flips, device=device)
        cols = torch.where(flip[:, :1], W - 1 - cols, cols).round().long()
        rows = torch.where(flip[:, 1:], H - 1 - rows, rows).round().long()
        inside = (cols >= 0) & (cols < W) & (rows >= 0) & (rows < H)
        colour = torch.gather(torch.tensor(colours, dtype=torch.float32, device=device), 1,
                              ks[..., None].expand(-1, -1, 3))  # (B, P, 3)
        flat = (torch.arange(B, device=device)[:, None] * H * W + rows * W + cols).clamp(0, B * H * W - 1)
        canvas = torch.zeros(B * H * W, 3, device=device)
        hits = torch.zeros(B * H * W, device=device)
        canvas.index_put_((flat[inside],), colour[inside], accumulate=True)
        hits.index_put_((flat[inside],), torch.ones_like(flat[inside], dtype=torch.float32), accumulate=True)
        image = canvas / hits.clamp(min=1)[:, None] * (hits / 2).clamp(max=1)[:, None]  # mean colour, dim if 1 hit
        image = image.view(B, H, W, 3).permute(0, 3, 1, 2)  # (B, 3, H, W)
        if self.channels == 1:
            image = image[:, :1]
        return (image * 255).round().to(torch.uint8)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.render([index])[0].float() / 255
        mean = torch.tensor(self.mean).view(-1, 1, 1)
        std = torch.tensor(self.std).view(-1, 1, 1)
        return (image - mean) / std, index // self.per_class

    def to_tensor_dataset(self, device="cpu", chunk: int = 1024, progress: bool = True) -> TensorImageDataset:
        """Render every image once into a :class:`TensorImageDataset` (on ``device``)."""
        from tqdm.auto import tqdm

        parts = [self.render(range(s, min(s + chunk, len(self))), device)
                 for s in tqdm(range(0, len(self), chunk), desc="rendering fractals", disable=not progress)]
        labels = torch.arange(len(self), device=device) // self.per_class
        return TensorImageDataset(torch.cat(parts), labels, self.classes, self.mean, self.std, kind="photo")
