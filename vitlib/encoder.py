"""The Transformer encoder: pre-norm blocks of self-attention and an MLP, stacked.

ViT paper, Section 3.1, Eqs. 2-3:
    z'_l = MSA(LN(z_{l-1})) + z_{l-1}
    z_l  = MLP(LN(z'_l)) + z'_l
The MLP has two layers with a GELU between them; the hidden width is ``mlp_ratio * D``.
"""

from __future__ import annotations

import torch
from torch import nn

from .attention import MultiHeadSelfAttention
from .checks import fraction, positive_int, positive_number

__all__ = ["MLP", "EncoderBlock", "Encoder"]


class MLP(nn.Module):
    """``(B, N, D) -> (B, N, D)``: Linear(D, hidden) -> GELU -> dropout -> Linear(hidden, D) -> dropout."""

    def __init__(self, dim: int, hidden_dim: int, dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(positive_int(dim, "dim"), positive_int(hidden_dim, "hidden_dim"))
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(fraction(dropout, "dropout"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class EncoderBlock(nn.Module):
    """One pre-norm block: LayerNorm -> attention -> residual, LayerNorm -> MLP -> residual.

    Args:
        dim: the model width ``D``.
        heads: attention heads.
        mlp_ratio: MLP hidden width as a multiple of ``D`` (4 in the paper).
        dropout: dropout after the attention projection and in the MLP.
        attn_dropout: dropout on the attention weights.
        qkv_bias: bias on the Q, K, V projections.
        fused_attn: use the fused attention kernel unless the weights are being recorded.
        norm_eps: the LayerNorms' epsilon (1e-6 in timm and big_vision, 1e-12 in Hugging Face's ViT).
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        mlp_ratio: float = 4.0,
        *,
        dropout: float = 0.0,
        attn_dropout: float = 0.0,
        qkv_bias: bool = True,
        fused_attn: bool = True,
        norm_eps: float = 1e-6,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=positive_number(norm_eps, "norm_eps"))
        self.attn = MultiHeadSelfAttention(
            dim, heads, qkv_bias=qkv_bias, attn_dropout=attn_dropout, proj_dropout=dropout, fused=fused_attn
        )
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = MLP(dim, max(1, int(dim * positive_number(mlp_ratio, "mlp_ratio"))), dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: ``(B, N, D)`` -> ``(B, N, D)``."""
        x = x + self.attn(self.norm1(x))  # (B, N, D)
        return x + self.mlp(self.norm2(x))  # (B, N, D)


class Encoder(nn.Sequential):
    """A stack of ``depth`` :class:`EncoderBlock` s, applied in order (keyword arguments go to each block).

    Its blocks are its children ``0 .. depth - 1``, so inside a ``ViT`` they are named ``blocks.0``,
    ``blocks.1``, ... as in the reference implementations.
    """

    def __init__(self, dim: int, depth: int, heads: int, mlp_ratio: float = 4.0, **block_kwargs):
        positive_int(depth, "depth")
        super().__init__(*(EncoderBlock(dim, heads, mlp_ratio, **block_kwargs) for _ in range(depth)))
