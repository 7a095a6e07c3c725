import io
import math
import os
import pickle
import tarfile
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
from PIL import Image

from vitlib import data
from vitlib.data import FractalDataset, TensorImageDataset, load_digits, load_image_folder, read_cifar10_archive
from vitlib.data import cifar
from vitlib.data.cifar import CIFAR10_MD5, first_of_each_class
from vitlib.data.download import md5sum


def test_bundled_digits_split_is_fixed_and_stratified():
    train, val, test = load_digits("train"), load_digits("val"), load_digits("test")
    assert (len(train), len(val), len(test)) == (3500, 500, 1000)
    assert train.image_shape == (1, 28, 28) and train.images.dtype == torch.uint8
    assert torch.equal(torch.bincount(test.labels), torch.full((10,), 100))
    assert torch.equal(torch.bincount(val.labels), torch.full((10,), 50))
    assert torch.equal(torch.bincount(train.labels), torch.full((10,), 350))
    everything = load_digits("all")
    assert len(everything) == 5000
    # the three splits are disjoint and make up the whole: no image of one is in another
    flat = {split: {bytes(x.numpy()) for x in d.images} for split, d in (("train", train), ("val", val), ("test", test))}
    assert not (flat["train"] & flat["val"]) and not (flat["train"] & flat["test"]) and not (flat["val"] & flat["test"])
    assert len(flat["train"] | flat["val"] | flat["test"]) == len({bytes(x.numpy()) for x in everything.images})
    image, label = test[0]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32 and 0 <= label < 10
    assert torch.equal(load_digits("test").images, test.images)  # the same split every time


def write_cifar_archive(path, per_batch=3):
    """A small archive in the official CIFAR-10 python format: pickled dicts of uint8 rows
    (1024 red, 1024 green, 1024 blue values of a 32x32 image) and labels."""
    rng = np.random.default_rng(0)
    batches = {}
    with tarfile.open(path, "w:gz") as archive:
        def add(name, obj):
            blob = pickle.dumps(obj)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            archive.addfile(info, io.BytesIO(blob))

        add("batches.meta", {b"label_names": [c.encode() for c in data.CIFAR10_CLASSES]})
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            rows = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
            labels = rng.integers(0, 10, size=per_batch).tolist()
            batches[name] = (rows, labels)
            add(name, {b"data": rows, b"labels": labels, b"batch_label": name.encode()})
    return batches


def test_cifar10_reader_parses_the_official_layout(tmp_path):
    batches = write_cifar_archive(tmp_path / "cifar-10-python.tar.gz")
    splits = read_cifar10_archive(tmp_path / "cifar-10-python.tar.gz")
    train, test = splits["train"], splits["test"]
    assert len(train) == 15 and len(test) == 3 and train.image_shape == (3, 32, 32)
    rows, labels = batches["data_batch_2"]
    image = train.images[3]  # first image of the second batch
    assert torch.equal(image[0].flatten(), torch.from_numpy(rows[0, :1024]))  # red plane first
    assert torch.equal(image[2, 31], torch.from_numpy(rows[0, 3072 - 32 :]))  # last row of blue
    assert train.labels[3].item() == labels[0]
    assert train.classes == data.CIFAR10_CLASSES


def test_cifar10_validation_is_the_first_of_each_class(tmp_path, monkeypatch):
    labels = torch.tensor([3, 1, 3, 3, 1, 0, 1, 0])
    assert first_of_each_class(labels, 2).tolist() == [True, True, True, False, True, True, False, True]
    with pytest.raises(ValueError, match="per_class=3 but class 0 has only 2 items"):
        first_of_each_class(labels, 3)
    path = tmp_path / "cifar-10-python.tar.gz"
    write_cifar_archive(path, per_batch=40)  # 200 training images
    monkeypatch.setattr(cifar, "CIFAR10_MD5", md5sum(path))
    monkeypatch.setattr(cifar, "VAL_PER_CLASS", 2)
    full = read_cifar10_archive(path)["train"]
    train, val = data.load_cifar10("train", root=tmp_path), data.load_cifar10("val", root=tmp_path)
    assert len(val) == 20 and len(train) == 180 and torch.equal(torch.bincount(val.labels), torch.full((10,), 2))
    expected = first_of_each_class(full.labels, 2)
    assert torch.equal(val.images, full.images[expected]) and torch.equal(train.images, full.images[~expected])


def test_cifar10_checks_its_checksum(tmp_path):
    write_cifar_archive(tmp_path / "cifar-10-python.tar.gz")
    with pytest.raises(RuntimeError, match="MD5"):
        data.load_cifar10("train", root=tmp_path)


def test_cifar10_without_network_says_where_to_put_the_archive(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(RuntimeError) as info:
        data.load_cifar10("test", root=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "cifar-10-python.tar.gz") in message and CIFAR10_MD5 in message
    assert not list(tmp_path.iterdir())  # nothing half-written left behind


def test_image_folder(tmp_path):
    for c, colour in [("cats", (255, 0, 0)), ("dogs", (0, 0, 255))]:
        (tmp_path / c).mkdir()
        for i in range(3):
            Image.new("RGB", (20 + i, 16), colour).save(tmp_path / c / f"{i}.png")
    (tmp_path / "notes.txt").write_text("not a class")
    dataset = load_image_folder(tmp_path, image_size=16, progress=False)
    assert dataset.classes == ["cats", "dogs"] and len(dataset) == 6
    assert dataset.image_shape == (3, 16, 16)
    assert dataset.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert dataset.images[0, 0].float().mean() > 250 and dataset.images[5, 2].float().mean() > 250
    with pytest.raises(ValueError, match="different sizes.*image_size"):
        load_image_folder(tmp_path, progress=False)
    with pytest.raises(ValueError, match="not a folder"):
        load_image_folder(tmp_path / "missing")


def test_fractals_are_deterministic_per_index():
    dataset = FractalDataset(num_classes=6, per_class=5, image_size=24, seed=3)
    assert len(dataset) == 30 and dataset.image_shape == (1, 24, 24)
    all_images = dataset.render(range(30))
    some = dataset.render([17, 4, 29])
    assert torch.equal(some, all_images[[17, 4, 29]])  # same image whatever the batch
    again = FractalDataset(num_classes=6, per_class=5, image_size=24, seed=3).render([17])
    assert torch.equal(again[0], all_images[17])
    other_seed = FractalDataset(num_classes=6, per_class=5, image_size=24, seed=4).render([17])
    assert not torch.equal(other_seed[0], all_images[17])
    assert (all_images > 0).float().mean(dim=(1, 2, 3)).min() > 0.03  # every image draws something
    image, label = dataset[12]
    assert label == 2 and image.shape == (1, 24, 24)


def test_fractal_instances_resemble_their_class():
    dataset = FractalDataset(num_classes=8, per_class=6, image_size=32, seed=0)
    images = (dataset.render(range(48)).float() / 255).flatten(1)  # (48, 1024)
    images = torch.nn.functional.normalize(images - images.mean(1, keepdim=True), dim=1)
    similarity = images @ images.T
    same = dataset.labels_of(torch.arange(48))[:, None] == dataset.labels_of(torch.arange(48))[None, :]
    off_diagonal = ~torch.eye(48, dtype=torch.bool)
    assert similarity[same & off_diagonal].mean() > similarity[~same].mean() + 0.05


def test_tensor_dataset_checks_its_inputs():
    with pytest.raises(ValueError, match="uint8"):
        TensorImageDataset(torch.zeros(2, 1, 4, 4), torch.zeros(2), ["a"])
    with pytest.raises(ValueError, match=r"labels must be in 0..1 for 2 classes.*to 5"):
        TensorImageDataset(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.tensor([0, 5]), ["a", "b"])


def test_stratified_subset():
    subset = load_digits("train").stratified_subset(7, seed=1)
    assert len(subset) == 70 and torch.equal(torch.bincount(subset.labels), torch.full((10,), 7))
    assert not torch.equal(subset.images, load_digits("train").stratified_subset(7, seed=2).images)


def test_load_dataset_by_name_with_a_limit():
    dataset = data.load_dataset("digits", "test", limit=50)
    assert len(dataset) == 50 and torch.equal(torch.bincount(dataset.labels), torch.full((10,), 5))
    assert len(data.load_dataset("digits", "train")) == 3500 and len(data.load_dataset("digits", "val")) == 500
    with pytest.raises(ValueError, match="name must be one of 'digits', 'cifar10'; got 'mnist'"):
        data.load_dataset("mnist")


def test_loaders_name_their_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="limit must be a positive int, got 0"):
        data.load_dataset("digits", "test", limit=0)
    with pytest.raises(ValueError, match="split must be one of 'train', 'val', 'test', 'all'; got 'validation'"):
        load_digits("validation")
    with pytest.raises(ValueError, match="channels must be one of 1, 3; got 4"):
        load_image_folder(tmp_path, channels=4)
    with pytest.raises(ValueError, match="num_classes must be a positive int, got True"):
        FractalDataset(num_classes=True)
    with pytest.raises(ValueError, match="chunk must be a positive int, got 0"):
        FractalDataset(num_classes=2, per_class=2).to_tensor_dataset(chunk=0)


def test_image_folder_ignores_hidden_entries_and_maps_a_test_split_by_name(tmp_path):
    for split, classes in (("train", ["cats", "dogs", "owls"]), ("test", ["dogs", "owls"])):
        for name in classes:
            (tmp_path / split / name).mkdir(parents=True)
            Image.new("L", (8, 8), {"cats": 0, "dogs": 100, "owls": 200}[name]).save(tmp_path / split / name / "0.png")
    checkpoints = tmp_path / "train" / ".ipynb_checkpoints"  # Jupyter's, with an image in it
    checkpoints.mkdir()
    Image.new("L", (8, 8)).save(checkpoints / "0-checkpoint.png")
    Image.new("L", (8, 8)).save(tmp_path / "train" / "cats" / ".hidden.png")
    train = load_image_folder(tmp_path / "train", channels=1, progress=False)
    assert train.classes == ["cats", "dogs", "owls"] and len(train) == 3
    with pytest.warns(UserWarning, match=r"has 2 of the 3 training classes \(none of \['cats'\]\); its labels are "
                                         "mapped onto the training classes by name"):
        test = load_image_folder(tmp_path / "test", channels=1, progress=False, classes=train.classes)
    assert test.classes == train.classes and test.labels.tolist() == [1, 2]  # dogs, owls: by name, not 0, 1
    assert torch.equal(test.images, train.images[1:])


class Trap:
    """Unpickles as a call of os.makedirs: what a crafted archive would do with something worse."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return os.makedirs, (self.path,)


def test_cifar10_reader_never_runs_code_from_the_archive(tmp_path):
    path, trace = tmp_path / "cifar-10-python.tar.gz", tmp_path / "ran"
    with tarfile.open(path, "w:gz") as archive:
        blob = pickle.dumps({b"data": Trap(trace), b"labels": [0]})
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        info.size = len(blob)
        archive.addfile(info, io.BytesIO(blob))
    with pytest.raises(ValueError, match=r"data_batch_1 .* not a CIFAR-10 batch, so it was not loaded \(it asks for "
                                         r"(posix|nt|os)\.makedirs"):
        read_cifar10_archive(path)
    assert not trace.exists()
    assert pickle.loads(pickle.dumps(Trap(trace))) is None and trace.exists()  # the trap does work when unpickled


def test_tensor_dataset_checks_its_statistics_against_its_channels():
    images = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    dataset = TensorImageDataset(images, [0, 1], ["a", "b"], mean=(0.1, 0.2, 0.3), std=torch.tensor([1.0, 2.0, 4.0]))
    assert dataset.mean == pytest.approx([0.1, 0.2, 0.3]) and dataset.std == [1.0, 2.0, 4.0]
    assert TensorImageDataset(images, torch.tensor([0.0, 1.0]), ["a", "b"]).labels.dtype == torch.int64
    with pytest.raises(ValueError, match=r"std has 1 values but the images have 3 channels; give one per channel"):
        TensorImageDataset(images, [0, 1], ["a", "b"], mean=[0.5] * 3, std=[0.5])


def test_statistics_are_per_channel_in_the_channels_order():
    # catches statistics taken over the wrong axes (the image width is 5, not the 3 channels, so that shows), in
    # another channel order, the std not clamped; values by hand: R = 0, G = 128 / 255 = 0.50196, B = 1
    images = torch.zeros(2, 3, 4, 5, dtype=torch.uint8)
    images[:, 1], images[:, 2] = 128, 255
    flat = TensorImageDataset(images, [0, 1], ["a", "b"])
    assert flat.mean == pytest.approx([0.0, 128 / 255, 1.0], abs=1e-6)
    assert flat.std == pytest.approx([1e-3] * 3)  # no spread: the clamp keeps normalising finite
    # two images (10, 20, 30) and (30, 60, 90): means (20, 40, 60) / 255; 40 values per channel, half at each level,
    # so the (unbiased) std is half the gap times sqrt(40 / 39)
    images = torch.empty(2, 3, 4, 5, dtype=torch.uint8)
    for channel, (low, high) in enumerate([(10, 30), (20, 60), (30, 90)]):
        images[0, channel], images[1, channel] = low, high
    spread = TensorImageDataset(images, [0, 1], ["a", "b"])
    assert spread.mean == pytest.approx([20 / 255, 40 / 255, 60 / 255], abs=1e-6)
    assert spread.std == pytest.approx([g / 255 * math.sqrt(40 / 39) for g in (10, 20, 30)], rel=1e-5)


def test_normalising_puts_each_channel_through_its_own_statistics():
    # catches a mean or std applied to another channel (or a broadcast along H or W), by hand: (x / 255 - mean) / std
    images = torch.zeros(1, 3, 2, 3, dtype=torch.uint8)
    images[0, 1], images[0, 2] = 128, 255
    data = TensorImageDataset(images, [0], ["a"], mean=[0.1, 0.2, 0.3], std=[1.0, 2.0, 4.0])
    expected = torch.tensor([(0 - 0.1) / 1.0, (128 / 255 - 0.2) / 2.0, (1.0 - 0.3) / 4.0])
    normalised, _ = data.batch(torch.tensor([0]))
    torch.testing.assert_close(normalised[0], expected.view(3, 1, 1).expand(3, 2, 3))
    torch.testing.assert_close(data[0][0], normalised[0])
    torch.testing.assert_close(data.denormalise(normalised), images.float() / 255)  # and back
    for moved in (data.subset([0]), data.to("cpu")):  # copies keep the statistics, in order
        assert moved.mean == [0.1, 0.2, 0.3] and moved.std == [1.0, 2.0, 4.0]


def test_an_image_folder_and_cifar10_keep_their_statistics_in_rgb_order(tmp_path):
    (tmp_path / "only").mkdir()
    for i in range(2):
        Image.new("RGB", (6, 4), (0, 128, 255)).save(tmp_path / "only" / f"{i}.png")
    folder = load_image_folder(tmp_path, progress=False)
    assert folder.mean == pytest.approx([0.0, 128 / 255, 1.0], abs=1e-6)  # red, green, blue
    write_cifar_archive(tmp_path / "cifar-10-python.tar.gz")
    train = read_cifar10_archive(tmp_path / "cifar-10-python.tar.gz")["train"]
    assert train.mean == [0.4914, 0.4822, 0.4465] and train.std == [0.2470, 0.2435, 0.2616]  # the published, R G B
