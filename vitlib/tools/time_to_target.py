"""How long does training take to reach a validation accuracy? ``python -m vitlib.tools.time_to_target``.

Trains a variant from random initialisation with ``vitlib.train.fit`` on a training split, evaluates on a
validation split carved from the training data after every epoch, and records the training time at which the
validation accuracy first reaches ``--target``; the test split is evaluated once, at the end. Data: an image
folder with ``train/`` and ``test/`` subfolders (one subfolder per class in each; the validation split is the
first tenth of every training class, at most 500 images each), or a named dataset with its own validation
split. The recipe's defaults are a profile's (``--profile``, default ``gpu``), and so is the dataset when
neither ``--folder`` nor ``--dataset`` is given. The GPU check of lesson 05's recipe on CIFAR-10, and the
laptop check of the digits recipe::

    python -m vitlib.tools.time_to_target --folder /path/to/cifar10 --target 0.90
    python -m vitlib.tools.time_to_target --profile cpu --target 0.98 --threads 2

``--model-option KEY=VALUE`` changes a field of the variant, so a candidate recipe is timed the same way, e.g.
``--model-option pool=mean patch_size=8 stride=4 --epochs 75``.

It writes ``results/time-to-target-<data>-<device>[-seed<n>].json`` (with ``--model-option``,
``results/time-to-target-<data>-<options>-<device>[-seed<n>].json``, e.g. ``...-digits-poolmean-stride4-cpu.json``;
``--out`` to change) after every
evaluation (with ``"finished": false`` until the run ends, so a run cut short still leaves its curve): the
command, the machine, the commit, the config, the history, the time to the target (None if not reached) and
the final test accuracy.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import time
from pathlib import Path

import torch

from ..augment import AUGMENTATIONS, resolve_augmentation
from ..checkpoint import check_writable
from ..checks import fraction, positive_int
from ..data import load_dataset, load_image_folder
from ..data.cifar import VAL_PER_CLASS, first_of_each_class
from ..device import resolve_device
from ..evaluate import evaluate
from ..model import create_vit, vit_config
from ..profile import PROFILES, get_profile
from ..train import Callback, TrainConfig, fit
from .record import run_record, write_json
from .options import add_model_option, cpu_threads, model_options

__all__ = ["main", "run", "TimeToTarget", "with_profile_defaults", "folder_splits"]


class TimeToTarget(Callback):
    """Notes the first evaluation at which ``val_acc`` reaches ``target``: its epoch and training seconds.
    With ``report`` (a function of the history), calls it after every evaluation."""

    def __init__(self, target: float, report=None):
        self.target, self.reached = fraction(target, "target", inclusive=True), None
        if report is not None and not callable(report):
            raise TypeError(f"report must be a function of the history, got {type(report).__name__}")
        self.report = report

    def on_evaluate(self, state: dict) -> None:
        record = state["history"].records[-1]
        if self.reached is None and record["val_acc"] is not None and record["val_acc"] >= self.target:
            self.reached = {"epoch": record["epoch"], "seconds": record["seconds"], "val_acc": record["val_acc"]}
        if self.report is not None:
            self.report(state["history"])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vitlib.tools.time_to_target", description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--folder", help="a folder with train/ and test/ image folders")
    source.add_argument("--dataset", choices=["digits", "cifar10"], help="a named dataset (default: the profile's)")
    parser.add_argument("--profile", choices=PROFILES, default="gpu",
                        help="whose recipe gives the defaults below (default: gpu, lesson 05's CIFAR-10 recipe)")
    parser.add_argument("--variant", help="default: the profile's")
    add_model_option(parser, "pool=mean stride=4")
    parser.add_argument("--epochs", type=float, help="default: the profile's")
    parser.add_argument("--batch-size", type=int, help="default: the profile's")
    parser.add_argument("--lr", type=float, help="peak learning rate (default: the profile's)")
    parser.add_argument("--warmup-epochs", type=float, help="default: the profile's")
    parser.add_argument("--augment", choices=["auto", *AUGMENTATIONS],
                        help="augmentation (default: the profile's; auto: as suits the data)")
    parser.add_argument("--mixup", type=float, help="MixUp's alpha (0: off; default: the profile's)")
    parser.add_argument("--cutmix", type=float, help="CutMix's alpha (0: off; default: the profile's)")
    parser.add_argument("--target", type=float, default=0.90, help="validation accuracy to reach (default 0.90)")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="JSON file (default: results/time-to-target-<data>-<device>[-seed<n>].json)")
    return parser


def with_profile_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """Fill every recipe argument left out with the profile's value."""
    profile = get_profile(args.profile)
    defaults = {"variant": profile.train_variant, "epochs": profile.epochs, "batch_size": profile.batch_size,
                "lr": profile.lr, "warmup_epochs": profile.warmup_epochs, "augment": profile.augment,
                "mixup": profile.mixup, "cutmix": profile.cutmix}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.folder is None and args.dataset is None:
        args.dataset = profile.train_data
    return args


def folder_splits(root: Path):
    """Train, validation and test splits of an image folder: the validation split is the first tenth of every
    training class (at most ``VAL_PER_CLASS`` images each), labelled and normalised as the training split."""
    everything = load_image_folder(root / "train")
    smallest = int(everything.labels.bincount().min())
    is_val = first_of_each_class(everything.labels, max(1, min(VAL_PER_CLASS, smallest // 10)))
    train, val = everything.subset(torch.nonzero(~is_val).flatten()), everything.subset(torch.nonzero(is_val).flatten())
    test = load_image_folder(root / "test", classes=everything.classes, mean=everything.mean, std=everything.std)
    return train, val, test


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser()
    args = with_profile_defaults(parser.parse_args(argv))
    try:  # check the numbers before spending time on the data
        config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, compile=args.compile,
                             seed=args.seed, warmup_epochs=args.warmup_epochs, augment=args.augment,
                             mixup=args.mixup, cutmix=args.cutmix)
        fraction(args.target, "--target", inclusive=True)
        if args.threads is not None:
            positive_int(args.threads, "--threads")
        args.model_options = model_options(args.model_option)
        vit_config(args.variant, **args.model_options)
        device = resolve_device(args.device)
        data = "folder" if args.folder else args.dataset
        # a changed model gets its own name, so it never overwrites the variant's own results
        changed = "".join(f"-{key}{value}" for key, value in args.model_options.items())
        changed = re.sub(r"[^A-Za-z0-9_.-]", "", changed)
        default_out = (f"results/time-to-target-{data}{changed}-{device.type}"
                       f"{f'-seed{args.seed}' if args.seed else ''}.json")
        out = check_writable(args.out or default_out, "--out")
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    with cpu_threads(args.threads):
        return run(args, argv, config, device, data, out)


def run(args: argparse.Namespace, argv: list[str], config: TrainConfig, device: torch.device, data: str,
        out: Path) -> dict:
    """Load the splits, train until the end of the recipe, test once; the result as written to ``out``."""
    started = time.perf_counter()
    if args.folder:
        train, val, test = folder_splits(Path(args.folder))
    else:
        train, val, test = (load_dataset(args.dataset, split) for split in ("train", "val", "test"))
    load_seconds = time.perf_counter() - started
    C, H, W = train.image_shape
    torch.manual_seed(args.seed)
    model = create_vit(args.variant, **{**args.model_options, "image_size": (H, W), "in_channels": C,
                                        "num_classes": len(train.classes)})
    result = {
        **run_record("vitlib.tools.time_to_target", argv, device),
        "profile": args.profile,
        "data": data,
        "variant": args.variant,
        "model_options": args.model_options,
        "model": dataclasses.asdict(model.config),
        "train_config": dataclasses.asdict(config),
        "augmentation": resolve_augmentation(config.augment, train),
        "train_images": len(train),
        "val_images": len(val),
        "test_images": len(test),
        "data_load_seconds": load_seconds,
        "target": args.target,
        "target_measured_on": "validation",
        "finished": False,
    }

    def report(history) -> None:  # after every evaluation: a run cut short still leaves its curve
        result.update(reached=clock.reached, train_seconds=history.last("seconds"), history=history.records)
        write_json(out, result)

    clock = TimeToTarget(args.target, report)
    history = fit(model, train, val, config, device=device, callbacks=[clock])
    final = evaluate(model, test, device=device)  # the test split, once, at the end
    report(history)
    result.update(finished=True, final_val_accuracy=history.last("val_acc"), final_test_accuracy=final.accuracy)
    write_json(out, result)
    reached = (f"validation reached {args.target:.0%} after {clock.reached['seconds']:.0f} s (epoch "
               f"{clock.reached['epoch']:g})" if clock.reached else f"validation did not reach {args.target:.0%}")
    print(f"{args.variant} on {result['device_name']}: {reached}; after all {result['train_seconds']:.0f} s of "
          f"training, validation {history.last('val_acc'):.2%}, test {final.accuracy:.2%}; wrote {out}")
    return result


if __name__ == "__main__":
    main()
