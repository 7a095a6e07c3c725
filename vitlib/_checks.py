"""Argument checks shared by the modules: each error names the argument, the value and what is valid."""

from __future__ import annotations

from collections.abc import Sequence


def as_pair(value, name: str) -> tuple[int, int]:
    """Return ``value`` as an ``(h, w)`` pair of positive ints.

    Accepts an int (used for both sides) or a sequence of two ints.
    """
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int or an (h, w) pair of ints, got {value!r}")
    if isinstance(value, int):
        pair = (value, value)
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        pair = tuple(value)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
            raise TypeError(f"{name} must be an int or an (h, w) pair of ints, got {value!r}")
    else:
        raise TypeError(f"{name} must be an int or an (h, w) pair of ints, got {value!r}")
    if pair[0] < 1 or pair[1] < 1:
        raise ValueError(f"{name} must be >= 1 on both sides, got {value!r}")
    return pair  # type: ignore[return-value]


def check_choice(value, name: str, choices) -> str:
    """Raise a ValueError naming the valid choices unless ``value`` is one of them."""
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ValueError(f"unknown {name} {value!r}; valid: {valid}")
    return value
