"""The course's live figures and the evaluation figures, driven by a real (tiny) training run."""

import pytest
import torch

from vitlib.course.live import LiveAttention, LivePlot
from vitlib.course.plot import attention_on_pixels, cls_attention, plot_confusion_matrix, plot_history, plot_mistakes
from vitlib.evaluate import evaluate
from vitlib.recording import record_attention
from vitlib.train import TrainConfig, fit


def test_live_plot_and_evaluation_figures(tiny_model, toy_task):
    plot = LivePlot()
    train = toy_task(64)
    model = tiny_model()
    history = fit(model, train, train, TrainConfig(epochs=2, batch_size=32), callbacks=[plot], progress=False)
    assert plot.redraws == 2
    loss_axes, accuracy_axes = plot.axes
    assert list(loss_axes.lines[0].get_xdata()) == [1.0, 2.0]
    assert list(accuracy_axes.lines[1].get_ydata()) == history["val_acc"]
    result = evaluate(model, train)
    assert plot_confusion_matrix(result, train.classes).get_title().startswith("confusion matrix")
    fig = plot_mistakes(train, result, n=4)
    assert len(fig.axes) == 8
    assert len(plot_history(history)[0].lines) == 2


def test_live_attention_redraws_cls_attention(tiny_model, toy_task):
    train = toy_task(64)
    model = tiny_model()
    live = LiveAttention(train, indices=range(3))
    fit(model, train, train, TrainConfig(epochs=2, batch_size=32), callbacks=[live], progress=False)
    assert live.redraws == 2 and len(live.axes) == 3
    with torch.no_grad(), record_attention(model) as record:
        model(train.batch(torch.arange(3))[0])
    maps = cls_attention(record[-1], model.config.grid)  # (B, n_h, n_w)
    assert maps.shape == (3, 4, 4)
    torch.testing.assert_close(maps[1, 2, 3], record[-1][1, :, 0, 1 + 2 * 4 + 3].mean())
    shown = live.axes[0].images[1].get_array()  # the overlay drawn for the first image, after training
    expected = attention_on_pixels(maps[0], model.config.image_size, model.config.patch_size, model.config.stride)
    torch.testing.assert_close(torch.as_tensor(shown.data, dtype=torch.float32), expected, rtol=1e-5, atol=1e-6)
    assert model.blocks[0].attn.recorded is None  # recording ended with the figure


def test_attention_on_pixels_puts_each_weight_on_its_patch():
    # 10x10 image, 4x4 patches at stride 3: a 3x3 grid; patch (i, j) covers rows 3i..3i+3, columns 3j..3j+3
    weights = torch.arange(9.0).reshape(3, 3)
    pixels = attention_on_pixels(weights, 10, 4, 3)
    assert pixels.shape == (10, 10)
    assert pixels[0, 0] == 0 and pixels[0, 8] == 2 and pixels[9, 9] == 8  # covered by one patch each
    assert pixels[3, 0] == (0 + 3) / 2  # row 3 is covered by patch rows 0 and 1
    assert pixels[3, 3] == (0 + 1 + 3 + 4) / 4  # and column 3 by patch columns 0 and 1
    tiled = attention_on_pixels(weights, 11, 3)  # 3x3 patches that tile: the last 2 rows and columns uncovered
    assert tiled[:9, :9].eq(weights.repeat_interleave(3, 0).repeat_interleave(3, 1)).all()
    assert tiled[9:].isnan().all() and tiled[:, 9:].isnan().all()
    with pytest.raises(ValueError, match="patch grid"):
        attention_on_pixels(weights, 10, 4, 4)
