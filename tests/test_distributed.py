"""Training under torchrun: two CPU processes (Gloo) compute what one process computes, their checkpoint
continues on one process or two, and a process that fails ends the whole run.

A tiny ViT (width 16, one block) trains for 10 steps on 160 digits with the digits augmentation, MixUp and
CutMix, in global batches of 32: any mistake in splitting a batch, augmenting it, averaging the gradients or
adding up the measurements shows in the weights, the history or the checkpoint's running sums.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from vitlib import distributed
from vitlib.checkpoint import load_checkpoint
from vitlib.model import create_vit
from vitlib.tools import train as train_tool
from vitlib.tools.options import model_options
from vitlib.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
RUN = [
    "--profile", "smoke", "--data", "digits", "--variant", "digits-vit", "--model-option", "dim=16", "depth=1", "heads=1",
    "--train-limit", "160", "--test-limit", "100", "--epochs", "2", "--batch-size", "32", "--lr", "3e-3",
    "--warmup-epochs", "0.5", "--mixup", "0.8", "--cutmix", "1.0", "--device", "cpu", "--threads", "1", "--no-progress",
]  # 5 steps an epoch, 10 in all; an evaluation after each epoch
INTERRUPT = ["--checkpoint-every", "3", "--fail-after-steps", "4"]  # a checkpoint at step 3, the failure in step 5
TIMEOUT = 60  # seconds a torchrun may take before the test calls it hung


def torchrun(args: list[str], processes: int = 2) -> tuple[int, str, float]:
    """Run the tool under ``torchrun --standalone``; its exit status, stdout + stderr and seconds taken. A run
    that outlasts TIMEOUT is killed with every process it started, and the test fails."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
               "-m", "vitlib.tools.train", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"torchrun still ran after {TIMEOUT} s: a process waited for one that had gone\n{output[-3000:]}")
    return process.returncode, output, time.perf_counter() - started


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]


def assert_same_weights(path: Path, reference: Path) -> None:
    mine, theirs = weights(path), weights(reference)
    assert mine.keys() == theirs.keys()  # the bare model's names: no "module." from DistributedDataParallel
    for name, tensor in theirs.items():
        torch.testing.assert_close(mine[name], tensor, rtol=1e-4, atol=2e-5, msg=lambda m: f"{name}: {m}")


def assert_same_history(path: Path, reference: Path) -> None:
    mine, theirs = (json.loads(p.read_text())["history"] for p in (path, reference))
    assert [r["step"] for r in mine] == [r["step"] for r in theirs] == [5, 10]
    for a, b in zip(mine, theirs):
        for key in ("train_loss", "val_loss"):
            assert a[key] == pytest.approx(b[key], rel=1e-4), key
        for key in ("train_acc", "val_acc"):
            assert a[key] == pytest.approx(b[key], abs=0.02), key


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """In one process: an uninterrupted run, and the same run interrupted by an error in step 5."""
    folder = tmp_path_factory.mktemp("one-process")
    train_tool.main(RUN + ["--checkpoint", str(folder / "straight.pt"), "--results", str(folder / "straight.json")])
    with pytest.raises(RuntimeError, match="fails after 4 steps"):
        train_tool.main(RUN + INTERRUPT + ["--fail-on-rank", "0", "--checkpoint", str(folder / "interrupted.pt"),
                                           "--results", str(folder / "interrupted.json")])
    return folder


@pytest.fixture(scope="module")
def failed(tmp_path_factory):
    """Two processes, the second of which raises an error in step 5: the exit status, output, seconds and the
    folder that holds the checkpoint of step 3."""
    folder = tmp_path_factory.mktemp("two-processes-failed")
    status, output, seconds = torchrun(RUN + INTERRUPT + ["--fail-on-rank", "1", "--checkpoint",
                                                          str(folder / "run.pt"), "--results", str(folder / "run.json")])
    return status, output, seconds, folder


def test_two_processes_train_the_weights_one_process_trains(runs, tmp_path):
    status, output, _ = torchrun(RUN + ["--checkpoint", str(tmp_path / "run.pt"), "--results", str(tmp_path / "run.json")])
    assert status == 0, output[-3000:]
    assert_same_weights(tmp_path / "run.pt", runs / "straight.pt")
    assert_same_history(tmp_path / "run.json", runs / "straight.json")
    result = json.loads((tmp_path / "run.json").read_text())
    assert result["processes"] == 2 and result["batch_per_process"] == 16 and result["finished"]
    assert result["final_test_accuracy"] == pytest.approx(json.loads((runs / "straight.json").read_text())
                                                          ["final_test_accuracy"], abs=0.02)
    assert output.count("wrote ") == 1  # the main process alone reports
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json", "run.pt"]  # and writes


def test_a_failing_process_ends_every_process(failed, runs):
    status, output, seconds, folder = failed
    assert status != 0 and seconds < TIMEOUT
    assert "process 1 fails after 4 steps" in output
    saved = load_checkpoint(folder / "run.pt", create_vit("digits-vit", dim=16, depth=1, heads=1))  # on one process
    assert saved["step"] == 3
    # the running sums of steps 1-3 are those of all 96 images, added up over the processes, as in one process
    reference = load_checkpoint(runs / "interrupted.pt")
    assert saved["meter"]["seen"] == reference["meter"]["seen"] == 96
    assert saved["meter"]["correct"] == reference["meter"]["correct"]
    torch.testing.assert_close(saved["meter"]["loss"], reference["meter"]["loss"], rtol=1e-5, atol=0)


def test_the_checkpoint_of_two_processes_continues_on_one(failed, runs, tmp_path):
    shutil.copy(failed[3] / "run.pt", tmp_path / "run.pt")
    train_tool.main(RUN + ["--checkpoint", str(tmp_path / "run.pt"), "--results", str(tmp_path / "run.json")])
    assert_same_weights(tmp_path / "run.pt", runs / "straight.pt")
    assert_same_history(tmp_path / "run.json", runs / "straight.json")


def test_the_checkpoint_of_two_processes_continues_on_two(failed, runs, tmp_path):
    shutil.copy(failed[3] / "run.pt", tmp_path / "run.pt")
    status, output, _ = torchrun(RUN + ["--checkpoint", str(tmp_path / "run.pt"), "--results", str(tmp_path / "run.json")])
    assert status == 0, output[-3000:]
    assert_same_weights(tmp_path / "run.pt", runs / "straight.pt")
    assert_same_history(tmp_path / "run.json", runs / "straight.json")


def test_each_process_takes_its_own_equal_share():
    batch = torch.arange(12).view(6, 2)  # (B, 2)
    shares = [distributed.share(batch, r, 3) for r in range(3)]
    assert [s[:, 0].tolist() for s in shares] == [[0, 2], [4, 6], [8, 10]]
    assert distributed.share(batch) is batch  # no process group: one process keeps the whole batch


@pytest.mark.parametrize("batch_size, items, words", [
    (33, 1000, "batch_size=33, does not split evenly over 2 processes; .* e.g. 34"),
    (64, 51, "all 51 items .* over 2 processes"),
])
def test_a_global_batch_that_does_not_split_evenly_is_refused(batch_size, items, words):
    with pytest.raises(ValueError, match=words):
        distributed.check_shares(batch_size, items, processes=2)
    distributed.check_shares(32, 1000, processes=2)
    distributed.check_shares(64, 50, processes=2)


def test_every_train_config_field_is_a_flag():
    args = train_tool._parser().parse_args(["--grad-clip", "none", "--no-amp", "--checkpoint-every", "3",
                                            "--label-smoothing", "0"])
    config = train_tool.train_config(args)
    assert config == TrainConfig(grad_clip=None, amp=False, checkpoint_every=3, label_smoothing=0.0)
    assert model_options(["depth=1", "pos_embed=sincos2d", "patch_size=(4, 4)"]) == {
        "depth": 1, "pos_embed": "sincos2d", "patch_size": (4, 4)}


@pytest.mark.parametrize("env, words", [
    ({"WORLD_SIZE": "2"}, "sets WORLD_SIZE but not RANK, MASTER_ADDR, MASTER_PORT"),
    ({"WORLD_SIZE": "2", "RANK": "0"}, "sets RANK, WORLD_SIZE but not MASTER_ADDR, MASTER_PORT"),
    ({"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500", "LOCAL_RANK": "0"}, None),
    ({"RANK": "two", "WORLD_SIZE": "2", "MASTER_ADDR": "x", "MASTER_PORT": "1"}, "RANK must be a whole number, got 'two'"),
    ({"RANK": "2", "WORLD_SIZE": "2", "MASTER_ADDR": "x", "MASTER_PORT": "1"}, "RANK=2 must be below WORLD_SIZE=2"),
], ids=["world-size-alone", "no-master", "complete", "rank-a-word", "rank-too-high"])
def test_a_half_described_launch_is_refused_by_name(monkeypatch, env, words):
    from vitlib.distributed import LAUNCHER_VARIABLES, launched
    for name in LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert launched() is False
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if words is None:
        assert launched() is True
    else:
        with pytest.raises(ValueError, match=words):
            launched()
