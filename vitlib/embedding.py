"""Patch embedding: flatten each patch and map it to the model width with one shared linear map.

ViT paper, Section 3.1, Eq. 1: z_0 = [x_class; x_p^1 E; ...; x_p^N E] + E_pos, where E is a
(P^2 * C) x D matrix shared by all patches. Because the same weights are applied at every patch
position, this is exactly a convolution with kernel size = patch size and the same stride
(:meth:`PatchEmbedding.as_conv2d` builds that convolution).
"""

from __future__ import annotations

import torch
from torch import nn

from ._checks import as_pair
from .patches import grid_shape, patchify

__all__ = ["PatchEmbedding"]


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
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"in_channels must be a positive int, got {in_channels!r}")
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        self.in_channels = in_channels
        self.patch_size = as_pair(patch_size, "patch_size")
        self.stride = as_pair(self.patch_size if stride is None else stride, "stride")
        self.dim = dim
        p_h, p_w = self.patch_size
        self.proj = nn.Linear(in_channels * p_h * p_w, dim)  # E, shared by all patches

    def grid_shape(self, image_size) -> tuple[int, int]:
        """The patch grid ``(n_h, n_w)`` for images of ``image_size``."""
        return grid_shape(image_size, self.patch_size, self.stride)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: ``(B, C, H, W)`` -> tokens ``(B, N, D)``."""
        if images.ndim != 4 or images.shape[1] != self.in_channels:
            raise ValueError(
                f"images must have shape (B, {self.in_channels}, H, W) for this embedding, "
                f"got {tuple(images.shape)}"
            )
        vectors, _ = patchify(images, self.patch_size, self.stride)  # (B, N, C*p_h*p_w)
        return self.proj(vectors)  # (B, N, D)

    def as_conv2d(self) -> nn.Conv2d:
        """An ``nn.Conv2d`` (kernel = patch size, same stride) holding a copy of this map's weights."""
        conv = nn.Conv2d(self.in_channels, self.dim, kernel_size=self.patch_size, stride=self.stride)
        with torch.no_grad():
            conv.weight.copy_(self.proj.weight.view(self.dim, self.in_channels, *self.patch_size))
            conv.bias.copy_(self.proj.bias)
        return conv.to(self.proj.weight.device)
