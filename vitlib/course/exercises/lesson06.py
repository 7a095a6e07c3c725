"""Exercises of lesson 06: pretraining and fine-tuning.

``probe_parameters``: how many parameters a linear probe trains, for K classes and width D.
``position_entries``: how many entries the position table has for a new image size.
"""

from __future__ import annotations

import numbers

import torch

from ...model import ViT, ViTConfig, vit_config
from ..teach import Exercise
from ...transfer import count_trainable, prepare_for_task

__all__ = ["probe_parameters", "position_entries"]


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


# --- the size of a linear probe ----------------------------------------------------------------------
def _probe_count(num_classes: int, dim: int) -> int:
    with torch.random.fork_rng():  # leave the learner's random state alone
        pretrained = ViT(vit_config("digits-tiny", dim=dim, depth=1, heads=1, num_classes=3))
        probe = prepare_for_task(pretrained, num_classes, mode="linear-probe")
    return count_trainable(probe)


def _check_probe_parameters(answer):
    if answer is Ellipsis or not callable(answer):
        return False, "pass a function probe_parameters(K, D) that returns an int"
    for K, D in [(10, 96), (100, 96), (2, 8), (1000, 768)]:
        got = answer(K, D)
        if got is Ellipsis:
            return False, "your function still returns ...; which layer does a linear probe train, and what is in it?"
        if not _is_int(got):
            return False, f"probe_parameters({K}, {D}) returned {got!r}; the answer is a whole number (an int)"
        expected = _probe_count(K, D)
        if got == expected:
            continue
        if got == K * D:
            return False, f"probe_parameters({K}, {D}) = {got}: the weights are right, but the head has a bias too"
        return False, (
            f"probe_parameters({K}, {D}) = {got}, but count_trainable says {expected}. A linear probe freezes the "
            "whole encoder and trains only the new head, a linear map from c0 (width D) to K logits"
        )
    return True, (
        f"the head alone: K·D + K. A probe on the ViT-B/16 width (D = 768) for 1000 classes trains "
        f"{_probe_count(1000, 768):,} parameters; the whole ViT-B/16 has about 86 million"
    )


def _solution_probe_parameters(K, D):
    return K * D + K  # the new head: a (K, D) weight and a bias per class; everything else is frozen


probe_parameters = Exercise("parameters a linear probe trains", _check_probe_parameters, _solution_probe_parameters)


# --- the position table for a new image size --------------------------------------------------------
def _entries(image_size: int, patch_size: int, stride: int) -> int:
    config = ViTConfig(image_size=image_size, in_channels=1, patch_size=patch_size, stride=stride,
                       dim=8, depth=1, heads=1, num_classes=2)
    with torch.random.fork_rng():  # leave the learner's random state alone
        model = ViT(config)
    return model.pos_embed.shape[1]  # (1, entries, D)


def _check_position_entries(answer):
    if answer is Ellipsis or not callable(answer):
        return False, "pass a function position_entries(image_size, patch_size, stride) that returns an int"
    for size, patch, stride in [(28, 7, 3), (42, 7, 3), (40, 7, 3), (32, 4, 4), (224, 16, 16), (384, 16, 16)]:
        got = answer(size, patch, stride)
        if got is Ellipsis:
            return False, "your function still returns ...; count the patches along one side first (lesson 01)"
        if not _is_int(got):
            return False, f"position_entries({size}, {patch}, {stride}) returned {got!r}; the answer is a whole number (an int)"
        expected = _entries(size, patch, stride)
        if got == expected:
            continue
        if got == expected - 1:
            return False, f"position_entries({size}, {patch}, {stride}) = {got}: one entry per patch is right, but the CLS token has an entry too"
        return False, (
            f"position_entries({size}, {patch}, {stride}) = {got}, but the model's table has {expected} entries. "
            "Patches per side: (image_size - patch_size) // stride + 1 (pixels left over at the edge are dropped); "
            "then one entry per patch of the square grid, plus one for CLS"
        )
    return True, (
        f"e.g. ViT-B/16 fine-tuned at 384 pixels, as in the paper: {_entries(224, 16, 16)} entries "
        f"resampled to {_entries(384, 16, 16)}"
    )


def _solution_position_entries(image_size, patch_size, stride):
    per_side = (image_size - patch_size) // stride + 1  # patches along each side (lesson 01)
    return per_side * per_side + 1  # one entry per patch of the square grid, and one for the CLS token


position_entries = Exercise("entries of the position table for a new image size", _check_position_entries,
                            _solution_position_entries)
