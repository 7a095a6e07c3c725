"""A procedural dataset A: formula-driven fractal images, any number of them, with no download.

FractalDB (Kataoka et al., ACCV 2020, "Pre-training without Natural Images"): each class is a random
iterated function system (IFS) of 2-4 affine maps, each instance a perturbation of the class's
parameters rendered by the chaos game, with random flips (and colours when ``channels=3``). Images are
generated from their index, so the same index always gives the same image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ..checks import boolean, choice, non_negative_int, non_negative_number, pair, positive_int
from .tensor import TensorImageDataset

__all__ = ["FractalDataset", "InstanceDraws", "chaos_game", "fit_to_frame", "paint"]


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


CHAINS = 64  # chaos-game chains run side by side per image
BURN_IN = 8  # steps of each chain thrown away before its points are kept
MARGIN = 0.1  # share of the frame left empty on each side


@dataclass
class InstanceDraws:
    """The random numbers behind a batch of ``B`` fractal images (numpy arrays)."""

    maps: np.ndarray  # (B, 4, 2, 3): each image's affine maps [A | b], unused ones zero
    probs: np.ndarray  # (B, 4): the probability of picking each map
    uniforms: np.ndarray  # (B, T, CHAINS): the draws that pick a map at each step of each chain
    starts: np.ndarray  # (B, CHAINS, 2): where each chain starts
    flips: np.ndarray  # (B, 2): mirror the image left-right, top-bottom
    colours: np.ndarray  # (B, 4, 3): the RGB colour each map paints with


def chaos_game(maps: torch.Tensor, probs: torch.Tensor, uniforms: torch.Tensor, starts: torch.Tensor,
               burn: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the chaos game: at each step every chain moves by a map drawn with ``probs``.

    Args:
        maps: ``(B, M, 2, 3)``; probs: ``(B, M)``; uniforms: ``(B, T, K)`` in [0, 1); starts: ``(B, K, 2)``.
        burn: the first ``burn`` steps are not kept.

    Returns:
        the points ``(B, (T - burn) * K, 2)`` and the map that made each one ``(B, (T - burn) * K)``.
    """
    cdf = probs.cumsum(-1)  # (B, M)
    x = starts  # (B, K, 2)
    points, which = [], []
    for t in range(uniforms.shape[1]):
        k = torch.searchsorted(cdf, uniforms[:, t].contiguous(), right=False).clamp(max=maps.shape[1] - 1)  # (B, K)
        m = torch.gather(maps, 1, k[..., None, None].expand(-1, -1, 2, 3))  # (B, K, 2, 3)
        x = (m[..., :2] @ x[..., None]).squeeze(-1) + m[..., 2]  # (B, K, 2)
        if t >= burn:
            points.append(x)
            which.append(k)
    return torch.cat(points, dim=1), torch.cat(which, dim=1)


def fit_to_frame(points: torch.Tensor, flips: torch.Tensor, image_size) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel rows and columns ``(B, P)`` of points ``(B, P, 2)``: the central 98% of each image's points
    scaled into the frame (aspect ratio kept, a margin around), then mirrored where ``flips`` ``(B, 2)`` say."""
    H, W = image_size
    low = points.quantile(0.01, dim=1, keepdim=True)  # (B, 1, 2)
    high = points.quantile(0.99, dim=1, keepdim=True)
    scale = (high - low).amax(-1, keepdim=True).clamp(min=1e-6)  # (B, 1, 1): one scale keeps the aspect ratio
    unit = (points - (high + low) / 2) / scale + 0.5  # (B, P, 2), mostly in [0, 1]
    cols = (unit[..., 0] * (1 - 2 * MARGIN) + MARGIN) * (W - 1)
    rows = (unit[..., 1] * (1 - 2 * MARGIN) + MARGIN) * (H - 1)
    cols = torch.where(flips[:, :1], W - 1 - cols, cols).round().long()
    rows = torch.where(flips[:, 1:], H - 1 - rows, rows).round().long()
    return rows, cols


def paint(rows: torch.Tensor, cols: torch.Tensor, colours: torch.Tensor, image_size) -> torch.Tensor:
    """Images ``(B, 3, H, W)`` in [0, 1]: each pixel the mean colour of the points ``(B, P)`` that land on it
    (``colours``: ``(B, P, 3)``), at half brightness where only one does; points outside are dropped."""
    H, W = image_size
    B = rows.shape[0]
    device = rows.device
    inside = (cols >= 0) & (cols < W) & (rows >= 0) & (rows < H)  # (B, P)
    flat = (torch.arange(B, device=device)[:, None] * H * W + rows * W + cols).clamp(0, B * H * W - 1)  # (B, P)
    canvas = torch.zeros(B * H * W, 3, device=device)
    hits = torch.zeros(B * H * W, device=device)
    canvas.index_put_((flat[inside],), colours[inside], accumulate=True)
    hits.index_put_((flat[inside],), torch.ones_like(flat[inside], dtype=torch.float32), accumulate=True)
    image = canvas / hits.clamp(min=1)[:, None] * (hits / 2).clamp(max=1)[:, None]  # mean colour, dim if 1 hit
    return image.view(B, H, W, 3).permute(0, 3, 1, 2)  # (B, 3, H, W)


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
            positive_int(value, name)
        choice(channels, "channels", (1, 3))
        non_negative_number(jitter, "jitter")
        non_negative_int(seed, "seed")
        self.num_classes, self.per_class, self.channels, self.seed = num_classes, per_class, channels, seed
        self.image_size = pair(image_size, "image_size")
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
        """uint8 images ``(B, C, H, W)`` for ``indices`` (a sequence or tensor of ints), in four steps:
        each image's random draws, the chaos game, fitting the points into the frame, and painting them."""
        indices = [int(i) for i in torch.as_tensor(indices).flatten().tolist()]
        for i in indices:
            if not 0 <= i < len(self):
                raise IndexError(f"index {i} out of range for a FractalDataset of {len(self)} images")
        draws = self.instance_draws(indices)
        as_tensor = lambda a: torch.tensor(a, dtype=torch.float32, device=device)  # noqa: E731
        points, which = chaos_game(as_tensor(draws.maps), as_tensor(draws.probs), as_tensor(draws.uniforms),
                                   as_tensor(draws.starts), burn=BURN_IN)  # (B, P, 2), (B, P)
        rows, cols = fit_to_frame(points, torch.tensor(draws.flips, device=device), self.image_size)  # (B, P) each
        colours = torch.gather(as_tensor(draws.colours), 1, which[..., None].expand(-1, -1, 3))  # (B, P, 3)
        image = paint(rows, cols, colours, self.image_size)  # (B, 3, H, W) in [0, 1]
        if self.channels == 1:
            image = image[:, :1]
        return (image * 255).round().to(torch.uint8)

    def instance_draws(self, indices: list[int]) -> "InstanceDraws":
        """The random numbers of each image, drawn from ``(seed, index)`` alone: its class's maps perturbed by
        up to ``jitter``, the map probabilities (by area), the chaos game's draws, the flips and colours."""
        steps = max(2, -(-self.points // CHAINS)) + BURN_IN
        B = len(indices)
        draws = InstanceDraws(
            maps=np.zeros((B, 4, 2, 3)), probs=np.zeros((B, 4)), uniforms=np.zeros((B, steps, CHAINS)),
            starts=np.zeros((B, CHAINS, 2)), flips=np.zeros((B, 2), dtype=bool), colours=np.zeros((B, 4, 3)),
        )
        for row, i in enumerate(indices):
            c = i // self.per_class
            rng = np.random.default_rng([self.seed, i])
            n = int(self.num_maps[c])
            system = self.systems[c, :n] * (1 + rng.uniform(-self.jitter, self.jitter, size=(n, 2, 3)))
            draws.maps[row, :n] = system
            area = np.abs(np.linalg.det(system[:, :, :2])) + 1e-3
            draws.probs[row, :n] = area / area.sum()
            draws.uniforms[row] = rng.uniform(size=(steps, CHAINS))
            draws.starts[row] = rng.uniform(-1, 1, size=(CHAINS, 2))
            draws.flips[row] = rng.uniform(size=2) < 0.5
            draws.colours[row, :n] = rng.uniform(0.35, 1.0, size=(n, 3)) if self.channels == 3 else 1.0
        return draws

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.render([index])[0].float() / 255
        mean = torch.tensor(self.mean).view(-1, 1, 1)
        std = torch.tensor(self.std).view(-1, 1, 1)
        return (image - mean) / std, index // self.per_class

    def to_tensor_dataset(self, device="cpu", chunk: int = 1024, progress: bool = True) -> TensorImageDataset:
        """Render every image once into a :class:`TensorImageDataset` (on ``device``)."""
        positive_int(chunk, "chunk")
        boolean(progress, "progress")
        parts = [self.render(range(s, min(s + chunk, len(self))), device)
                 for s in tqdm(range(0, len(self), chunk), desc="rendering fractals", disable=not progress)]
        labels = torch.arange(len(self), device=device) // self.per_class
        return TensorImageDataset(torch.cat(parts), labels, self.classes, self.mean, self.std, kind="photo")
