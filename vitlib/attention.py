"""Multi-head self-attention.

"Attention Is All You Need" (Vaswani et al., 2017), Section 3.2; ViT paper, Appendix A:
Attention(Q, K, V) = softmax(Q K^T / sqrt(d)) V, computed for ``heads`` heads of width
``d = D / heads`` in parallel, then concatenated and projected back to ``D``.

Two paths compute the same thing: the hand-written one, which has the attention weights in hand, and
the fused ``F.scaled_dot_product_attention`` (faster, less memory). A module takes the hand-written
path only while its weights are being recorded (see ``vitlib.recording.record_attention``); training
keeps the fused one.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .checks import fraction, positive_int

__all__ = ["check_heads", "scaled_dot_product_attention", "MultiHeadSelfAttention"]


def check_heads(dim: int, heads: int) -> None:
    """Raise a ValueError unless ``heads`` is a positive int that divides the width ``dim``."""
    positive_int(dim, "dim")
    positive_int(heads, "heads")
    if dim % heads:
        divisors = [h for h in range(1, dim + 1) if dim % h == 0]
        raise ValueError(
            f"dim must be divisible by heads, got dim={dim} and heads={heads}; "
            f"valid head counts for dim={dim}: {divisors}"
        )


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout_p: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(Q K^T / sqrt(d)) V by hand.

    Args:
        q, k, v: ``(..., N, d)``.
        dropout_p: dropout on the attention weights (pass 0 outside training).

    Returns:
        ``out`` ``(..., N, d)`` and the attention weights ``(..., N, N)`` (each row sums to 1).
    """
    d = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # (..., N, N)
    weights = scores.softmax(dim=-1)  # (..., N, N)
    out = F.dropout(weights, p=dropout_p) @ v if dropout_p > 0 else weights @ v  # (..., N, d)
    return out, weights


class MultiHeadSelfAttention(nn.Module):
    """``(B, N, D)`` tokens -> ``(B, N, D)``: every token attends to every token.

    Args:
        dim: the model width ``D``; must be divisible by ``heads``.
        heads: the number of heads ``h``; each has width ``D / h``.
        qkv_bias: whether the Q, K, V projections have a bias (the reference ViT: yes).
        attn_dropout: dropout on the attention weights.
        proj_dropout: dropout after the output projection.
        fused: use ``F.scaled_dot_product_attention`` unless the weights are being recorded.

    ``recorded``: ``None``, or a list to which every forward pass appends its attention weights
    ``(B, h, N, N)`` (detached); ``vitlib.recording.record_attention`` sets and clears it.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        *,
        qkv_bias: bool = True,
        attn_dropout: float = 0.0,
        proj_dropout: float = 0.0,
        fused: bool = True,
    ):
        super().__init__()
        check_heads(dim, heads)
        self.dim, self.heads, self.head_dim = dim, heads, dim // heads
        self.fused = fused
        self.attn_dropout = fraction(attn_dropout, "attn_dropout")
        self.recorded: list[torch.Tensor] | None = None
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)  # W_Q, W_K, W_V side by side
        self.proj = nn.Linear(dim, dim)  # W_O
        self.proj_drop = nn.Dropout(fraction(proj_dropout, "proj_dropout"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: ``(B, N, D)`` -> ``(B, N, D)``."""
        q, k, v = rearrange(self.qkv(x), "b n (three h d) -> three b h n d", three=3, h=self.heads)  # (B, h, N, d)
        dropout_p = self.attn_dropout if self.training else 0.0
        if self.fused and self.recorded is None:
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)  # (B, h, N, d)
        else:
            out, weights = scaled_dot_product_attention(q, k, v, dropout_p)  # (B, h, N, d), (B, h, N, N)
            if self.recorded is not None:
                self.recorded.append(weights.detach())
        out = rearrange(out, "b h n d -> b n (h d)")  # (B, N, D): heads concatenated
        return self.proj_drop(self.proj(out))
