"""Exercises of lesson 04: attention heads and the encoder block.

``head_weights``: one head's attention weights, by hand, from a MultiHeadSelfAttention's stacked qkv layer.
``block_parameters``: how many parameters one encoder block of width D has.
"""

from __future__ import annotations

import numbers

import torch

from ...attention import MultiHeadSelfAttention
from ...encoder import EncoderBlock
from ...recording import record_attention
from ..teach import Exercise

__all__ = ["head_weights", "block_parameters"]


# --- one head's attention weights ------------------------------------------------------------------
def _check_head_weights(answer):
    if answer is Ellipsis or not callable(answer):
        return False, "pass a function head_weights(attn, x, i) that returns head i's weights, shape (B, N, N)"
    with torch.random.fork_rng():  # leave the learner's random state alone
        torch.manual_seed(0)
        attn = MultiHeadSelfAttention(24, 3)  # nn.Linear's default init: every weight and bias differs
        x = torch.randn(2, 5, 24)  # (B, N, D)
    with torch.no_grad():
        with record_attention(attn) as record:
            attn(x)
        expected = record[0]  # (B, h, N, N)
        for i in range(attn.heads):
            got = answer(attn, x, i)
            if got is Ellipsis:
                return False, "your function still returns ...; compute q and k for head i, then softmax(q k^T / sqrt(d))"
            if not isinstance(got, torch.Tensor):
                return False, f"head_weights returned a {type(got).__name__}, not a torch.Tensor"
            if tuple(got.shape) != tuple(expected[:, i].shape):
                return False, f"head {i}: shape {tuple(got.shape)}, expected (B, N, N) = {tuple(expected[:, i].shape)}"
            if not torch.allclose(got, expected[:, i], rtol=1e-4, atol=1e-6):
                if torch.allclose(got.sum(-1), torch.ones(got.shape[:-1]), atol=1e-4):
                    hint = (
                        "the rows sum to 1, but the weights differ. attn.qkv.weight is (3D, D): rows 0..D-1 are "
                        "W_Q, D..2D-1 are W_K, 2D..3D-1 are W_V; head i uses d = D / heads of each, from i*d; "
                        "don't forget the bias and the 1/sqrt(d)"
                    )
                else:
                    hint = "each row of attention weights must sum to 1: softmax over the last axis (the keys)"
                return False, f"head {i}: {hint}"
    return True, "the same weights as vitlib records from MultiHeadSelfAttention for head i"


def _solution_head_weights(attn, x, i):
    D, d = attn.dim, attn.head_dim
    rows_q = slice(i * d, (i + 1) * d)  # head i's part of W_Q
    rows_k = slice(D + i * d, D + (i + 1) * d)  # head i's part of W_K, which comes after all of W_Q
    q = x @ attn.qkv.weight[rows_q].T + attn.qkv.bias[rows_q]  # (B, N, d)
    k = x @ attn.qkv.weight[rows_k].T + attn.qkv.bias[rows_k]  # (B, N, d)
    scores = q @ k.transpose(-2, -1) / d**0.5  # (B, N, N)
    return scores.softmax(dim=-1)


head_weights = Exercise("one head's attention weights from the stacked qkv layer", _check_head_weights, _solution_head_weights)


# --- parameters of one encoder block ----------------------------------------------------------------
def _block_parameter_count(dim: int) -> int:
    block = EncoderBlock(dim, heads=1)  # the head count does not change the count
    return sum(p.numel() for p in block.parameters())


def _check_block_parameters(answer):
    if answer is Ellipsis or not callable(answer):
        return False, "pass a function block_parameters(D) that returns an int"
    for dim in (8, 64, 192, 384, 768):
        got = answer(dim)
        if got is Ellipsis:
            return False, "your function still returns ...; add up the parameters of every layer in the block"
        if isinstance(got, bool) or not isinstance(got, numbers.Integral):
            return False, f"block_parameters({dim}) returned {got!r}; the answer is a whole number (an int)"
        expected = _block_parameter_count(dim)
        if got != expected:
            return False, (
                f"block_parameters({dim}) = {got}, but EncoderBlock({dim}, heads) has {expected}. Count every part: "
                "two LayerNorms (a weight and a bias each), the qkv and output projections, the MLP's two "
                "layers (hidden width 4D), and every bias"
            )
    return True, f"e.g. a ViT-B/16 block (D = 768) has {_block_parameter_count(768):,} parameters, whatever the head count"


def _solution_block_parameters(D):
    norms = 2 * (D + D)  # two LayerNorms, weight and bias each
    attention = (D * 3 * D + 3 * D) + (D * D + D)  # qkv: W_Q, W_K, W_V with biases; proj: W_O with bias
    mlp = (D * 4 * D + 4 * D) + (4 * D * D + D)  # fc1: D -> 4D; fc2: 4D -> D
    return norms + attention + mlp  # = 12 D^2 + 13 D, whatever the number of heads


block_parameters = Exercise("parameters of one encoder block of width D", _check_block_parameters, _solution_block_parameters)
