"""Patch embedding: flatten each patch and map it to the model width with one shared linear map.

ViT paper, Section 3.1, Eq. 1: z_0 = [x_class; x_p^1 E; ...; x_p^N E] + E_pos, where E is a
(P^2 * C) x D matrix shared by all patches. Because the same weights are applied at every patch
position, this is exactly a convolution with kernel size = patch size and the same stride
(:meth:`PatchEmbedding.as_conv2d` builds that convolution).
"""

from __future__ import annotations

import torch
from torch import nn

from .checks import images_tensor, pair, positive_int
from .patches import grid_shape, patchify

__all__ = ["PatchEmbedding", "linear_to_conv_weight", "conv_to_linear_weight"]


class PatchEmbedding(nn.Module):
    """``(B, C, H, W)`` images -> ``(B, N, D)`` patch tokens.

    Args:
        in_channels: ``C``.
        patch_size: ``p`` or ``(p_h, p_w)``.
        stride: ``s`` or ``(s_h, s_w)``; ``None`` means equal to the patch size (no overlap).
        dim: the model width ``D``.
    """

    def __init__(self, *, in_channels: int, patch_size, stride=None, dim: int):
        super().__init__()
        self.in_channels = positive_int(in_channels, "in_channels")
        self.patch_size = pair(patch_size, "patch_size")
        self.stride = pair(self.patch_size if stride is None else stride, "stride")
        self.dim = positive_int(dim, "dim")
        p_h, p_w = self.patch_size
        self.proj = nn.Linear(in_channels * p_h * p_w, dim)  # E, shared by all patches

    def grid_shape(self, image_size) -> tuple[int, int]:
        """The patch grid ``(n_h, n_w)`` for images of ``image_size``."""
        return grid_shape(image_size, self.patch_size, self.stride)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: ``(B, C, H, W)`` -> tokens ``(B, N, D)``."""
        images_tensor(images, channels=self.in_channels, owner="this patch embedding")
        vectors, _ = patchify(images, self.patch_size, self.stride)  # (B, N, C*p_h*p_w)
        return self.proj(vectors)  # (B, N, D)

    def as_conv2d(self) -> nn.Conv2d:
        """An ``nn.Conv2d`` (kernel = patch size, same stride) holding a copy of this map's weights."""
        conv = nn.Conv2d(self.in_channels, self.dim, kernel_size=self.patch_size, stride=self.stride)
        with torch.no_grad():
            conv.weight.copy_(linear_to_conv_weight(self.proj.weight, self.in_channels, self.patch_size))
            conv.bias.copy_(self.proj.bias)
        return conv.to(self.proj.weight.device)


def linear_to_conv_weight(weight: torch.Tensor, in_channels: int, patch_size) -> torch.Tensor:
    """The shared linear map's weight ``(D, C * p_h * p_w)`` as a convolution's ``(D, C, p_h, p_w)``: the same
    numbers, since a flattened patch is ordered (channel, row, column) like a convolution kernel."""
    p_h, p_w = pair(patch_size, "patch_size")
    if weight.ndim != 2 or weight.shape[1] != in_channels * p_h * p_w:
        raise ValueError(
            f"weight must have shape (D, {in_channels * p_h * p_w}) for {in_channels} channels and "
            f"{p_h}x{p_w} patches, got {tuple(weight.shape)}"
        )
    return weight.reshape(weight.shape[0], in_channels, p_h, p_w)


def conv_to_linear_weight(weight: torch.Tensor) -> torch.Tensor:
    """A patch convolution's weight ``(D, C, p_h, p_w)`` (as published ViT checkpoints store it) as the shared
    linear map's ``(D, C * p_h * p_w)``."""
    if weight.ndim != 4:
        raise ValueError(f"weight must be a convolution weight (D, C, p_h, p_w), got shape {tuple(weight.shape)}")
    return weight.reshape(weight.shape[0], -1)
