"""Batch augmentation on whatever device the batch is on (so a GPU never waits on the CPU).

* ``"photo"``: random translation by up to 1/8 of the side (reflected borders) and horizontal flips,
  the usual random-crop-and-flip for natural images.
* ``"digits"``: small shifts (up to 2 pixels at 28x28), rotations (up to 10 degrees) and scaling
  (0.9-1.1); no flips, since a flipped digit is a different or no digit.
* ``"none"``: the batch as it is.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._checks import check_choice

__all__ = ["AUGMENTATIONS", "augment_batch"]

AUGMENTATIONS = ("photo", "digits", "none")


def augment_batch(images: torch.Tensor, kind: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """images: ``(B, C, H, W)`` float -> augmented ``(B, C, H, W)``; one random draw per image from ``generator``."""
    check_choice(kind, "augmentation", AUGMENTATIONS)
    if kind == "none" or len(images) == 0:
        return images
    B, _, H, W = images.shape
    device = images.device

    def uniform(low, high):
        return torch.rand(B, generator=generator, device=device) * (high - low) + low

    if kind == "photo":
        # whole-pixel shifts of up to H/8, W/8 (the classic 4-pixel pad-and-crop at 32x32)
        shift_y = torch.randint(-(H // 8), H // 8 + 1, (B,), generator=generator, device=device).float()
        shift_x = torch.randint(-(W // 8), W // 8 + 1, (B,), generator=generator, device=device).float()
        flip = torch.rand(B, generator=generator, device=device) < 0.5
        angle, scale = torch.zeros(B, device=device), torch.ones(B, device=device)
        padding = "reflection"
    else:
        shift_y = uniform(-2.0, 2.0) * H / 28
        shift_x = uniform(-2.0, 2.0) * W / 28
        angle = uniform(-10.0, 10.0) * math.pi / 180
        scale = uniform(0.9, 1.1)
        flip = torch.zeros(B, dtype=torch.bool, device=device)
        padding = "border"
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    sign = 1.0 - 2.0 * flip.float()  # -1 mirrors the x axis
    theta = torch.stack(
        [
            torch.stack([cos * sign, -sin, -2 * shift_x / W], dim=1),
            torch.stack([sin * sign, cos, -2 * shift_y / H], dim=1),
        ],
        dim=1,
    )  # (B, 2, 3), in grid_sample's [-1, 1] coordinates
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode=padding, align_corners=False)
