"""Position encodings added to the patch tokens.

ViT paper, Section 3.1 and Appendix D.4: without a position encoding the Transformer sees the
patches as an unordered set (shuffling them does not change its output); the paper compares none,
learned 1D, learned 2D and relative encodings and finds about 3 points lost without any, and little
difference between kinds. Here: ``"learned"`` (the paper's default), fixed ``"sincos1d"``
(Vaswani et al., 2017), fixed ``"sincos2d"`` (half the channels for the row, half for the column, as
in MoCo v3 and "Better plain ViT baselines"), and ``"none"``.

:func:`resample_position_embedding` adapts a learned embedding to a new patch grid (Section 3.2,
"2D interpolation of the pre-trained position embeddings"), keeping the CLS entry apart.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .checks import choice, non_negative_int, pair, positive_int

__all__ = [
    "POSITION_KINDS",
    "sincos_1d",
    "sincos_2d",
    "position_table",
    "resample_position_embedding",
]

POSITION_KINDS = ("learned", "sincos1d", "sincos2d", "none")


def sincos_1d(num_positions: int, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """Fixed 1D sine-cosine encoding: ``(num_positions, dim)``; ``dim`` must be even."""
    if dim % 2:
        raise ValueError(f"dim must be even for a sin-cos encoding, got {dim}")
    position = torch.arange(num_positions, dtype=torch.float64)[:, None]  # (N, 1)
    omega = temperature ** (-torch.arange(dim // 2, dtype=torch.float64) / (dim // 2))  # (D/2,)
    angles = position * omega[None, :]  # (N, D/2)
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()  # (N, D)


def sincos_2d(grid, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """Fixed 2D sine-cosine encoding for an ``(n_h, n_w)`` grid: ``(n_h * n_w, dim)``, row-major.

    The first half of the channels encodes the row, the second half the column; ``dim`` must be a
    multiple of 4.
    """
    n_h, n_w = pair(grid, "grid")
    if dim % 4:
        raise ValueError(f"dim must be a multiple of 4 for a 2D sin-cos encoding, got {dim}")
    rows = sincos_1d(n_h, dim // 2, temperature)  # (n_h, D/2)
    cols = sincos_1d(n_w, dim // 2, temperature)  # (n_w, D/2)
    rows = rows[:, None, :].expand(n_h, n_w, dim // 2)
    cols = cols[None, :, :].expand(n_h, n_w, dim // 2)
    return torch.cat([rows, cols], dim=-1).reshape(n_h * n_w, dim)  # (N, D)


def position_table(kind: str, grid, dim: int, num_prefix_tokens: int = 1) -> torch.Tensor | None:
    """A fresh position table ``(1, num_prefix_tokens + n_h * n_w, D)`` of the given kind, or ``None`` for
    ``"none"``. ``"learned"``: truncated normal (std 0.02), to be trained; fixed kinds: the sin-cos
    encoding of the grid, with zeros for the prefix (CLS) entries.

    Args:
        kind: one of :data:`POSITION_KINDS`.
        grid: the patch grid ``(n_h, n_w)``.
        dim: the model width ``D``.
        num_prefix_tokens: tokens before the patches (1 for the CLS token).
    """
    choice(kind, "pos_embed", POSITION_KINDS)
    n_h, n_w = pair(grid, "grid")
    positive_int(dim, "dim")
    non_negative_int(num_prefix_tokens, "num_prefix_tokens")
    if kind == "none":
        return None
    if kind == "learned":
        table = torch.zeros(1, num_prefix_tokens + n_h * n_w, dim)
        return nn.init.trunc_normal_(table, std=0.02, a=-0.04, b=0.04)
    patches = sincos_1d(n_h * n_w, dim) if kind == "sincos1d" else sincos_2d((n_h, n_w), dim)  # (N, D)
    return torch.cat([torch.zeros(num_prefix_tokens, dim), patches])[None]  # (1, prefix + N, D)


def resample_position_embedding(
    pos_embed: torch.Tensor, old_grid, new_grid, num_prefix_tokens: int = 1, mode: str = "bicubic"
) -> torch.Tensor:
    """Resample a learned position embedding to a new patch grid.

    The patch entries are laid out as an image ``(D, n_h, n_w)`` and interpolated to the new grid;
    the prefix entries (CLS) are kept as they are. When the grid does not change the result equals
    the input.

    Args:
        pos_embed: ``(1, num_prefix + n_h * n_w, D)``.
        old_grid: ``(n_h, n_w)`` of ``pos_embed``.
        new_grid: the target ``(n_h', n_w')``.
        num_prefix_tokens: entries before the patches (1 for CLS).
        mode: ``F.interpolate`` mode, ``"bicubic"`` (as in the reference code) or ``"bilinear"``.

    Returns:
        ``(1, num_prefix + n_h' * n_w', D)``.
    """
    old_h, old_w = pair(old_grid, "old_grid")
    new_h, new_w = pair(new_grid, "new_grid")
    choice(mode, "mode", ("bicubic", "bilinear", "nearest"))
    if pos_embed.ndim != 3 or pos_embed.shape[0] != 1:
        raise ValueError(f"pos_embed must have shape (1, prefix + N, D), got {tuple(pos_embed.shape)}")
    if pos_embed.shape[1] != num_prefix_tokens + old_h * old_w:
        raise ValueError(
            f"pos_embed has {pos_embed.shape[1]} entries, but old_grid {(old_h, old_w)} with "
            f"{num_prefix_tokens} prefix tokens needs {num_prefix_tokens + old_h * old_w}"
        )
    if (old_h, old_w) == (new_h, new_w):
        return pos_embed.clone()
    prefix, table = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    image = table.reshape(1, old_h, old_w, -1).permute(0, 3, 1, 2)  # (1, D, n_h, n_w)
    kwargs = {} if mode == "nearest" else {"align_corners": False}
    image = F.interpolate(image.float(), size=(new_h, new_w), mode=mode, **kwargs)
    table = image.permute(0, 2, 3, 1).reshape(1, new_h * new_w, -1).to(pos_embed.dtype)  # (1, N', D)
    return torch.cat([prefix, table], dim=1)
