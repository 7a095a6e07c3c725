"""The experiment runner of lesson 08: what it writes, that it resumes and refuses another sweep's file, that
the test split is never read before training ends, the shuffle test, and the plots drawn from a file."""

import dataclasses
import json

import matplotlib.pyplot as plt
import pytest
import torch

import vitlib.sweep as sweep
from vitlib import create_vit
from vitlib.course.plot import draw_ablation, draw_scaling
from vitlib.data import load_dataset
from vitlib.sweep import RULE, SweepSpec, load_results, run_sweep, shuffle_agreement, summarise
from vitlib.tools import sweep as sweep_tool

TINY = SweepSpec("tiny", "scratch", "digits", ("digits-vit", "digits-resnet"), sizes=(40, 80), seeds=2,
                 lrs=(1e-3, 3e-3), steps=2, batch_size=20, warmup_steps=1, evals=1)


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory):
    path = tmp_path_factory.mktemp("sweep") / "tiny.json"
    run_sweep(TINY, path, record={"command": "test"}, progress=False)
    return path


def test_the_file_holds_every_point_with_its_choice_and_cost(tiny_results):
    results = json.loads(tiny_results.read_text())
    assert results["spec"] == TINY.as_dict() and results["rule"] == RULE and results["record"] == {"command": "test"}
    keys = {(p["arm"], p["size"], p["seed"]) for p in results["points"]}
    assert keys == {(a, s, seed) for a in TINY.arms for s in TINY.sizes for seed in range(2)}
    for point in results["points"]:
        assert point["steps"] == 2 and point["train_size"] == point["size"]
        assert 0 <= point["test_acc"] <= 1 and point["seconds"] > 0
        if point["seed"] == 0:  # the choice, made on validation, is the best of the search
            search = point["lr_search"]
            assert set(search) == {"0.001", "0.003"}
            assert point["lr"] == float(max(sorted(search, key=float), key=search.get))
            assert point["val_acc"] == search[str(point["lr"])]
        else:  # later seeds reuse it
            first = next(p for p in results["points"] if (p["arm"], p["size"], p["seed"]) == (point["arm"], point["size"], 0))
            assert point["lr"] == first["lr"] and "lr_search" not in point
    assert results["costs"]["digits-vit"] == {"parameters": 81994, "flops": 13131456}


def test_a_rerun_skips_finished_points_and_finishes_the_rest(tiny_results, tmp_path, monkeypatch):
    results = json.loads(tiny_results.read_text())
    path = tmp_path / "partial.json"
    kept = results["points"][:-3]
    path.write_text(json.dumps({**results, "points": kept}))
    calls = []
    real = sweep._run_point

    def counting(spec, data, arm, size, seed, *rest):
        calls.append((arm, size, seed))
        return real(spec, data, arm, size, seed, *rest)

    monkeypatch.setattr(sweep, "_run_point", counting)
    again = run_sweep(TINY, path, record={"command": "again"}, progress=False)
    assert calls == [(p["arm"], p["size"], p["seed"]) for p in results["points"][-3:]]
    assert again["points"][:len(kept)] == kept and len(again["points"]) == len(results["points"])
    assert json.loads(path.read_text()) == again
    assert again["resumed"][0]["after_points"] == len(kept)
    calls.clear()
    run_sweep(TINY, path, progress=False)
    assert calls == []  # nothing left to do


def test_a_run_stops_once_validation_stops_improving_and_keeps_its_best():
    # at a learning rate of 1e-12 nothing changes: the second check is no better, and patience 1 stops there
    spec = dataclasses.replace(TINY, arms=("digits-vit",), sizes=(40,), seeds=1, lrs=(1e-12,), steps=8, evals=4,
                               patience=1)
    point = run_sweep(spec, progress=False)["points"][0]
    assert point["steps"] == 4 and point["stopped_early"] is True
    assert len(point["val_curve"]) == 2 and point["val_acc"] == max(point["val_curve"])
    fixed = run_sweep(dataclasses.replace(spec, patience=0), progress=False)["points"][0]
    assert fixed["steps"] == 8 and fixed["stopped_early"] is False and len(fixed["val_curve"]) == 4


def test_a_file_of_another_sweep_is_refused(tiny_results):
    other = dataclasses.replace(TINY, steps=3)
    with pytest.raises(ValueError, match=r"another sweep \(fields that differ: \['steps'\]\)"):
        run_sweep(other, tiny_results, progress=False)
    with pytest.raises(ValueError, match="fields that differ: \\['steps'\\]"):
        load_results(tiny_results, other)


def test_the_test_split_is_read_once_per_point_and_only_after_its_training(monkeypatch):
    real_load, real_fit, real_evaluate = sweep.load_dataset, sweep.fit, sweep.evaluate
    test_ids, events = set(), []

    def load(name, split, *args, **kwargs):
        data = real_load(name, split, *args, **kwargs)
        if split == "test":
            test_ids.add(id(data))
        return data

    def spy_fit(model, train, val=None, *args, **kwargs):
        assert id(train) not in test_ids and id(val) not in test_ids, "a training run read the test split"
        events.append("fit")
        return real_fit(model, train, val, *args, **kwargs)

    def spy_evaluate(model, data, *args, **kwargs):
        events.append("test" if id(data) in test_ids else "other")
        return real_evaluate(model, data, *args, **kwargs)

    monkeypatch.setattr(sweep, "load_dataset", load)
    monkeypatch.setattr(sweep, "fit", spy_fit)
    monkeypatch.setattr(sweep, "evaluate", spy_evaluate)
    spec = dataclasses.replace(TINY, arms=("digits-vit",), sizes=(40,))
    run_sweep(spec, progress=False)
    # seed 0: both learning rates trained, then one test; seed 1: the chosen one, then one test
    assert events == ["fit", "fit", "test", "fit", "test"]


def test_the_pretrain_sweep_pretrains_once_per_size_on_nested_sets_of_A():
    spec = SweepSpec("tiny-pretrain", "pretrain", "digits", ("digits-vit", "digits-resnet"), sizes=(0, 16, 32),
                     seeds=2, lrs=(1e-3,), steps=1, batch_size=10, warmup_steps=1, evals=1, pretrain_classes=4,
                     pretrain_steps=1, pretrain_batch_size=8, pretrain_lrs=(1e-3, 2e-3), finetune_per_class=2)
    data = sweep._Data(spec)
    small, large = data.A_of(spec, 16), data.A_of(spec, 32)
    assert len(small) == 16 and len(large) == 32 and len(data.heldout_A) == 4 * 500
    assert torch.equal(small.labels.bincount(), torch.full((4,), 4))
    # the smaller A is inside the larger one
    assert all(any(torch.equal(img, other) for other in large.images) for img in small.images[:3])
    results = run_sweep(spec, progress=False)
    by_key = {(p["arm"], p["size"], p["seed"]): p for p in results["points"]}
    assert "pretraining" not in by_key[("digits-vit", 0, 0)]
    for arm in spec.arms:
        for size in (16, 32):
            first, second = by_key[(arm, size, 0)]["pretraining"], by_key[(arm, size, 1)]["pretraining"]
            assert first == second  # pretrained once, fine-tuned per seed
            assert set(first["lr_search"]) == {"0.001", "0.002"}
    assert by_key[("digits-vit", 16, 0)]["train_size"] == 20  # B: 2 per class


def test_bad_specs_are_refused():
    with pytest.raises(ValueError, match="kind must be one of"):
        dataclasses.replace(TINY, kind="bigger")
    with pytest.raises(ValueError, match="sizes holds 10, fewer images than batch_size=20"):
        dataclasses.replace(TINY, sizes=(10, 40))
    with pytest.raises(ValueError, match="each of arms must be one of"):
        dataclasses.replace(TINY, arms=("digits-vit", "vgg"))
    with pytest.raises(ValueError, match="not a multiple of pretrain_classes=4"):
        SweepSpec("p", "pretrain", "digits", ("digits-vit",), sizes=(0, 10), seeds=1, lrs=(1e-3,), steps=1,
                  batch_size=4, pretrain_classes=4, pretrain_steps=1, pretrain_lrs=(1e-3,))


def test_shuffle_agreement_is_one_without_positions_and_less_with_them():
    data = load_dataset("digits", "test", limit=100)
    blind = create_vit("digits-vit", pos_embed="none").eval()
    assert shuffle_agreement(blind, data) == 1.0
    torch.manual_seed(0)
    seeing = create_vit("digits-vit", pos_embed="learned").eval()
    with torch.no_grad():
        seeing.pos_embed.mul_(3)  # positions strong enough to sway an untrained model
    assert shuffle_agreement(seeing, data) < 0.9
    assert blind.patch_embed._forward_hooks == {}  # the shuffling hook is gone afterwards


def test_summary_means_and_spreads_by_hand():
    results = {"points": [
        {"arm": "a", "size": 10, "seed": 0, "test_acc": 0.5}, {"arm": "a", "size": 10, "seed": 1, "test_acc": 0.7},
        {"arm": "a", "size": 20, "seed": 0, "test_acc": 0.9}, {"arm": "b", "size": 10, "seed": 0, "test_acc": 0.2},
    ]}
    table = summarise(results)
    assert table["a"][10]["mean"] == pytest.approx(0.6) and table["a"][10]["spread"] == pytest.approx(0.2)
    assert table["a"][20] == {"values": [0.9], "mean": 0.9, "spread": 0.0}
    assert list(table) == ["a", "b"]


def test_the_plots_draw_what_the_file_holds(tiny_results):
    results = load_results(tiny_results, TINY)
    table = summarise(results)
    fig, ax = plt.subplots()
    draw_scaling(results, ax)
    lines = {container.get_label(): container.lines[0] for container in ax.containers}  # errorbar's data lines
    for arm in TINY.arms:
        line = lines[arm]
        assert list(line.get_xdata()) == list(TINY.sizes)
        assert line.get_ydata() == pytest.approx([100 * table[arm][s]["mean"] for s in TINY.sizes])
    assert ax.get_xscale() == "log"
    plt.close(fig)
    position = {"spec": {"kind": "position", "arms": ["none", "learned"]}, "points": [
        {"arm": "none", "size": 0, "seed": 0, "test_acc": 0.8}, {"arm": "none", "size": 0, "seed": 1, "test_acc": 0.9},
        {"arm": "learned", "size": 0, "seed": 0, "test_acc": 0.95}]}
    fig, ax = plt.subplots()
    bars = draw_ablation(position, ax)
    assert [b.get_height() for b in bars] == pytest.approx([85.0, 95.0])
    plt.close(fig)


def test_the_tool_writes_its_file_with_the_command_and_resumes(tmp_path, monkeypatch):
    spec = dataclasses.replace(TINY, name="position-smoke", kind="position", arms=("none", "learned"), sizes=(3500,),
                               seeds=1, lrs=(1e-3,), steps=1, batch_size=32)
    monkeypatch.setitem(sweep.SWEEPS["smoke"], "position", spec)
    out = sweep_tool.main(["--profile", "smoke", "--sweep", "position", "--folder", str(tmp_path), "--no-progress"])
    path = tmp_path / "sweep-position-smoke.json"
    written = json.loads(path.read_text())
    assert written == out["position-smoke"]
    assert written["record"]["command"].startswith("python -m vitlib.tools.sweep --profile smoke")
    assert written["record"]["profile"] == "smoke" and written["record"]["torch"] == torch.__version__
    assert {p["arm"]: p["shuffle_agreement"] for p in written["points"]}["none"] == 1.0
    monkeypatch.setitem(sweep.SWEEPS["smoke"], "position", dataclasses.replace(spec, steps=2))
    with pytest.raises(SystemExit):  # the file is another sweep's now: refused before any training
        sweep_tool.main(["--profile", "smoke", "--sweep", "position", "--folder", str(tmp_path), "--no-progress"])
