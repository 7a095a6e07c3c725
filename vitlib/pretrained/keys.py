"""Matching a published state dict to a vitlib ViT key by key, so that every key is accounted for.

A layout names, for each of vitlib's parameters, the key (or keys) that hold it in a published file: the
same name in timm's layout, three keys (query, key, value) for vitlib's fused ``qkv`` in Hugging Face's.
:func:`convert_state_dict` checks that the file holds exactly those keys with exactly the shapes a ViT of
the given config needs, and only then builds vitlib's state dict. A missing key, an unexpected one or a
shape that does not fit is a ``ValueError`` that names it: a model that loads has every weight of the file.

Two pieces change shape on the way: the patch embedding, a convolution ``(D, C, p_h, p_w)`` in published
files and the shared linear map ``(D, C * p_h * p_w)`` in vitlib (the same numbers, ``vitlib.embedding``);
and ``qkv``, which Hugging Face stores as three ``(D, D)`` matrices stacked here as one ``(3D, D)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from ..checks import pair
from ..embedding import conv_to_linear_weight
from ..model import ViT

__all__ = ["PATCH_WEIGHT", "source_shapes", "convert_state_dict", "check_state_dict", "name_list"]

PATCH_WEIGHT = "patch_embed.proj.weight"  # a convolution in published files, a linear map in vitlib


def name_list(names, most: int = 6) -> str:
    """``['a', 'b', ...]`` for a message: at most ``most`` names, then how many more."""
    names = sorted(names)
    shown = ", ".join(repr(n) for n in names[:most])
    return f"[{shown}{f', ... ({len(names)} in all)' if len(names) > most else ''}]"


def source_shapes(name: str, shape: torch.Size, count: int, model: ViT) -> list[tuple[int, ...]]:
    """The shapes of the ``count`` published tensors that make vitlib's parameter ``name`` of ``shape``."""
    if name == PATCH_WEIGHT:
        return [(shape[0], model.config.in_channels, *pair(model.config.patch_size, "patch_size"))]  # (D, C, p_h, p_w)
    if count > 1:
        return [(shape[0] // count, *shape[1:])] * count
    return [tuple(shape)]


def check_state_dict(state_dict: Mapping[str, torch.Tensor], expected: Mapping[str, tuple[int, ...]],
                     layout: str, model: ViT) -> None:
    """Raise a ``ValueError`` unless ``state_dict`` has exactly the keys of ``expected``, each a tensor of the
    expected shape (``layout`` and the model's config are named in the message)."""
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a dict of parameter name -> tensor in {layout}'s layout, got "
                        f"{type(state_dict).__name__}")
    c = model.config
    about = (f"a ViT with dim={c.dim}, depth={c.depth}, patch_size={c.patch_size}, image_size={c.image_size}, "
             f"num_classes={c.num_classes}")
    missing = set(expected) - set(state_dict)
    unexpected = set(state_dict) - set(expected)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {name_list(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {name_list(unexpected)}")
        raise ValueError(f"the state dict does not fit {layout}'s layout of {about}: {'; '.join(parts)}. Every key "
                         "must be accounted for: is it another architecture, or a config that does not match "
                         "the weights?")
    for key, shape in expected.items():
        tensor = state_dict[key]
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{key!r} must be a tensor, got {type(tensor).__name__}")
        if not (tensor.is_floating_point() and torch.isfinite(tensor).all()):
            what = f"holds {tensor.dtype} values" if not tensor.is_floating_point() else "holds values that are not finite"
            raise ValueError(f"{key!r} {what} in the state dict, but the weights of {layout}'s layout must be finite "
                             "floating-point numbers (float32, float16 or bfloat16): is it a quantised or damaged "
                             "file? Use the published float weights")
        if tuple(tensor.shape) != tuple(shape):
            raise ValueError(f"{key!r} has shape {tuple(tensor.shape)} in the state dict, but {about} needs "
                             f"{tuple(shape)} ({layout}'s layout); is the config the one these weights were "
                             "trained with?")


def convert_state_dict(state_dict: Mapping[str, torch.Tensor], model: ViT, sources: Callable[[str], list[str]],
                       layout: str) -> dict[str, torch.Tensor]:
    """``state_dict`` in a published layout -> vitlib's state dict for ``model``, every key and shape checked.

    Args:
        state_dict: published key -> tensor.
        model: the ViT the weights are for (its config says what is expected).
        sources: vitlib parameter name -> the published key(s) that hold it (three, in order, for a split qkv).
        layout: the layout's name, for messages.
    """
    targets = model.state_dict()
    expected: dict[str, tuple[int, ...]] = {}
    for name, tensor in targets.items():
        keys = sources(name)
        expected.update(zip(keys, source_shapes(name, tensor.shape, len(keys), model)))
    check_state_dict(state_dict, expected, layout, model)
    converted = {}
    for name, tensor in targets.items():
        parts = [state_dict[key] for key in sources(name)]
        value = torch.cat(parts, dim=0) if len(parts) > 1 else parts[0]  # (3D, ...) for a split qkv
        if name == PATCH_WEIGHT:
            value = conv_to_linear_weight(value)  # (D, C, p_h, p_w) -> (D, C * p_h * p_w)
        converted[name] = value.detach().to(dtype=tensor.dtype).clone()
    return converted
