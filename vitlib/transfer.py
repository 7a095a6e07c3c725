"""Transfer learning: from a model pretrained on a large dataset A to the task's small dataset B.

ViT paper, Section 3.2: pretrain on a large dataset, then remove the pretrained head, attach a new
zero-initialised (here: small random) linear head for B's classes, and fine-tune, at higher resolution
if needed (resampling the position embedding). A *linear probe* trains only the new head on top of
the frozen encoder, which measures how good the pretrained features are as they are.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .checks import choice

__all__ = ["check_transferable", "prepare_for_task", "freeze_all_but_head", "count_trainable"]

MODES = ("fine-tune", "linear-probe")


def check_transferable(model, name: str) -> nn.Module:
    """``model`` if it is a classifier this module can adapt: an ``nn.Module`` with ``reset_head``,
    ``set_image_size`` and a ``head`` (a ``vitlib.ViT`` or a ``vitlib.resnet.ResNet``)."""
    if not (isinstance(model, nn.Module) and all(hasattr(model, k) for k in ("reset_head", "set_image_size", "head"))):
        raise TypeError(f"{name} must be a vitlib ViT or ResNet (a model with reset_head, set_image_size and a head), "
                        f"got {type(model).__name__}")
    return model


def prepare_for_task(pretrained, num_classes: int, image_size=None, mode: str = "fine-tune"):
    """A copy of ``pretrained`` (a ``ViT`` or a ``ResNet``) ready to train on a new task: a fresh head for
    ``num_classes``, the input size changed to ``image_size`` if given (a ViT's position embedding
    resampled), and, for ``mode="linear-probe"``, every parameter but the head's frozen. The pretrained model
    itself is left unchanged."""
    check_transferable(pretrained, "pretrained")
    choice(mode, "mode", MODES)
    model = copy.deepcopy(pretrained)
    model.reset_head(num_classes)
    if image_size is not None:
        model.set_image_size(image_size)
    if mode == "linear-probe":
        freeze_all_but_head(model)
    return model


def freeze_all_but_head(model):
    """Stop gradients everywhere except the classifier head (in place)."""
    check_transferable(model, "model")
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name.startswith("head."))
    return model


def count_trainable(model: torch.nn.Module) -> int:
    """The number of parameters that receive gradients."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
