"""Exercises of lesson 02: flatten patches into vectors, embed them, and see the convolution in it.

``embed_params``: how many numbers the patch embedding of ViT-H/14 learns (the lesson itself counts the
16x16 embeddings of its profile's model, so the exercise asks for another patch size and width).
``patchify``: a function ``(B, C, H, W) -> (B, N, C * p * p)`` for any patch size and stride.
``from_conv``: a function that turns a patch-sized ``nn.Conv2d`` into a PatchEmbedding giving the same tokens.
"""

from __future__ import annotations

import numbers

import torch
from einops import rearrange
from torch import nn

from ...embedding import PatchEmbedding
from ...model import vit_config
from ...patches import patchify as vitlib_patchify
from ..teach import Exercise

__all__ = ["embed_params", "patchify", "from_conv", "EMBED_VARIANT"]


# --- the parameters of ViT-H/14's patch embedding ---------------------------------------------------
EMBED_VARIANT = "H/14"  # patch 14, width 1280: neither is a size the lesson counts itself


def _count(patch: int, dim: int, bias: bool = True) -> int:
    with torch.random.fork_rng():  # building the layer draws random weights; leave the lesson's alone
        embedding = PatchEmbedding(in_channels=3, patch_size=patch, dim=dim)
    return embedding.proj.weight.numel() + (embedding.proj.bias.numel() if bias else 0)


def _check_embed_params(answer):
    if answer is Ellipsis:
        return False, "replace the ... with a number"
    if isinstance(answer, bool) or not isinstance(answer, numbers.Integral):
        return False, f"the answer is a whole number (an int), got {answer!r}"
    config = vit_config(EMBED_VARIANT)
    patch, dim = config.patch_size, config.dim
    expected = _count(patch, dim)
    if answer != expected:
        if answer == _count(patch, dim, bias=False):
            return False, "that counts the weights of E; what else does the linear map learn?"
        if answer in (_count(16, dim), _count(16, dim, bias=False)):
            return False, f"{answer:,} is not it: look again at the patch size in the name ViT-{EMBED_VARIANT}"
        return False, (
            f"{answer:,} is not it. Section 3 counts the parameters of its own embedding; do the same with "
            f"ViT-{EMBED_VARIANT}'s patch size and width D."
        )
    return True, f"{expected:,} numbers, whatever the image size: the same E serves every patch"


def _solution_embed_params():
    vector_length = 3 * 14 * 14  # 588 numbers per RGB patch of 14x14
    answer = vector_length * 1280 + 1280  # E is (588 x 1280), plus one bias per output: 753,920
    return answer


embed_params = Exercise(
    f"parameters of ViT-{EMBED_VARIANT}'s patch embedding", _check_embed_params, _solution_embed_params
)


# --- patchify by hand ------------------------------------------------------------------------------
_PATCHIFY_CASES = [  # (B, C, H, W), patch, stride
    ((2, 3, 32, 32), 8, 8),
    ((1, 3, 224, 224), 16, 16),
    ((2, 1, 28, 28), 4, 4),
    ((1, 3, 32, 48), 8, 4),
    ((2, 3, 30, 30), 7, 7),
    ((1, 2, 20, 20), 4, 6),
]


def _check_patchify(my_patchify):
    if my_patchify is Ellipsis or not callable(my_patchify):
        return False, "pass a function my_patchify(images, patch, stride) that returns (B, N, C*patch*patch)"
    generator = torch.Generator().manual_seed(0)
    for shape, p, s in _PATCHIFY_CASES:
        images = torch.rand(shape, generator=generator)
        result = my_patchify(images.clone(), p, s)
        if result is Ellipsis:
            return False, "your function still returns ...; build the vectors"
        expected, _ = vitlib_patchify(images, p, s)
        case = f"images {tuple(shape)}, patch {p}, stride {s}"
        if not isinstance(result, torch.Tensor) or result.shape != expected.shape:
            got = tuple(result.shape) if isinstance(result, torch.Tensor) else type(result).__name__
            return False, f"{case}: expected shape {tuple(expected.shape)}, got {got}"
        if not torch.equal(result, expected):
            return False, (
                f"{case}: the shape is right but the numbers are not; flatten each patch in the order "
                "(channel, row, column) and list the patches row by row"
            )
    return True, f"equal to vitlib.patches.patchify on all {len(_PATCHIFY_CASES)} cases, overlaps and gaps included"


def _solution_patchify():
    def my_patchify(images, patch, stride):
        windows = images.unfold(2, patch, stride).unfold(3, patch, stride)  # (B, C, n_h, n_w, p, p)
        return rearrange(windows, "b c nh nw ph pw -> b (nh nw) (c ph pw)")  # (B, N, C*p*p)

    return my_patchify


patchify = Exercise("patchify by hand, any stride", _check_patchify, _solution_patchify)


# --- from a convolution to a patch embedding ------------------------------------------------------
_CONV_CASES = [  # in_channels, dim, patch, stride, image size
    (3, 16, 8, 8, 32),
    (1, 12, 4, 4, 28),
    (3, 10, 8, 4, 32),
    (2, 6, 5, 7, 26),
]


def _check_from_conv(my_from_conv):
    if my_from_conv is Ellipsis or not callable(my_from_conv):
        return False, "pass a function from_conv(conv) that returns a PatchEmbedding"
    with torch.random.fork_rng():  # leave the lesson's random numbers as they were
        torch.manual_seed(0)
        for channels, dim, p, s, size in _CONV_CASES:
            conv = nn.Conv2d(channels, dim, kernel_size=p, stride=s)
            images = torch.rand(2, channels, size, size)
            case = f"Conv2d({channels}, {dim}, kernel_size={p}, stride={s})"
            embedding = my_from_conv(conv)
            if embedding is Ellipsis:
                return False, "your function still returns ...; build the PatchEmbedding"
            if not isinstance(embedding, PatchEmbedding):
                return False, f"{case}: expected a PatchEmbedding, got {type(embedding).__name__}"
            with torch.no_grad():
                tokens = embedding(images)  # (B, N, D)
                expected = rearrange(conv(images), "b d nh nw -> b (nh nw) d")  # (B, N, D)
            if tokens.shape != expected.shape:
                return False, f"{case}: expected tokens of shape {tuple(expected.shape)}, got {tuple(tokens.shape)}"
            if not torch.allclose(tokens, expected, atol=1e-5, rtol=1e-4):
                return False, (
                    f"{case}: the shapes agree but the tokens differ. Does your embedding compute with the "
                    "convolution's own numbers, all of them, in the order section 4 relates a filter to E?"
                )
    return True, f"the same tokens as the convolution on all {len(_CONV_CASES)} cases, overlapping strides included"


def _solution_from_conv():
    def from_conv(conv):
        D, C = conv.out_channels, conv.in_channels
        embedding = PatchEmbedding(in_channels=C, patch_size=conv.kernel_size, stride=conv.stride, dim=D)
        with torch.no_grad():
            embedding.proj.weight.copy_(conv.weight.reshape(D, -1))  # (D, C, p_h, p_w) -> (D, C*p_h*p_w)
            embedding.proj.bias.copy_(conv.bias)
        return embedding

    return from_conv


from_conv = Exercise("from a Conv2d to a patch embedding", _check_from_conv, _solution_from_conv)
