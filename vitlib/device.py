"""Where tensors live and how fast they are computed: the best device, bf16 autocast on CUDA, waiting for it."""

from __future__ import annotations

import contextlib

import torch

__all__ = ["best_device", "autocast", "synchronize"]


def best_device() -> str:
    """``"cuda"`` if available, then ``"mps"`` (Apple silicon), else ``"cpu"``."""
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


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
