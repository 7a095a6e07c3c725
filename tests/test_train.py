import dataclasses

import pytest
import torch

from vitlib import create_vit
from vitlib.data import TensorImageDataset
from vitlib.evaluate import evaluate, plot_confusion_matrix, plot_mistakes
from vitlib.live import LivePlot
from vitlib.train import Callback, TrainConfig, fit, load_checkpoint, save_checkpoint


def toy_task(n=256, seed=0):
    """16x16 grey images; the class is the quadrant that holds a bright square (4 classes)."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 60, (n, 1, 16, 16), generator=generator, dtype=torch.uint8)
    labels = torch.randint(0, 4, (n,), generator=generator)
    for i, label in enumerate(labels.tolist()):
        r, c = divmod(label, 2)
        images[i, 0, r * 8 + 2 : r * 8 + 6, c * 8 + 2 : c * 8 + 6] = 255
    return TensorImageDataset(images, labels, ["top left", "top right", "bottom left", "bottom right"], kind="digits")


def toy_textures(n=256, seed=0):
    """16x16 grey images whose class survives crops, flips, shears and colour changes: horizontal stripes,
    vertical stripes, a checkerboard, or noise (4 classes), each with a random phase and contrast."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=generator)
    phase = torch.randint(0, 4, (n, 1, 1), generator=generator)
    rows, cols = torch.arange(16).view(1, 16, 1), torch.arange(16).view(1, 1, 16)
    horizontal = ((rows + phase) // 2 % 2).expand(n, 16, 16)
    vertical = ((cols + phase) // 2 % 2).expand(n, 16, 16)
    checker = (horizontal + vertical) % 2
    noise = torch.randint(0, 2, (n, 16, 16), generator=generator)
    pattern = torch.stack([horizontal, vertical, checker, noise], 1)[torch.arange(n), labels]  # (n, 16, 16) of 0/1
    low = torch.randint(0, 80, (n, 1, 1), generator=generator)
    images = (low + pattern * torch.randint(120, 176, (n, 1, 1), generator=generator)).to(torch.uint8)[:, None]
    return TensorImageDataset(images, labels, ["horizontal", "vertical", "checkerboard", "noise"], kind="photo")


def tiny_model(**overrides):
    settings = dict(image_size=16, in_channels=1, patch_size=4, dim=32, depth=2, heads=2, num_classes=4)
    return create_vit("course-tiny", **{**settings, **overrides})


def test_trainer_learns_a_toy_task():
    torch.manual_seed(0)
    train, test = toy_task(512, seed=0), toy_task(128, seed=1)
    model = tiny_model()
    before = evaluate(model, test).accuracy
    history = fit(model, train, test, TrainConfig(epochs=6, batch_size=32, lr=3e-3, warmup_epochs=0.5), progress=False)
    after = evaluate(model, test)
    assert before < 0.5 and after.accuracy > 0.9  # chance is 0.25
    assert history.last("val_acc") == pytest.approx(after.accuracy)
    assert len(history.records) == 6 and history["epoch"][-1] == 6.0
    assert after.confusion.sum() == 128 and after.confusion.diag().sum() == round(after.accuracy * 128)
    assert len(after.per_class_accuracy) == 4


def test_trainer_learns_with_the_strong_recipe():
    # RandAugment-style operations, random erasing, MixUp and CutMix: harder training images, still learnt
    torch.manual_seed(0)
    train, test = toy_textures(512, seed=0), toy_textures(256, seed=1)
    model = tiny_model()
    config = TrainConfig(epochs=8, batch_size=32, lr=3e-3, warmup_epochs=0.5, augment="photo-strong", mixup=0.8, cutmix=1.0)
    history = fit(model, train, test, config, progress=False)
    assert history.last("val_acc") > 0.8  # chance is 0.25
    assert history.last("train_acc") < history.last("val_acc")  # measured on mixed, erased images


class Interrupt(Callback):
    def __init__(self, at_step):
        self.at_step = at_step

    def on_step_end(self, state):
        if state["step"] == self.at_step:
            raise KeyboardInterrupt


@pytest.mark.parametrize("recipe", [{}, dict(augment="photo-strong", mixup=0.8, cutmix=1.0)], ids=["plain", "strong"])
def test_resumed_run_ends_where_an_uninterrupted_run_does(tmp_path, recipe):
    train = toy_task(160)
    config = TrainConfig(epochs=3, batch_size=32, lr=2e-3, checkpoint_every=2, eval_every=1, **recipe)
    model_kwargs = dict(dropout=0.1)  # dropout draws random numbers too

    torch.manual_seed(1)
    straight = tiny_model(**model_kwargs)
    initial = {k: v.clone() for k, v in straight.state_dict().items()}
    fit(straight, train, config=config, progress=False)

    interrupted = tiny_model(**model_kwargs)
    interrupted.load_state_dict(initial)
    with pytest.raises(KeyboardInterrupt):
        fit(interrupted, train, config=config, checkpoint=tmp_path / "run.pt", callbacks=[Interrupt(7)], progress=False)
    assert load_checkpoint(tmp_path / "run.pt")["step"] == 6  # the last checkpoint before the interruption

    resumed = tiny_model(**model_kwargs)  # a fresh process would start from scratch like this
    history = fit(resumed, train, config=config, checkpoint=tmp_path / "run.pt", progress=False)
    for name, tensor in straight.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], tensor), name
    assert history["epoch"] == [1.0, 2.0, 3.0]


def test_checkpoint_round_trip_and_weights_only(tmp_path):
    model = tiny_model()
    path = save_checkpoint(tmp_path / "a" / "model.pt", model, note="hello")
    torch.load(path, weights_only=True)  # loads with the safe unpickler
    other = tiny_model()
    payload = load_checkpoint(path, other)
    assert payload["note"] == "hello"
    for name, tensor in model.state_dict().items():
        assert torch.equal(other.state_dict()[name], tensor)
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["model.pt"]  # no temporary file left


def test_checkpoint_from_a_different_config_is_refused_and_kept(tmp_path):
    path = save_checkpoint(tmp_path / "model.pt", tiny_model())
    before = path.read_bytes()
    wider = tiny_model(dim=64)
    with pytest.raises(ValueError, match=r"different model config \(dim: checkpoint 32 vs model 64\)"):
        load_checkpoint(path, wider)
    with pytest.raises(ValueError, match="different model config"):
        fit(wider, toy_task(64), config=TrainConfig(epochs=1, batch_size=32), checkpoint=path, progress=False)
    assert path.read_bytes() == before


def test_interrupted_save_keeps_the_old_checkpoint(tmp_path, monkeypatch):
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


@pytest.mark.parametrize(
    "dataset, words",
    [
        (TensorImageDataset(torch.zeros(4, 1, 20, 20, dtype=torch.uint8), torch.zeros(4), ["a"]), ["20x20", "image_size=(16, 16)"]),
        (TensorImageDataset(torch.zeros(4, 3, 16, 16, dtype=torch.uint8), torch.zeros(4), ["a"]), ["3-channel", "in_channels=1"]),
        (TensorImageDataset(torch.zeros(4, 1, 16, 16, dtype=torch.uint8), torch.tensor([0, 1, 2, 7]), list("abcdefgh")), ["labels from 0 to 7", "num_classes=4"]),
        (TensorImageDataset(torch.zeros(0, 1, 16, 16, dtype=torch.uint8), torch.zeros(0), ["a"]), ["train_data is empty"]),
    ],
)
def test_bad_training_data(dataset, words):
    with pytest.raises(ValueError) as info:
        fit(tiny_model(), dataset, config=TrainConfig(epochs=1), progress=False)
    for word in words:
        assert word in str(info.value)


def test_bad_train_config():
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="augment must be one of"):
        TrainConfig(augment="mixup")
    with pytest.raises(ValueError, match="mixup and cutmix must be >= 0.*-0.5"):
        TrainConfig(cutmix=-0.5)


def test_live_plot_and_evaluation_figures():
    plot = LivePlot()
    train = toy_task(64)
    model = tiny_model()
    fit(model, train, train, TrainConfig(epochs=2, batch_size=32), callbacks=[plot], progress=False)
    assert plot.redraws == 2
    result = evaluate(model, train)
    assert plot_confusion_matrix(result, train.classes).get_title().startswith("confusion matrix")
    fig = plot_mistakes(train, result, n=4)
    assert len(fig.axes) == 8


def test_live_attention_redraws_cls_attention():
    from vitlib.live import LiveAttention
    from vitlib.plot import cls_attention

    train = toy_task(64)
    model = tiny_model()
    live = LiveAttention(train, indices=range(3))
    fit(model, train, train, TrainConfig(epochs=2, batch_size=32), callbacks=[live], progress=False)
    assert live.redraws == 2 and len(live.axes) == 3
    _, attentions = model.encode(train.batch(torch.arange(3))[0], return_attention=True)
    maps = cls_attention(attentions[-1], model.config.grid)
    assert maps.shape == (3, 4, 4)
    torch.testing.assert_close(maps.sum((1, 2)) + attentions[-1][:, :, 0, 0].mean(1), torch.ones(3))
