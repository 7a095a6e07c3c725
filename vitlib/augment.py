"""Batch augmentation on whatever device the batch is on (so a GPU never waits on the CPU).

* ``"photo"``: random translation by up to 1/8 of the side (reflected borders) and horizontal flips,
  the usual random-crop-and-flip for natural images.
* ``"photo-strong"``: the same crop and flip, then one operation per image, drawn at random with a
  random strength, from :data:`OPERATIONS` (the list of RandAugment, Cubuk et al. 2020, sampled one op
  per image as in TrivialAugment, Müller and Hutter 2021), then random erasing (Zhong et al. 2020) of a
  rectangle in a quarter of the images. This is the kind of recipe that lets a ViT learn CIFAR-10 from
  scratch without overfitting (as in DeiT, Touvron et al. 2021). Unlike torchvision's transforms, which
  apply one draw to a whole batch, every image gets its own operation and strength.
* ``"digits"``: small shifts (up to 2 pixels at 28x28), rotations (up to 10 degrees) and scaling
  (0.9-1.1); no flips, since a flipped digit is a different or no digit.
* ``"none"``: the batch as it is.

:func:`mix_batch` adds MixUp (Zhang et al. 2018) and CutMix (Yun et al. 2019): it blends each image with
another one of the batch and returns soft targets with the same proportions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .checks import choice, fraction, non_negative_number

__all__ = [
    "AUGMENTATIONS", "OPERATIONS", "GEOMETRIC", "PIXEL_OPERATIONS",
    "resolve_augmentation", "augment_batch", "Warp", "draw_warp", "draw_operations", "apply_warp",
    "apply_pixel_operations", "apply_operation", "random_erase", "mix_batch",
]

AUGMENTATIONS = ("photo", "photo-strong", "digits", "none")

# name -> largest strength; geometric ones are folded into one affine warp, the others act on [0, 1] pixels
OPERATIONS = {
    "identity": 0.0,
    "rotate": 30.0,  # degrees
    "shear_x": 0.3,
    "shear_y": 0.3,
    "translate_x": 0.3,  # fraction of the width
    "translate_y": 0.3,
    "brightness": 0.9,  # factor 1 +- 0.9 (blend with black)
    "contrast": 0.9,  # blend with the image's mean grey
    "color": 0.9,  # blend with the grey image (saturation)
    "sharpness": 0.9,  # blend with a smoothed copy
    "posterize": 4.0,  # bits removed (8 -> 4 bits per channel)
    "solarize": 1.0,  # invert pixels above 1 - strength
    "autocontrast": 0.0,  # stretch each channel to [0, 1]
    "equalize": 0.0,  # flatten each channel's histogram
}
GEOMETRIC = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")  # folded into one warp
PIXEL_OPERATIONS = tuple(name for name in OPERATIONS if name not in GEOMETRIC)  # what apply_operation does


def resolve_augmentation(name: str, dataset=None) -> str:
    """The augmentation to use: ``name`` itself, or for ``"auto"`` the one that suits ``dataset``, which is
    its ``kind`` (``"digits"`` for the bundled digits, ``"photo"`` for photos, image folders and fractals);
    ``"none"`` for a dataset that does not say. The trainer, the benchmark and the tools all decide here."""
    choice(name, "augment", ("auto", *AUGMENTATIONS))
    if name != "auto":
        return name
    kind = getattr(dataset, "kind", "none")
    return choice(kind, "the dataset's kind", AUGMENTATIONS)


def _per_image(value: torch.Tensor) -> torch.Tensor:
    return value.view(-1, 1, 1, 1)


def _grey(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` in [0, 1] -> ``(B, 1, H, W)`` luma (ITU-R 601, as PIL's "L" mode); grey stays grey."""
    if x.shape[1] == 1:
        return x
    return 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]  # Python floats: no copy to the device


def _blend(degenerate: torch.Tensor, x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return (degenerate + _per_image(factor) * (x - degenerate)).clamp(0, 1)


def _sharpness_reference(x: torch.Tensor) -> torch.Tensor:
    # PIL's SMOOTH filter, 3x3 weights 1 1 1 / 1 5 1 / 1 1 1 over 13, borders left as they are
    C = x.shape[1]
    kernel = torch.ones(3, 3, device=x.device, dtype=x.dtype)
    kernel[1, 1] = 5
    kernel = (kernel / 13).expand(C, 1, 3, 3)
    smooth = x.clone()
    smooth[:, :, 1:-1, 1:-1] = F.conv2d(x, kernel, groups=C)
    return smooth


def _equalize(x: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation of each channel of each image on 256 levels (PIL's ``ImageOps.equalize``)."""
    B, C, H, W = x.shape
    levels = (x * 255).round().long().clamp(0, 255).view(B * C, H * W)
    hist = torch.zeros(B * C, 256, device=x.device, dtype=torch.float64)
    hist.scatter_add_(1, levels, torch.ones(levels.shape, device=x.device, dtype=torch.float64))
    brightest = 255 - (hist.flip(1) > 0).long().argmax(1, keepdim=True)  # (B*C, 1): the highest level used
    step = torch.floor((H * W - hist.gather(1, brightest)) / 255)  # (B*C, 1)
    before = hist.cumsum(1) - hist  # pixels below each level
    lut = torch.floor((torch.floor(step / 2) + before) / step.clamp(min=1)).clamp(max=255)
    lut = torch.where(step > 0, lut, torch.arange(256, device=x.device, dtype=torch.float64))  # one level: unchanged
    return (lut.gather(1, levels) / 255).to(x.dtype).view(B, C, H, W)


def apply_operation(images: torch.Tensor, name: str, strength: torch.Tensor | float) -> torch.Tensor:
    """One pixel operation of :data:`OPERATIONS` on images ``(B, C, H, W)`` with values in [0, 1].

    ``strength`` is in [-1, 1] per image (or one number): the fraction of the operation's largest
    strength, its sign the direction (brighter or darker, ...). Geometric operations are not done here
    (``augment_batch`` folds them into one warp). Returns ``(B, C, H, W)`` in [0, 1].
    """
    choice(name, "name", PIXEL_OPERATIONS)
    x = images
    s = torch.as_tensor(strength, device=x.device, dtype=x.dtype).expand(len(x)) * OPERATIONS[name]  # (B,)
    if name == "identity":
        return x
    if name == "brightness":
        return _blend(torch.zeros_like(x), x, 1 + s)
    if name == "contrast":
        mean = _grey(x).mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
        return _blend(mean.expand_as(x), x, 1 + s)
    if name == "color":
        return _blend(_grey(x).expand_as(x), x, 1 + s)
    if name == "sharpness":
        return _blend(_sharpness_reference(x), x, 1 + s)
    if name == "posterize":
        bits = 8 - s.abs().round()  # (B,) 8 .. 4
        step = _per_image(2 ** (8 - bits))
        return torch.floor((x * 255).round() / step) * step / 255
    if name == "solarize":
        threshold = _per_image(256 * (1 - s.abs()))  # on the 0..255 scale, as PIL's
        return torch.where((x * 255).round() >= threshold, 1 - x, x)
    if name == "autocontrast":
        low = x.amin(dim=(2, 3), keepdim=True)
        high = x.amax(dim=(2, 3), keepdim=True)
        return torch.where(high > low, (x - low) / (high - low).clamp(min=1e-6), x)
    return _equalize(x)  # "equalize"


def random_erase(images: torch.Tensor, probability: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Replace a random rectangle (2%-33% of the area, aspect 0.3-3.3) with noise in ``probability`` of the
    images ``(B, C, H, W)`` (normalised, so standard-normal noise looks like any other pixel values)."""
    fraction(probability, "probability", inclusive=True)
    B, C, H, W = images.shape
    device = images.device
    rand = lambda: torch.rand(B, generator=generator, device=device)  # noqa: E731
    area = (0.02 + rand() * (1 / 3 - 0.02)) * H * W
    aspect = torch.exp(math.log(0.3) + rand() * (math.log(3.3) - math.log(0.3)))
    h = (area * aspect).sqrt().round().clamp(1, H)
    w = (area / aspect).sqrt().round().clamp(1, W)
    top = (rand() * (H - h + 1)).floor()
    left = (rand() * (W - w + 1)).floor()
    chosen = rand() < probability
    rows = torch.arange(H, device=device).view(1, H, 1)
    cols = torch.arange(W, device=device).view(1, 1, W)
    inside = ((rows >= top.view(B, 1, 1)) & (rows < (top + h).view(B, 1, 1))
              & (cols >= left.view(B, 1, 1)) & (cols < (left + w).view(B, 1, 1)) & chosen.view(B, 1, 1))
    noise = torch.randn(images.shape, generator=generator, device=device, dtype=images.dtype)
    return torch.where(inside[:, None], noise, images)


@dataclass
class Warp:
    """One affine warp per image (each field ``(B,)``): shifts in pixels, rotation in radians, scale, shears,
    a horizontal mirror, and how the border is filled."""

    shift_x: torch.Tensor
    shift_y: torch.Tensor
    angle: torch.Tensor
    scale: torch.Tensor
    shear_x: torch.Tensor
    shear_y: torch.Tensor
    flip: torch.Tensor  # bool
    padding: str  # grid_sample's padding_mode


def draw_warp(kind: str, shape, generator: torch.Generator | None, device) -> Warp:
    """The warp of each image: for ``"photo"`` and ``"photo-strong"`` a whole-pixel shift of up to 1/8 of each
    side (the classic 4-pixel pad-and-crop at 32x32, reflected borders) and a mirror half the time; for
    ``"digits"`` small shifts, rotations and scaling, never a mirror."""
    B, _, H, W = shape

    def uniform(low, high):
        return torch.rand(B, generator=generator, device=device) * (high - low) + low

    zeros = torch.zeros(B, device=device)
    if kind in ("photo", "photo-strong"):
        shift_y = torch.randint(-(H // 8), H // 8 + 1, (B,), generator=generator, device=device).float()
        shift_x = torch.randint(-(W // 8), W // 8 + 1, (B,), generator=generator, device=device).float()
        flip = torch.rand(B, generator=generator, device=device) < 0.5
        return Warp(shift_x, shift_y, zeros, torch.ones(B, device=device), zeros, zeros, flip, "reflection")
    shift_y = uniform(-2.0, 2.0) * H / 28
    shift_x = uniform(-2.0, 2.0) * W / 28
    angle = uniform(-10.0, 10.0) * math.pi / 180
    scale = uniform(0.9, 1.1)
    return Warp(shift_x, shift_y, angle, scale, zeros, zeros, torch.zeros(B, dtype=torch.bool, device=device), "border")


def draw_operations(warp: Warp, shape, generator: torch.Generator | None, device) -> tuple[torch.Tensor, torch.Tensor]:
    """``"photo-strong"``'s draw: one operation of :data:`OPERATIONS` per image (its index ``(B,)``) and a signed
    strength in [-1, 1] ``(B,)``; the geometric operations are folded into ``warp`` here."""
    B, _, H, W = shape
    chosen = torch.randint(0, len(OPERATIONS), (B,), generator=generator, device=device)
    strength = torch.rand(B, generator=generator, device=device)
    sign = torch.where(torch.rand(B, generator=generator, device=device) < 0.5, -1.0, 1.0)
    signed = strength * sign
    is_ = {name: chosen == i for i, name in enumerate(OPERATIONS)}
    warp.angle = torch.where(is_["rotate"], signed * OPERATIONS["rotate"] * math.pi / 180, warp.angle)
    warp.shear_x = torch.where(is_["shear_x"], signed * OPERATIONS["shear_x"], warp.shear_x)
    warp.shear_y = torch.where(is_["shear_y"], signed * OPERATIONS["shear_y"], warp.shear_y)
    warp.shift_x = warp.shift_x + torch.where(is_["translate_x"], signed * OPERATIONS["translate_x"] * W, 0.0)
    warp.shift_y = warp.shift_y + torch.where(is_["translate_y"], signed * OPERATIONS["translate_y"] * H, 0.0)
    return chosen, signed


def apply_warp(images: torch.Tensor, warp: Warp) -> torch.Tensor:
    """``(B, C, H, W)`` -> each image warped (bilinear), in one ``grid_sample``."""
    H, W = images.shape[-2:]
    cos, sin = torch.cos(warp.angle) / warp.scale, torch.sin(warp.angle) / warp.scale
    sign_x = 1.0 - 2.0 * warp.flip.float()  # -1 mirrors the x axis
    # output -> input coordinates: rotation (and scale) after a shear, in grid_sample's [-1, 1] coordinates
    a, b = cos + (-sin) * warp.shear_y, cos * warp.shear_x - sin
    c, d = sin + cos * warp.shear_y, sin * warp.shear_x + cos
    theta = torch.stack(
        [
            torch.stack([a * sign_x, b, -2 * warp.shift_x / W], dim=1),
            torch.stack([c * sign_x, d, -2 * warp.shift_y / H], dim=1),
        ],
        dim=1,
    )  # (B, 2, 3)
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode=warp.padding, align_corners=False)


def apply_pixel_operations(images: torch.Tensor, chosen: torch.Tensor, signed: torch.Tensor, mean=None,
                           std=None) -> torch.Tensor:
    """Normalised ``(B, C, H, W)`` -> each image through its chosen pixel operation (index into
    :data:`OPERATIONS`, geometric ones skipped) with its signed strength, on [0, 1] values, normalised back."""
    mean_t = torch.as_tensor(0.0 if mean is None else mean, device=images.device, dtype=images.dtype).reshape(1, -1, 1, 1)
    std_t = torch.as_tensor(1.0 if std is None else std, device=images.device, dtype=images.dtype).reshape(1, -1, 1, 1)
    pixels = (images * std_t + mean_t).clamp(0, 1)  # (B, C, H, W) in [0, 1]
    for i, name in enumerate(OPERATIONS):
        if name not in PIXEL_OPERATIONS or name == "identity":
            continue
        pixels = torch.where(_per_image(chosen == i), apply_operation(pixels, name, signed), pixels)
    return (pixels - mean_t) / std_t


def augment_batch(images: torch.Tensor, kind: str, generator: torch.Generator | None = None,
                  mean=None, std=None) -> torch.Tensor:
    """images: ``(B, C, H, W)`` float -> augmented ``(B, C, H, W)``; one random draw per image from ``generator``.

    ``mean`` and ``std`` (per channel) say how the images were normalised; ``"photo-strong"`` needs them
    for its pixel operations, which act on values in [0, 1] (default: the images already are in [0, 1]).
    """
    choice(kind, "kind", AUGMENTATIONS)
    if kind == "none" or len(images) == 0:
        return images
    warp = draw_warp(kind, images.shape, generator, images.device)
    if kind != "photo-strong":
        return apply_warp(images, warp)
    chosen, signed = draw_operations(warp, images.shape, generator, images.device)
    out = apply_pixel_operations(apply_warp(images, warp), chosen, signed, mean, std)
    return random_erase(out, 0.25, generator)


def mix_batch(images: torch.Tensor, labels: torch.Tensor, num_classes: int, mixup: float = 0.0, cutmix: float = 0.0,
              rng: np.random.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """MixUp or CutMix of a batch with itself in reverse order; returns images and soft targets ``(B, K)``.

    ``mixup`` and ``cutmix`` are the alphas of the Beta(alpha, alpha) distribution the mixing share is
    drawn from (0 turns one off; with both on, each batch uses one of them, half the time each). MixUp
    blends whole images: ``lam * x + (1 - lam) * x_other``; CutMix pastes a rectangle of the other image
    covering ``1 - lam`` of the area. The targets are ``lam * one_hot(y) + (1 - lam) * one_hot(y_other)``,
    with ``lam`` the share actually kept.
    """
    non_negative_number(mixup, "mixup")
    non_negative_number(cutmix, "cutmix")
    rng = rng or np.random.default_rng()
    targets = F.one_hot(labels, num_classes).to(images.dtype)  # (B, K)
    if mixup == 0 and cutmix == 0:
        return images, targets
    use_cutmix = cutmix > 0 and (mixup == 0 or rng.random() < 0.5)
    lam = float(rng.beta(cutmix, cutmix) if use_cutmix else rng.beta(mixup, mixup))
    other_images, other_targets = images.flip(0), targets.flip(0)
    if use_cutmix:
        H, W = images.shape[-2:]
        cut_h, cut_w = round(H * math.sqrt(1 - lam)), round(W * math.sqrt(1 - lam))
        cy, cx = int(rng.integers(H)), int(rng.integers(W))
        top, bottom = max(cy - cut_h // 2, 0), min(cy + cut_h - cut_h // 2, H)
        left, right = max(cx - cut_w // 2, 0), min(cx + cut_w - cut_w // 2, W)
        images = images.clone()
        images[..., top:bottom, left:right] = other_images[..., top:bottom, left:right]
        lam = 1 - (bottom - top) * (right - left) / (H * W)
    else:
        images = lam * images + (1 - lam) * other_images
    return images, lam * targets + (1 - lam) * other_targets
