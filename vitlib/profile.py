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

from .checks import choice
from .device import best_device

__all__ = ["Profile", "PROFILES", "current_profile", "use_profile", "get_profile"]

ENV_VAR = "VITLIB_PROFILE"


@dataclass(frozen=True)
class Profile:
    name: str  # "smoke", "cpu" or "gpu"
    description: str
    device: str  # where lessons put models and data: "cpu", "cuda" (or "mps" on a Mac)
    demo_variant: str  # the model variant lessons 00-04 build for a 224x224 photo
    demo_depth: int  # its number of encoder blocks
    shuffle_trials: int  # how many random patch orders lesson 03 tries
    # lesson 05: training from random initialisation
    train_data: str  # "digits" (bundled) or "cifar10" (downloaded)
    train_variant: str  # the model variant trained (see vitlib.model.VARIANTS)
    train_limit: int | None  # use at most this many training images (None: all)
    test_limit: int | None  # and at most this many test images
    epochs: float  # passes over the training images
    batch_size: int
    lr: float  # peak learning rate
    warmup_epochs: float  # linear warm-up, then cosine decay
    augment: str  # "auto" (from the dataset) or one of vitlib.augment.AUGMENTATIONS
    mixup: float  # MixUp's Beta alpha (0: off)
    cutmix: float  # CutMix's Beta alpha (0: off)
    experiment_epochs: float  # the short runs of lesson 05's experiments (a control and one change each)
    # lesson 06: pretrain on a large dataset A, fine-tune on a small dataset B. Its conclusions come from the stored
    # "pretrain" sweep (vitlib.sweep: A, B, the rule, the learning rates, three seeds, the pretrained models); the
    # lesson's own runs are short demonstrations
    transfer_variant: str  # the ViT pretrained and fine-tuned: the stored sweep's ViT arm
    pretrain_per_class: int  # images of each class of A in the live pretraining demonstration
    pretrain_steps: int  # that demonstration's steps
    pretrain_eval_every: int  # steps between its checks on held-out images of A
    finetune_steps: int  # steps of the live fine-tuning demonstrations on B (the stored runs stop by patience)
    # lesson 09: a published ViT, loaded by name, fine-tuned at another resolution
    published_model: str  # its name on the Hugging Face hub
    published_download: bool  # whether to ask the hub for it (no: a randomly initialised stand-in of its layout)
    published_stand_in_depth: int  # encoder blocks of that stand-in (the published model has 12)
    published_finetune_data: str  # "digits" (made RGB) or "cifar10"
    published_finetune_size: int  # image side for fine-tuning; the position table is resampled to its grid
    published_finetune_limit: int | None  # training images (None: all)
    published_finetune_test_limit: int | None  # test images (None: all)
    published_finetune_mode: str  # "fine-tune" (every weight) or "linear-probe" (the new head alone)
    published_finetune_epochs: float
    published_finetune_batch_size: int
    published_finetune_lr: float

    def replace(self, **changes) -> "Profile":
        """A copy with some sizes changed, e.g. ``current_profile().replace(demo_depth=4)``."""
        return dataclasses.replace(self, **changes)


def _profiles() -> dict[str, Profile]:
    cuda = "cuda" if torch.cuda.is_available() else "cpu"
    return {
        "smoke": Profile(
            "smoke", "tests: tiny sizes, seconds per lesson", "cpu",
            demo_variant="Ti/16", demo_depth=2, shuffle_trials=2,
            train_data="digits", train_variant="digits-vit-p8s4", train_limit=512, test_limit=200,
            epochs=1, batch_size=64, lr=3e-3, warmup_epochs=1, augment="auto", mixup=0.0, cutmix=0.0,
            experiment_epochs=1, transfer_variant="digits-vit-p8s4",
            pretrain_per_class=2, pretrain_steps=4, pretrain_eval_every=2, finetune_steps=4,
            published_model="google/vit-base-patch16-224", published_download=False, published_stand_in_depth=2,
            published_finetune_data="digits", published_finetune_size=32, published_finetune_limit=40,
            published_finetune_test_limit=40, published_finetune_mode="fine-tune", published_finetune_epochs=1,
            published_finetune_batch_size=20, published_finetune_lr=1e-4,
        ),
        "cpu": Profile(
            "cpu", "a laptop without a GPU: minutes per lesson", "cpu",
            demo_variant="S/16", demo_depth=12, shuffle_trials=5,
            train_data="digits", train_variant="digits-vit-p8s4", train_limit=None, test_limit=None,
            # chosen on the validation split for at most 3 minutes of training on 2 cores (README, "Time to an
            # accuracy")
            epochs=85, batch_size=128, lr=4e-3, warmup_epochs=1, augment="auto", mixup=0.0, cutmix=0.0,
            experiment_epochs=12,  # about 300 steps: far enough for the arms of an experiment to differ
            # lesson 06: about a minute of pretraining on the smallest A of the stored sweep (2,000 images) and a quarter
            # of a minute of fine-tuning, on 2 cores
            transfer_variant="digits-vit-p8s4", pretrain_per_class=20, pretrain_steps=800,
            pretrain_eval_every=50, finetune_steps=500,
            # ViT-B/16 trains at a few images a second on 2 cores: the new head alone, on a few hundred digits
            published_model="google/vit-base-patch16-224", published_download=True, published_stand_in_depth=12,
            published_finetune_data="digits", published_finetune_size=32, published_finetune_limit=320,
            published_finetune_test_limit=300, published_finetune_mode="linear-probe", published_finetune_epochs=1,
            published_finetune_batch_size=32, published_finetune_lr=3e-3,
        ),
        "gpu": Profile(
            "gpu", "one NVIDIA GPU: full sizes", cuda,
            demo_variant="B/16", demo_depth=12, shuffle_trials=10,
            train_data="cifar10", train_variant="cifar-vit", train_limit=None, test_limit=None,
            # a ViT learns CIFAR-10 from scratch only with strong augmentation and long training (DeiT's
            # lesson): RandAugment operations, random erasing, MixUp and CutMix, 200 epochs
            epochs=200, batch_size=512, lr=2e-3, warmup_epochs=5, augment="photo-strong", mixup=0.8, cutmix=1.0,
            experiment_epochs=20,
            # lesson 06: the stored "pretrain" sweeps are on the digits in every profile (vitlib.sweep), and so is the
            # lesson; its demonstrations are longer on a GPU
            transfer_variant="digits-vit-p8s4", pretrain_per_class=160, pretrain_steps=3000, pretrain_eval_every=150,
            finetune_steps=1000,
            # CIFAR-10 at 128x128 (an 8x8 grid instead of the published 14x14), every weight, a few epochs
            published_model="google/vit-base-patch16-224", published_download=True, published_stand_in_depth=12,
            published_finetune_data="cifar10", published_finetune_size=128, published_finetune_limit=None,
            published_finetune_test_limit=None, published_finetune_mode="fine-tune", published_finetune_epochs=5,
            published_finetune_batch_size=128, published_finetune_lr=1e-4,
        ),
    }


PROFILES = tuple(_profiles())
_override: str | None = None


def use_profile(name: str | None) -> Profile:
    """Choose the profile for this Python session (``None`` goes back to the automatic choice)."""
    global _override
    if name is not None:
        choice(name, "profile", PROFILES)
    _override = name
    return current_profile()


def get_profile(name: str) -> Profile:
    """The profile called ``name`` (``"smoke"``, ``"cpu"`` or ``"gpu"``), whichever is in force."""
    choice(name, "profile", PROFILES)
    return _profiles()[name]


def current_profile() -> Profile:
    """The profile in force (see the module docstring for how it is chosen)."""
    name = _override or os.environ.get(ENV_VAR) or None
    if name is None:
        name = "gpu" if torch.cuda.is_available() else "cpu"
    else:
        choice(name, f"profile (from {ENV_VAR})" if not _override else "profile", PROFILES)
    profile = _profiles()[name]
    if name != "smoke" and profile.device == "cpu" and best_device() == "mps":
        profile = profile.replace(device="mps")
    return profile
