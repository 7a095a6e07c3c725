"""Lesson 08's stored sweeps: ``python -m vitlib.tools.sweep``.

Runs the preset sweeps of a profile (``vitlib.sweep.SWEEPS``): ViT against ResNet as the training set grows
(``scratch``), as the pretraining set grows (``pretrain``), and the position-encoding ablation
(``position``). Each writes ``results/sweep-<name>.json`` point by point, with the run record (command,
machine, torch, commit, time) and what each point took; run the command again after an interruption and it
goes on from the last finished point. The cpu profile's three sweeps on 2 cores::

    python -m vitlib.tools.sweep --profile cpu --threads 2

and one of them alone: ``--sweep position``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..checkpoint import check_writable
from ..checks import positive_int
from ..device import resolve_device
from ..profile import PROFILES
from ..sweep import load_results, run_sweep, sweep_spec
from .options import cpu_threads
from .record import run_record

__all__ = ["main", "results_path"]

STORED = ("scratch", "pretrain", "position")  # the presets this tool runs ("live" is the lesson's own)


def results_path(name: str, folder="results") -> Path:
    """Where the sweep called ``name`` (e.g. ``"scratch-cpu"``) keeps its results."""
    return Path(folder) / f"sweep-{name}.json"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vitlib.tools.sweep", description=__doc__.split("\n\n")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu", choices=PROFILES, help="whose preset sweeps (default: cpu)")
    parser.add_argument("--sweep", action="append", choices=STORED,
                        help="run only this sweep (repeatable; default: all three)")
    parser.add_argument("--folder", default="results", help="where the results files go (default: results)")
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best available)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's own)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> dict:
    """Run the chosen sweeps; return ``{name: results}``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.threads is not None:
            positive_int(args.threads, "--threads")
        device = resolve_device(args.device)
        specs = [sweep_spec(name, args.profile) for name in (args.sweep or STORED)]
        paths = {spec.name: check_writable(results_path(spec.name, args.folder), "--folder") for spec in specs}
        for spec in specs:  # refuse a file of another sweep before any training
            if paths[spec.name].exists():
                load_results(paths[spec.name], spec)
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    with cpu_threads(args.threads):
        record = {**run_record("vitlib.tools.sweep", argv, device), "profile": args.profile}
        return {spec.name: run_sweep(spec, paths[spec.name], record, device, progress=not args.no_progress)
                for spec in specs}


if __name__ == "__main__":
    main()
