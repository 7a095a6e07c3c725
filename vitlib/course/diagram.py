"""Drawings of the road an image takes through the Vision Transformer (ViT paper, Section 3.1 and its
Figure 1): the whole road in one figure, each stage with the lesson that builds it, and the patches of
an image laid out as the sequence the Transformer reads."""

from __future__ import annotations

from typing import NamedTuple

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

from ..checks import pair
from ..patches import extract_patches, grid_shape, patchify
from .photos import to_numpy_image

__all__ = ["Stage", "STAGES", "TRAINING", "LESSON_COLOURS", "number_patches", "draw_patch_sequence", "draw_vit_road"]


class Stage(NamedTuple):
    """One stage of the road: its name, the lesson that builds it, and a few words on what it does."""

    label: str
    lesson: str
    note: str


STAGES = (  # in the order the image travels through the model (vitlib.model.ViT.embed: CLS, then positions)
    Stage("image", "00", "C x H x W numbers"),
    Stage("patches", "01", "cut in reading order"),
    Stage("vectors", "02", "each patch flattened"),
    Stage("shared linear map E", "02", "the same E for\nevery patch:\na token of D numbers"),
    Stage("prepend CLS", "04", "a learned extra\ntoken at place 0"),
    Stage("+ position", "03", "every token gets\nits place added,\nCLS included"),
    Stage("Transformer encoder", "04", "L blocks of LayerNorm,\nself-attention and MLP;\nout come c0, c1, ..., cN"),
    Stage("c0", "04", "the output at\nthe CLS place"),
    Stage("classifier head", "04", "a linear map:\nD numbers to\nK logits"),
    Stage("softmax", "00", "K class\nprobabilities"),
)
TRAINING = (  # what sets the learned numbers of E, CLS, positions (when learned), encoder and head
    Stage("training", "05", "learns E, CLS, learned positions, encoder and head\nfrom random initialisation, on labelled images"),
    Stage("pretraining and fine-tuning", "06", "learns them first on a large dataset A, then\nfine-tunes them on the task's own, smaller dataset B"),
)
LESSON_COLOURS = {  # one colour per lesson, for the tags under the stages
    "00": "#7f7f7f", "01": "#1f77b4", "02": "#2ca02c", "03": "#9467bd",
    "04": "#d62728", "05": "#ff7f0e", "06": "#8c564b",
}


def _tile(ax, picture: torch.Tensor, left: float, top: float, size: float) -> None:
    """Draw ``picture`` ``(C, h, w)`` as a square of side ``size`` whose top-left corner is ``(left, top)``
    (data coordinates, y pointing up)."""
    ax.imshow(to_numpy_image(picture), extent=(left, left + size, top - size, top), interpolation="nearest")
    ax.add_patch(Rectangle((left, top - size), size, size, fill=False, ec="black", lw=0.6))


def number_patches(image_size, patch_size, stride=None, ax=None, fontsize: float = 8):
    """Write each patch's place in the sequence (0, 1, 2, ... in reading order) in its top-left corner, on
    an ``Axes`` that shows the image in pixel coordinates (as :func:`vitlib.course.plot.draw_patch_grid` does).

    Args:
        image_size: ``H`` or ``(H, W)``.
        patch_size, stride: as in :func:`vitlib.patches.extract_patches`.
    Returns:
        the ``Axes`` drawn on.
    """
    ax = ax if ax is not None else plt.gca()
    p_h, p_w = pair(patch_size, "patch_size")
    s_h, s_w = pair((p_h, p_w) if stride is None else stride, "stride")
    n_h, n_w = grid_shape(image_size, (p_h, p_w), (s_h, s_w))
    for i in range(n_h):
        for j in range(n_w):
            ax.text(j * s_w + 1.5, i * s_h + 1.5, str(i * n_w + j), ha="left", va="top", fontsize=fontsize,
                    color="white", bbox=dict(boxstyle="square,pad=0.15", fc="black", alpha=0.55, ec="none"))
    return ax


def draw_patch_sequence(image: torch.Tensor, patch_size, stride=None, ax=None, first: int = 10):
    """The patches of ``image`` one after another in reading order (row by row, left to right), numbered
    0, 1, 2, ...: the first ``first`` of them, then "..." and the last one.

    Args:
        image: ``(C, H, W)`` in [0, 1].
        patch_size, stride: as in :func:`vitlib.patches.extract_patches`.
        first: how many patches to show before the "...".
    Returns:
        the ``Axes`` drawn on.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 1.6))
    patches, (n_h, n_w) = extract_patches(image[None], patch_size, stride)  # (1, N, C, p_h, p_w)
    n = n_h * n_w
    shown = list(range(n)) if n <= first + 1 else list(range(first)) + [None, n - 1]  # None: the "..."
    pitch = 1.25  # a patch is 1 wide, with a gap of 0.25
    for k, index in enumerate(shown):
        x = k * pitch
        if index is None:
            ax.text(x + 0.5, 0.5, "...", ha="center", va="center", fontsize=14)
            continue
        _tile(ax, patches[0, index], x, 1.0, 1.0)
        ax.text(x + 0.5, -0.12, str(index), ha="center", va="top", fontsize=10)
    for k in range(len(shown) - 1):  # small arrows: one patch follows the other
        ax.annotate("", xy=((k + 1) * pitch - 0.02, 0.5), xytext=(k * pitch + 1.02, 0.5),
                    arrowprops=dict(arrowstyle="-|>", color="grey", lw=0.8, mutation_scale=8))
    ax.set_xlim(-0.1, len(shown) * pitch - 0.15)
    ax.set_ylim(-0.55, 1.1)
    ax.set_aspect("equal")
    ax.axis("off")
    C, p_h, p_w = patches.shape[2:]
    ax.set_title(f"the sequence: {n} patches of {C}x{p_h}x{p_w}, numbered in reading order (row by row)", fontsize=10)
    return ax


def _tag(ax, x: float, y: float, lesson: str) -> None:
    ax.text(x, y, f"lesson {lesson}", ha="center", va="center", fontsize=8, color="white", fontweight="bold",
            bbox=dict(boxstyle="round,pad=0.25", fc=LESSON_COLOURS[lesson], ec="none"))


def _box(ax, left: float, bottom: float, width: float, height: float, stage: Stage) -> None:
    ax.add_patch(FancyBboxPatch((left, bottom), width, height, boxstyle="round,pad=0.3,rounding_size=1.2",
                                fc="#f4f4f4", ec=LESSON_COLOURS[stage.lesson], lw=1.6))
    ax.text(left + width / 2, bottom + height / 2, stage.note, ha="center", va="center", fontsize=8.5)


def _arrow(ax, start, end) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color="black", lw=1.2))


def draw_vit_road(image: torch.Tensor, patch_size: int = 56, ax=None):
    """The whole Vision Transformer in one figure: ``image`` cut into patches, flattened, embedded by the
    shared map E, the CLS token prepended, positions added, the encoder, c0, the head and softmax; each
    stage (:data:`STAGES`) with its lesson, and below them the lessons that train it (:data:`TRAINING`).

    Args:
        image: ``(C, H, W)`` in [0, 1], for example a bundled photo; it is drawn as a square.
        patch_size: the patch size of the drawing (a coarse one, so that the patches are visible).
    Returns:
        the ``Axes`` drawn on.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(10.5, 6.4))
    patches, (n_h, n_w) = extract_patches(image[None], patch_size)  # (1, N, C, p, p)
    vectors, _ = patchify(image[None], patch_size)  # (1, N, C*p*p)
    n = n_h * n_w
    image_stage, patch_stage, vector_stage, *boxed = STAGES
    row1, row2 = (36.0, 54.0), (12.0, 25.0)  # (bottom, top) of each row of stages

    def label(x, top, stage):
        ax.text(x, top + 1.6, stage.label, ha="center", va="bottom", fontsize=10.5, fontweight="bold")

    def tag(x, bottom, stage):
        _tag(ax, x, bottom - 2.2, stage.lesson)

    # the image (drawn square), with the lower and right edge of each row and column of patches
    left, size = 1.5, row1[1] - row1[0]
    H, W = image.shape[-2:]
    ax.imshow(to_numpy_image(image), extent=(left, left + size, row1[0], row1[1]))
    for i in range(1, n_h + (n_h * patch_size < H)):
        ax.plot([left, left + size], [row1[1] - i * patch_size * size / H] * 2, color="white", lw=0.8)
    for j in range(1, n_w + (n_w * patch_size < W)):
        ax.plot([left + j * patch_size * size / W] * 2, [row1[0], row1[1]], color="white", lw=0.8)
    label(left + size / 2, row1[1], image_stage)
    tag(left + size / 2, row1[0], image_stage)
    middle = (row1[0] + row1[1]) / 2
    _arrow(ax, (left + size + 0.8, middle), (23.0, middle))

    # the patches, one under the other in reading order, and each one's vector beside it
    tile, pitch = 2.4, 3.12
    shown = list(range(n)) if n <= 5 else [0, 1, 2, 3, None, n - 1]  # None: the "..."
    tiles_left, bars_left, bars_width = 26.0, 35.0, 13.0
    for k, index in enumerate(shown):
        top = row1[1] - k * pitch
        if index is None:
            ax.text(tiles_left + tile / 2, top - tile / 2, "...", ha="center", va="center", rotation=90, fontsize=11)
            ax.text(bars_left + bars_width / 2, top - tile / 2, "...", ha="center", va="center", rotation=90, fontsize=11)
            continue
        _tile(ax, patches[0, index], tiles_left, top, tile)
        ax.text(tiles_left - 0.6, top - tile / 2, str(index), ha="right", va="center", fontsize=8)
        bar = vectors[0, index][None]  # (1, C*p*p): the vector's numbers as greys
        ax.imshow(bar.clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1, aspect="auto", interpolation="nearest",
                  extent=(bars_left, bars_left + bars_width, top - tile + 0.5, top - 0.5))
    label(tiles_left + tile / 2, row1[1], patch_stage)
    tag(tiles_left + tile / 2, row1[0], patch_stage)
    label(bars_left + bars_width / 2, row1[1], vector_stage)
    tag(bars_left + bars_width / 2, row1[0], vector_stage)
    _arrow(ax, (tiles_left + tile + 0.4, middle), (bars_left - 0.4, middle))

    # the boxed stages: the rest of row 1, then row 2
    slots = [  # (left, width, row) of each boxed stage
        (53.5, 15.0, row1), (75.0, 15.0, row1),
        (4.5, 13.0, row2), (22.5, 21.0, row2), (48.5, 12.0, row2), (65.5, 13.0, row2), (84.5, 11.5, row2),
    ]
    previous_right, first_of_row2 = bars_left + bars_width, 2
    for k, ((left, width, (bottom, top)), stage) in enumerate(zip(slots, boxed)):
        _box(ax, left, bottom, width, top - bottom, stage)
        label(left + width / 2, top, stage)
        tag(left + width / 2, bottom, stage)
        centre = (bottom + top) / 2
        if k != first_of_row2:  # that one is reached from the end of row 1, below
            _arrow(ax, (previous_right + 0.9, centre), (left - 0.9, centre))
        previous_right = left + width

    # from the end of row 1 down to the start of row 2
    turn_y, end1, start2 = 30.0, slots[first_of_row2 - 1][0] + slots[first_of_row2 - 1][1], slots[first_of_row2][0]
    ax.plot([end1 + 0.9, 98.5, 98.5, 1.0, 1.0], [middle, middle, turn_y, turn_y, (row2[0] + row2[1]) / 2],
            color="black", lw=1.2)
    _arrow(ax, (0.95, (row2[0] + row2[1]) / 2), (start2 - 0.9, (row2[0] + row2[1]) / 2))

    # the lessons that set the learned numbers
    for k, stage in enumerate(TRAINING):
        left, width = 1.0 + k * 49.0, 48.0
        ax.add_patch(FancyBboxPatch((left, -0.3), width, 7.0, boxstyle="round,pad=0.2,rounding_size=1.0",
                                    fc="white", ec=LESSON_COLOURS[stage.lesson], lw=1.4, ls="--"))
        ax.text(left + 1.2, 5.1, stage.label, ha="left", va="center", fontsize=10, fontweight="bold")
        ax.text(left + 1.2, 1.8, stage.note, ha="left", va="center", fontsize=8.5)
        _tag(ax, left + width - 4.5, 5.1, stage.lesson)
    ax.set_xlim(0, 100)
    ax.set_ylim(-1, 58)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax
