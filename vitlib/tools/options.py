"""Options the command-line tools share: ``--model-option KEY=VALUE`` (a field of a variant's ``ViTConfig``) and
``--threads`` (torch's CPU threads while the tool runs)."""

from __future__ import annotations

import argparse
import ast
import contextlib

import torch

__all__ = ["add_model_option", "model_options", "cpu_threads"]


def add_model_option(parser: argparse.ArgumentParser, example: str = "depth=6 dropout=0.1") -> None:
    """Give ``parser`` the ``--model-option KEY=VALUE ...`` flag (repeatable; read with :func:`model_options`)."""
    parser.add_argument("--model-option", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help=f"a ViTConfig field of the variant to change, e.g. --model-option {example}")


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


@contextlib.contextmanager
def cpu_threads(threads: int | None):
    """Run the block with ``threads`` CPU threads for torch (None: as they are); afterwards the caller's setting is
    restored, so a tool called from Python leaves it as it was."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
