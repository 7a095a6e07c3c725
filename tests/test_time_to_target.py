import json

import pytest
from PIL import Image

import vitlib.tools.time_to_target as ttt
from vitlib.profile import get_profile
from vitlib.tools.time_to_target import main


def two_colours(tmp_path):
    for split, count in (("train", 16), ("test", 8)):
        for c, colour in enumerate([(250, 20, 20), (20, 20, 250)]):
            folder = tmp_path / "data" / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(count // 2):
                Image.new("RGB", (32, 32), tuple(max(0, v - 3 * i) for v in colour)).save(folder / f"{i}.png")
    return tmp_path / "data"


TINY = ["--variant", "course-tiny", "--epochs", "3", "--batch-size", "8", "--lr", "3e-3", "--device", "cpu",
        "--augment", "photo", "--mixup", "0", "--cutmix", "0"]


def test_time_to_target_on_a_tiny_image_folder(tmp_path):
    out = tmp_path / "result.json"
    result = main(["--folder", str(two_colours(tmp_path)), *TINY, "--target", "0.5", "--out", str(out)])
    saved = json.loads(out.read_text())
    # the validation split: the first tenth of each training class, at least one image (8 per class here)
    assert saved["train_images"] == 14 and saved["val_images"] == 2 and saved["test_images"] == 8
    assert saved["model"]["num_classes"] == 2 and saved["target_measured_on"] == "validation"
    assert len(saved["history"]) == 3 and saved["history"][-1]["epoch"] == 3.0
    assert saved["final_test_accuracy"] == result["final_test_accuracy"]
    assert saved["final_test_accuracy"] == 1.0  # red against blue is easy
    first = next(r for r in saved["history"] if r["val_acc"] >= 0.5)
    assert saved["reached"] == {"epoch": first["epoch"], "seconds": first["seconds"], "val_acc": first["val_acc"]}
    assert saved["command"].startswith("python -m vitlib.tools.time_to_target --folder")
    assert saved["finished"] is True and saved["train_config"]["augment"] == "photo"


def test_a_run_cut_short_leaves_its_curve(tmp_path, monkeypatch):
    def killed(*args, **kwargs):  # as if the machine's time ran out after the last epoch
        raise KeyboardInterrupt

    monkeypatch.setattr(ttt, "evaluate", killed)
    out = tmp_path / "result.json"
    with pytest.raises(KeyboardInterrupt):
        main(["--folder", str(two_colours(tmp_path)), *TINY, "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["finished"] is False and [r["epoch"] for r in saved["history"]] == [1.0, 2.0, 3.0]


def test_defaults_are_the_gpu_profile_recipe(tmp_path, capsys):
    gpu = get_profile("gpu")
    args = ttt.with_profile_defaults(ttt._parser().parse_args(["--folder", "x"]))
    assert (args.variant, args.epochs, args.batch_size, args.lr, args.warmup_epochs, args.augment, args.mixup,
            args.cutmix) == (gpu.train_variant, gpu.epochs, gpu.batch_size, gpu.lr, gpu.warmup_epochs, gpu.augment,
                             gpu.mixup, gpu.cutmix)
    with pytest.raises(SystemExit):  # refused before any data is read
        main(["--folder", str(tmp_path / "missing"), "--mixup", "-1"])
    assert "mixup must be a number >= 0, got -1.0" in capsys.readouterr().err


def test_a_test_split_with_fewer_classes_is_scored_by_class_name(tmp_path):
    root = two_colours(tmp_path)
    for image in (root / "test" / "class0").iterdir():  # the test split holds only class1 (blue)
        image.unlink()
    (root / "test" / "class0").rmdir()
    out = tmp_path / "result.json"
    with pytest.warns(UserWarning, match="mapped onto the training classes by name"):
        result = main(["--folder", str(root), *TINY, "--out", str(out)])
    assert result["test_images"] == 4 and result["final_test_accuracy"] == 1.0  # blue is class 1, not class 0


def test_the_cpu_profile_times_the_digits_recipe():
    cpu = get_profile("cpu")
    args = ttt.with_profile_defaults(ttt._parser().parse_args(["--profile", "cpu", "--epochs", "2"]))
    assert (args.dataset, args.variant, args.epochs, args.batch_size, args.lr) == (
        "digits", cpu.train_variant, 2.0, cpu.batch_size, cpu.lr)


def test_the_test_split_is_evaluated_once_at_the_end(tmp_path, monkeypatch):
    seen = []
    real_fit, real_evaluate = ttt.fit, ttt.evaluate

    def spy_fit(model, train, val, *args, **kwargs):
        seen.append(("fit on", len(train), "validated on", len(val)))
        return real_fit(model, train, val, *args, **kwargs)

    def spy_evaluate(model, data, **kwargs):
        seen.append(("evaluate", len(data)))
        return real_evaluate(model, data, **kwargs)

    monkeypatch.setattr(ttt, "fit", spy_fit)
    monkeypatch.setattr(ttt, "evaluate", spy_evaluate)
    main(["--folder", str(two_colours(tmp_path)), *TINY, "--out", str(tmp_path / "r.json")])
    assert seen == [("fit on", 14, "validated on", 2), ("evaluate", 8)]


def test_a_candidate_recipe_changes_fields_of_the_variant(tmp_path):
    out = tmp_path / "result.json"
    main(["--folder", str(two_colours(tmp_path)), *TINY, "--epochs", "1", "--model-option", "pool=mean", "depth=1",
          "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["model_options"] == {"pool": "mean", "depth": 1}
    assert (saved["model"]["pool"], saved["model"]["depth"]) == ("mean", 1)
    assert saved["model"]["image_size"] == [32, 32] and saved["model"]["num_classes"] == 2  # still from the data
    assert "--model-option pool=mean depth=1" in saved["command"]


def test_a_bad_model_option_is_refused_before_the_data_is_read(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--folder", str(tmp_path / "missing"), *TINY, "--model-option", "pool=max"])
    assert "pool must be one of" in capsys.readouterr().err


def test_a_changed_model_is_written_under_its_own_name(tmp_path, monkeypatch):
    data = two_colours(tmp_path)
    monkeypatch.chdir(tmp_path)  # the default file goes to results/ under the working folder
    main(["--folder", str(data), *TINY, "--epochs", "1", "--model-option", "pool=mean", "depth=1"])
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["time-to-target-folder-poolmean-depth1-cpu.json"]
