import math

import pytest
import torch

from vitlib import create_vit
from vitlib.position import PositionEmbedding, resample_position_embedding, sincos_1d, sincos_2d


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
            outputs.append(model.norm(model.encoder(model.pos_embed(z)))[:, 0])
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


def test_model_set_image_size_resamples_learned_and_keeps_same_size():
    model = create_vit("course-tiny")
    before = model.pos_embed.weight.detach().clone()
    model.set_image_size(32)
    assert torch.equal(model.pos_embed.weight, before)
    model.set_image_size(48)
    assert model.pos_embed.weight.shape == (1, 1 + 12 * 12, 64)
    assert model(torch.randn(1, 3, 48, 48)).shape == (1, 10)
    torch.testing.assert_close(model.pos_embed.weight[:, :1], before[:, :1])


def test_bad_position_arguments():
    with pytest.raises(ValueError, match="unknown position-encoding kind 'rotary'.*'learned'"):
        PositionEmbedding("rotary", (4, 4), 8)
    with pytest.raises(ValueError, match="multiple of 4"):
        sincos_2d((4, 4), 6)
    with pytest.raises(ValueError, match="old_grid"):
        resample_position_embedding(torch.zeros(1, 10, 4), (4, 4), (2, 2))
