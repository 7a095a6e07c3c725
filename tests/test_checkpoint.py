import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vitlib.checkpoint import atomic_write, load_checkpoint, save_checkpoint


def test_checkpoint_round_trip_and_weights_only(tmp_path, tiny_model):
    model = tiny_model()
    path = save_checkpoint(tmp_path / "a" / "model.pt", model, note="hello")
    torch.load(path, weights_only=True)  # loads with the safe unpickler
    other = tiny_model()
    payload = load_checkpoint(path, other)
    assert payload["note"] == "hello"
    for name, tensor in model.state_dict().items():
        assert torch.equal(other.state_dict()[name], tensor)
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["model.pt"]  # no temporary file left


def test_checkpoint_from_a_different_config_is_refused_and_kept(tmp_path, tiny_model):
    path = save_checkpoint(tmp_path / "model.pt", tiny_model())
    before = path.read_bytes()
    wider = tiny_model(dim=64)
    with pytest.raises(ValueError, match=r"different model config \(dim: checkpoint 32 vs model 64\)"):
        load_checkpoint(path, wider)
    assert path.read_bytes() == before


def test_interrupted_save_keeps_the_old_checkpoint(tmp_path, monkeypatch, tiny_model):
    path = save_checkpoint(tmp_path / "model.pt", tiny_model())
    before = path.read_bytes()

    def broken_save(obj, f, *args, **kwargs):
        with open(f, "wb") as handle:
            handle.write(b"half a checkpoi")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, tiny_model(dim=64))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_atomic_write_leaves_the_old_file_when_the_writer_fails(tmp_path):
    path = tmp_path / "deep" / "file.txt"
    atomic_write(path, lambda p: p.write_text("old"))

    def fails_halfway(temporary):
        temporary.write_text("half")
        raise RuntimeError("stopped halfway")

    with pytest.raises(RuntimeError, match="halfway"):
        atomic_write(path, fails_halfway)
    assert path.read_text() == "old" and [p.name for p in path.parent.iterdir()] == ["file.txt"]


KILLED_WRITER = """
import sys, time
import torch
from vitlib import create_vit
from vitlib.checkpoint import save_checkpoint

def slow_save(obj, f, *args, **kwargs):  # a save that is half-way through its file when the process is killed
    with open(f, "wb") as handle:
        handle.write(b"PK half a checkpoint")
        handle.flush()
        print("writing", flush=True)
        time.sleep(60)

torch.save = slow_save
save_checkpoint(sys.argv[1], create_vit("course-tiny", dim=32, depth=1, heads=2))
"""


def test_a_save_killed_midway_leaves_the_previous_checkpoint_and_the_next_save_tidies_up(tmp_path, tiny_model):
    path = save_checkpoint(tmp_path / "model.pt", tiny_model(), step=1)
    before = path.read_bytes()
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[1])
    try:
        assert writer.stdout.readline().strip() == "writing"
    finally:
        writer.kill()
        writer.wait(timeout=30)
    assert path.read_bytes() == before and load_checkpoint(path)["step"] == 1  # still whole, still loadable
    stale = [p.name for p in tmp_path.iterdir() if p.name != "model.pt"]
    assert stale == [f".model.pt.{writer.pid}.tmp"]  # what the killed save left
    (tmp_path / ".other.pt.1.tmp").write_text("another file's temporary")
    save_checkpoint(path, tiny_model(), step=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.pt.1.tmp", "model.pt"]
    assert load_checkpoint(path)["step"] == 2


@pytest.mark.skipif(not hasattr(os, "O_DIRECTORY"), reason="folders cannot be flushed here")
def test_a_save_flushes_the_file_before_the_rename_and_the_folder_after(tmp_path, monkeypatch, tiny_model):
    events = []
    fsync, replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: events.append(("fsync", os.fstat(fd).st_ino)) or fsync(fd))
    monkeypatch.setattr(os, "replace", lambda *args: events.append(("replace",)) or replace(*args))
    path = save_checkpoint(tmp_path / "model.pt", tiny_model())
    assert events == [("fsync", path.stat().st_ino), ("replace",), ("fsync", tmp_path.stat().st_ino)]


def test_a_checkpoint_that_would_not_load_is_not_saved(tmp_path, tiny_model):
    # a dataclass saves fine but weights_only loading refuses it: refused at the save, not months later
    with pytest.raises(TypeError, match=r"notes\['config'\] must be plain data"):
        save_checkpoint(tmp_path / "model.pt", tiny_model(), notes={"config": tiny_model().config})
    assert not list(tmp_path.iterdir())
