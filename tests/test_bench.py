import argparse
import json
import subprocess
import re

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from vitlib import create_vit
from vitlib.profile import get_profile
from vitlib.tools.bench import breakdown_of, main, peak_tflops
from vitlib.tools.record import git_commit

TINY = ["--variant", "course-tiny", "--batch-size", "8", "--steps", "2", "--warmup", "1", "--device", "cpu",
        "--threads", "1"]


def test_bench_writes_the_figures(tmp_path, capsys):
    out, threads = tmp_path / "b.json", torch.get_num_threads()
    main([*TINY, "--out", str(out)])
    assert torch.get_num_threads() == threads  # restored
    result = json.loads(out.read_text())
    assert "images/s" in capsys.readouterr().out
    for key in ("command", "device", "device_name", "torch", "cpu_threads", "git_commit", "time_utc", "config",
                "parameters", "train", "inference"):
        assert key in result
    assert result["command"].startswith("python -m vitlib.tools.bench --variant course-tiny")
    assert result["command"].endswith(f"--out {out}")
    assert result["device"] == "cpu" and result["device_name"]
    assert result["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}", result["git_commit"])
    assert result["cpu_threads"] == 1 and result["config"]["model"]["dim"] == 64 and result["config"]["batch_size"] == 8
    assert result["peak_tflops"] is None and result["train"]["share_of_peak"] is None  # no peak on a CPU
    for kind in ("train", "inference"):
        assert result[kind]["images_per_s"] > 0 and result[kind]["tflops"] > 0
    assert result["train"]["first_step_seconds"] > 0
    # the smoke profile's recipe: "auto" augmentation, which is "photo" for colour images; no mixing
    assert result["augment"]["kind"] == "photo" and result["augment"]["mixup"] == 0.0
    assert result["augment"]["images_per_s"] > 0
    parts = result["step_breakdown_ms"]  # the smoke profile trains on the bundled digits: evaluation is known
    assert {"attention", "mlp", "optimiser", "rest", "augmentation", "evaluation", "total"} <= set(parts)
    step_ms = result["train"]["ms_per_batch"]
    assert parts["attention"] + parts["mlp"] + parts["optimiser"] + parts["rest"] == pytest.approx(step_ms)
    assert parts["total"] == pytest.approx(step_ms + parts["augmentation"] + parts["evaluation"])

    # FLOPs counted here on real tensors, with the hand-written attention (whose matrix products the
    # counter sees on a CPU): a step is forward + backward, about 3x the forward (a little less, since
    # the patch projection needs no gradient with respect to the images).
    model = create_vit("course-tiny", fused_attn=False)
    images, labels = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(images)
    forward_flops = counter.get_total_flops()
    assert result["inference"]["flops_per_batch"] == forward_flops
    assert 2.9 < result["train"]["flops_per_batch"] / forward_flops <= 3.0
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(images), labels).backward()
    assert result["train"]["flops_per_batch"] == counter.get_total_flops()


@pytest.mark.parametrize("args, message", [
    (["--batch-size", "0"], "--batch-size must be a positive int, got 0"),
    (["--steps", "0"], "--steps must be a positive int, got 0"),
    (["--warmup", "-1"], "--warmup must be an int >= 0, got -1"),
    (["--threads", "0"], "--threads must be a positive int, got 0"),
    (["--peak-tflops", "0"], "--peak-tflops must be a number > 0, got 0.0"),
    (["--mixup", "-1"], "mixup must be a number >= 0, got -1.0"),
    (["--variant", "XL/99"], "variant must be one of 'Ti/16'"),
    (["--model-option", "pool=max"], "pool must be one of"),
    (["--model-option", "depth"], "--model-option takes KEY=VALUE, e.g. depth=6, got 'depth'"),
    (["--model-option", "width=3"], "unknown ViTConfig field(s) ['width']"),
])
def test_bench_rejects_bad_arguments(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit):
        main([*TINY, *args, "--out", str(tmp_path / "b.json")])
    assert message in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()


def test_peak_table_matches_card_names():
    assert peak_tflops("NVIDIA H100 80GB HBM3") == 989
    assert peak_tflops("NVIDIA H100 PCIe") == 756
    assert peak_tflops("NVIDIA A100-SXM4-40GB") == 312
    assert peak_tflops("NVIDIA A10G") == 70
    assert peak_tflops("NVIDIA L4") == 121
    assert peak_tflops("NVIDIA L40S") is None  # not the L4
    assert peak_tflops("NVIDIA GeForce RTX 4090") is None


def test_bench_times_the_gpu_recipe_it_is_asked_for(tmp_path):
    result = main([*TINY, "--profile", "gpu", "--out", str(tmp_path / "b.json")])
    gpu = get_profile("gpu")
    assert (result["augment"]["kind"], result["augment"]["mixup"], result["augment"]["cutmix"]) == (
        gpu.augment, gpu.mixup, gpu.cutmix)
    result = main([*TINY, "--profile", "gpu", "--augment", "none", "--mixup", "0", "--out", str(tmp_path / "b.json")])
    assert (result["augment"]["kind"], result["augment"]["mixup"]) == ("none", 0.0)


def test_git_commit_falls_back_to_the_environment_on_a_copy_without_git(monkeypatch):


    def no_git(*args, **kwargs):
        raise OSError("git: not found")

    monkeypatch.setattr(subprocess, "run", no_git)
    monkeypatch.delenv("VITLIB_GIT_COMMIT", raising=False)
    assert git_commit() is None
    monkeypatch.setenv("VITLIB_GIT_COMMIT", "not a hash")
    assert git_commit() is None
    monkeypatch.setenv("VITLIB_GIT_COMMIT", "0123456789abcdef0123456789abcdef01234567")
    assert git_commit() == "0123456789abcdef0123456789abcdef01234567"


def test_step_breakdown_arithmetic():
    # 10 ms a step of which 3 attention, 2 MLP, 1 optimiser; 2 ms augmentation; 0.01 ms per evaluated image:
    # the digits' 500 validation images after every epoch of 3,500 // 64 = 54 steps cost 5 / 54 ms a step
    args = argparse.Namespace(profile="cpu")
    parts = breakdown_of({"attention": 3.0, "mlp": 2.0, "optimiser": 1.0}, 10.0, 2.0, 0.01, args, 64)
    assert parts["rest"] == pytest.approx(4.0)
    assert parts["evaluation"] == pytest.approx(0.01 * 500 / 54)
    assert parts["total"] == pytest.approx(12.0 + 0.01 * 500 / 54)
    assert "evaluation" not in breakdown_of({"attention": 1.0}, 2.0, 1.0, 0.01, argparse.Namespace(profile="gpu"), 64)


@pytest.mark.parametrize("bf16", [False, True])
def test_bench_times_bf16_autocast_on_a_cpu_only_when_asked(tmp_path, monkeypatch, bf16):
    import vitlib.tools.bench as bench

    seen = []

    def spying_step(*args, **kwargs):  # the training step as timed, and the autocast it runs under
        seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        return train_step(*args, **kwargs)

    train_step = bench.train_step
    monkeypatch.setattr(bench, "train_step", spying_step)
    result = main([*TINY, *(["--bf16"] if bf16 else []), "--out", str(tmp_path / "b.json")])
    assert len(seen) == 4  # the first step (timed alone), the warm-up and the timed steps
    assert all(enabled == bf16 for enabled, _ in seen)
    if bf16:
        assert all(dtype == torch.bfloat16 for _, dtype in seen)
    assert not torch.is_autocast_enabled("cpu")  # left as it was
    assert result["config"]["bf16_autocast"] is bf16
    assert result["cpu"]["capability"] == torch.backends.cpu.get_cpu_capability()
    assert result["cpu"]["native_bf16"] is bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())  # oneDNN's own answer


def test_bench_times_the_variant_with_its_model_options(tmp_path):
    result = main([*TINY, "--model-option", "pool=mean", "depth=1", "--out", str(tmp_path / "b.json")])
    model = result["config"]["model"]
    assert (model["pool"], model["depth"]) == ("mean", 1)
    assert result["parameters"] == sum(p.numel() for p in create_vit("course-tiny", depth=1).parameters())
    assert "--model-option pool=mean depth=1" in result["command"]


def test_cpu_threads_sets_them_for_the_block_and_restores_them_even_after_an_error():
    from vitlib.tools.options import cpu_threads

    before = torch.get_num_threads()
    other = 1 if before != 1 else 2
    with pytest.raises(RuntimeError), cpu_threads(other):
        assert torch.get_num_threads() == other
        raise RuntimeError("a tool failed")
    assert torch.get_num_threads() == before
    with cpu_threads(None):  # --threads left out: as they are
        assert torch.get_num_threads() == before
    assert torch.get_num_threads() == before
