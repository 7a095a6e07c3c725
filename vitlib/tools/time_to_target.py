"""How long does training take to reach a test accuracy? ``python -m vitlib.tools.time_to_target``.

Trains a variant from random initialisation with ``vitlib.train.fit``, evaluates after every epoch,
and records the training time at which the test accuracy first reaches ``--target``. Data: an image
folder with ``train/`` and ``test/`` subfolders (one subfolder per class in each), or a named dataset.
The recipe's defaults are lesson 05's ``gpu`` profile (``vitlib.profile.get_profile("gpu")``), so the
GPU check of that recipe on CIFAR-10 is::

    python -m vitlib.tools.time_to_target --folder /path/to/cifar10 --target 0.90

It writes ``results/time-to-target-<device>.json`` (``--out`` to change) after every evaluation (with
``"finished": false`` until the run ends, so a run cut short still leaves its curve): the command, the
machine, the commit, the config, the history and the time to the target (None if not reached).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch

from ..augment import AUGMENTATIONS, resolve_augmentation
from ..checkpoint import check_writable
from ..checks import fraction
from ..data import load_dataset, load_image_folder
from ..device import resolve_device
from ..evaluate import evaluate
from ..model import create_vit, vit_config
from ..profile import get_profile
from ..train import Callback, TrainConfig, fit
from .record import run_record, write_json

__all__ = ["main", "TimeToTarget"]


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
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--folder", help="a folder with train/ and test/ image folders")
    source.add_argument("--dataset", choices=["digits", "cifar10"], help="a named dataset")
    gpu = get_profile("gpu")
    parser.add_argument("--variant", default=gpu.train_variant)
    parser.add_argument("--epochs", type=float, default=gpu.epochs)
    parser.add_argument("--batch-size", type=int, default=gpu.batch_size)
    parser.add_argument("--lr", type=float, default=gpu.lr, help="peak learning rate")
    parser.add_argument("--warmup-epochs", type=float, default=gpu.warmup_epochs)
    parser.add_argument("--augment", choices=["auto", *AUGMENTATIONS], default=gpu.augment,
                        help="augmentation (auto: as suits the data, vitlib.augment.resolve_augmentation)")
    parser.add_argument("--mixup", type=float, default=gpu.mixup, help="MixUp's alpha (0: off)")
    parser.add_argument("--cutmix", type=float, default=gpu.cutmix, help="CutMix's alpha (0: off)")
    parser.add_argument("--target", type=float, default=0.90, help="test accuracy to reach (default 0.90)")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="JSON file (default: results/time-to-target-<device>.json)")
    return parser


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser()
    args = parser.parse_args(argv)
    try:  # check the numbers before spending time on the data
        config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, compile=args.compile,
                             seed=args.seed, warmup_epochs=args.warmup_epochs, augment=args.augment,
                             mixup=args.mixup, cutmix=args.cutmix)
        fraction(args.target, "--target", inclusive=True)
        vit_config(args.variant)
        device = resolve_device(args.device)
        out = check_writable(args.out or f"results/time-to-target-{device.type}.json", "--out")
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    started = time.perf_counter()
    if args.folder:  # the test images are labelled and normalised as the training images are
        root = Path(args.folder)
        train = load_image_folder(root / "train")
        test = load_image_folder(root / "test", classes=train.classes, mean=train.mean, std=train.std)
    else:
        train, test = load_dataset(args.dataset, "train"), load_dataset(args.dataset, "test")
    load_seconds = time.perf_counter() - started
    C, H, W = train.image_shape
    torch.manual_seed(args.seed)
    model = create_vit(args.variant, image_size=(H, W), in_channels=C, num_classes=len(train.classes))
    result = {
        **run_record("vitlib.tools.time_to_target", argv, device),
        "variant": args.variant,
        "model": dataclasses.asdict(model.config),
        "train_config": dataclasses.asdict(config),
        "augmentation": resolve_augmentation(config.augment, train),
        "train_images": len(train),
        "test_images": len(test),
        "data_load_seconds": load_seconds,
        "target": args.target,
        "finished": False,
    }

    def report(history) -> None:  # after every evaluation: a run cut short still leaves its curve
        result.update(reached=clock.reached, train_seconds=history.last("seconds"), history=history.records)
        write_json(out, result)

    clock = TimeToTarget(args.target, report)
    history = fit(model, train, test, config, device=device, callbacks=[clock])
    final = evaluate(model, test, device=device)
    report(history)
    result.update(finished=True, final_test_accuracy=final.accuracy)
    write_json(out, result)
    reached = (f"reached {args.target:.0%} after {clock.reached['seconds']:.0f} s (epoch {clock.reached['epoch']:g})"
               if clock.reached else f"did not reach {args.target:.0%}")
    print(f"{args.variant} on {result['device_name']}: final test accuracy {final.accuracy:.2%} after "
          f"{result['train_seconds']:.0f} s of training; {reached}; wrote {out}")
    return result


if __name__ == "__main__":
    main()
