"""A learner works in copies of the lessons: made once, never overwritten, ignored by git and by the tests."""

import json
import re
import subprocess
from pathlib import Path

import pytest

from vitlib.tools import workspace

ROOT = Path(__file__).resolve().parents[1]


def project(tmp_path, lessons=("00_a", "01_b")):
    """A project root with notebooks/ holding small lessons."""
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for name in lessons:
        (notebooks / f"{name}.ipynb").write_text(json.dumps({"cells": [], "lesson": name}))
    (notebooks / "notes.txt").write_text("not a lesson")
    return tmp_path


def test_every_lesson_is_copied_once_and_a_changed_copy_is_kept(tmp_path):
    root = project(tmp_path)
    done = workspace.sync(root / "lab", root / "notebooks")
    assert done == {"copied": ["00_a.ipynb", "01_b.ipynb"], "kept": [], "refreshed": [], "backups": []}
    assert sorted(p.name for p in (root / "lab").iterdir()) == ["00_a.ipynb", "01_b.ipynb"]
    (root / "lab" / "00_a.ipynb").write_text("my answers")
    (root / "notebooks" / "02_c.ipynb").write_text("{}")  # a lesson added to the course later
    again = workspace.sync(root / "lab", root / "notebooks")
    assert again["copied"] == ["02_c.ipynb"] and again["kept"] == ["00_a.ipynb", "01_b.ipynb"]
    assert (root / "lab" / "00_a.ipynb").read_text() == "my answers"
    assert json.loads((root / "notebooks" / "00_a.ipynb").read_text())["lesson"] == "00_a"  # the stored one unchanged


def test_a_fresh_start_replaces_one_copy_and_keeps_the_old_one(tmp_path):
    root = project(tmp_path)
    workspace.sync(root / "lab", root / "notebooks")
    (root / "lab" / "01_b.ipynb").write_text("my answers")
    done = workspace.sync(root / "lab", root / "notebooks", fresh=["01_b"])
    assert done["refreshed"] == ["01_b.ipynb"] and done["kept"] == ["00_a.ipynb"]
    assert json.loads((root / "lab" / "01_b.ipynb").read_text())["lesson"] == "01_b"
    (backup,) = done["backups"]
    assert re.fullmatch(r"01_b\.\d{8}-\d{6}\.ipynb", backup) and (root / "lab" / backup).read_text() == "my answers"


def test_the_folder_must_sit_beside_the_lessons(tmp_path):
    root = project(tmp_path)
    with pytest.raises(ValueError, match="must sit beside .* so that the lessons' paths ../results"):
        workspace.sync(root / "deeper" / "lab", root / "notebooks")
    with pytest.raises(ValueError, match="must not be .*notebooks' itself"):
        workspace.sync(root / "notebooks", root / "notebooks")
    with pytest.raises(ValueError, match=r"--fresh names \['09_z.ipynb'\], which are not lessons"):
        workspace.sync(root / "lab", root / "notebooks", fresh=["09_z"])
    assert not (root / "lab").exists()  # refused before anything was written


def test_the_working_copies_are_ignored_by_git_and_by_the_tests():
    ignored = subprocess.run(["git", "check-ignore", "-q", "lab/00_image_to_probabilities.ipynb"], cwd=ROOT)
    assert ignored.returncode == 0, "git must ignore lab/"
    makefile = (ROOT / "Makefile").read_text()
    test_command = re.search(r"^test: install\n((?:\t.*\n)+)", makefile, flags=re.MULTILINE).group(1)
    assert "pytest tests notebooks" in test_command and "lab" not in test_command
    lab_recipe = re.search(r"^lab: install\n((?:\t.*\n)+)", makefile, flags=re.MULTILINE).group(1)
    assert "vitlib.tools.workspace --folder $(WORK)" in lab_recipe and "root_dir=$(WORK)" in lab_recipe
    assert re.search(r"^WORK\s*\?= lab$", makefile, flags=re.MULTILINE)


def test_the_tool_says_what_it_did(tmp_path, capsys, monkeypatch):
    root = project(tmp_path)
    monkeypatch.setattr(workspace, "ROOT", root)
    workspace.main(["--folder", "lab"])
    assert "your copies of the lessons are in lab/: 2 new, 0 kept" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        workspace.main(["--folder", "lab", "--fresh", "nope"])
    assert "--fresh names ['nope.ipynb'], which are not lessons" in capsys.readouterr().err
