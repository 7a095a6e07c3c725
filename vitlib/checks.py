"""Argument checks used everywhere in vitlib, so every bad input gets the same kind of message.

Each check returns the value it accepted and raises otherwise, with a message that names the argument,
the value it got and what would be valid: ``ValueError("stride must be a positive int, got 0")``.
A ``bool`` is never taken for a number (``True`` is not a batch size of 1).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from numbers import Real

import torch

__all__ = [
    "positive_int",
    "non_negative_int",
    "positive_number",
    "non_negative_number",
    "fraction",
    "choice",
    "pair",
    "instance",
    "boolean",
    "per_channel",
    "images_tensor",
    "from_preset",
]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def positive_int(value, name: str) -> int:
    """``value`` if it is an int >= 1."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def non_negative_int(value, name: str) -> int:
    """``value`` if it is an int >= 0."""
    if not _is_int(value) or value < 0:
        raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    return value


def positive_number(value, name: str) -> float:
    """``value`` if it is a finite number > 0."""
    if not _is_number(value) or value <= 0:
        raise ValueError(f"{name} must be a number > 0, got {value!r}")
    return value


def non_negative_number(value, name: str) -> float:
    """``value`` if it is a finite number >= 0."""
    if not _is_number(value) or value < 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    return value


def fraction(value, name: str, *, inclusive: bool = False) -> float:
    """``value`` if it is a number in [0, 1) (a dropout rate, label smoothing), or [0, 1] with ``inclusive``
    (a probability)."""
    if not _is_number(value) or value < 0 or not (value <= 1 if inclusive else value < 1):
        raise ValueError(f"{name} must be a number in [0, {'1]' if inclusive else '1)'}, got {value!r}")
    return value


def choice(value, name: str, choices) -> str:
    """``value`` if it is one of ``choices``."""
    choices = tuple(choices)
    if isinstance(value, bool) or value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {valid}; got {value!r}")
    return value


def pair(value, name: str) -> tuple[int, int]:
    """``value`` as an ``(h, w)`` pair of positive ints; an int means the same on both sides."""
    if _is_int(value):
        result = (value, value)
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2 and all(map(_is_int, value)):
        result = tuple(value)
    else:
        raise ValueError(f"{name} must be a positive int or an (h, w) pair of positive ints, got {value!r}")
    if min(result) < 1:
        raise ValueError(f"{name} must be a positive int or an (h, w) pair of positive ints, got {value!r}")
    return result  # type: ignore[return-value]


def instance(value, name: str, kind: type):
    """``value`` if it is an instance of ``kind``."""
    if not isinstance(value, kind):
        raise TypeError(f"{name} must be a {kind.__name__}, got {type(value).__name__}")
    return value


def boolean(value, name: str) -> bool:
    """``value`` if it is ``True`` or ``False`` (not 1, not ``"no"``, which would read as true)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def per_channel(values, name: str, channels: int, *, positive: bool = False) -> list[float]:
    """``values`` as a list of ``channels`` finite numbers (a per-channel mean, or with ``positive`` a std,
    which normalising divides by)."""
    kinds = "finite numbers > 0" if positive else "finite numbers"
    if isinstance(values, torch.Tensor):
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ValueError(f"{name} must be a list of {kinds}, one per channel, got {values!r}")
    if len(values) != channels:
        plural = "s" if channels > 1 else ""
        raise ValueError(
            f"{name} has {len(values)} values but the images have {channels} channel{plural}; give one "
            f"per channel ({name}={[0.5] * channels})"
        )
    if not all(_is_number(v) and (v > 0 or not positive) for v in values):
        raise ValueError(f"{name} must be a list of {kinds}, one per channel, got {list(values)!r}")
    return [float(v) for v in values]


def images_tensor(images, name: str = "images", *, channels: int | None = None, size=None,
                  owner: str = "the model", dtype: torch.dtype | None = None) -> torch.Tensor:
    """``images`` if it is a tensor ``(B, C, H, W)``, with ``C == channels``, ``(H, W) == size`` and the
    floating-point ``dtype`` when given (``owner`` says who expects them, for the message)."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B, C, H, W), got {type(images).__name__}")
    if images.ndim != 4:
        raise ValueError(f"{name} must have shape (B, C, H, W), got a tensor of shape {tuple(images.shape)}")
    if dtype is not None and not images.is_floating_point():
        raise TypeError(
            f"{name} are {images.dtype} (raw pixels?) but {owner} takes normalised {dtype} images; normalise "
            "them first: dataset.normalise(images), or (images.float() / 255 - mean) / std"
        )
    if dtype is not None and images.dtype != dtype:
        raise TypeError(f"{name} are {images.dtype} but {owner}'s weights are {dtype}; convert them with "
                        f"images.to({dtype})")
    if channels is not None and images.shape[1] != channels:
        raise ValueError(
            f"{name} have {images.shape[1]} channels but {owner} was built for in_channels={channels}; convert "
            f"them (grey -> RGB with images.expand(-1, 3, -1, -1)) or build it with in_channels={images.shape[1]}"
        )
    if size is not None and tuple(images.shape[-2:]) != tuple(size):
        got = tuple(images.shape[-2:])
        raise ValueError(
            f"{name} are {got} pixels but {owner} was built for image_size={tuple(size)}; resize them "
            f"(F.interpolate(images, size={tuple(size)})) or call model.set_image_size({got}) to resample "
            "the position embedding"
        )
    return images


def from_preset(config_class, presets: dict, variant, overrides: dict):
    """``config_class`` built from ``presets[variant]`` with ``overrides`` on top: a ValueError naming the
    variants for an unknown one, and a TypeError naming the valid fields for an override that is no field."""
    choice(variant, "variant", presets)
    fields = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise TypeError(f"unknown {config_class.__name__} field(s) {unknown}; valid fields: {sorted(fields)}")
    return config_class(**{**presets[variant], **overrides})
