"""Transfer learning: from a model pretrained on a large dataset A to the task's small dataset B.

ViT paper, Section 3.2: pretrain on a large dataset, then remove the pretrained head, attach a new
zero-initialised (here: small random) linear head for B's classes, and fine-tune, at higher resolution
if needed (resampling the position embedding). A *linear probe* trains only the new head on top of
the frozen encoder, which measures how good the pretrained features are as they are.
"""

from __future__ import annotations

import copy

import torch

from .checks import choice, instance
from .model import ViT

__all__ = ["prepare_for_task", "freeze_all_but_head", "count_trainable"]

MODES = ("fine-tune", "linear-probe")


def prepare_for_task(pretrained: ViT, num_classes: int, image_size=None, mode: str = "fine-tune") -> ViT:
    """A copy of ``pretrained`` ready to train on a new task: a fresh head for ``num_classes``, the
    position embedding adapted to ``image_size`` if given, and, for ``mode="linear-probe"``, every
    parameter but the head's frozen. The pretrained model itself is left unchanged."""
    instance(pretrained, "pretrained", ViT)
    choice(mode, "mode", MODES)
    model = copy.deepcopy(pretrained)
    model.reset_head(num_classes)
    if image_size is not None:
        model.set_image_size(image_size)
    if mode == "linear-probe":
        freeze_all_but_head(model)
    return model


def freeze_all_but_head(model: ViT) -> ViT:
    """Stop gradients everywhere except the classifier head (in place)."""
    instance(model, "model", ViT)
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name.startswith("head."))
    return model


def count_trainable(model: torch.nn.Module) -> int:
    """The number of parameters that receive gradients."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
