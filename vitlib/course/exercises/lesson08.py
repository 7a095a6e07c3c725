"""Exercises of lesson 08: what a model costs, predicted from its config, then measured.

``resnet_parameters``: the parameters of a ResNet, from its ``ResNetConfig``.
``vit_flops``: the FLOPs of one image's forward pass through a ViT, from its ``ViTConfig``.
"""

from __future__ import annotations

import numbers

import torch

from ...cost import count_flops, count_parameters
from ...model import ViT, ViTConfig
from ...patches import grid_shape
from ...resnet import ResNet, ResNetConfig
from ..teach import Exercise

__all__ = ["resnet_parameters", "vit_flops"]

RESNETS = [
    ResNetConfig(image_size=28, in_channels=1, widths=(8, 16, 32, 64), blocks=(2, 2, 2, 2), num_classes=10),
    ResNetConfig(image_size=32, in_channels=3, widths=(64, 128, 256, 512), blocks=(2, 2, 2, 2), num_classes=10),
    ResNetConfig(image_size=32, in_channels=3, widths=(16, 16, 40), blocks=(1, 3, 2), num_classes=7),
]
VITS = [
    ViTConfig(image_size=28, in_channels=1, patch_size=7, stride=3, dim=48, depth=4, heads=2, mlp_ratio=2.0,
              num_classes=10, fused_attn=False),
    ViTConfig(image_size=32, in_channels=3, patch_size=4, dim=64, depth=2, heads=4, mlp_ratio=4.0, num_classes=10),
    ViTConfig(image_size=224, patch_size=16, dim=768, depth=12, heads=12, num_classes=1000),  # ViT-B/16
]


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _measured(build, config, count) -> int:
    with torch.random.fork_rng():  # leave the learner's random state alone
        return count(build(config))


def _check(answer, configs, build, count, what: str, hint: str):
    if answer is Ellipsis or not callable(answer):
        return False, f"pass a function of a config that returns the number of {what} (an int)"
    for config in configs:
        got = answer(config)
        if got is Ellipsis:
            return False, "your function still returns ...; start with the first layer and add the others one by one"
        if not _is_int(got):
            return False, f"for {config} your function returned {got!r}; the answer is a whole number (an int)"
        expected = _measured(build, config, count)
        if got != expected:
            off = "more" if got > expected else "fewer"
            return False, (f"for {config} you counted {got:,}, {abs(got - expected):,} {off} {what} than torch measures. "
                           + hint)
    return True, "every config agrees with what torch measures"


def _check_resnet_parameters(answer):
    return _check(answer, RESNETS, ResNet, count_parameters, "parameters",
                  "Count one block at a time: which convolutions have a bias, how many numbers does a batch norm "
                  "learn per channel, and which blocks need a 1x1 shortcut?")


def _solution_resnet_parameters(config):
    def conv(c_in, c_out, k):
        return c_in * c_out * k * k  # no bias: the batch norm after it shifts instead

    def bn(c):
        return 2 * c  # a scale and a shift per channel (the running statistics are buffers, not parameters)

    total = conv(config.in_channels, config.widths[0], 3) + bn(config.widths[0])  # the stem
    channels = config.widths[0]
    for stage, (width, count) in enumerate(zip(config.widths, config.blocks)):
        for block in range(count):
            c_in = channels if block == 0 else width
            total += conv(c_in, width, 3) + bn(width) + conv(width, width, 3) + bn(width)
            if block == 0 and (stage > 0 or c_in != width):  # the stride or the width changes: a 1x1 shortcut
                total += conv(c_in, width, 1) + bn(width)
        channels = width
    return total + config.widths[-1] * config.num_classes + config.num_classes  # the head


resnet_parameters = Exercise("the parameters of a ResNet", _check_resnet_parameters, _solution_resnet_parameters)


def _check_vit_flops(answer):
    return _check(answer, VITS, ViT, count_flops, "FLOPs",
                  "Count 2 FLOPs per multiply-accumulate in every matrix product: the patch embedding, Q/K/V, the "
                  "scores QK^T, the weighted sum of V, the output projection, the MLP and the head. How many tokens "
                  "does each block see?")


def _solution_vit_flops(config):
    n_h, n_w = grid_shape(config.image_size, config.patch_size, config.stride)
    patches = n_h * n_w
    p_h, p_w = (config.patch_size, config.patch_size) if isinstance(config.patch_size, int) else config.patch_size
    n, d, hidden = patches + 1, config.dim, int(config.dim * config.mlp_ratio)  # CLS + patch tokens
    embed = 2 * patches * (config.in_channels * p_h * p_w) * d
    attention = 2 * n * d * 3 * d + 2 * n * n * d + 2 * n * n * d + 2 * n * d * d  # QKV, QK^T, AV, projection
    mlp = 2 * n * d * hidden + 2 * n * hidden * d
    return embed + config.depth * (attention + mlp) + 2 * d * config.num_classes


vit_flops = Exercise("the FLOPs of a ViT", _check_vit_flops, _solution_vit_flops)
