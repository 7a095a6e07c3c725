"""The explorers' callbacks, driven from Python: set a slider, check what was redrawn."""

import torch

from vitlib.attention_maps import attention_rollout
from vitlib.course.explore import AttentionExplorer, PatchExplorer, PositionSimilarityExplorer
from vitlib.course.photos import list_photos, load_photo
from vitlib.patches import num_patches
from vitlib.position import sincos_1d, sincos_2d
from vitlib.recording import record_attention


def test_bundled_photos_load():
    assert {"chelsea", "coffee", "astronaut", "rocket"} <= set(list_photos())
    photo = load_photo("chelsea", size=64)
    assert photo.shape == (3, 64, 64) and 0 <= photo.min() and photo.max() <= 1
    assert load_photo("coffee", size=None).shape == (3, 400, 600)


def test_patch_explorer_redraws_on_slider_change():
    photo = load_photo("chelsea", size=96)
    explorer = PatchExplorer(photo, patch_size=32)
    assert explorer.count == 9 and "N = 9" in explorer.count_label.value
    first_png, redraws = explorer.figure.value, explorer.redraws

    explorer.patch_slider.value = 16  # stride stays 32: patches with gaps
    assert explorer.redraws == redraws + 1
    assert explorer.count == num_patches(96, 16, 32) == 9
    assert "with gaps" in explorer.count_label.value

    explorer.stride_slider.value = 8  # overlapping
    assert explorer.count == num_patches(96, 16, 8) == 121
    assert "N = 121" in explorer.count_label.value and "overlapping" in explorer.count_label.value
    assert explorer.figure.value != first_png and explorer.figure.value[:4] == b"\x89PNG"


def test_position_explorer_redraws_the_chosen_patch():
    tables = {"1D": sincos_1d(16, 32), "2D": sincos_2d((4, 4), 32)}
    explorer = PositionSimilarityExplorer(tables, (4, 4))
    before = explorer.figure.value
    explorer.row_slider.value = 2
    explorer.col_slider.value = 3
    assert explorer.index == 11 and explorer.redraws == 3
    assert "patch (2, 3)" in explorer.label.value
    assert explorer.figure.value != before


def test_explorers_reject_bad_input():
    import pytest

    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        PatchExplorer(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"\(16, D\)"):
        PositionSimilarityExplorer({"x": torch.zeros(15, 8)}, (4, 4))


def test_attention_explorer_redraws_for_every_control(tiny_model, toy_task):
    model = tiny_model().eval()
    data = toy_task(8)
    images = {f"image {i}": data.batch(torch.tensor([i]))[0][0] for i in range(2)}
    explorer = AttentionExplorer(model, images, data.classes, data.denormalise)
    with torch.no_grad(), record_attention(model) as record:
        model(images["image 0"][None])
    last = record[-1][0]  # (h, T, T): the starting view is the last layer, mean of heads, CLS
    torch.testing.assert_close(explorer.attention_row(), last.mean(0)[0])
    figures, redraws = {explorer.figure.value}, explorer.redraws

    explorer.query_menu.value = "patch"
    explorer.row_slider.value, explorer.col_slider.value = 1, 3
    torch.testing.assert_close(explorer.attention_row(), last.mean(0)[1 + 1 * 4 + 3])
    assert "patch (1, 3)" in explorer.label.value
    explorer.head_menu.value = "head 1"
    torch.testing.assert_close(explorer.attention_row(), last[1, 1 + 1 * 4 + 3])
    explorer.layer_slider.value = 0
    torch.testing.assert_close(explorer.attention_row(), record[0][0, 1, 1 + 1 * 4 + 3])
    explorer.head_menu.value = "rollout"
    rollout = attention_rollout([record[0]])[0]  # through layer 0 only
    torch.testing.assert_close(explorer.attention_row(), rollout[1 + 1 * 4 + 3])
    explorer.image_menu.value = "image 1"
    assert explorer.redraws == redraws + 7
    figures.add(explorer.figure.value)
    assert len(figures) == 2 and "layer 0, rollout" in explorer.label.value
