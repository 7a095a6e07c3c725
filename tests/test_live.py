"""The course's live figures and the evaluation figures, driven by a real (tiny) training run."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from vitlib.course.live import LiveAttention, LivePlot
from vitlib.attention_maps import to_pixels
from vitlib.course.plot import (cls_attention, plot_confusion_matrix, plot_history, plot_mistakes,
                                plot_position_similarity_grid, position_similarity)
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
    expected = to_pixels(maps[0], model.config.image_size, model.config.patch_size, model.config.stride)
    torch.testing.assert_close(torch.as_tensor(shown.data, dtype=torch.float32), expected, rtol=1e-5, atol=1e-6)
    assert model.blocks[0].attn.recorded is None  # recording ended with the figure



def test_position_similarity_grid_draws_each_map_in_its_place():
    torch.manual_seed(0)
    table = torch.randn(12, 16)  # a 3x4 grid of positions
    fig = plot_position_similarity_grid(table, (3, 4))
    mosaic = fig.axes[0].images[0].get_array()  # one image: 3 rows of maps 3 high, 4 columns of maps 4 wide
    assert mosaic.shape == (3 * 4 - 1, 4 * 5 - 1)
    sims = position_similarity(table).reshape(12, 3, 4).numpy()
    np.testing.assert_allclose(mosaic[4:7, 10:14], sims[1 * 4 + 2], atol=1e-6)  # patch (1, 2)'s map
    np.testing.assert_allclose(mosaic[8:11, 15:19], sims[2 * 4 + 3], atol=1e-6)  # patch (2, 3)'s map
    assert mosaic.mask[3].all() and mosaic.mask[:, 4].all() and not mosaic.mask[:3, :4].any()  # blank between maps
    large = plot_position_similarity_grid(torch.randn(100, 8), (10, 10), max_side=4)  # subsampled to 4x4 maps
    assert [label.get_text() for label in large.axes[0].get_yticklabels()] == ["0", "3", "6", "9"]
    plt.close("all")
