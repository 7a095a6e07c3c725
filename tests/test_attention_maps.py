"""Attention maps, rollout and mean attention distance, against values computed by hand."""

import math

import pytest
import torch

from vitlib.attention_maps import (
    attention_rollout,
    mean_attention_distance,
    patch_centres,
    patch_token,
    query_map,
    to_pixels,
)
from vitlib.recording import record_attention


def random_attention(B, h, T, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(B, h, T, T, generator=generator).softmax(dim=-1)


def test_recorded_weights_equal_a_hand_computation(tiny_model):
    model = tiny_model().eval()
    images = torch.rand(2, 1, 16, 16)
    with torch.no_grad(), record_attention(model) as record:
        model(images)
        z = model.embed(images)
        block = model.blocks[0]
        x = block.norm1(z)
        q, k, _ = block.attn.qkv(x).chunk(3, dim=-1)  # (B, T, D) each
        B, T, D = q.shape
        h = block.attn.heads
        q, k = (t.reshape(B, T, h, D // h).transpose(1, 2) for t in (q, k))  # (B, h, T, d)
        by_hand = (q @ k.transpose(-2, -1) / math.sqrt(D // h)).softmax(dim=-1)
    assert len(record) == len(model.blocks)
    torch.testing.assert_close(record[0], by_hand, rtol=1e-5, atol=1e-6)
    for weights in record.weights:
        torch.testing.assert_close(weights.sum(dim=-1), torch.ones(weights.shape[:-1]))


def test_query_map_takes_the_querys_row_over_the_patch_keys():
    attention = random_attention(2, 3, 1 + 6)  # a 2x3 grid
    token = patch_token(1, 2, (2, 3))
    assert token == 6
    maps = query_map(attention, token, (2, 3))
    assert maps.shape == (2, 3, 2, 3)
    assert maps[1, 2, 0, 1] == attention[1, 2, 6, 1 + 1]  # key: patch (0, 1) is token 2
    assert maps[0, 0, 1, 0] == attention[0, 0, 6, 1 + 3]
    with pytest.raises(ValueError, match="grid"):
        query_map(attention, 0, (3, 3))
    with pytest.raises(ValueError, match="query"):
        query_map(attention, 7, (2, 3))
    with pytest.raises(ValueError, match="row"):
        patch_token(2, 0, (2, 3))


def test_to_pixels_puts_each_value_on_exactly_the_pixels_its_patch_covers():
    # 10x10 image, 4x4 patches at stride 3: a 3x3 grid; patch (i, j) covers rows 3i..3i+3, columns 3j..3j+3
    values = torch.arange(9.0).reshape(3, 3)
    pixels = to_pixels(values, 10, 4, 3)
    assert pixels.shape == (10, 10)
    assert pixels[0, 0] == 0 and pixels[0, 8] == 2 and pixels[9, 9] == 8  # one patch each
    assert pixels[3, 0] == (0 + 3) / 2  # row 3: patch rows 0 and 1
    assert pixels[3, 3] == (0 + 1 + 3 + 4) / 4  # and column 3: patch columns 0 and 1
    tiled = to_pixels(values, 11, 3)  # 3x3 patches that tile: the last 2 rows and columns uncovered
    assert tiled[:9, :9].eq(values.repeat_interleave(3, 0).repeat_interleave(3, 1)).all()
    assert tiled[9:].isnan().all() and tiled[:, 9:].isnan().all()
    gaps = to_pixels(values, 10, 2, 4)  # 2x2 patches every 4 pixels: rows 2, 3, 6, 7 are gaps
    assert gaps[2].isnan().all() and gaps[:, 6].isnan().all() and gaps[4, 4] == 4 and gaps[5, 9] == 5
    batch = to_pixels(torch.stack([values, -values]), 10, 4, 3)  # leading dimensions are kept
    assert batch.shape == (2, 10, 10) and batch[1, 3, 3] == -pixels[3, 3]
    with pytest.raises(ValueError, match="patch grid"):
        to_pixels(values, 10, 4, 4)


def test_rollout_of_identity_attention_is_the_identity():
    eye = torch.eye(5).expand(2, 3, 5, 5)
    torch.testing.assert_close(attention_rollout([eye, eye, eye]), torch.eye(5).expand(2, 5, 5))


def test_rollout_on_a_two_layer_example_computed_by_hand():
    # one image, one head, T = 2: each layer's weights, then (W + I) with rows renormalised
    first = torch.tensor([[0.5, 0.5], [0.25, 0.75]])[None, None]
    second = torch.tensor([[1.0, 0.0], [0.5, 0.5]])[None, None]
    # first + I = [[1.5, .5], [.25, 1.75]] -> rows / 2 = [[.75, .25], [.125, .875]]
    # second + I = [[2, 0], [.5, 1.5]] -> rows / 2 = [[1, 0], [.25, .75]]
    # rollout = second' @ first' = [[.75, .25], [.25*.75 + .75*.125, .25*.25 + .75*.875]]
    expected = torch.tensor([[0.75, 0.25], [0.28125, 0.71875]])[None]
    torch.testing.assert_close(attention_rollout([first, second]), expected)
    assert not torch.allclose(attention_rollout([second, first]), expected)  # the order of the layers matters


def test_rollout_fuses_heads_and_discards_the_lowest_weights():
    attention = random_attention(1, 4, 6, seed=1)
    for fusion, fused in [("mean", attention.mean(1)), ("max", attention.amax(1)), ("min", attention.amin(1))]:
        step = fused + torch.eye(6)
        torch.testing.assert_close(attention_rollout([attention], head_fusion=fusion), step / step.sum(-1, keepdim=True))
    kept = attention_rollout([attention], discard=0.6)  # 3 of each row's 5 patch keys set to 0, CLS kept
    fused = attention.mean(1)[0]
    for q in range(6):
        lowest = set((fused[q, 1:].argsort()[:3] + 1).tolist()) - {q}  # the diagonal gets the identity back
        assert all(kept[0, q, k] == 0 for k in lowest)
        assert kept[0, q, 0] > 0
        assert math.isclose(kept[0, q].sum().item(), 1.0, rel_tol=1e-5)
    with pytest.raises(ValueError, match="head_fusion"):
        attention_rollout([attention], head_fusion="median")
    with pytest.raises(ValueError, match="discard"):
        attention_rollout([attention], discard=1.0)
    with pytest.raises(ValueError, match="empty"):
        attention_rollout([])


def test_patch_centres_follow_the_stride():
    centres = patch_centres(10, 4, 3)  # starts 0, 3, 6: centres 1.5, 4.5, 7.5
    assert centres.shape == (9, 2)
    assert centres[0].tolist() == [1.5, 1.5] and centres[5].tolist() == [4.5, 7.5]


def test_mean_distance_of_uniform_attention_has_its_analytic_value():
    # 2x2 grid of 1x1 patches, uniform attention: from any patch the keys lie at 0, 1, 1 and sqrt(2)
    uniform = torch.full((3, 2, 5, 5), 1 / 5)
    distance = mean_attention_distance(uniform, 2, 1)
    torch.testing.assert_close(distance, torch.full((2,), (2 + math.sqrt(2)) / 4))
    # each patch looking only at itself: distance 0; only at the patch to its right (or left): one patch, p pixels
    own = torch.eye(5).expand(1, 1, 5, 5)
    assert mean_attention_distance(own, 8, 4).item() == 0
    swap = torch.zeros(1, 1, 5, 5)
    swap[0, 0, 0, 0] = 1
    for q, k in [(1, 2), (2, 1), (3, 4), (4, 3)]:
        swap[0, 0, q, k] = 1
    assert mean_attention_distance(swap, 8, 4).item() == 4.0


def test_mean_distance_per_image_keeps_each_images_value():
    # 3x3 grid of 1x1 patches (centres at (r, c)), two images, two heads; every row puts half its weight on CLS,
    # which must not count: the other half is renormalised to 1
    attention = torch.zeros(2, 2, 10, 10)
    attention[..., 0] = 0.5
    attention[0, 0, 1:, 1:] = 0.5 * torch.eye(9)  # image 0, head 0: each patch looks at itself only -> 0 px
    attention[0, 1, 1:, 1] = 0.5  # image 0, head 1: every patch looks at patch (0, 0) only
    attention[1, :, 1:, 1:] = 0.5 / 9  # image 1, both heads: uniform over the patches
    corner = (6 + 3 * math.sqrt(2) + 2 * math.sqrt(5)) / 9  # distances 0, 1, 2, 1, sqrt 2, sqrt 5, 2, sqrt 5, sqrt 8
    uniform = (48 + 24 * math.sqrt(2) + 16 * math.sqrt(5)) / 81  # all 81 ordered pairs of the 3x3 grid
    per_image = mean_attention_distance(attention, 3, 1, per_image=True)
    assert per_image.shape == (2, 2)
    torch.testing.assert_close(per_image, torch.tensor([[0.0, corner], [uniform, uniform]]))
    # the default averages those over the images
    torch.testing.assert_close(mean_attention_distance(attention, 3, 1),
                               torch.tensor([uniform / 2, (corner + uniform) / 2]))
    with pytest.raises(ValueError, match="per_image"):
        mean_attention_distance(attention, 3, 1, per_image="yes")
