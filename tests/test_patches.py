import math

import pytest
import torch

from vitlib.patches import (
    coverage,
    extract_patches,
    flatten_patches,
    grid_shape,
    num_patches,
    patchify,
    uncovered_mask,
    unpatchify,
)

CASES = [  # (H, W), patch, stride
    ((32, 32), 8, 8),  # tiling
    ((32, 32), 8, 4),  # overlapping
    ((32, 32), 8, 12),  # skipping
    ((30, 45), (5, 7), (3, 4)),  # rectangular everything
    ((224, 224), 16, 16),
    ((10, 11), 10, 1),
]


@pytest.mark.parametrize("size, patch, stride", CASES)
def test_count_matches_formula_and_slicing(size, patch, stride):
    H, W = size
    p_h, p_w = (patch, patch) if isinstance(patch, int) else patch
    s_h, s_w = (stride, stride) if isinstance(stride, int) else stride
    expected = (math.floor((H - p_h) / s_h) + 1) * (math.floor((W - p_w) / s_w) + 1)
    assert num_patches(size, patch, stride) == expected
    images = torch.randn(2, 3, H, W)
    patches, grid = extract_patches(images, patch, stride)
    assert patches.shape == (2, expected, 3, p_h, p_w)
    assert grid == grid_shape(size, patch, stride)
    # every patch equals the slice of the image it should come from, in row-major order
    n_h, n_w = grid
    for k in [0, 1, n_w, expected - 1]:
        if k >= expected:
            continue
        i, j = divmod(k, n_w)
        torch.testing.assert_close(patches[:, k], images[:, :, i * s_h : i * s_h + p_h, j * s_w : j * s_w + p_w])


def test_flatten_order_is_channel_row_column():
    patches = torch.arange(24.0).reshape(1, 1, 3, 4, 2)  # value = c * 8 + row * 2 + column
    flat = flatten_patches(patches)
    assert flat.shape == (1, 1, 24)
    assert torch.equal(flat[0, 0], torch.arange(24.0))  # channel slowest, column fastest
    vectors, grid = patchify(torch.randn(1, 3, 8, 8), 4)
    assert vectors.shape == (1, 4, 48) and grid == (2, 2)


@pytest.mark.parametrize("patch, stride", [(8, 8), (8, 4), (6, 2), ((4, 8), (2, 8))])
def test_round_trip_restores_covered_images(patch, stride):
    images = torch.rand(2, 3, 32, 32)
    patches, _ = extract_patches(images, patch, stride)
    restored = unpatchify(patches, (32, 32), stride)
    covered = ~uncovered_mask(32, patch, stride)
    assert covered.all()
    torch.testing.assert_close(restored, images)


def test_round_trip_averages_overlaps():
    images = torch.rand(1, 1, 12, 12)
    patches, _ = extract_patches(images, 6, 3)
    patches = patches.clone()
    patches[:, 0] += 1.0  # change only the first patch: overlapping pixels get the mean of their patches
    restored = unpatchify(patches, 12, 3)
    counts = coverage(12, 6, 3).float()
    bump = torch.zeros(12, 12)
    bump[:6, :6] = 1.0 / counts[:6, :6]
    torch.testing.assert_close(restored[0, 0], images[0, 0] + bump)


def test_uncovered_pixels_with_gaps_and_leftovers():
    # stride 5 > patch 3 on 13 pixels: positions 0, 5, 10 cover 0-2, 5-7, 10-12
    mask = uncovered_mask((13, 13), 3, 5)
    covered_rows = torch.tensor([r in (0, 1, 2, 5, 6, 7, 10, 11, 12) for r in range(13)])
    expected = ~(covered_rows[:, None] & covered_rows[None, :])
    assert torch.equal(mask, expected)
    # tiling a 10-pixel side with 4-pixel patches leaves the last 2 rows and columns over
    mask = uncovered_mask(10, 4, 4)
    assert mask[8:].all() and mask[:, 8:].all() and not mask[:8, :8].any()
    images = torch.rand(1, 3, 13, 13) + 0.5  # no pixel is 0
    restored = unpatchify(extract_patches(images, 3, 5)[0], 13, 5)
    gaps = uncovered_mask(13, 3, 5)
    assert (restored[..., gaps] == 0).all()
    torch.testing.assert_close(restored[..., ~gaps], images[..., ~gaps])


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(patch_size=40, stride=4), ValueError, ["patch_size", "larger than the image"]),
        (dict(patch_size=0, stride=4), ValueError, ["patch_size", "0"]),
        (dict(patch_size=4, stride=0), ValueError, ["stride", "0"]),
        (dict(patch_size=4, stride=-2), ValueError, ["stride", "-2"]),
        (dict(patch_size=4.0, stride=4), ValueError, ["patch_size must be a positive int", "got 4.0"]),
        (dict(patch_size=(4, 4, 4), stride=4), ValueError, ["patch_size", "(h, w) pair"]),
        (dict(patch_size=True, stride=4), ValueError, ["patch_size", "got True"]),
    ],
)
def test_bad_patch_arguments(kwargs, error, words):
    with pytest.raises(error) as info:
        extract_patches(torch.zeros(1, 3, 32, 32), **kwargs)
    for word in words:
        assert word in str(info.value)


def test_bad_image_tensor():
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        extract_patches(torch.zeros(3, 32, 32), 4)
    with pytest.raises(ValueError, match="holds 3 patches"):
        unpatchify(torch.zeros(1, 3, 3, 4, 4), 32)
