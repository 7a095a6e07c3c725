"""Checkpoints that are never half-written, load without running arbitrary code, and say what is wrong.

Every file is written atomically: to a temporary file in the same folder, flushed to the disk, then
renamed over the target (and the folder flushed), so an interruption (a full disk, a killed kernel)
leaves the old file as it was; a temporary file left by a killed save is removed by the next save of
that file. Checkpoints load with ``torch.load(weights_only=True)``, which unpickles tensors and plain
containers only; a file that is missing, empty, damaged or not a checkpoint gets a message that names
it and says what to do.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import os
import pickle
import pickletools
import re
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from .checks import instance
from .device import resolve_device

__all__ = ["atomic_write", "check_writable", "save_checkpoint", "load_checkpoint", "restore_model", "PLAIN_TYPES"]

PLAIN_TYPES = (str, int, float, bool, type(None), torch.Tensor)  # what weights_only=True loads, besides containers


def file_path(path, name: str) -> Path:
    """``path`` as a ``Path`` if it is a ``str`` or ``os.PathLike``."""
    if not isinstance(path, (str, os.PathLike)) or str(path) == "":
        raise TypeError(f"{name} must be a file path (a str or pathlib.Path), got {path!r}")
    return Path(path)


def check_writable(path, name: str = "path") -> Path:
    """``path`` as a ``Path`` once a file can surely be written there: not a folder, not under a file, its folder
    made if needed and open to writing. Called before a long run, so it fails at once rather than at the first
    save."""
    path = file_path(path, name)
    if path.is_dir():
        raise ValueError(f"{name} {str(path)!r} is a folder; give a file inside it, e.g. {str(path / 'run.pt')!r}")
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise ValueError(f"{name} {str(path)!r} cannot be written: {str(blocking)!r} is a file, not a folder; "
                         "choose another path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as error:
        raise ValueError(f"{name} {str(path)!r} cannot be written ({error.strerror or error}); choose a folder "
                         "you can write to") from None
    return path


def flush_to_disk(path: Path) -> None:
    """``os.fsync`` a file, or a folder (its list of names) where the system can open one (not Windows)."""
    if path.is_dir():
        if not hasattr(os, "O_DIRECTORY"):
            return
        descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    else:
        descriptor = os.open(path, os.O_RDWR)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def temporary_name(path: Path, pid: int | str) -> Path:
    return path.with_name(f".{path.name}.{pid}.tmp")


def atomic_write(path, write: Callable[[Path], None]) -> Path:
    """Call ``write(temporary_path)``, flush the temporary file to the disk, rename it over ``path`` and flush
    the folder; if ``write`` fails, ``path`` is left untouched and the temporary file removed. Temporary files
    of ``path`` left by an earlier, killed save are removed first. Folders are made as needed."""
    path = file_path(path, "path")
    if not callable(write):
        raise TypeError(f"write must be a function that writes the file it is given, got {type(write).__name__}")
    temporary = temporary_name(path, os.getpid())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob(glob.escape(f".{path.name}") + ".*.tmp"):  # left by a killed save
            stale.unlink(missing_ok=True)
        write(temporary)
        flush_to_disk(temporary)
        os.replace(temporary, path)
        flush_to_disk(path.parent)
    except OSError as error:
        raise OSError(f"could not write {str(path)!r} ({error}); the previous file, if any, is unchanged") from error
    finally:
        with contextlib.suppress(OSError):  # e.g. its folder could not be made: there is nothing to remove
            temporary.unlink(missing_ok=True)
    return path


def plain(value, name: str):
    """``value`` if it is plain data (numbers, strings, tensors, in lists, tuples and dicts with string keys),
    which ``weights_only`` loading accepts; anything else would save but never load."""
    if isinstance(value, dict):
        for key, item in value.items():
            plain(item, f"{name}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            plain(item, f"{name}[{i}]")
    elif not isinstance(value, PLAIN_TYPES):
        raise TypeError(f"{name} must be plain data (numbers, strings, lists, dicts, tensors) so the checkpoint "
                        f"loads safely, got a {type(value).__name__}; for a dataclass pass dataclasses.asdict(...)")
    return value


def save_checkpoint(path, model, optimizer=None, **extra) -> Path:
    """Write ``{"model", "model_config", "optimizer", **extra}`` to ``path`` atomically; ``extra`` must be plain
    data (numbers, strings, lists, dicts, tensors)."""
    path = file_path(path, "path")
    instance(model, "model", nn.Module)
    if not dataclasses.is_dataclass(getattr(model, "config", None)):
        raise TypeError(f"model must have a dataclass config (a vitlib ViT), got a {type(model).__name__} without one")
    if optimizer is not None:
        instance(optimizer, "optimizer", torch.optim.Optimizer)
    if "model_config" in extra:
        raise ValueError("model_config is written by save_checkpoint from model.config; do not pass it")
    for key, value in extra.items():
        plain(value, key)
    payload = {
        "model": model.state_dict(),
        "model_config": dataclasses.asdict(model.config),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        **extra,
    }
    return atomic_write(path, lambda temporary: torch.save(payload, temporary))


def _plain(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def pickled_globals(path: Path, most: int = 4) -> list[str]:
    """The Python objects (``module.name``) that a pickle file, or the ``data.pkl`` of a torch zip file, asks to
    import, read with ``pickletools`` (nothing is executed); plain data and torch's own tensor machinery are left
    out. Empty for a file that cannot be read as a pickle."""
    try:
        data = path.read_bytes()
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                inner = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
                data = archive.read(inner) if inner else b""
        strings, names = [], []
        for opcode, argument, _ in pickletools.genops(data):
            if opcode.name == "GLOBAL":
                names.append(str(argument).replace(" ", "."))
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                names.append(f"{strings[-2]}.{strings[-1]}")
            elif isinstance(argument, str):
                strings.append(argument)
    except Exception:  # not a pickle, or cut short: no names to give
        return []
    allowed = ("torch.", "collections.OrderedDict", "builtins.set", "builtins.frozenset", "_codecs.encode")
    found = [n for n in dict.fromkeys(names) if not n.startswith(allowed)]
    return found[:most]


def read_payload(path: Path, map_location) -> dict:
    """``torch.load(path, weights_only=True)``, every failure turned into a message naming the file and what
    to do (never the advice to load it with ``weights_only=False``)."""
    where = repr(str(path))
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {where} does not exist; check the path")
    if path.is_dir():
        raise ValueError(f"checkpoint {where} is a folder, not a checkpoint file")
    if path.stat().st_size == 0:
        raise ValueError(f"checkpoint {where} is empty (0 bytes): a copy or save that never finished; delete it "
                         "and save (or copy) it again")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError, IndexError, OSError,
            AttributeError) as error:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(error))
        names = [found.group(1)] if found else pickled_globals(path)
        if names:
            raise ValueError(
                f"checkpoint {where} holds Python objects ({', '.join(names)}) besides tensors and plain data; vitlib "
                "loads only those, so that no file can run code. Save model.state_dict() (or use "
                "vitlib.checkpoint.save_checkpoint) instead of the objects themselves"
            ) from None
        detail = str(error).split("\n")[0].split(". ")[0][:120]
        detail = type(error).__name__ if "weights_only" in detail or not detail.strip() else detail
        raise ValueError(f"checkpoint {where} is damaged or not a checkpoint file ({detail}); it may have been cut "
                         "short by an interrupted copy or save: delete it and save (or copy) it again") from None


def load_checkpoint(path, model=None, map_location="cpu") -> dict:
    """Load a checkpoint with ``weights_only=True``; with ``model``, check that it was saved from the same
    config (raising a ValueError that names the differing fields) and load its weights into it."""
    path = file_path(path, "checkpoint")
    if isinstance(map_location, (str, torch.device)):
        map_location = resolve_device(map_location)
    payload = read_payload(path, map_location)
    where = repr(str(path))
    if not isinstance(payload, dict):
        raise ValueError(f"{where} is not a vitlib checkpoint: it holds a {type(payload).__name__}, not a dict; "
                         "make checkpoints with vitlib.checkpoint.save_checkpoint")
    if "model" not in payload or "model_config" not in payload:
        if payload and all(isinstance(v, torch.Tensor) for v in payload.values()):
            raise ValueError(f"{where} is a plain state dict (parameter name -> tensor), not a vitlib checkpoint: "
                             f"load it with model.load_state_dict(torch.load({where}, weights_only=True)), then "
                             "save_checkpoint(path, model) makes a checkpoint of it")
        raise ValueError(f"{where} is not a vitlib checkpoint: it has no 'model' and 'model_config' (its keys: "
                         f"{sorted(map(str, payload))[:8]}); make checkpoints with vitlib.checkpoint.save_checkpoint")
    if model is not None:
        restore_model(model, payload, path)
    return payload


def restore_model(model, payload: dict, path) -> None:
    """Load the weights of a checkpoint ``payload`` (read from ``path``) into ``model``, once its config is
    the checkpoint's (a ValueError naming the differing fields otherwise; the model is left as it was)."""
    instance(model, "model", nn.Module)
    if not dataclasses.is_dataclass(getattr(model, "config", None)):
        raise TypeError(f"model must have a dataclass config (a vitlib ViT), got a {type(model).__name__}")
    where = repr(str(path))
    # a field the checkpoint does not name was added to the config after it was saved: it had the default then
    defaults = {f.name: f.default for f in dataclasses.fields(model.config) if f.default is not dataclasses.MISSING}
    saved, current = {**defaults, **payload["model_config"]}, dataclasses.asdict(model.config)
    differs = {k: (saved.get(k), v) for k, v in current.items() if _plain(saved.get(k)) != _plain(v)}
    if differs:
        details = ", ".join(f"{k}: checkpoint {a!r} vs model {b!r}" for k, (a, b) in differs.items())
        raise ValueError(f"checkpoint {where} was saved from a different model config ({details}); build the "
                         "model from the checkpoint's: vitlib.ViT(vitlib.ViTConfig(**load_checkpoint(path)"
                         "['model_config']))")
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as error:
        raise ValueError(f"checkpoint {where} does not fit this model although the configs agree "
                         f"({str(error).splitlines()[0]}); was it saved from another kind of model?") from None
