"""The run record every tool writes beside its figures: the command, the machine, torch, the commit and
the time, and the atomic JSON write (a temporary file renamed over the target, so a run killed while
writing leaves the previous file whole)."""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import torch

from ..checkpoint import atomic_write

__all__ = ["device_name", "git_commit", "run_record", "write_json"]


def device_name(device: torch.device) -> str:
    """The GPU's name on CUDA, else the CPU model (from /proc/cpuinfo where there is one)."""
    if torch.device(device).type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # no /proc (a Mac, Windows): fall back to what platform says
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def git_commit() -> str | None:
    """``git rev-parse HEAD`` of the checkout that holds this package, or None if it is not one; on a
    copy without ``.git``, the ``VITLIB_GIT_COMMIT`` environment variable, if it is a commit hash."""
    given = os.environ.get("VITLIB_GIT_COMMIT", "")
    given = given if re.fullmatch(r"[0-9a-f]{40}", given) else None
    root = Path(__file__).resolve().parents[2]
    try:
        done = subprocess.run(["git", "rev-parse", "--show-toplevel", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return given
    lines = done.stdout.split()
    if len(lines) != 2 or Path(lines[0]).resolve() != root or not re.fullmatch(r"[0-9a-f]{40}", lines[1]):
        return given  # e.g. an installed copy inside some other repository
    return lines[1]


def run_record(module: str, argv: list[str], device: torch.device) -> dict:
    """``command`` (as it can be typed again), ``device``, ``device_name``, ``torch``, ``cpu_threads``,
    ``git_commit`` and ``time_utc`` of a run of ``python -m <module> <argv>``."""
    device = torch.device(device)
    return {
        "command": shlex.join(["python", "-m", module, *argv]),
        "device": device.type,
        "device_name": device_name(device),
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
        "git_commit": git_commit(),
        "time_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def write_json(path, payload: dict) -> Path:
    """Write ``payload`` as indented JSON to ``path`` atomically."""
    text = json.dumps(payload, indent=2) + "\n"
    return atomic_write(path, lambda temporary: Path(temporary).write_text(text))
