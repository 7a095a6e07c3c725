"""A learner's own copies of the lessons: ``python -m vitlib.tools.workspace`` (``make lab`` runs it first).

The stored lessons in ``notebooks/`` are what the web shows and what the tests check, so a learner works in
copies: every lesson is copied into a folder of its own (``lab/`` by default, which git ignores) unless a copy
is there already. A copy is never overwritten, so re-running cells, autosaves and exercise answers stay the
learner's, and neither ``make test`` nor ``git status`` sees them. A lesson added to the course later is
copied the next time; ``--fresh NAME`` replaces one copy with the stored lesson (the old copy is kept beside
it, renamed), to start that lesson over or take a newer version of it.

The folder must sit directly in the project's root, as ``notebooks/`` does, so that the lessons' paths
(``../results``, ``../data``) lead to the same places.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from datetime import datetime
from pathlib import Path

__all__ = ["main", "sync", "ROOT", "FOLDER"]

ROOT = Path(__file__).resolve().parents[2]
FOLDER = "lab"


def _lesson_names(source: Path) -> list[str]:
    return sorted(p.name for p in source.glob("[0-9][0-9]_*.ipynb"))


def sync(folder: Path | str = ROOT / FOLDER, source: Path | str = ROOT / "notebooks", fresh=()) -> dict:
    """Copy every lesson of ``source`` that ``folder`` lacks into it; for each name in ``fresh`` (a lesson's file
    name, with or without ``.ipynb``), replace the copy with the stored lesson, keeping the old copy as
    ``<name>.<time>.ipynb``. Returns ``{"copied", "kept", "refreshed", "backups"}`` (file names)."""
    folder, source = Path(folder).resolve(), Path(source).resolve()
    if folder.parent != source.parent:
        raise ValueError(f"folder {str(folder)!r} must sit beside {str(source)!r}, directly in "
                         f"{str(source.parent)!r}, so that the lessons' paths ../results and ../data still lead "
                         "to the project's folders")
    if folder == source:
        raise ValueError(f"folder must not be {str(source)!r} itself: the stored lessons stay as they are")
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"folder {str(folder)!r} is a file; give a folder")
    lessons = _lesson_names(source)
    if not lessons:
        raise FileNotFoundError(f"no lessons (NN_name.ipynb) in {str(source)!r}")
    names = [name if name.endswith(".ipynb") else f"{name}.ipynb" for name in fresh]
    unknown = [name for name in names if name not in lessons]
    if unknown:
        raise ValueError(f"--fresh names {unknown}, which are not lessons; the lessons are {lessons}")
    folder.mkdir(exist_ok=True)
    done = {"copied": [], "kept": [], "refreshed": [], "backups": []}
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for name in lessons:
        target = folder / name
        if target.exists() and name in names:
            backup = target.with_name(f"{target.stem}.{stamp}.ipynb")
            target.rename(backup)
            done["backups"].append(backup.name)
            shutil.copyfile(source / name, target)
            done["refreshed"].append(name)
        elif target.exists():
            done["kept"].append(name)
        else:
            shutil.copyfile(source / name, target)
            done["copied"].append(name)
    return done


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m vitlib.tools.workspace", description=__doc__.split("\n\n")[1])
    parser.add_argument("--folder", default=FOLDER,
                        help=f"the working folder, in the project's root (default: {FOLDER})")
    parser.add_argument("--fresh", action="append", default=[], metavar="LESSON",
                        help="replace this lesson's copy with the stored one, e.g. 03_position_encoding (repeatable)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    folder = Path(args.folder) if Path(args.folder).is_absolute() else ROOT / args.folder
    try:
        done = sync(folder, ROOT / "notebooks", fresh=args.fresh)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    print(f"your copies of the lessons are in {folder.name}/: {len(done['copied'])} new, {len(done['kept'])} kept as "
          f"you left them" + (f", {len(done['refreshed'])} started over (old copies: {', '.join(done['backups'])})"
                              if done["refreshed"] else ""))
    return done


if __name__ == "__main__":
    main()
