"""Exercises of lesson 03: position encodings.

``interleaved_sincos``: the original Transformer's 1D sin-cos, with sines and cosines interleaved.
``mean_pool_shuffle``: without a position encoding, does averaging c1..cn see a shuffle?
"""

from __future__ import annotations

import torch

from ...model import create_vit
from ...patches import extract_patches, unpatchify
from ...position import sincos_1d
from ..teach import Exercise

__all__ = ["interleaved_sincos", "mean_pool_shuffle"]


# --- the interleaved 1D sin-cos ------------------------------------------------------------------
def _interleave(table: torch.Tensor) -> torch.Tensor:
    """vitlib's order [sin_0..sin_{D/2-1}, cos_0..cos_{D/2-1}] -> [sin_0, cos_0, sin_1, cos_1, ...]."""
    sines, cosines = table.chunk(2, dim=1)  # (N, D/2) each
    return torch.stack([sines, cosines], dim=2).flatten(1)  # (N, D)


def _check_interleaved_sincos(answer):
    if answer is Ellipsis or not callable(answer):
        return False, "pass a function interleaved_sincos(num_positions, dim) that returns a (num_positions, dim) tensor"
    for n, d in [(1, 2), (5, 4), (14, 8), (196, 64)]:
        got = answer(n, d)
        if got is Ellipsis:
            return False, "your function still returns ...; write the formula"
        if not isinstance(got, torch.Tensor):
            return False, f"interleaved_sincos({n}, {d}) returned a {type(got).__name__}, not a torch.Tensor"
        if tuple(got.shape) != (n, d):
            return False, f"interleaved_sincos({n}, {d}) has shape {tuple(got.shape)}, expected {(n, d)}"
        halves = sincos_1d(n, d)
        expected = _interleave(halves)
        if torch.allclose(got.double(), expected.double(), atol=1e-4):
            continue
        if torch.allclose(got.double(), halves.double(), atol=1e-4):
            return False, "that is vitlib's order (all sines, then all cosines); interleave them: sin at even channels, cos at odd"
        wrong = (got.double() - expected.double()).abs().max(dim=0).values.argmax().item()
        return False, (
            f"interleaved_sincos({n}, {d}) differs from the formula, most at channel {wrong}; channel 2i holds "
            f"sin(pos / 10000^(2i/dim)) and channel 2i+1 holds cos of the same angle"
        )
    return True, "the same numbers as vitlib's sincos_1d, only in another channel order"


def _solution_interleaved_sincos(num_positions, dim):
    position = torch.arange(num_positions, dtype=torch.float64)[:, None]  # (N, 1)
    two_i = torch.arange(0, dim, 2, dtype=torch.float64)  # 0, 2, 4, ... (D/2,)
    angles = position / 10000 ** (two_i / dim)  # (N, D/2)
    table = torch.empty(num_positions, dim, dtype=torch.float64)
    table[:, 0::2] = angles.sin()  # even channels
    table[:, 1::2] = angles.cos()  # odd channels
    return table.float()


interleaved_sincos = Exercise(
    "the original Transformer's interleaved 1D sin-cos", _check_interleaved_sincos, _solution_interleaved_sincos
)


# --- mean pooling and the shuffle test -----------------------------------------------------------
def _mean_pool_sees_a_shuffle() -> bool:
    """Run the shuffle test on a small model with pool="mean" and no position encoding."""
    with torch.random.fork_rng():  # leave the learner's random state alone
        torch.manual_seed(0)
        model = create_vit("course-tiny", pos_embed="none", pool="mean").eval()
        images = torch.rand(2, 3, 32, 32)
        patches, _ = extract_patches(images, model.config.patch_size)  # (2, N, C, p, p)
        shuffled = unpatchify(patches[:, torch.randperm(patches.shape[1])], 32)
        with torch.no_grad():
            before, after = model.features(images), model.features(shuffled)
    return not torch.allclose(before, after, rtol=1e-4, atol=1e-5)


def _check_mean_pool_shuffle(answer):
    if answer is Ellipsis or not isinstance(answer, bool):
        return False, f"answer True (the features change) or False (they do not), got {answer!r}"
    changes = _mean_pool_sees_a_shuffle()
    if answer != changes:
        return False, (
            "run the shuffle test on create_vit(..., pos_embed='none', pool='mean') and see. Hint: the patch "
            "outputs c1..cn are shuffled along with the patches; what does shuffling do to their mean?"
        )
    if changes:
        return True, "the mean pooled features change when the patches are shuffled"
    return True, (
        "without positions the encoder only reorders c1..cn when the patches are reordered, and a mean does "
        "not care about order: mean pooling is as blind to a shuffle as c0"
    )


def _solution_mean_pool_shuffle():
    # Without a position encoding, shuffling the patches shuffles the outputs c1..cn the same way
    # (attention is permutation-equivariant), and the mean of a set does not depend on its order.
    answer = False  # the features do not change
    return answer


mean_pool_shuffle = Exercise(
    "does mean pooling see a shuffle without positions?", _check_mean_pool_shuffle, _solution_mean_pool_shuffle
)
