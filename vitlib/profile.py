"""Profiles: one set of notebooks, three budgets.

* ``smoke``: set by the test command; every lesson runs in seconds on 2 CPU cores.
* ``cpu``: the default without CUDA; lessons take minutes and give real results.
* ``gpu``: the default with CUDA; bigger models, real datasets, mixed precision.

Notebooks ask :func:`current_profile` for their sizes instead of reading environment variables.
The choice, first match wins: :func:`use_profile` (a learner's override in a notebook), the
``VITLIB_PROFILE`` environment variable (``make test`` sets ``smoke``), then ``gpu`` if CUDA is
available, else ``cpu``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import torch

from ._checks import check_choice

__all__ = ["Profile", "PROFILES", "current_profile", "use_profile", "best_device"]

ENV_VAR = "VITLIB_PROFILE"


def best_device() -> str:
    """``"cuda"`` if available, then ``"mps"`` (Apple silicon), else ``"cpu"``."""
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


@dataclass(frozen=True)
class Profile:
    name: str  # "smoke", "cpu" or "gpu"
    description: str
    device: str  # where lessons put models and data: "cpu", "cuda" (or "mps" on a Mac)
    demo_variant: str  # the model variant lessons 00-04 build for a 224x224 photo
    demo_depth: int  # its number of encoder blocks
    shuffle_trials: int  # how many random patch orders lesson 03 tries

    def replace(self, **changes) -> "Profile":
        """A copy with some sizes changed, e.g. ``current_profile().replace(demo_depth=4)``."""
        return dataclasses.replace(self, **changes)


def _profiles() -> dict[str, Profile]:
    return {
        "smoke": Profile("smoke", "tests: tiny sizes, seconds per lesson", "cpu", "Ti/16", 2, 2),
        "cpu": Profile("cpu", "a laptop without a GPU: minutes per lesson", "cpu", "S/16", 12, 5),
        "gpu": Profile(
            "gpu", "one NVIDIA GPU: full sizes", "cuda" if torch.cuda.is_available() else "cpu", "B/16", 12, 10
        ),
    }


PROFILES = tuple(_profiles())
_override: str | None = None


def use_profile(name: str | None) -> Profile:
    """Choose the profile for this Python session (``None`` goes back to the automatic choice)."""
    global _override
    if name is not None:
        check_choice(name, "profile", PROFILES)
    _override = name
    return current_profile()


def current_profile() -> Profile:
    """The profile in force (see the module docstring for how it is chosen)."""
    name = _override or os.environ.get(ENV_VAR) or None
    if name is None:
        name = "gpu" if torch.cuda.is_available() else "cpu"
    else:
        check_choice(name, f"profile (from {ENV_VAR})" if not _override else "profile", PROFILES)
    profile = _profiles()[name]
    if name != "smoke" and profile.device == "cpu" and best_device() == "mps":
        profile = profile.replace(device="mps")
    return profile
