import json

from PIL import Image

from vitlib.time_to_target import main


def test_time_to_target_on_a_tiny_image_folder(tmp_path):
    for split, count in (("train", 16), ("test", 8)):
        for c, colour in enumerate([(250, 20, 20), (20, 20, 250)]):
            folder = tmp_path / "data" / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(count // 2):
                Image.new("RGB", (32, 32), tuple(max(0, v - 3 * i) for v in colour)).save(folder / f"{i}.png")
    out = tmp_path / "result.json"
    result = main(["--folder", str(tmp_path / "data"), "--variant", "course-tiny", "--epochs", "3",
                   "--batch-size", "8", "--lr", "3e-3", "--target", "0.5", "--device", "cpu", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["train_images"] == 16 and saved["test_images"] == 8 and saved["model"]["num_classes"] == 2
    assert len(saved["history"]) == 3 and saved["history"][-1]["epoch"] == 3.0
    assert saved["final_test_accuracy"] == result["final_test_accuracy"]
    assert saved["final_test_accuracy"] == 1.0  # red against blue is easy
    first = next(r for r in saved["history"] if r["val_acc"] >= 0.5)
    assert saved["reached"] == {"epoch": first["epoch"], "seconds": first["seconds"], "val_acc": first["val_acc"]}
    assert saved["command"].startswith("python -m vitlib.time_to_target --folder")
