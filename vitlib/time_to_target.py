"""How long does training take to reach a test accuracy? ``python -m vitlib.time_to_target``.

Trains a variant from random initialisation with ``vitlib.train.fit``, evaluates after every epoch,
and records the training time at which the test accuracy first reaches ``--target``. Data: an image
folder with ``train/`` and ``test/`` subfolders (one subfolder per class in each), or a named dataset.
The GPU check of lesson 05's CIFAR-10 recipe::

    python -m vitlib.time_to_target --folder /path/to/cifar10 --variant cifar-vit \\
        --epochs 100 --batch-size 512 --lr 2e-3 --target 0.90

writes ``results/time-to-target-<device>.json`` (``--out`` to change) with the command, the machine,
the commit, the config, the whole history and the time to the target (None if it was not reached).
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from .bench import _write_json, device_name, git_commit
from .data import load_dataset, load_image_folder
from .evaluate import evaluate
from .model import create_vit
from .profile import best_device
from .train import Callback, TrainConfig, fit

__all__ = ["main", "TimeToTarget"]


class TimeToTarget(Callback):
    """Notes the first evaluation at which ``val_acc`` reaches ``target``: its epoch and training seconds."""

    def __init__(self, target: float):
        self.target, self.reached = target, None

    def on_evaluate(self, state: dict) -> None:
        record = state["history"].records[-1]
        if self.reached is None and record["val_acc"] is not None and record["val_acc"] >= self.target:
            self.reached = {"epoch": record["epoch"], "seconds": record["seconds"], "val_acc": record["val_acc"]}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vitlib.time_to_target", description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--folder", help="a folder with train/ and test/ image folders")
    source.add_argument("--dataset", choices=["digits", "cifar10"], help="a named dataset")
    parser.add_argument("--variant", default="cifar-vit")
    parser.add_argument("--epochs", type=float, default=100)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--target", type=float, default=0.90, help="test accuracy to reach (default 0.90)")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="JSON file (default: results/time-to-target-<device>.json)")
    return parser


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    device = torch.device(args.device or best_device())
    started = time.perf_counter()
    if args.folder:
        root = Path(args.folder)
        train, test = load_image_folder(root / "train"), load_image_folder(root / "test")
    else:
        train, test = load_dataset(args.dataset, "train"), load_dataset(args.dataset, "test")
    load_seconds = time.perf_counter() - started
    C, H, W = train.image_shape
    torch.manual_seed(args.seed)
    model = create_vit(args.variant, image_size=(H, W), in_channels=C, num_classes=len(train.classes))
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, compile=args.compile,
                         seed=args.seed, augment="photo" if C == 3 else "digits")
    clock = TimeToTarget(args.target)
    history = fit(model, train, test, config, device=device, callbacks=[clock])
    final = evaluate(model, test, device=device)
    result = {
        "command": shlex.join(["python", "-m", "vitlib.time_to_target", *argv]),
        "device": device.type,
        "device_name": device_name(device),
        "torch": torch.__version__,
        "git_commit": git_commit(),
        "time_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "variant": args.variant,
        "model": dataclasses.asdict(model.config),
        "train_config": dataclasses.asdict(config),
        "train_images": len(train),
        "test_images": len(test),
        "data_load_seconds": load_seconds,
        "target": args.target,
        "reached": clock.reached,
        "final_test_accuracy": final.accuracy,
        "train_seconds": history.last("seconds"),
        "history": history.records,
    }
    out = Path(args.out or f"results/time-to-target-{device.type}.json")
    _write_json(out, result)
    reached = (f"reached {args.target:.0%} after {clock.reached['seconds']:.0f} s (epoch {clock.reached['epoch']:g})"
               if clock.reached else f"did not reach {args.target:.0%}")
    print(f"{args.variant} on {result['device_name']}: final test accuracy {final.accuracy:.2%} after "
          f"{result['train_seconds']:.0f} s of training; {reached}; wrote {out}")
    return result


if __name__ == "__main__":
    main()
