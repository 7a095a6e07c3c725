"""Where tensors live and how fast they are computed: the best device, bf16 autocast on CUDA, waiting for it."""

from __future__ import annotations

import contextlib

import torch

__all__ = ["best_device", "resolve_device", "autocast", "synchronize"]


def best_device() -> str:
    """``"cuda"`` if available, then ``"mps"`` (Apple silicon), else ``"cpu"``."""
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def resolve_device(device=None) -> torch.device:
    """``device`` (``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"cpu"`` or a ``torch.device``) as a ``torch.device``,
    or the best available for ``None``; a device this machine does not have is refused here, not mid-run."""
    if device is None:
        return torch.device(best_device())
    valid = "'cpu', 'cuda', 'cuda:N' or 'mps' (or a torch.device)"
    if not isinstance(device, (str, torch.device)):
        raise ValueError(f"device must be {valid}, got {device!r}")
    try:
        device = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device must be {valid}, got {device!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r}: CUDA is not available on this machine; use device='cpu'")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"device {str(device)!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {str(device)!r}: MPS is not available on this machine; use device='cpu'")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be {valid}, got {str(device)!r}")
    return device


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast on CUDA when ``enabled``; elsewhere a context that changes nothing (CPUs and Macs
    compute in float32)."""
    if enabled and torch.device(device).type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def synchronize(device: torch.device) -> None:
    """Wait until ``device`` has finished its queued work (for timing); nothing to wait for on a CPU."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
