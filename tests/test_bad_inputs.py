"""Bad inputs across the public API, as a learner would try them: each must raise the named exception with a
message that says what was wrong, the value, and what would be valid (the words matched here), and never
torch's advice to load a file with ``weights_only=False``.

Every case is a function of a temporary folder, so cases that need files make their own.
"""

import io
import math
import pickle
import re
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from vitlib import ViTConfig, create_vit
from vitlib.checkpoint import atomic_write, load_checkpoint, save_checkpoint
from vitlib.data import FractalDataset, TensorImageDataset, load_cifar10, load_dataset, load_image_folder
from vitlib.data import read_cifar10_archive
from vitlib.early_stopping import EarlyStopping
from vitlib.evaluate import evaluate
from vitlib.tools import bench, time_to_target
from vitlib.tools.time_to_target import TimeToTarget
from vitlib.sweep import SweepSpec, load_results, run_sweep
from vitlib.train import Callback, TrainConfig, fit
from vitlib.transfer import prepare_for_task


# --- small things to break ------------------------------------------------------------------------------------
def vit(**overrides):
    settings = dict(image_size=16, in_channels=1, patch_size=4, dim=32, depth=1, heads=2, num_classes=4)
    return create_vit("course-tiny", **{**settings, **overrides})


def toy(n=8, classes=("a", "b", "c", "d"), channels=1):
    images = torch.randint(0, 256, (n, channels, 16, 16), dtype=torch.uint8)
    return TensorImageDataset(images, torch.arange(n) % len(classes), list(classes))


def quick(**changes):
    return TrainConfig(**{**dict(epochs=1, batch_size=8, augment="none"), **changes})


def train(data=None, **kwargs):
    kwargs.setdefault("config", quick())
    return fit(vit(), toy() if data is None else data, progress=False, **kwargs)


def trained(tmp, **changes):
    """A checkpoint of a finished 1-epoch run (one step)."""
    train(config=quick(**changes), checkpoint=tmp / "run.pt")
    return tmp / "run.pt"


def folder(tmp, classes=("cats", "dogs"), count=2):
    for name in classes:
        (tmp / name).mkdir(parents=True)
        for i in range(count):
            Image.new("RGB", (16, 16), (40 * i, 90, 200)).save(tmp / name / f"{i}.png")
    return tmp


def write(tmp, name, content: bytes):
    (tmp / name).write_bytes(content)
    return tmp / name


def truncated(tmp):
    path = save_checkpoint(tmp / "whole.pt", vit())
    return write(tmp, "cut.pt", path.read_bytes()[: path.stat().st_size // 2])


def pickled_object(tmp):
    torch.save(Callback(), tmp / "object.pt")
    return tmp / "object.pt"


def cifar_archive(tmp, members: dict):
    path = tmp / "cifar.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name, blob in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            archive.addfile(info, io.BytesIO(blob))
    return path


class Runs:  # pickles as a call of print: what a crafted archive would do with os.system
    def __reduce__(self):
        return print, ("this ran while unpickling",)


def under_a_file(tmp):
    (tmp / "notes.txt").write_text("a file, not a folder")
    return tmp / "notes.txt" / "run.pt"


def bad_test_split(tmp):
    folder(tmp / "train", ("cats", "dogs"))
    folder(tmp / "test", ("cats", "zebras"))
    return time_to_target.main(["--folder", str(tmp), "--variant", "course-tiny", "--epochs", "1", "--device", "cpu",
                                "--out", str(tmp / "out.json")])


NAN, INF = math.nan, math.inf
GREY = torch.zeros(2, 1, 16, 16)

CASES = [
    # --- data: TensorImageDataset ----------------------------------------------------------------------------
    ("images-list", lambda t: TensorImageDataset([[0]], [0], ["a"]), TypeError, "images must be a uint8 torch.Tensor"),
    ("images-float", lambda t: TensorImageDataset(torch.zeros(2, 1, 4, 4), [0, 0], ["a"]), ValueError,
     r"images must be a uint8 tensor \(N, C, H, W\), got torch.float32"),
    ("classes-a-string", lambda t: TensorImageDataset(torch.zeros(1, 1, 4, 4, dtype=torch.uint8), [0], "abcd"), ValueError, "classes must be a list of class names.*'abcd'"),
    ("classes-empty", lambda t: TensorImageDataset(torch.zeros(0, 1, 4, 4, dtype=torch.uint8), [], []), ValueError,
     "classes must be a non-empty list"),
    ("classes-repeated", lambda t: toy(classes=("a", "b", "a", "c")), ValueError, r"distinct names, but \['a'\]"),
    ("labels-fractional", lambda t: TensorImageDataset(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), [0.5, 1.0],
                                                       ["a", "b"]), ValueError, r"whole class indices.*\[0.5, 1.0\]"),
    ("labels-too-few", lambda t: TensorImageDataset(torch.zeros(3, 1, 4, 4, dtype=torch.uint8), [0, 1], ["a", "b"]),
     ValueError, r"labels must have shape \(3,\), one per image, got \(2,\)"),
    ("labels-beyond-classes", lambda t: TensorImageDataset(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), [0, 2],
                                                           ["a", "b"]), ValueError, "labels must be in 0..1 for 2 classes"),
    ("grey-with-rgb-mean", lambda t: TensorImageDataset(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), [0, 0], ["a"],
                                                        mean=[0.5] * 3, std=[0.2] * 3), ValueError,
     r"mean has 3 values but the images have 1 channel; give one per channel \(mean=\[0.5\]\)"),
    ("std-zero", lambda t: TensorImageDataset(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), [0, 0], ["a"],
                                              mean=[0.5], std=[0.0]), ValueError,
     r"std must be a list of finite numbers > 0, one per channel, got \[0.0\]"),
    ("mean-nan", lambda t: TensorImageDataset(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), [0, 0], ["a"],
                                              mean=[NAN], std=[1.0]), ValueError, r"mean must be a list of finite numbers.*nan"),
    ("std-a-string", lambda t: TensorImageDataset(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), [0, 0], ["a"],
                                                  mean=[0.5], std="0.2"), ValueError, "std must be a list of finite numbers > 0.*'0.2'"),
    ("std-reassigned-to-zero", lambda t: setattr(d := toy(), "std", [0]) or d.batch(torch.arange(2)), ValueError,
     r"std must be a list of finite numbers > 0, one per channel, got \[0\]"),
    ("kind-unknown", lambda t: TensorImageDataset(torch.zeros(1, 1, 4, 4, dtype=torch.uint8), [0], ["a"], kind="faces"),
     ValueError, "kind must be one of 'photo', 'digits', 'none'; got 'faces'"),
    ("subset-per-class-zero", lambda t: toy().stratified_subset(0), ValueError, "per_class must be a positive int, got 0"),
    ("subset-seed-negative", lambda t: toy().stratified_subset(1, seed=-1), ValueError, "seed must be an int >= 0, got -1"),
    # --- data: named datasets, folders, CIFAR-10, fractals -------------------------------------------------------
    ("limit-below-classes", lambda t: load_dataset("digits", "test", limit=5), ValueError,
     r"limit=5 is fewer than the 10 classes of 'digits'.*limit >= 10"),
    ("limit-a-string", lambda t: load_dataset("digits", "test", limit="50"), ValueError,
     "limit must be a positive int, got '50'"),
    ("limit-nan", lambda t: load_dataset("digits", "test", limit=NAN), ValueError, "limit must be a positive int, got nan"),
    ("dataset-seed-negative", lambda t: load_dataset("digits", "test", seed=-3), ValueError,
     "seed must be an int >= 0, got -3"),
    ("dataset-unknown", lambda t: load_dataset("mnist"), ValueError, "name must be one of 'digits', 'cifar10'; got 'mnist'"),
    ("folder-missing", lambda t: load_image_folder(t / "nowhere"), ValueError, "nowhere' \\(not a folder\\)"),
    ("folder-without-classes", lambda t: load_image_folder(t), ValueError, "has no class subfolders"),
    ("folder-empty-class", lambda t: (folder(t), (t / "birds").mkdir(), load_image_folder(t, progress=False)),
     ValueError, r"class folder '.*birds' holds no images .*add some or remove the folder"),
    ("folder-unreadable-image", lambda t: (folder(t), write(t / "dogs", "broken.png", b"not a png"),
                                           load_image_folder(t, progress=False)),
     ValueError, r"cannot read '.*broken.png' as an image .*remove or replace the file"),
    ("folder-unknown-test-class", lambda t: load_image_folder(folder(t, ("cats", "zebras")), classes=["cats", "dogs"],
                                                              progress=False),
     ValueError, r"classes the training data does not have: \['zebras'\] \(training classes: \['cats', 'dogs'\]\)"),
    ("folder-classes-a-string", lambda t: load_image_folder(folder(t), classes="cats", progress=False), ValueError,
     "classes must be a list of class names"),
    ("folder-channels", lambda t: load_image_folder(t, channels=2), ValueError, "channels must be one of 1, 3; got 2"),
    ("folder-image-size", lambda t: load_image_folder(t, image_size=0), ValueError,
     r"image_size must be a positive int or an \(h, w\) pair"),
    ("folder-progress-a-string", lambda t: load_image_folder(t, progress="no"), ValueError,
     "progress must be True or False, got 'no'"),
    ("cifar-runs-code", lambda t: read_cifar10_archive(cifar_archive(t, {"data_batch_1": pickle.dumps(Runs())})),
     ValueError, r"data_batch_1 in .* is not a CIFAR-10 batch, so it was not loaded \(it asks for builtins.print"),
    ("cifar-not-an-archive", lambda t: read_cifar10_archive(write(t, "x.tar.gz", b"hello")), ValueError,
     r"x.tar.gz' is not a CIFAR-10 python archive \(.tar.gz\)"),
    ("cifar-wrong-rows", lambda t: read_cifar10_archive(cifar_archive(t, {"test_batch": pickle.dumps(
        {b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]})})), ValueError,
     r"test_batch in .*: b'data' must be a uint8 array \(n, 3072\), got \(2, 10\)"),
    ("cifar-labels-out-of-range", lambda t: read_cifar10_archive(cifar_archive(t, {"test_batch": pickle.dumps(
        {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 12]})})), ValueError,
     r"b'labels' must be 2 class indices in 0..9"),
    ("cifar-download-flag", lambda t: load_cifar10("train", root=t, download_if_missing="no"), ValueError,
     "download_if_missing must be True or False, got 'no'"),
    ("fractal-seed", lambda t: FractalDataset(2, 2, seed=-1), ValueError, "seed must be an int >= 0, got -1"),
    ("fractal-jitter-nan", lambda t: FractalDataset(2, 2, jitter=NAN), ValueError, "jitter must be a number >= 0, got nan"),
    ("fractal-channels", lambda t: FractalDataset(2, 2, channels=2), ValueError, "channels must be one of 1, 3; got 2"),
    ("fractal-render-index", lambda t: FractalDataset(2, 2).render([4]), IndexError,
     "index 4 out of range for a FractalDataset of 4 images"),
    # --- model ---------------------------------------------------------------------------------------------
    ("model-uint8-images", lambda t: vit()(GREY.to(torch.uint8)), TypeError,
     r"images are torch.uint8 \(raw pixels\?\) .*normalise them first"),
    ("model-float64-images", lambda t: vit()(GREY.double()), TypeError,
     r"images are torch.float64 but the model's weights are torch.float32; convert them with images.to"),
    ("model-rgb-into-grey", lambda t: vit()(torch.zeros(2, 3, 16, 16)), ValueError,
     "images have 3 channels but the model was built for in_channels=1"),
    ("model-mlp-ratio-zero", lambda t: ViTConfig(mlp_ratio=0), ValueError, "mlp_ratio must be a number > 0, got 0"),
    ("model-mlp-ratio-string", lambda t: ViTConfig(mlp_ratio="4"), ValueError, "mlp_ratio must be a number > 0, got '4'"),
    ("model-qkv-bias-string", lambda t: ViTConfig(qkv_bias="yes"), ValueError, "qkv_bias must be True or False, got 'yes'"),
    ("model-dropout-nan", lambda t: ViTConfig(dropout=NAN), ValueError, r"dropout must be a number in \[0, 1\), got nan"),
    ("model-unknown-field", lambda t: vit(width=3), TypeError, r"unknown ViTConfig field\(s\) \['width'\]"),
    ("model-new-head-zero", lambda t: vit().reset_head(0), ValueError, "num_classes must be a positive int, got 0"),
    ("transfer-not-a-vit", lambda t: prepare_for_task(vit().state_dict(), 3), TypeError,
     "pretrained must be a vitlib ViT or ResNet .*got OrderedDict"),
    ("transfer-mode", lambda t: prepare_for_task(vit(), 3, mode="probe"), ValueError,
     "mode must be one of 'fine-tune', 'linear-probe'; got 'probe'"),
    # --- training: TrainConfig -----------------------------------------------------------------------------
    ("config-epochs-inf", lambda t: TrainConfig(epochs=INF), ValueError, "epochs must be a number > 0, got inf"),
    ("config-epochs-string", lambda t: TrainConfig(epochs="3"), ValueError, "epochs must be a number > 0, got '3'"),
    ("config-eval-every-zero", lambda t: TrainConfig(eval_every=0), ValueError, "eval_every must be a number > 0, got 0"),
    ("config-grad-clip-negative", lambda t: TrainConfig(grad_clip=-1.0), ValueError,
     "grad_clip must be a number > 0, got -1.0"),
    ("config-weight-decay-negative", lambda t: TrainConfig(weight_decay=-0.1), ValueError,
     "weight_decay must be a number >= 0, got -0.1"),
    ("config-amp-string", lambda t: TrainConfig(amp="no"), ValueError, "amp must be True or False, got 'no'"),
    ("config-compile-int", lambda t: TrainConfig(compile=1), ValueError, "compile must be True or False, got 1"),
    ("config-seed-bool", lambda t: TrainConfig(seed=True), ValueError, "seed must be an int >= 0, got True"),
    ("config-mixup-nan", lambda t: TrainConfig(mixup=NAN), ValueError, "mixup must be a number >= 0, got nan"),
    ("config-warmup-inf", lambda t: TrainConfig(warmup_epochs=INF), ValueError, "warmup_epochs must be a number >= 0, got inf"),
    ("config-changed-after-making", lambda t: setattr(c := quick(), "epochs", INF) or train(config=c), ValueError,
     "epochs must be a number > 0, got inf"),
    # --- training: fit's arguments -------------------------------------------------------------------------
    ("fit-no-model", lambda t: fit(None, toy(), config=quick(), progress=False), TypeError,
     "model must be a vitlib ViT .*got NoneType"),
    ("fit-data-not-a-dataset", lambda t: fit(vit(), 5, config=quick(), progress=False), TypeError,
     "train_data must be a Dataset of \\(image, label\\) pairs .*got int"),
    ("fit-data-a-tensor", lambda t: fit(vit(), torch.zeros(4, 1, 16, 16), config=quick(), progress=False), ValueError,
     r"items must be \(image, label\) pairs with image a tensor \(C, H, W\)"),
    ("fit-device-unknown", lambda t: train(device="gpu"), ValueError,
     r"device must be 'cpu', 'cuda', 'cuda:N' or 'mps' \(or a torch.device\), got 'gpu'"),
    ("fit-callbacks-not-a-list", lambda t: train(callbacks=EarlyStopping()), TypeError,
     r"callbacks must be a list of Callback objects, e.g. callbacks=\[EarlyStopping\(\)\], got EarlyStopping"),
    ("fit-callback-a-function", lambda t: train(callbacks=[print]), TypeError,
     "each callback must be a Callback, got builtin_function_or_method"),
    ("fit-resume-string", lambda t: train(resume="yes"), ValueError, "resume must be True or False, got 'yes'"),
    ("fit-val-classes-differ", lambda t: train(val_data=toy(classes=("a", "b", "c", "zebra"))), ValueError,
     r"val_data and train_data have different classes \(only in val_data: \['zebra'\]; only in train_data: \['d'\]\)"),
    ("fit-val-classes-reordered", lambda t: train(val_data=toy(classes=("b", "a", "c", "d"))), ValueError,
     "the same names in another order.*classes=train_data.classes"),
    ("fit-checkpoint-under-a-file", lambda t: train(checkpoint=under_a_file(t)), ValueError,
     r"checkpoint '.*run.pt' cannot be written: '.*notes.txt' is a file, not a folder"),
    ("fit-checkpoint-a-folder", lambda t: train(checkpoint=t), ValueError,
     r"checkpoint '.*' is a folder; give a file inside it, e.g. '.*run.pt'"),
    ("fit-checkpoint-a-number", lambda t: train(checkpoint=3), TypeError,
     r"checkpoint must be a file path \(a str or pathlib.Path\), got 3"),
    ("fit-resume-model-only", lambda t: train(checkpoint=save_checkpoint(t / "m.pt", vit())), ValueError,
     r"holds a model but not a training run \(no optimizer, step, history\)"),
    ("fit-resume-plain-state-dict", lambda t: (torch.save(vit().state_dict(), t / "s.pt"), train(checkpoint=t / "s.pt")),
     ValueError, "is a plain state dict .*model.load_state_dict"),
    ("fit-resume-other-config", lambda t: train(config=quick(epochs=2, lr=0.01), checkpoint=trained(t)), ValueError,
     r"different TrainConfig \(epochs: checkpoint 1 vs now 2, lr: checkpoint 0.001 vs now 0.01\); .*new_config=True"),
    ("fit-resume-past-the-end", lambda t: train(config=quick(epochs=1), checkpoint=trained(t, epochs=3),
                                                new_config=True), ValueError,
     r"is at step 3, past the end of this config's run \(epochs=1: 1 step\); raise epochs"),
    ("fit-resume-other-model", lambda t: fit(vit(dim=64), toy(), config=quick(), checkpoint=trained(t), progress=False),
     ValueError, r"different model config \(dim: checkpoint 32 vs model 64\); build the model from the checkpoint's"),
    ("evaluate-batch-size", lambda t: evaluate(vit(), toy(), batch_size=0), ValueError, "batch_size must be a positive int, got 0"),
    ("evaluate-device", lambda t: evaluate(vit(), toy(), device="tpu"), ValueError, "device must be 'cpu'.*got 'tpu'"),
    ("early-stopping-key", lambda t: EarlyStopping(key="val_f1"), ValueError,
     "key must be one of 'val_acc', 'train_acc', 'val_loss', 'train_loss'; got 'val_f1'"),
    ("early-stopping-patience", lambda t: EarlyStopping(patience=1.5), ValueError, "patience must be a positive int, got 1.5"),
    ("early-stopping-min-delta", lambda t: EarlyStopping(min_delta=-1), ValueError, "min_delta must be a number >= 0, got -1"),
    ("early-stopping-restore", lambda t: EarlyStopping(restore_best="no"), ValueError,
     "restore_best must be True or False, got 'no'"),
    ("target-above-one", lambda t: TimeToTarget(1.5), ValueError, r"target must be a number in \[0, 1\], got 1.5"),
    # --- checkpoints ---------------------------------------------------------------------------------------
    ("load-missing", lambda t: load_checkpoint(t / "gone.pt"), FileNotFoundError, r"checkpoint '.*gone.pt' does not exist"),
    ("load-a-folder", lambda t: load_checkpoint(t), ValueError, "is a folder, not a checkpoint file"),
    ("load-empty", lambda t: load_checkpoint(write(t, "e.pt", b"")), ValueError,
     r"checkpoint '.*e.pt' is empty \(0 bytes\).*delete it"),
    ("load-truncated", lambda t: load_checkpoint(truncated(t)), ValueError,
     r"checkpoint '.*cut.pt' is damaged or not a checkpoint file .*delete it"),
    ("load-random-bytes", lambda t: load_checkpoint(write(t, "r.pt", np.random.default_rng(0).bytes(500))), ValueError,
     r"checkpoint '.*r.pt' is damaged or not a checkpoint file"),
    ("load-text", lambda t: load_checkpoint(write(t, "t.pt", b"hello world")), ValueError,
     r"checkpoint '.*t.pt' is damaged or not a checkpoint file"),
    ("load-python-objects", lambda t: load_checkpoint(pickled_object(t)), ValueError,
     r"holds Python objects \(vitlib.train.Callback\) besides tensors.*Save model.state_dict\(\)"),
    ("load-plain-state-dict", lambda t: (torch.save(vit().state_dict(), t / "s.pt"), load_checkpoint(t / "s.pt")),
     ValueError, r"'.*s.pt' is a plain state dict \(parameter name -> tensor\)"),
    ("load-other-dict", lambda t: (torch.save({"epoch": 3}, t / "d.pt"), load_checkpoint(t / "d.pt")), ValueError,
     r"is not a vitlib checkpoint: it has no 'model' and 'model_config' \(its keys: \['epoch'\]\)"),
    ("load-a-list", lambda t: (torch.save([1, 2], t / "l.pt"), load_checkpoint(t / "l.pt")), ValueError,
     "is not a vitlib checkpoint: it holds a list, not a dict"),
    ("load-map-location", lambda t: load_checkpoint(save_checkpoint(t / "m.pt", vit()), map_location="gpu"), ValueError,
     "device must be 'cpu'.*got 'gpu'"),
    ("save-object-extra", lambda t: save_checkpoint(t / "m.pt", vit(), config=quick()), TypeError,
     r"config must be plain data .* got a TrainConfig; for a dataclass pass dataclasses.asdict"),
    ("save-model-config-extra", lambda t: save_checkpoint(t / "m.pt", vit(), model_config={}), ValueError,
     "model_config is written by save_checkpoint from model.config"),
    ("save-not-a-model", lambda t: save_checkpoint(t / "m.pt", {"w": torch.zeros(1)}), TypeError,
     "model must be a Module, got dict"),
    ("atomic-write-text", lambda t: atomic_write(t / "a.txt", "hello"), TypeError,
     "write must be a function that writes the file it is given, got str"),
    ("save-under-a-file", lambda t: save_checkpoint(under_a_file(t), vit()), OSError,
     r"could not write '.*notes.txt/run.pt'"),
    # --- tools ---------------------------------------------------------------------------------------------
    ("ttt-test-class-not-trained", bad_test_split, ValueError,
     r"test' has classes the training data does not have: \['zebras'\]"),
    # --- types checked before they are compared ------------------------------------------------------------------
    ("dropout-a-string", lambda t: vit(dropout="0.1"), ValueError, r"dropout must be a number in \[0, 1\), got '0.1'"),
    ("label-smoothing-a-string", lambda t: quick(label_smoothing="0.1"), ValueError,
     r"label_smoothing must be a number in \[0, 1\), got '0.1'"),
    ("decay-unknown", lambda t: quick(decay="linear"), ValueError, "decay must be one of 'cosine', 'constant'; got 'linear'"),
    # --- sweeps and their results ------------------------------------------------------------------------------
    ("sweep-no-sizes", lambda t: sweep_with(sizes=()), ValueError, r"a 'scratch' sweep needs sizes, at least one, got \(\)"),
    ("sweep-no-arms", lambda t: sweep_with(arms=()), ValueError, r"arms must name at least one, got \(\)"),
    ("sweep-no-seeds", lambda t: sweep_with(seeds=0), ValueError, "seeds must be a positive int, got 0"),
    ("sweep-rare-checks", lambda t: sweep_with(eval_every=5), ValueError,
     "eval_every=5 leaves fewer than 10 checks in max_steps=10"),
    ("raw-pickle-with-a-global", lambda t: load_checkpoint(write(t, "raw.pt", pickle.dumps({"a": Runs()}, protocol=5))),
     ValueError, r"holds Python objects \(builtins.print\) besides tensors and plain data; vitlib loads only those"),
    ("results-truncated", lambda t: load_results(write(t, "r.json", b'{"spec": {"na'), None), ValueError,
     r"r.json' is not readable JSON .*restore it from git, or delete it"),
    ("results-not-a-sweep", lambda t: load_results(write(t, "r.json", b'{"points": []}'), None), ValueError,
     r"r.json' is not a sweep's results file \(it needs 'spec' and 'points'\)"),
    ("results-missing", lambda t: load_results(t / "none.json"), FileNotFoundError, "run the sweep first"),
    ("sweep-into-a-file", lambda t: run_sweep(sweep_with(), under_a_file(t), progress=False), ValueError,
     "is a file, not a folder"),
]


def sweep_with(**changes):
    settings = dict(name="t", kind="scratch", data="digits", arms=("digits-vit-p8s4",), sizes=(40,), seeds=1,
                    lrs=(1e-3,), steps=10, batch_size=20, eval_every=1, patience=2)
    return SweepSpec(**{**settings, **changes})

TOOL_CASES = [
    (time_to_target.main, ["--dataset", "digits", "--target", "1.5"], r"--target must be a number in \[0, 1\], got 1.5"),
    (time_to_target.main, ["--dataset", "digits", "--epochs", "inf"], "epochs must be a number > 0, got inf"),
    (time_to_target.main, ["--dataset", "digits", "--lr", "nan"], "lr must be a number > 0, got nan"),
    (time_to_target.main, ["--dataset", "digits", "--batch-size", "0"], "batch_size must be a positive int, got 0"),
    (time_to_target.main, ["--dataset", "digits", "--device", "gpu"], "device must be 'cpu', 'cuda', 'cuda:N' or 'mps'"),
    (time_to_target.main, ["--dataset", "digits", "--variant", "XL/99"], "variant must be one of 'Ti/16'"),
    (time_to_target.main, ["--dataset", "digits", "--out", "{tmp}/notes.txt/r.json"], "is a file, not a folder"),
    (bench.main, ["--device", "gpu"], "device must be 'cpu', 'cuda', 'cuda:N' or 'mps'"),
    (bench.main, ["--out", "{tmp}"], "--out '.*' is a folder; give a file inside it"),
]


@pytest.mark.parametrize("make, error, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_input_says_what_to_change(tmp_path, make, error, words):
    with pytest.raises(error, match=words) as info:
        make(tmp_path)
    assert "weights_only=False" not in str(info.value)


@pytest.mark.parametrize("main, argv, words", TOOL_CASES, ids=[" ".join(c[1][-2:]) for c in TOOL_CASES])
def test_a_tool_refuses_bad_arguments_before_any_work(tmp_path, capsys, main, argv, words):
    (tmp_path / "notes.txt").write_text("a file")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    with pytest.raises(SystemExit):
        main(argv)
    err = capsys.readouterr().err
    assert re.search(words, err), err


def test_the_table_is_large_enough():
    assert len(CASES) + len(TOOL_CASES) >= 60 and len({c[0] for c in CASES}) == len(CASES)


def test_an_unwritable_checkpoint_is_refused_before_training(tmp_path, monkeypatch):
    steps = []
    monkeypatch.setattr(torch.optim.AdamW, "step", lambda *args, **kwargs: steps.append(1))
    with pytest.raises(ValueError, match="is a file, not a folder"):
        train(checkpoint=under_a_file(tmp_path))
    assert steps == [] and (tmp_path / "notes.txt").read_text() == "a file, not a folder"


def test_a_refused_resume_leaves_the_model_bit_for_bit_as_it_was(tmp_path):
    # a linear-probe checkpoint (one trainable tensor group) resumed as a fine-tune (every weight trainable)
    probe = prepare_for_task(vit(), 4, mode="linear-probe")
    fit(probe, toy(), config=quick(), checkpoint=tmp_path / "probe.pt", progress=False)
    model = vit()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="optimizer state in .*probe.pt' does not fit this model's trainable"):
        fit(model, toy(), config=quick(), checkpoint=tmp_path / "probe.pt", progress=False, new_config=True)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
