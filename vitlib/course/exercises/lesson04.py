"""Exercises of lesson 04: attention heads and the encoder block.

``head_weights``: one head's attention weights, by hand, from a MultiHeadSelfAttention's stacked qkv layer.
``block_parameters``: how many parameters one encoder block of width D has, counted by hand.

A function that lets vitlib or PyTorch do the work (records the weights, or counts a block's parameters) is
refused (see :func:`vitlib.course.teach.names_used`).
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from ...attention import MultiHeadSelfAttention
from ...encoder import EncoderBlock
from ...recording import record_attention
from ..teach import Exercise, names_used

__all__ = ["head_weights", "block_parameters", "RECORDERS", "COUNTERS"]

RECORDERS = frozenset({"record_attention", "AttentionRecord"})  # they hand over the weights ready-made
COUNTERS = frozenset({"parameters", "named_parameters", "numel", "state_dict", "EncoderBlock", "Encoder", "MLP",
                      "MultiHeadSelfAttention", "create_vit", "ViT"})  # they count the parameters for you


# --- one head's attention weights ------------------------------------------------------------------
def _slip_weights(attn, x: torch.Tensor, i: int) -> dict[str, torch.Tensor]:
    """Head ``i``'s weights as common slips compute them, each slip named by the hint it deserves."""
    D, d = attn.dim, attn.head_dim
    weight, bias = attn.qkv.weight, attn.qkv.bias  # (3D, D), (3D,)

    def project(rows, with_bias=True):
        return x @ weight[rows].T + (bias[rows] if with_bias else 0)  # (B, N, d)

    q_rows, k_rows = slice(i * d, (i + 1) * d), slice(D + i * d, D + (i + 1) * d)
    q, k = project(q_rows), project(k_rows)
    return {
        "the scores are not on the right scale; section 2 says why they are scaled, and by what":
            (q @ k.transpose(-2, -1)).softmax(dim=-1),
        "the qkv layer has more parameters than its weight; use all of them":
            (project(q_rows, False) @ project(k_rows, False).transpose(-2, -1) / d**0.5).softmax(dim=-1),
        "queries and keys have swapped roles: row n should hold how well token n's query matches each key":
            (k @ q.transpose(-2, -1) / d**0.5).softmax(dim=-1),
    }


def _check_head_weights(answer):
    if answer is Ellipsis or not callable(answer):
        return False, "pass a function head_weights(attn, x, i) that returns head i's weights, shape (B, N, N)"
    recorders = sorted(names_used(answer) & RECORDERS)
    if recorders:
        used = ", ".join(recorders)
        return False, f"your function uses {used}, which records the weights for you; compute them by hand"
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
                return False, (
                    "your function still returns ...; section 2 computes one head's weights by hand, "
                    "and section 3 shows where each head's share of the projections sits"
                )
            if not isinstance(got, torch.Tensor):
                return False, f"head_weights returned a {type(got).__name__}, not a torch.Tensor"
            if tuple(got.shape) != tuple(expected[:, i].shape):
                return False, f"head {i}: shape {tuple(got.shape)}, expected (B, N, N) = {tuple(expected[:, i].shape)}"
            if not torch.allclose(got, expected[:, i], rtol=1e-4, atol=1e-6):
                row_sums = got.sum(-1)  # (B, N)
                if not torch.allclose(row_sums, torch.ones_like(row_sums), atol=1e-4):
                    hint = (
                        f"each row (one query) should sum to 1, yours sum to {row_sums.min():.2f} ... "
                        f"{row_sums.max():.2f}; which axis does your softmax normalise?"
                    )
                else:
                    slips = _slip_weights(attn, x, i)
                    matches = [h for h, w in slips.items() if torch.allclose(got, w, rtol=1e-4, atol=1e-6)]
                    hint = matches[0] if matches else (
                        "the rows sum to 1 but hold other weights; check which rows of attn.qkv.weight you take "
                        "for head i's queries and keys (print its shape, and reread how section 3 stacks the maps)"
                    )
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
    counters = sorted(names_used(answer) & COUNTERS)
    if counters:
        return False, (
            f"your function uses {', '.join(counters)}, which lets PyTorch count for you; count by hand, "
            "from the shapes of the layers in section 4"
        )
    dims = (8, 64, 192, 384, 768)
    for dim in dims:
        got = answer(dim)
        if got is Ellipsis:
            return False, "your function still returns ...; count the parameters of every layer of section 4's block"
        if isinstance(got, bool) or not isinstance(got, numbers.Integral):
            return False, f"block_parameters({dim}) returned {got!r}; the answer is a whole number (an int)"
    counts = [(dim, answer(dim), _block_parameter_count(dim)) for dim in dims]
    wrong = [(dim, got) for dim, got, expected in counts if got != expected]
    if not wrong:
        vit_b = _block_parameter_count(768)
        return True, f"e.g. a ViT-B/16 block (D = 768) has {vit_b:,} parameters, whatever the head count"
    # The count is a polynomial in D; say whether the answer's D^2 term is wrong (a matrix) or only the rest
    # (the vectors), never what the terms are.
    shortfall = [float(expected - got) for _, got, expected in counts]
    squares = np.polyfit([float(dim) for dim in dims], shortfall, deg=2)[0]  # the D^2 coefficient of the shortfall
    if abs(squares) > 0.25:
        hint = (
            "the part of the count that grows as D^2 is wrong, so a weight matrix is missing, extra or of the "
            "wrong shape; recount the matrices of section 4's encoder_block (nn.Linear stores its weight as (out, in))"
        )
    else:
        hint = (
            "the matrices are counted right, the vectors are not: print the block's named_parameters() and "
            "check each one that has a single dimension"
        )
    dim, got = wrong[0]
    return False, f"block_parameters({dim}) = {got} is not the count; {hint}"


def _solution_block_parameters(D):
    norms = 2 * (D + D)  # two LayerNorms, weight and bias each
    attention = (D * 3 * D + 3 * D) + (D * D + D)  # qkv: W_Q, W_K, W_V with biases; proj: W_O with bias
    mlp = (D * 4 * D + 4 * D) + (4 * D * D + D)  # fc1: D -> 4D; fc2: 4D -> D
    return norms + attention + mlp  # = 12 D^2 + 13 D, whatever the number of heads


block_parameters = Exercise("parameters of one encoder block of width D", _check_block_parameters, _solution_block_parameters)
