"""Options the command-line tools share: ``--model-option KEY=VALUE``, a field of a variant's ``ViTConfig``."""

from __future__ import annotations

import ast

__all__ = ["model_options"]


def model_options(pairs: list[str]) -> dict:
    """``["depth=6", "pos_embed=sincos2d"]`` -> ``{"depth": 6, "pos_embed": "sincos2d"}``: a value is read as a
    Python literal (number, tuple, True/False) where it is one, else kept as a string."""
    options = {}
    for pair in pairs:
        key, equals, text = pair.partition("=")
        if not equals or not key:
            raise ValueError(f"--model-option takes KEY=VALUE, e.g. depth=6, got {pair!r}")
        try:
            options[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            options[key] = text
    return options
