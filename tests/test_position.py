import math

import pytest
import torch

from vitlib import create_vit
from vitlib.position import position_table, resample_position_embedding, sincos_1d, sincos_2d


def test_sincos_1d_matches_the_formula():
    table = sincos_1d(10, 8)
    pos, i = 7, 2  # PE(pos, i) = sin(pos / 10000^(i / (D/2))), cos in the second half
    assert table.shape == (10, 8)
    assert math.isclose(table[pos, i].item(), math.sin(pos / 10000 ** (i / 4)), abs_tol=1e-6)
    assert math.isclose(table[pos, 4 + i].item(), math.cos(pos / 10000 ** (i / 4)), abs_tol=1e-6)


def test_sincos_2d_is_row_code_then_column_code():
    table = sincos_2d((3, 5), 16)
    assert table.shape == (15, 16)
    rows, cols = sincos_1d(3, 8), sincos_1d(5, 8)
    for r in range(3):
        for c in range(5):
            torch.testing.assert_close(table[r * 5 + c], torch.cat([rows[r], cols[c]]))


@pytest.mark.parametrize("kind", ["learned", "sincos1d", "sincos2d"])
def test_shuffling_patches_changes_c0_only_with_a_position_encoding(kind):
    images = torch.randn(2, 3, 32, 32)
    order = torch.randperm(64)
    features = {}
    for pos in ("none", kind):
        model = create_vit("course-tiny", pos_embed=pos).eval()
        tokens = model.patch_embed(images)  # (B, N, D)
        outputs = []
        for perm in (torch.arange(64), order):
            z = torch.cat([model.cls_token.expand(2, -1, -1), tokens[:, perm]], dim=1)
            if model.pos_embed is not None:
                z = z + model.pos_embed
            outputs.append(model.norm(model.blocks(z))[:, 0])
        features[pos] = outputs
    torch.testing.assert_close(features["none"][0], features["none"][1], rtol=1e-5, atol=1e-5)
    assert (features[kind][0] - features[kind][1]).abs().max() > 1e-3


def test_resample_is_identity_on_the_same_grid():
    pos = torch.randn(1, 1 + 6 * 4, 8)
    assert torch.equal(resample_position_embedding(pos, (6, 4), (6, 4)), pos)


def test_resample_keeps_cls_and_smooth_tables():
    # a table that is linear in the row and column stays linear, and CLS is untouched
    rows, cols = torch.meshgrid(torch.arange(4.0), torch.arange(4.0), indexing="ij")
    table = torch.stack([rows, cols], dim=-1).reshape(1, 16, 2)
    cls = torch.tensor([[[5.0, -5.0]]])
    out = resample_position_embedding(torch.cat([cls, table], dim=1), (4, 4), (8, 8), mode="bilinear")
    assert out.shape == (1, 65, 2)
    torch.testing.assert_close(out[:, :1], cls)
    grid = out[0, 1:].reshape(8, 8, 2)
    assert torch.all(grid[1:, :, 0] >= grid[:-1, :, 0]) and torch.all(grid[:, 1:, 1] >= grid[:, :-1, 1])
    back = resample_position_embedding(out, (8, 8), (4, 4), mode="bilinear")
    assert back.shape == (1, 17, 2)


def test_resample_a_non_square_grid_value_by_value():
    # a 2 x 3 grid whose entry (row i, column j) is 10 i + j, resampled to 2 x 6 and 4 x 3 by nearest neighbour:
    # each column (or row) repeated twice, nothing moved between rows and columns
    table = torch.tensor([[10.0 * i + j for j in range(3)] for i in range(2)]).reshape(1, 6, 1)
    cls = torch.tensor([[[-1.0]]])
    pos = torch.cat([cls, table], dim=1)  # (1, 1 + 6, 1)
    wide = resample_position_embedding(pos, (2, 3), (2, 6), mode="nearest")[0, :, 0]
    assert wide.tolist() == [-1, 0, 0, 1, 1, 2, 2, 10, 10, 11, 11, 12, 12]
    tall = resample_position_embedding(pos, (2, 3), (4, 3), mode="nearest")[0, :, 0]
    assert tall.tolist() == [-1, 0, 1, 2, 0, 1, 2, 10, 11, 12, 10, 11, 12]
    # bilinear (half-pixel centres): new column 1 of 6 sits at old column 0.25, between 0 and 1
    smooth = resample_position_embedding(pos, (2, 3), (2, 6), mode="bilinear")[0, 1:, 0].reshape(2, 6)
    assert smooth[1].tolist() == pytest.approx([10.0, 10.25, 10.75, 11.25, 11.75, 12.0])
    assert smooth[0].tolist() == pytest.approx([0.0, 0.25, 0.75, 1.25, 1.75, 2.0])


def test_model_set_image_size_resamples_learned_and_records_the_new_grid():
    model = create_vit("course-tiny")
    before = model.pos_embed.detach().clone()
    model.set_image_size(32)
    assert torch.equal(model.pos_embed, before)
    model.set_image_size((48, 32))  # a 12 x 8 grid
    assert model.config.grid == (12, 8) and model.pos_embed.shape == (1, 1 + 12 * 8, 64)
    expected = resample_position_embedding(before, (8, 8), (12, 8))
    torch.testing.assert_close(model.pos_embed.detach(), expected)
    assert model(torch.randn(1, 3, 48, 32)).shape == (1, 10)
    model.set_image_size((48, 48))  # from the recorded 12 x 8 grid, not the first one
    torch.testing.assert_close(model.pos_embed.detach(), resample_position_embedding(expected, (12, 8), (12, 12)))
    torch.testing.assert_close(model.pos_embed[:, :1], before[:, :1])
    assert isinstance(model.pos_embed, torch.nn.Parameter) and "pos_embed" in dict(model.named_parameters())


@pytest.mark.parametrize("kind", ["sincos1d", "sincos2d"])
def test_set_image_size_recomputes_fixed_tables(kind):
    model = create_vit("course-tiny", pos_embed=kind)
    model.set_image_size((32, 48))
    assert model.config.grid == (8, 12)
    table = sincos_2d((8, 12), 64) if kind == "sincos2d" else sincos_1d(96, 64)
    torch.testing.assert_close(model.position_table(), table)
    assert torch.equal(model.pos_embed[0, 0], torch.zeros(64))  # CLS gets no position
    assert "pos_embed" not in dict(model.named_parameters())


def test_position_tables_of_each_kind():
    learned = position_table("learned", (2, 3), 8)
    assert learned.shape == (1, 7, 8) and learned.abs().max() <= 0.04 and learned.std() > 0
    torch.testing.assert_close(position_table("sincos2d", (2, 3), 8)[0, 1:], sincos_2d((2, 3), 8))
    assert position_table("none", (2, 3), 8) is None


def test_bad_position_arguments():
    with pytest.raises(ValueError, match="pos_embed must be one of 'learned'.*; got 'rotary'"):
        position_table("rotary", (4, 4), 8)
    with pytest.raises(ValueError, match="multiple of 4"):
        sincos_2d((4, 4), 6)
    with pytest.raises(ValueError, match="old_grid"):
        resample_position_embedding(torch.zeros(1, 10, 4), (4, 4), (2, 2))
