"""Exercises of lesson 07: where a trained ViT looks.

``rollout``: attention rollout by hand, from the recorded weights of every block.
``distance_3x3``: one head's mean attention distance by hand, on a 3x3 grid of 1-pixel patches.
"""

from __future__ import annotations

import torch

from ...attention_maps import attention_rollout, mean_attention_distance
from ..teach import Exercise

__all__ = ["rollout", "distance_3x3"]


def _random_attention(generator, B, h, T) -> torch.Tensor:
    return (torch.randn(B, h, T, T, generator=generator) * 2).softmax(dim=-1)  # (B, h, T, T), rows sum to 1


# --- attention rollout -----------------------------------------------------------------------------------
def _check_rollout(my_rollout):
    if my_rollout is Ellipsis or not callable(my_rollout):
        return False, "pass a function my_rollout(attentions) that returns a (B, T, T) tensor"
    generator = torch.Generator().manual_seed(0)
    for layers, B, h, T in [(1, 1, 2, 3), (2, 2, 3, 5), (4, 1, 4, 10)]:
        attentions = [_random_attention(generator, B, h, T) for _ in range(layers)]
        got = my_rollout([a.clone() for a in attentions])
        if got is Ellipsis:
            return False, "your function still returns ...; follow the four steps of section 3"
        expected = attention_rollout(attentions)
        case = f"{layers} layer(s) of shape {(B, h, T, T)}"
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(expected.shape):
            got_shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            return False, f"{case}: expected shape {tuple(expected.shape)}, got {got_shape}; fuse the heads first"
        if torch.allclose(got.double(), expected.double(), atol=1e-5):
            continue
        if not torch.allclose(got.sum(dim=-1).double(), torch.ones(B, T, dtype=torch.float64), atol=1e-4):
            return False, f"{case}: the rows of your rollout do not sum to 1; what happens to a row after the residual is added?"
        if layers > 1 and torch.allclose(got.double(), attention_rollout(attentions[::-1]).double(), atol=1e-5):
            return False, f"{case}: right for one layer, but the product runs the wrong way: which layer acts on the input first?"
        return False, f"{case}: the numbers differ from vitlib's; try one layer first, where the rollout is a single step"
    return True, "the same as vitlib.attention_maps.attention_rollout, for one to four layers"


def _solution_rollout():
    def my_rollout(attentions):
        rollout = None
        for attention in attentions:  # the first block first; each (B, h, T, T)
            fused = attention.mean(dim=1)  # (B, T, T): the heads averaged
            step = fused + torch.eye(fused.shape[-1])  # the residual path lets each token keep itself
            step = step / step.sum(dim=-1, keepdim=True)  # rows sum to 1 again
            rollout = step if rollout is None else step @ rollout  # a later layer acts on the earlier result
        return rollout

    return my_rollout


rollout = Exercise("attention rollout by hand", _check_rollout, _solution_rollout)


# --- mean attention distance on a 3x3 grid ---------------------------------------------------------------
def _check_distance_3x3(my_distance):
    if my_distance is Ellipsis or not callable(my_distance):
        return False, "pass a function my_distance(attention) that returns one distance per head, shape (h,)"
    generator = torch.Generator().manual_seed(1)
    cases = {"random attention": _random_attention(generator, 1, 3, 10)[0]}
    uniform = torch.full((1, 10, 10), 0.1)
    cases["uniform attention"] = uniform
    for name, attention in cases.items():  # (h, 10, 10): CLS and 9 patches
        got = my_distance(attention.clone())
        if got is Ellipsis:
            return False, "your function still returns ...; start with the centre of every patch"
        expected = mean_attention_distance(attention[None], 3, 1)  # (h,)
        got = torch.as_tensor(got, dtype=torch.float64).reshape(-1)
        if got.shape != expected.shape:
            return False, f"{name}: expected one distance per head, {tuple(expected.shape)}, got {tuple(got.shape)}"
        if torch.allclose(got, expected.double(), atol=1e-5):
            continue
        with_cls = _distance_with_cls_key(attention)
        if torch.allclose(got, with_cls, atol=1e-5):
            return False, f"{name}: the CLS key has no place on the image; leave it out and make the rest of each row sum to 1"
        return False, f"{name}: your distances differ from vitlib's; check one query by hand, the centre patch under uniform attention"
    return True, "the same as vitlib.attention_maps.mean_attention_distance on a 3x3 grid"


def _distance_with_cls_key(attention: torch.Tensor) -> torch.Tensor:
    """The common slip: patch keys weighted without renormalising (the CLS key's share counted as distance 0)."""
    centres = torch.cartesian_prod(torch.arange(3.0), torch.arange(3.0)).double()  # (9, 2)
    distance = torch.cdist(centres, centres)  # (9, 9)
    return (attention[:, 1:, 1:].double() * distance).sum(dim=-1).mean(dim=-1)  # (h,)


def _solution_distance_3x3(attention):
    # attention: (h, 10, 10), token 0 is CLS, then the 9 patches row by row; each patch is 1 pixel
    centres = torch.tensor([[r, c] for r in range(3) for c in range(3)], dtype=torch.float64)  # (9, 2)
    distance = torch.cdist(centres, centres)  # (9, 9): pixels between patch centres
    weights = attention[:, 1:, 1:].double()  # (h, 9, 9): patch queries over patch keys, CLS left out
    weights = weights / weights.sum(dim=-1, keepdim=True)  # each row sums to 1 again
    return (weights * distance).sum(dim=-1).mean(dim=-1)  # (h,): per query, then averaged over queries


distance_3x3 = Exercise("mean attention distance on a 3x3 grid", _check_distance_3x3, _solution_distance_3x3)
