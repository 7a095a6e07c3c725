"""Where a ViT looks: attention maps from any query token, attention rollout, and mean attention distance.

The ViT paper (Dosovitskiy et al., 2020) looks inside a trained model in two ways: maps of where the CLS
token gathers from, through the whole stack, by attention rollout (Abnar and Zuidema, 2020; the paper's
Figure 6), and the mean attention distance of every head of every layer, in pixels (Figure 7, right).

Every function takes attention weights as :func:`vitlib.recording.record_attention` records them: one
``(B, h, T, T)`` tensor per block, ``T = 1 + N`` tokens with CLS first, the patches after it row by row;
row ``q`` holds query ``q``'s weights over the keys and sums to 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .checks import choice, fraction, pair
from .patches import grid_shape, uncovered_mask, unpatchify

__all__ = ["HEAD_FUSIONS", "patch_token", "query_map", "to_pixels", "attention_rollout", "patch_centres",
           "mean_attention_distance"]

HEAD_FUSIONS = ("mean", "max", "min")


def _check_attention(attention: torch.Tensor, grid) -> tuple[int, int]:
    n_h, n_w = pair(grid, "grid")
    if not isinstance(attention, torch.Tensor) or attention.ndim != 4 or attention.shape[-1] != attention.shape[-2]:
        shape = tuple(attention.shape) if isinstance(attention, torch.Tensor) else type(attention).__name__
        raise ValueError(f"attention must be a (B, heads, T, T) tensor, got {shape}")
    if attention.shape[-1] != 1 + n_h * n_w:
        raise ValueError(f"attention has T = {attention.shape[-1]} tokens, but a {n_h}x{n_w} grid and CLS make "
                         f"{1 + n_h * n_w}: pass the grid of the model that made it (model.config.grid)")
    return n_h, n_w


def patch_token(row: int, col: int, grid) -> int:
    """The token index of patch ``(row, col)``: 1 + its place in reading order (token 0 is CLS)."""
    n_h, n_w = pair(grid, "grid")
    if not (0 <= row < n_h and 0 <= col < n_w):
        raise ValueError(f"patch (row, col) must lie in the {n_h}x{n_w} grid (row 0..{n_h - 1}, col 0..{n_w - 1}), "
                         f"got ({row}, {col})")
    return 1 + row * n_w + col


def query_map(attention: torch.Tensor, query: int, grid) -> torch.Tensor:
    """Where one query token looks: its weights over the patch keys, on the grid.

    Args:
        attention: ``(B, h, T, T)``.
        query: the query token, 0 for CLS or :func:`patch_token` for a patch.
        grid: the patch grid ``(n_h, n_w)``.

    Returns:
        ``(B, h, n_h, n_w)``; the weight on the CLS key is left out, so a map sums to 1 minus it.
    """
    n_h, n_w = _check_attention(attention, grid)
    T = attention.shape[-1]
    if isinstance(query, bool) or not isinstance(query, int) or not 0 <= query < T:
        raise ValueError(f"query must be a token index in 0..{T - 1} (0: CLS), got {query!r}")
    B, h = attention.shape[:2]
    return attention[:, :, query, 1:].reshape(B, h, n_h, n_w)


def to_pixels(values: torch.Tensor, image_size, patch_size, stride=None) -> torch.Tensor:
    """Values on the patch grid ``(..., n_h, n_w)`` laid on the pixels ``(..., H, W)``: each pixel gets the
    mean value of the patches that cover it (several where patches overlap), NaN where no patch does.
    """
    n_h, n_w = values.shape[-2:]
    if grid_shape(image_size, patch_size, stride) != (n_h, n_w):
        raise ValueError(f"values on a {n_h}x{n_w} grid do not match the patch grid "
                         f"{grid_shape(image_size, patch_size, stride)} of image_size={image_size!r}, "
                         f"patch_size={patch_size!r}, stride={stride!r}")
    p_h, p_w = pair(patch_size, "patch_size")
    lead = values.shape[:-2]
    cells = values.detach().float().reshape(-1, n_h * n_w, 1, 1, 1).expand(-1, n_h * n_w, 1, p_h, p_w)
    pixels = unpatchify(cells.contiguous(), image_size, stride)[:, 0]  # (M, H, W): overlaps averaged, gaps 0
    gaps = uncovered_mask(image_size, patch_size, stride).to(pixels.device)
    return pixels.masked_fill(gaps, float("nan")).reshape(*lead, *pixels.shape[-2:])


def attention_rollout(attentions: Sequence[torch.Tensor], head_fusion: str = "mean",
                      discard: float = 0.0) -> torch.Tensor:
    """Attention rollout (Abnar and Zuidema, 2020): how much each token's final output draws on each input
    token, through every layer.

    Per layer: fuse the heads (``"mean"``, ``"max"`` or ``"min"``), optionally set the lowest ``discard``
    share of each row's weights to 0 (the CLS key is always kept), add the identity for the residual path
    and renormalise each row to sum to 1. Then multiply through the layers, last layer on the left.

    Args:
        attentions: one ``(B, h, T, T)`` tensor per block, the first block first.

    Returns:
        ``(B, T, T)``; row 0 is the CLS token's rollout (its column 0 and columns 1.. over the patches).
    """
    choice(head_fusion, "head_fusion", HEAD_FUSIONS)
    fraction(discard, "discard")
    if len(attentions) == 0:
        raise ValueError("attentions is empty: record at least one block (vitlib.recording.record_attention)")
    rollout = None
    for attention in attentions:
        if attention.ndim != 4 or attention.shape[-1] != attention.shape[-2]:
            raise ValueError(f"each attention must be a (B, heads, T, T) tensor, got {tuple(attention.shape)}")
        fused = {"mean": attention.mean(dim=1), "max": attention.amax(dim=1), "min": attention.amin(dim=1)}[head_fusion]
        fused = fused.double()  # (B, T, T)
        T = fused.shape[-1]
        if discard > 0:
            dropped = int(discard * (T - 1))  # how many of the T - 1 patch keys of each row to drop
            if dropped:
                lowest = fused[..., 1:].topk(dropped, dim=-1, largest=False).indices + 1  # (B, T, dropped)
                fused = fused.scatter(-1, lowest, 0.0)
        step = fused + torch.eye(T, dtype=fused.dtype, device=fused.device)  # the residual path
        step = step / step.sum(dim=-1, keepdim=True)
        rollout = step if rollout is None else step @ rollout
    return rollout.to(attentions[0].dtype)


def patch_centres(image_size, patch_size, stride=None) -> torch.Tensor:
    """The centre of every patch in pixels, ``(N, 2)`` as (row, column), in reading order."""
    n_h, n_w = grid_shape(image_size, patch_size, stride)
    p_h, p_w = pair(patch_size, "patch_size")
    s_h, s_w = pair(patch_size if stride is None else stride, "stride")
    rows = torch.arange(n_h, dtype=torch.float64) * s_h + (p_h - 1) / 2
    cols = torch.arange(n_w, dtype=torch.float64) * s_w + (p_w - 1) / 2
    return torch.cartesian_prod(rows, cols)  # (N, 2)


def mean_attention_distance(attention: torch.Tensor, image_size, patch_size, stride=None, *,
                            per_image: bool = False) -> torch.Tensor:
    """Each head's mean attention distance in pixels (the ViT paper's Figure 7, right): for every patch
    query, the distance between its centre and each patch key's centre, weighted by the attention
    (renormalised over the patch keys, so the CLS key does not count), averaged over the queries and the
    images.

    Args:
        attention: ``(B, h, T, T)`` of one block.
        per_image: keep the images apart, averaging over the queries only: how much a head's distance varies
            from one image to the next is the spread any comparison of heads must beat.

    Returns:
        ``(h,)``, or ``(B, h)`` with ``per_image=True``.
    """
    if not isinstance(per_image, bool):
        raise ValueError(f"per_image must be True or False, got {per_image!r}")
    grid = grid_shape(image_size, patch_size, stride)
    _check_attention(attention, grid)
    centres = patch_centres(image_size, patch_size, stride)  # (N, 2)
    distance = torch.cdist(centres, centres)  # (N, N) pixels
    patches = attention[:, :, 1:, 1:].double()  # (B, h, N, N): patch queries over patch keys
    patches = patches / patches.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    per_query = (patches * distance.to(patches.device)).sum(dim=-1)  # (B, h, N)
    per_head = per_query.mean(dim=2)  # (B, h): each image's distance, per head
    return (per_head if per_image else per_head.mean(dim=0)).to(attention.dtype)
