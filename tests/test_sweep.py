"""The experiment runner of lesson 08: what it writes, that it resumes and refuses another sweep's file, that
the test split is never read before training ends, the shuffle test, and the plots drawn from a file."""

import dataclasses
import json
import math
from types import SimpleNamespace

import matplotlib.pyplot as plt
import pytest
import torch

import vitlib.sweep as sweep
from vitlib import create_vit
from vitlib.course.plot import draw_ablation, draw_scaling
from vitlib.data import TensorImageDataset, load_dataset
from vitlib.sweep import RULE, SweepSpec, cell_status, load_results, run_sweep, shuffle_agreement, summarise
from vitlib.tools import sweep as sweep_tool
from vitlib.train import History

TINY = SweepSpec("tiny", "scratch", "digits", ("digits-vit-p8s4", "digits-resnet10"), sizes=(40, 80), seeds=2,
                 lrs=(1e-3, 3e-3), steps=10, batch_size=20, eval_every=1, patience=2, warmup_steps=1, widen=0)


def small_splits(real_load):
    """load_dataset with 100 validation and 100 test images: every run checks validation at every step here."""
    def load(name, split, *args, **kwargs):
        return real_load(name, split, *args, **({"limit": 100} if split in ("val", "test") else {}), **kwargs)
    return load


@pytest.fixture(autouse=True)
def _small_splits(monkeypatch):
    monkeypatch.setattr(sweep, "load_dataset", small_splits(sweep.load_dataset))


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory):
    path = tmp_path_factory.mktemp("sweep") / "tiny.json"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sweep, "load_dataset", small_splits(sweep.load_dataset))
        run_sweep(TINY, path, record={"command": "test"}, progress=False)
    return path


def test_the_file_holds_every_point_with_its_choice_and_cost(tiny_results):
    results = json.loads(tiny_results.read_text())
    assert results["spec"] == TINY.as_dict() and results["rule"] == RULE and results["record"] == {"command": "test"}
    keys = {(p["arm"], p["size"], p["seed"]) for p in results["points"]}
    assert keys == {(a, s, seed) for a in TINY.arms for s in TINY.sizes for seed in range(2)}
    for point in results["points"]:
        assert point["train_size"] == point["size"] and 0 <= point["test_acc"] <= 1 and point["seconds"] > 0
        assert point["stop"] in ("patience", "cap") and point["val_steps"] == list(range(1, point["steps"] + 1))
        assert len(point["val_curve"]) == point["steps"] and point["val_acc"] == max(point["val_curve"])
        assert point["converged"] == (point["stop"] == "patience" and point["steps"] <= 8)
        if point["seed"] == 0:  # the choice, made on validation, is the best of the search
            search = point["lr_search"]
            assert set(search) == {"0.001", "0.003"} and point["lr_grid"] == [0.001, 0.003]
            assert point["lr"] == float(max(sorted(search, key=float), key=search.get))
            assert point["val_acc"] == search[str(point["lr"])]
            assert point["lr_bracketed"] is False  # two rates: the choice is always at an end
        else:  # later seeds reuse it
            first = next(p for p in results["points"] if (p["arm"], p["size"], p["seed"]) == (point["arm"], point["size"], 0))
            assert point["lr"] == first["lr"] and "lr_search" not in point
    assert results["costs"]["digits-vit-p8s4"] == {"parameters": 81370, "flops": 6729408}
    assert results["costs"]["digits-resnet10"] == {"parameters": 77858, "flops": 6565376}


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


def test_finished_runs_are_kept_so_an_interrupted_point_trains_only_what_it_lacks(tiny_results, tmp_path, monkeypatch):
    results = json.loads(tiny_results.read_text())
    runs = sweep.runs_path(tiny_results.parent, TINY)
    last = results["points"][-1]
    assert sorted(p.name for p in runs.glob(f"{last['arm']}-{last['size']}-seed{last['seed']}-*")) == [
        f"{last['arm']}-{last['size']}-seed{last['seed']}-lr{last['lr']:g}.pt"]  # seed 1 trains the chosen rate only
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps({**results, "points": results["points"][:-1]}))
    for kept in runs.glob("*.pt"):  # the sweep of another folder keeps its own runs: copy them across
        target = sweep.runs_path(tmp_path, TINY) / kept.name
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(kept.read_bytes())

    def no_training(*args, **kwargs):
        raise AssertionError("a run that was kept was trained again")

    monkeypatch.setattr(sweep, "_train", no_training)
    again = run_sweep(TINY, path, progress=False)
    redone = again["points"][-1]
    assert {k: v for k, v in redone.items() if k != "seconds"} == {k: v for k, v in last.items() if k != "seconds"}


def test_a_run_stops_once_validation_stops_improving_and_keeps_its_best():
    # at a learning rate of 1e-12 nothing changes: checks 2 and 3 are no better than check 1, patience 2 stops there
    spec = dataclasses.replace(TINY, arms=("digits-vit-p8s4",), sizes=(40,), seeds=1, lrs=(1e-12,))
    point = run_sweep(spec, progress=False)["points"][0]
    assert (point["steps"], point["stop"], point["converged"], point["best_step"]) == (3, "patience", True, 1)
    assert len(point["val_curve"]) == 3 and point["val_acc"] == point["val_curve"][0]


def scripted_fit(curves: dict):
    """A stand-in for ``fit`` that trains nothing: at check ``c`` of a run at rate ``lr`` it writes a marker into the
    model (head bias ``10 * (index of lr) + c``) and measures ``curves[lr][c - 1]``, calling the callbacks as fit
    does."""
    rates = sorted(curves)

    def fit(model, train, val, config, *, device=None, progress=True, callbacks=()):
        history = History()
        state = {"model": model, "history": history, "config": config}
        for check, value in enumerate(curves[config.lr], start=1):
            with torch.no_grad():
                model.head.bias.fill_(10 * (rates.index(config.lr) + 1) + check)
            history.records.append({"step": check, "epoch": float(check), "val_acc": value, "seconds": 0.5 * check})
            state["step"] = check
            for callback in callbacks:
                callback.on_evaluate(state)
            if state.pop("stop", False):
                break
        model.eval()
        for callback in callbacks:
            callback.on_train_end(state)
        return history
    return fit


def test_a_point_records_its_best_check_not_its_last_and_tests_the_best_checks_weights(monkeypatch):
    # rate 1e-3 peaks at check 2 (0.6) and ends at 0.4, stopped by patience 2; rate 3e-3 rises to its cap of 10 steps
    # and ends at its best, 0.55. On the best checks 1e-3 wins; on the last ones 3e-3 would. Catches val_acc or
    # best_step taken from the last check, a rate chosen on the last checks, a stopper that does not restore the best weights, and testing the model
    # trained last instead of the chosen one: the weights tested must be those of check 2 at 1e-3 (marker 12)
    monkeypatch.setattr(sweep, "fit", scripted_fit({1e-3: [0.3, 0.6, 0.5, 0.4, 0.3],
                                                       3e-3: [0.1, 0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.52, 0.54, 0.55]}))
    tested = []
    real_evaluate = sweep.evaluate

    def spy_evaluate(model, data, *args, **kwargs):
        tested.append(model.head.bias.unique().tolist())
        return real_evaluate(model, data, *args, **kwargs)

    monkeypatch.setattr(sweep, "evaluate", spy_evaluate)
    spec = dataclasses.replace(TINY, arms=("digits-vit-p8s4",), sizes=(40,), seeds=1)
    point = run_sweep(spec, progress=False)["points"][0]
    assert point["lr_search"] == {"0.001": 0.6, "0.003": 0.55} and point["lr"] == 1e-3
    assert point["val_curve"] == [0.3, 0.6, 0.5, 0.4] and point["val_steps"] == [1, 2, 3, 4]
    assert (point["val_acc"], point["best_step"], point["steps"], point["stop"]) == (0.6, 2, 4, "patience")
    assert (point["lr_runs"]["0.003"]["stop"], point["lr_runs"]["0.003"]["steps"]) == ("cap", 10)
    assert tested == [[12.0]]  # one look at the test split, with the weights of the best check of the chosen rate


def fake_training(peak: float, calls: list):
    """A stand-in for one training run whose validation accuracy peaks at the rate ``peak`` (on a log scale)."""
    def train(spec, rule, model, train, val, batch_size, lr, seed, device):
        calls.append(lr)
        accuracy = 1 - abs(math.log(lr / peak)) / 10
        return {"val_acc": accuracy, "best_step": 40, "val_curve": [accuracy], "val_steps": [50], "steps": 50,
                "stop": "patience", "converged": True, "train_seconds": 0.0}
    return train


def test_a_choice_at_an_end_of_the_grid_widens_it_until_bracketed(monkeypatch):
    calls = []
    monkeypatch.setattr(sweep, "_train", fake_training(7e-3, calls))
    spec = dataclasses.replace(TINY, arms=("digits-resnet10",), sizes=(40,), seeds=2, lrs=(1e-3, 2e-3, 4e-3), widen=3)
    points = run_sweep(spec, progress=False)["points"]
    # 4e-3 wins, so 8e-3 is tried; it wins, so 1.6e-2 is tried; it loses: 8e-3 is bracketed. Seed 1 reuses 8e-3
    assert calls == [1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2, 8e-3]
    assert points[0]["lr"] == 8e-3 and points[0]["lr_grid"] == [1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2]
    assert points[0]["lr_bracketed"] is True and points[1]["lr"] == 8e-3
    calls.clear()
    monkeypatch.setattr(sweep, "_train", fake_training(1e-4, calls))
    narrow = run_sweep(dataclasses.replace(spec, seeds=1, widen=1), progress=False)
    assert calls == [1e-3, 2e-3, 4e-3, 5e-4]  # widened once, downwards, and still at the end
    assert narrow["points"][0]["lr_bracketed"] is False
    status = cell_status(narrow, "digits-resnet10", 40)
    assert status["status"] == "undecided" and "0.0005 is at an end of the grid" in status["why"][0]


def test_cell_status_names_every_reason_a_point_is_undecided():
    spec = dataclasses.replace(TINY, seeds=3).as_dict()
    good = {"arm": "a", "size": 40, "converged": True, "stop": "patience", "steps": 5}
    points = [{**good, "seed": 0, "lr": 2e-3, "lr_grid": [1e-3, 2e-3, 4e-3], "lr_bracketed": True},
              {**good, "seed": 1}, {**good, "seed": 2}]
    assert cell_status({"spec": spec, "points": points}, "a", 40) == {"status": "converged", "why": [], "seeds": 3}
    capped = [points[0], {**good, "seed": 1, "converged": False, "stop": "cap", "steps": 10}]
    why = cell_status({"spec": spec, "points": capped}, "a", 40)["why"]
    assert why == ["2 of 3 seeds run", "seed 1 reached its cap of 10 steps (still learning)"]
    late = [points[0], points[1], {**good, "seed": 2, "converged": False, "steps": 9}]
    assert cell_status({"spec": spec, "points": late}, "a", 40)["why"] == [
        "seed 2 stopped at step 9, later than 80% of its cap of 10 steps (it may have been still learning)"]
    pre = dict(spec, pretrain_steps=100)
    pretraining = {"lr": 4e-3, "lr_grid": [1e-3, 2e-3, 4e-3], "lr_bracketed": False, "converged": False, "stop": "cap",
                   "steps": 100}
    status = cell_status({"spec": pre, "points": [{**points[0], "pretraining": pretraining}, *points[1:]]}, "a", 40)
    assert status["status"] == "undecided" and status["why"] == [
        "pretraining reached its cap of 100 steps (still learning)",
        "the pretraining rate 0.004 is at an end of its grid [0.001, 0.002, 0.004]"]


def test_a_file_of_another_sweep_is_refused(tiny_results):
    other = dataclasses.replace(TINY, steps=20)
    with pytest.raises(ValueError, match=r"another sweep \(fields that differ: \['steps'\]\)"):
        run_sweep(other, tiny_results, progress=False)
    with pytest.raises(ValueError, match="fields that differ: \\['steps'\\]"):
        load_results(tiny_results, other)


def test_a_truncated_file_or_an_unwritable_folder_is_refused_before_any_training(tmp_path, monkeypatch):
    cut = tmp_path / "cut.json"
    cut.write_text('{"spec": {"name": "tiny"}, "points": [{"arm"')
    with pytest.raises(ValueError, match="cut.json' is not readable JSON"):
        load_results(cut, TINY)

    def no_training(spec):
        raise AssertionError("the data were loaded for training")

    monkeypatch.setattr(sweep, "_Data", no_training)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="path"):
        run_sweep(TINY, blocker / "results.json", progress=False)
    with pytest.raises(ValueError, match="is not readable JSON"):
        run_sweep(TINY, cut, progress=False)


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
    spec = dataclasses.replace(TINY, arms=("digits-vit-p8s4",), sizes=(40,))
    run_sweep(spec, progress=False)
    # seed 0: both learning rates trained, then one test; seed 1: the chosen one, then one test
    assert events == ["fit", "fit", "test", "fit", "test"]


def test_the_pretrain_sweep_pretrains_once_per_size_on_nested_sets_of_A(tmp_path, monkeypatch):
    spec = SweepSpec("tiny-pretrain", "pretrain", "digits", ("digits-vit-p8s4", "digits-resnet10"), sizes=(0, 16, 32),
                     seeds=2, lrs=(1e-3,), steps=10, batch_size=10, eval_every=1, patience=2, warmup_steps=1,
                     widen=0, pretrain_classes=4, pretrain_steps=10, pretrain_eval_every=1, pretrain_patience=2,
                     pretrain_batch_size=8, pretrain_lrs=(1e-3, 2e-3), finetune_per_class=2)
    monkeypatch.setattr(sweep, "HELDOUT_A", 40)  # 10 held-out instances of each class: checked at every step here
    data = sweep._Data(spec)
    small, large = data.A_of(spec, 16), data.A_of(spec, 32)
    assert len(small) == 16 and len(large) == 32 and len(data.heldout_A) == 4 * 10
    assert torch.equal(small.labels.bincount(), torch.full((4,), 4))
    # the smaller A is inside the larger one
    assert all(any(torch.equal(img, other) for other in large.images) for img in small.images[:3])
    path = tmp_path / "pretrain.json"
    results = run_sweep(spec, path, progress=False)
    by_key = {(p["arm"], p["size"], p["seed"]): p for p in results["points"]}
    assert "pretraining" not in by_key[("digits-vit-p8s4", 0, 0)]
    for arm in spec.arms:
        for size in (16, 32):
            first, second = by_key[(arm, size, 0)]["pretraining"], by_key[(arm, size, 1)]["pretraining"]
            assert first == second  # pretrained once, fine-tuned per seed
            assert set(first["lr_search"]) == {"0.001", "0.002"} and first["stop"] in ("patience", "cap")
            assert first["heldout_A_acc"] == max(first["val_curve"])
            assert sweep.pretrained_path(tmp_path, spec, arm, size).exists()
    assert by_key[("digits-vit-p8s4", 16, 0)]["train_size"] == 20  # B: 2 per class
    # resumed with the last seed of the largest size left: the kept model is loaded, nothing is pretrained again
    kept = [p for p in results["points"] if (p["size"], p["seed"]) != (32, 1)]
    path.write_text(json.dumps({**results, "points": kept}))
    searches = []
    real = sweep._search
    monkeypatch.setattr(sweep, "_search", lambda *args, **kw: searches.append(args[-1]) or real(*args, **kw))
    again = run_sweep(spec, path, progress=False)
    assert len(again["points"]) == len(results["points"]) and not any("pretraining" in s for s in searches)
    resumed = {(p["arm"], p["size"], p["seed"]): p for p in again["points"]}
    for arm in spec.arms:
        assert resumed[(arm, 32, 1)]["pretraining"] == by_key[(arm, 32, 0)]["pretraining"]


def test_bad_specs_are_refused():
    with pytest.raises(ValueError, match="kind must be one of"):
        dataclasses.replace(TINY, kind="bigger")
    with pytest.raises(ValueError, match="sizes holds 10, fewer images than batch_size=20"):
        dataclasses.replace(TINY, sizes=(10, 40))
    with pytest.raises(ValueError, match="each of arms must be one of"):
        dataclasses.replace(TINY, arms=("digits-vit", "vgg"))
    for field in ("arms", "lrs", "sizes"):
        with pytest.raises(ValueError, match=f"{field}"):
            dataclasses.replace(TINY, **{field: ()})
    with pytest.raises(ValueError, match="seeds must be a positive int, got 0"):
        dataclasses.replace(TINY, seeds=0)
    with pytest.raises(ValueError, match="eval_every=2 leaves fewer than 10 checks"):
        dataclasses.replace(TINY, eval_every=2)
    with pytest.raises(ValueError, match="decay must be one of"):
        dataclasses.replace(TINY, decay="step")
    pretrain = dict(seeds=1, lrs=(1e-3,), steps=10, batch_size=4, eval_every=1, patience=2, pretrain_classes=4,
                    pretrain_steps=10, pretrain_eval_every=1, pretrain_patience=2, pretrain_lrs=(1e-3,))
    with pytest.raises(ValueError, match="not a multiple of pretrain_classes=4"):
        SweepSpec("p", "pretrain", "digits", ("digits-vit",), sizes=(0, 10), **pretrain)
    with pytest.raises(ValueError, match="pretrain_patience must be a positive int, got 0"):
        SweepSpec("p", "pretrain", "digits", ("digits-vit",), sizes=(0, 8), **{**pretrain, "pretrain_patience": 0})


class Pixels(torch.nn.Module):
    """Each pixel of a grey image is a patch token: ``(B, 1, H, W) -> (B, H * W, 1)``."""

    def forward(self, images):
        return images.flatten(2).transpose(1, 2)


class ReadsThirdToken(torch.nn.Module):
    """Predicts the class written in the token at position 2 (of 4): it sees positions and nothing else."""

    def __init__(self):
        super().__init__()
        self.patch_embed, self.config = Pixels(), SimpleNamespace(num_patches=4)
        self.anchor = torch.nn.Parameter(torch.zeros(()))

    def forward(self, images):
        return torch.nn.functional.one_hot((self.patch_embed(images)[:, 2, 0] * 255).round().long(), 4) + self.anchor


def test_shuffle_agreement_by_hand_and_one_without_positions():
    # replaces "an untrained ViT with positions agrees on < 0.9 of the images", which held for torch seed 0 only (seeds
    # 1-6 gave 1.0). By hand: the drawn order puts token order[2] at position 2; randperm(4) with seed 0 is (0, 1, 3, 2),
    # with seed 3 (2, 3, 1, 0). Images (tokens p0 p1 p2 p3): seed 0 agrees where p3 == p2 (images 0 and 2: 2 of 5),
    # seed 3 where p1 == p2 (image 1: 1 of 5). Catches a hook that does not reorder, an order not drawn from seed,
    # or a comparison with the labels instead of the unshuffled predictions (the labels are all 0 here)
    tokens = torch.tensor([[0, 1, 2, 2], [1, 1, 1, 0], [3, 0, 1, 1], [2, 2, 0, 3], [0, 0, 2, 1]], dtype=torch.uint8)
    data = TensorImageDataset(tokens.view(5, 1, 2, 2), torch.zeros(5), ["a"], mean=[0.0], std=[1.0])
    model = ReadsThirdToken().train()
    assert shuffle_agreement(model, data, seed=0) == 2 / 5
    assert shuffle_agreement(model, data, seed=3) == 1 / 5
    assert model.training and model.patch_embed._forward_hooks == {}  # mode put back, the shuffling hook gone
    blind = create_vit("digits-vit", pos_embed="none").eval()  # no position encoding: blind to the order
    assert shuffle_agreement(blind, load_dataset("digits", "test", limit=100)) == 1.0
    assert blind.patch_embed._forward_hooks == {}


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
                               seeds=1, lrs=(1e-3,), steps=10, batch_size=32)
    monkeypatch.setitem(sweep.SWEEPS["smoke"], "position", spec)
    out = sweep_tool.main(["--profile", "smoke", "--sweep", "position", "--folder", str(tmp_path), "--no-progress"])
    path = tmp_path / "sweep-position-smoke.json"
    written = json.loads(path.read_text())
    assert written == out["position-smoke"]
    assert written["record"]["command"].startswith("python -m vitlib.tools.sweep --profile smoke")
    assert written["record"]["profile"] == "smoke" and written["record"]["torch"] == torch.__version__
    assert {p["arm"]: p["shuffle_agreement"] for p in written["points"]}["none"] == 1.0
    monkeypatch.setitem(sweep.SWEEPS["smoke"], "position", dataclasses.replace(spec, steps=20))
    with pytest.raises(SystemExit):  # the file is another sweep's now: refused before any training
        sweep_tool.main(["--profile", "smoke", "--sweep", "position", "--folder", str(tmp_path), "--no-progress"])
