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
