"""Split images into patches and put them back together.

ViT paper (Dosovitskiy et al., 2020), Section 3.1: the image x of shape (H, W, C) is reshaped into a
sequence of N flattened patches x_p of shape (N, P^2 * C). Here the patch size and the stride are
separate hyperparameters, each an int or an (h, w) pair:

* stride == patch size: patches tile the image (the paper's setting);
* stride <  patch size: neighbouring patches overlap;
* stride >  patch size: pixels between patches are skipped.

Along each axis there are ``floor((H - p_h) / s_h) + 1`` patch positions, so the number of patches is
``N = (floor((H - p_h) / s_h) + 1) * (floor((W - p_w) / s_w) + 1)``. Pixels at the right and bottom
edges that no whole patch reaches are not covered by any patch (see :func:`coverage`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange

from .checks import images_tensor, pair

__all__ = [
    "grid_shape",
    "num_patches",
    "extract_patches",
    "flatten_patches",
    "patchify",
    "unpatchify",
    "coverage",
    "uncovered_mask",
]


def grid_shape(image_size, patch_size, stride=None) -> tuple[int, int]:
    """Number of patch positions ``(n_h, n_w)`` along the height and width.

    Args:
        image_size: ``H`` or ``(H, W)``.
        patch_size: ``p`` or ``(p_h, p_w)``.
        stride: ``s`` or ``(s_h, s_w)``; ``None`` means equal to the patch size.
    """
    H, W = pair(image_size, "image_size")
    p_h, p_w = pair(patch_size, "patch_size")
    s_h, s_w = pair(patch_size if stride is None else stride, "stride")
    if p_h > H or p_w > W:
        raise ValueError(
            f"patch_size {(p_h, p_w)} is larger than the image {(H, W)}; "
            f"valid patch sizes are 1..{H} (height) and 1..{W} (width)"
        )
    return (H - p_h) // s_h + 1, (W - p_w) // s_w + 1


def num_patches(image_size, patch_size, stride=None) -> int:
    """``N = (floor((H - p_h) / s_h) + 1) * (floor((W - p_w) / s_w) + 1)``."""
    n_h, n_w = grid_shape(image_size, patch_size, stride)
    return n_h * n_w


def extract_patches(images: torch.Tensor, patch_size, stride=None) -> tuple[torch.Tensor, tuple[int, int]]:
    """Cut every image of a batch into patches, row by row.

    Args:
        images: ``(B, C, H, W)``.
        patch_size: ``p`` or ``(p_h, p_w)``.
        stride: ``s`` or ``(s_h, s_w)``; ``None`` means equal to the patch size.

    Returns:
        ``patches`` of shape ``(B, N, C, p_h, p_w)`` with ``N = n_h * n_w`` in row-major order, and the
        grid shape ``(n_h, n_w)``.
    """
    images_tensor(images)
    p_h, p_w = pair(patch_size, "patch_size")
    s_h, s_w = pair(patch_size if stride is None else stride, "stride")
    n_h, n_w = grid_shape(tuple(images.shape[-2:]), (p_h, p_w), (s_h, s_w))
    windows = images.unfold(2, p_h, s_h).unfold(3, p_w, s_w)  # (B, C, n_h, n_w, p_h, p_w)
    patches = rearrange(windows, "b c nh nw ph pw -> b (nh nw) c ph pw")  # (B, N, C, p_h, p_w)
    return patches, (n_h, n_w)


def flatten_patches(patches: torch.Tensor) -> torch.Tensor:
    """Flatten each ``(C, p_h, p_w)`` patch into a vector of length ``C * p_h * p_w``.

    The order (channel, row, column) is the order of ``nn.Conv2d``'s weight ``(D, C, k_h, k_w)``, so a
    linear map on these vectors and a strided convolution can share their weights.

    Args:
        patches: ``(B, N, C, p_h, p_w)``.

    Returns:
        ``(B, N, C * p_h * p_w)``.
    """
    if patches.ndim != 5:
        raise ValueError(f"patches must have shape (B, N, C, p_h, p_w), got {tuple(patches.shape)}")
    return rearrange(patches, "b n c ph pw -> b n (c ph pw)")


def patchify(images: torch.Tensor, patch_size, stride=None) -> tuple[torch.Tensor, tuple[int, int]]:
    """Patches as flat vectors: ``(B, C, H, W) -> (B, N, C * p_h * p_w)``, plus the grid ``(n_h, n_w)``."""
    patches, grid = extract_patches(images, patch_size, stride)
    return flatten_patches(patches), grid


def unpatchify(patches: torch.Tensor, image_size, stride=None) -> torch.Tensor:
    """Put patches back into images; where patches overlap, their pixels are averaged.

    Args:
        patches: ``(B, N, C, p_h, p_w)`` as returned by :func:`extract_patches`.
        image_size: ``H`` or ``(H, W)`` of the original images.
        stride: the stride the patches were cut with; ``None`` means equal to the patch size.

    Returns:
        ``(B, C, H, W)``; pixels that no patch covers are 0 (see :func:`uncovered_mask`).
    """
    if patches.ndim != 5:
        raise ValueError(f"patches must have shape (B, N, C, p_h, p_w), got {tuple(patches.shape)}")
    B, N, C, p_h, p_w = patches.shape
    H, W = pair(image_size, "image_size")
    s_h, s_w = pair((p_h, p_w) if stride is None else stride, "stride")
    expected = num_patches((H, W), (p_h, p_w), (s_h, s_w))
    if N != expected:
        raise ValueError(
            f"patches holds {N} patches, but an image of {(H, W)} cut with patch size {(p_h, p_w)} and "
            f"stride {(s_h, s_w)} has {expected}; pass the image_size and stride the patches were cut with"
        )
    columns = rearrange(patches, "b n c ph pw -> b (c ph pw) n")  # (B, C*p_h*p_w, N)
    summed = F.fold(columns, (H, W), kernel_size=(p_h, p_w), stride=(s_h, s_w))  # (B, C, H, W)
    counts = coverage((H, W), (p_h, p_w), (s_h, s_w)).to(summed)  # (H, W)
    return summed / counts.clamp(min=1)


def coverage(image_size, patch_size, stride=None) -> torch.Tensor:
    """How many patches cover each pixel: an int tensor of shape ``(H, W)``; 0 means no patch does."""
    H, W = pair(image_size, "image_size")
    p_h, p_w = pair(patch_size, "patch_size")
    s_h, s_w = pair(patch_size if stride is None else stride, "stride")
    n_h, n_w = grid_shape((H, W), (p_h, p_w), (s_h, s_w))
    ones = torch.ones(1, p_h * p_w, n_h * n_w)
    counts = F.fold(ones, (H, W), kernel_size=(p_h, p_w), stride=(s_h, s_w))  # (1, 1, H, W)
    return counts[0, 0].round().to(torch.int64)


def uncovered_mask(image_size, patch_size, stride=None) -> torch.Tensor:
    """Boolean ``(H, W)`` mask of the pixels that no patch covers (skipped by a large stride, or left
    over at the right and bottom edges)."""
    return coverage(image_size, patch_size, stride) == 0
