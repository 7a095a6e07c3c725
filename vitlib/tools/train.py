"""Train what the notebooks train, on one process or on many: ``python -m vitlib.tools.train``.

The data (a named dataset, or an image folder with ``train/`` and ``test/`` subfolders, as for
``vitlib.tools.time_to_target``), the variant and the recipe are a profile's (``--profile``, default the one in
force, as in the notebooks) unless a flag says otherwise; every ``TrainConfig`` field is a flag
(``--batch-size``, ``--eval-every``, ``--no-amp``, ...), and ``--model-option KEY=VALUE`` changes a field of
the variant's ``ViTConfig``. Training is ``vitlib.train.fit``; ``--checkpoint`` is continued when it exists
(``--restart`` to start afresh), and the test split is evaluated once, at the end. One process::

    python -m vitlib.tools.train --dataset digits --variant digits-vit --profile cpu --checkpoint runs/digits.pt

The same command under PyTorch's launcher trains on several GPUs (or CPU processes) of one machine, or of
several (the same command on every machine, HOST being one of them, where the processes meet)::

    torchrun --nproc_per_node=4 -m vitlib.tools.train --profile gpu --checkpoint runs/cifar.pt
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv_id=cifar --rdzv_backend=c10d --rdzv_endpoint=HOST:29500 \\
        -m vitlib.tools.train --profile gpu --checkpoint runs/cifar.pt

``--batch-size`` is the global batch, split evenly over the processes, and the run computes what one process
with the same seed computes (``vitlib.distributed``); its checkpoint continues on any number of processes
(every one of them reads it: across machines, keep it on a file system they share).
Only the main process prints and writes. It writes ``results/train-<data>-<variant>-<device>[-<N>procs].json``
(``--results`` to change) after every evaluation, with ``"finished": false`` until the run ends: the
command, the machine, the commit, the config, the history and the final accuracies.

Test hook: ``--fail-on-rank R --fail-after-steps S`` makes process ``R`` raise an error in its training step
``S + 1``, to check that a failing process ends the whole run instead of leaving the others waiting.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
import warnings
from pathlib import Path

import torch
from torch.distributed.elastic.multiprocessing import errors

from ..augment import AUGMENTATIONS, resolve_augmentation
from ..checkpoint import check_writable
from ..checks import non_negative_int, positive_int
from ..data import LOADERS, load_dataset
from ..distributed import evaluate_shared, is_main, main_first, rank, setup, teardown, world_size
from ..model import create_vit, vit_config
from ..profile import PROFILES, current_profile, get_profile
from ..train import Callback, TrainConfig, fit
from .record import run_record, write_json
from .options import add_model_option, cpu_threads, model_options
from .time_to_target import folder_splits, with_profile_defaults

__all__ = ["main", "run", "Report", "train_config", "limits", "fail_after"]

NONE = "none"  # what --grad-clip none parses to: no clipping (None), told apart from a flag left out
FLAG_TYPES = {"float": float, "int": int, "str": str, "float | None": lambda text: NONE if text == NONE else float(text)}


class Report(Callback):
    """Calls ``report(history)`` after every evaluation (run by the main process only, as every callback)."""

    def __init__(self, report):
        self.report = report

    def on_evaluate(self, state: dict) -> None:
        self.report(state["history"])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vitlib.tools.train", description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--folder", help="a folder with train/ and test/ image folders")
    source.add_argument("--dataset", "--data", choices=sorted(LOADERS), help="a named dataset (default: the profile's)")
    parser.add_argument("--profile", choices=PROFILES, default=current_profile().name,
                        help="whose data, variant and recipe are the defaults (default: the one in force)")
    parser.add_argument("--variant", help="a vitlib.model.VARIANTS name (default: the profile's)")
    add_model_option(parser)
    parser.add_argument("--train-limit", type=int, help="train on at most this many images of a named dataset, the "
                        "same number from every class (default: the profile's; 0: all)")
    parser.add_argument("--test-limit", type=int, help="and at most this many validation and test images "
                        "(default: the profile's; 0: all)")
    recipe = parser.add_argument_group("the recipe: vitlib.train.TrainConfig's fields (default: the profile's where "
                                       "it has one, else TrainConfig's)")
    defaults = TrainConfig()
    for field in dataclasses.fields(TrainConfig):
        flag, default = "--" + field.name.replace("_", "-"), getattr(defaults, field.name)
        if field.type == "bool":
            recipe.add_argument(flag, action=argparse.BooleanOptionalAction, help=f"TrainConfig's: {default}")
        elif field.name == "augment":
            recipe.add_argument(flag, choices=["auto", *AUGMENTATIONS], help=f"TrainConfig's: {default!r}")
        elif field.type in FLAG_TYPES:
            none = "; 'none' for none" if field.type == "float | None" else ""
            recipe.add_argument(flag, type=FLAG_TYPES[field.type], help=f"TrainConfig's: {default}{none}")
        else:
            raise TypeError(f"TrainConfig.{field.name} is a {field.type}, which this tool cannot read from a flag yet")
    parser.add_argument("--checkpoint", help="the run's checkpoint, continued if it exists (default: none)")
    parser.add_argument("--restart", action="store_true", help="start afresh even if the checkpoint exists")
    parser.add_argument("--new-config", action="store_true",
                        help="continue the checkpoint with other settings (the history notes the change)")
    parser.add_argument("--results", help="JSON file (default: results/train-<data>-<variant>-<device>[-<N>procs].json)")
    parser.add_argument("--device", help="cuda, mps or cpu (default: the best available; under torchrun each "
                        "process takes the GPU of its LOCAL_RANK)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch in each process (default: torch's)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    hook = parser.add_argument_group("test hook")
    hook.add_argument("--fail-on-rank", type=int, help="the process that fails (with --fail-after-steps)")
    hook.add_argument("--fail-after-steps", type=int, help="training steps it takes before it raises an error")
    return parser


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The ``TrainConfig`` of the flags given (and the profile's recipe), TrainConfig's defaults for the rest."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if getattr(args, f.name) is not None}
    return TrainConfig(**{name: None if value == NONE else value for name, value in given.items()})


def fail_after(model: torch.nn.Module, steps: int) -> None:
    """Test hook: make this process raise a RuntimeError in the forward pass of its training step ``steps + 1``."""
    taken = []

    def hook(module, inputs):
        if module.training:
            if len(taken) == steps:
                raise RuntimeError(f"process {rank()} fails after {steps} steps, as --fail-after-steps asked")
            taken.append(1)

    model.register_forward_pre_hook(hook)


def limits(args: argparse.Namespace) -> tuple[int | None, int | None]:
    """The most training and validation/test images of a named dataset: the flags', else the profile's
    (``None``: all)."""
    profile = get_profile(args.profile)
    train = profile.train_limit if args.train_limit is None else args.train_limit
    test = profile.test_limit if args.test_limit is None else args.test_limit
    return train or None, test or None


@errors.record  # under torchrun, a failing process's traceback goes into the launcher's summary
def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser()
    args = with_profile_defaults(parser.parse_args(argv))
    try:  # check everything before joining the other processes and loading the data
        config = train_config(args)
        options = model_options(args.model_option)
        vit_config(args.variant, **options)
        for name in ("train_limit", "test_limit"):
            if getattr(args, name) is not None:
                non_negative_int(getattr(args, name), "--" + name.replace("_", "-"))
        if args.folder and (args.train_limit or args.test_limit):
            raise ValueError("--train-limit and --test-limit apply to a named dataset, not to --folder")
        if args.threads is not None:
            positive_int(args.threads, "--threads")
        if (args.fail_on_rank is None) != (args.fail_after_steps is None):
            raise ValueError("the test hook takes both --fail-on-rank and --fail-after-steps")
        checkpoint = check_writable(args.checkpoint, "--checkpoint") if args.checkpoint else None
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    device = setup(args.device)  # joins the other processes when torchrun started this one
    try:
        if not is_main():
            warnings.filterwarnings("ignore")  # the main process says it, once
        data = "folder" if args.folder else args.dataset
        processes = f"-{world_size()}procs" if world_size() > 1 else ""
        default = f"results/train-{data}-{args.variant.replace('/', '')}-{device.type}{processes}.json"
        out = check_writable(args.results or default, "--results")
        with cpu_threads(args.threads):
            return run(args, argv, config, options, device, data, checkpoint, out)
    finally:
        teardown()  # also when this process failed: the launcher then ends the others


def run(args: argparse.Namespace, argv: list[str], config: TrainConfig, options: dict, device: torch.device,
        data: str, checkpoint: Path | None, out: Path) -> dict:
    """Load the splits, build the model, train with ``fit`` (continuing ``checkpoint``), test once; the result
    as written to ``out`` by the main process."""
    started = time.perf_counter()
    with main_first():  # a dataset downloaded the first time: once per machine
        if args.folder:
            train, val, test = folder_splits(Path(args.folder))
        else:
            train_limit, test_limit = limits(args)
            train, val, test = (load_dataset(args.dataset, split, limit=limit) for split, limit in
                                (("train", train_limit), ("val", test_limit), ("test", test_limit)))
    load_seconds = time.perf_counter() - started
    C, H, W = train.image_shape
    torch.manual_seed(config.seed)  # the same initial weights in every process
    data_fields = {"image_size": H if H == W else (H, W), "in_channels": C, "num_classes": len(train.classes)}
    model = create_vit(args.variant, **{**data_fields, **options})  # as a notebook builds it, where the data agree
    if args.fail_on_rank == rank():
        fail_after(model, args.fail_after_steps)
    result = {
        **run_record("vitlib.tools.train", argv, device),
        "processes": world_size(),
        "processes_per_machine": int(os.environ.get("LOCAL_WORLD_SIZE", 1)),
        "profile": args.profile,
        "data": data,
        "variant": args.variant,
        "model": dataclasses.asdict(model.config),
        "train_config": dataclasses.asdict(config),
        "batch_per_process": config.batch_size // world_size(),
        "augmentation": resolve_augmentation(config.augment, train),
        "train_images": len(train),
        "val_images": len(val),
        "test_images": len(test),
        "data_load_seconds": load_seconds,
        "checkpoint": str(checkpoint) if checkpoint else None,
        "finished": False,
    }

    def report(history) -> None:  # after every evaluation: a run cut short still leaves its curve
        result.update(train_seconds=history.last("seconds"), history=history.records, config_changes=history.changes)
        write_json(out, result)

    history = fit(model, train, val, config, device=device, checkpoint=checkpoint, resume=not args.restart,
                  new_config=args.new_config, callbacks=[Report(report)], progress=not args.no_progress)
    test_loss, test_accuracy = evaluate_shared(model, test, device=device)  # the test split, once, at the end
    result.update(train_seconds=history.last("seconds"), history=history.records, config_changes=history.changes,
                  finished=True, final_val_accuracy=history.last("val_acc"), final_test_accuracy=test_accuracy,
                  final_test_loss=test_loss)
    if is_main():
        write_json(out, result)
        print(f"{args.variant} on {world_size()} process(es), {result['device_name']}: after "
              f"{result['train_seconds']:.0f} s of training, validation {history.last('val_acc'):.2%}, test "
              f"{test_accuracy:.2%}; wrote {out}" + (f" and {checkpoint}" if checkpoint else ""))
    return result


if __name__ == "__main__":
    main()
