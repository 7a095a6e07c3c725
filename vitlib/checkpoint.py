"""Checkpoints that are never half-written and load without running arbitrary code.

Every file is written atomically: to a temporary file in the same folder, then renamed over the
target, so an interruption (a full disk, a killed kernel) leaves the old file as it was. Checkpoints
load with ``torch.load(weights_only=True)``, which unpickles tensors and plain containers only.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

import torch

__all__ = ["atomic_write", "save_checkpoint", "load_checkpoint"]


def atomic_write(path, write: Callable[[Path], None]) -> Path:
    """Call ``write(temporary_path)``, then rename the temporary file over ``path``; if ``write`` fails,
    ``path`` is left untouched and the temporary file removed. Folders are made as needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def save_checkpoint(path, model, optimizer=None, **extra) -> Path:
    """Write ``{"model", "model_config", "optimizer", **extra}`` to ``path`` atomically."""
    payload = {
        "model": model.state_dict(),
        "model_config": dataclasses.asdict(model.config),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        **extra,
    }
    return atomic_write(path, lambda temporary: torch.save(payload, temporary))


def _plain(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def load_checkpoint(path, model=None, map_location="cpu") -> dict:
    """Load a checkpoint with ``weights_only=True``; with ``model``, check that it was saved from the same
    config (raising a ValueError that names the differing fields) and load its weights into it."""
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if model is not None:
        saved, current = payload["model_config"], dataclasses.asdict(model.config)
        differs = {k: (saved.get(k), v) for k, v in current.items() if _plain(saved.get(k)) != _plain(v)}
        if differs:
            details = ", ".join(f"{k}: checkpoint {a!r} vs model {b!r}" for k, (a, b) in differs.items())
            raise ValueError(f"checkpoint {str(path)!r} was saved from a different model config ({details})")
        model.load_state_dict(payload["model"])
    return payload
