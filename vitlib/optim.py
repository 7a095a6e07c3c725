"""The optimiser: AdamW (Loshchilov and Hutter, 2019) with weight decay on the weight matrices only.

As in the reference ViT and DeiT code, decay pulls the weight matrices of linear maps towards zero but
leaves alone biases and LayerNorm parameters (one dimension each) and whatever the model names in its
``no_weight_decay()`` (the CLS token and the position table of a ``ViT``).
"""

from __future__ import annotations

import torch
from torch import nn

from .checks import non_negative_number, positive_number

__all__ = ["param_groups", "make_optimizer"]


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW parameter groups of the trainable parameters: ``{"params", "names", "weight_decay"}`` with
    decay, then without (biases, norms, and the names in ``model.no_weight_decay()`` if it has one)."""
    non_negative_number(weight_decay, "weight_decay")
    skip = set(model.no_weight_decay()) if hasattr(model, "no_weight_decay") else set()
    decay, no_decay = {"params": [], "names": []}, {"params": [], "names": []}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        group = no_decay if parameter.ndim < 2 or name in skip else decay
        group["params"].append(parameter)
        group["names"].append(name)
    return [{**decay, "weight_decay": weight_decay}, {**no_decay, "weight_decay": 0.0}]


def make_optimizer(model: nn.Module, lr: float, weight_decay: float, device: torch.device) -> torch.optim.AdamW:
    """AdamW (betas 0.9, 0.999) over :func:`param_groups`; the fused kernel on CUDA."""
    positive_number(lr, "lr")
    return torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=(0.9, 0.999),
                             fused=torch.device(device).type == "cuda")
