"""What a model costs: its parameters and the floating-point operations of one forward pass.

FLOPs are counted by PyTorch itself (``torch.utils.flop_counter.FlopCounterMode``), which adds up the
matrix products and convolutions an input actually goes through, two operations (a multiply and an add)
per multiply-accumulate. Element-wise work (norms, activations, softmax, additions) is not counted, as
is usual when papers quote FLOPs. The fused attention kernel counts the same as attention written out
(PyTorch's counter knows the GPU kernels; the CPU's is added here).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from .checks import instance, pair, positive_int

__all__ = ["count_parameters", "count_flops"]


def _fused_attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)  # QK^T and the weighted sum of V


# operators PyTorch's counter has no formula for; they would count as 0
MISSING_FORMULAS = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _fused_attention_flops}


def count_parameters(model: nn.Module) -> int:
    """Every parameter of ``model``, trainable or not (each shared tensor once)."""
    instance(model, "model", nn.Module)
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_flops(model: nn.Module, image_size=None, in_channels: int | None = None) -> int:
    """FLOPs of one forward pass of one image through ``model`` (a ``ViT`` or ``ResNet``: the image's size and
    channels default to its ``config``'s). The model is run in eval mode and left as it was."""
    instance(model, "model", nn.Module)
    config = getattr(model, "config", None)
    if config is None and (image_size is None or in_channels is None):
        raise ValueError(f"model ({type(model).__name__}) has no config to take the image's size and channels from: "
                         "pass image_size and in_channels")
    size = pair(image_size if image_size is not None else config.image_size, "image_size")
    channels = positive_int(in_channels if in_channels is not None else config.in_channels, "in_channels")
    parameter = next(model.parameters())
    image = torch.zeros(1, channels, *size, dtype=parameter.dtype, device=parameter.device)
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False, custom_mapping=MISSING_FORMULAS) as counter:
            model(image)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())
