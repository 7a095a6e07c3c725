"""Figures for the lessons. Each function draws on a given matplotlib ``Axes`` (or makes a figure)
and returns what it drew on, so notebooks and the interactive explorers share the same drawing code."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Rectangle

from ..attention_maps import to_pixels
from ..checks import pair
from ..evaluate import EvalResult
from ..patches import coverage, extract_patches, grid_shape
from ..sweep import cell_status, summarise
from .photos import to_numpy_image

__all__ = [
    "draw_patch_grid",
    "draw_patch_mosaic",
    "plot_probabilities",
    "position_similarity",
    "draw_similarity_map",
    "plot_position_similarity_grid",
    "cls_attention",
    "draw_attention_overlay",
    "plot_confusion_matrix",
    "plot_mistakes",
    "plot_history",
    "draw_scaling",
    "draw_ablation",
    "undecided_cells",
]

MAX_OUTLINES = 256  # draw every patch outline up to this many patches, else the first row and column


def _new_axes(ax, figsize=(5, 5)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def draw_patch_grid(image: torch.Tensor, patch_size, stride=None, ax=None):
    """The photo with the outline of each patch, a dot at each patch centre, the first two patches
    shaded (to show overlap or a gap), and the pixels no patch covers tinted red.

    Args:
        image: ``(C, H, W)`` in [0, 1].
        patch_size, stride: as in :func:`vitlib.patches.extract_patches`.
    """
    ax = _new_axes(ax)
    H, W = image.shape[-2:]
    p_h, p_w = pair(patch_size, "patch_size")
    s_h, s_w = pair((p_h, p_w) if stride is None else stride, "stride")
    n_h, n_w = grid_shape((H, W), (p_h, p_w), (s_h, s_w))
    ax.imshow(to_numpy_image(image), cmap="gray" if image.shape[0] == 1 else None)
    uncovered = (coverage((H, W), (p_h, p_w), (s_h, s_w)) == 0).numpy()
    if uncovered.any():
        tint = np.zeros((H, W, 4))
        tint[uncovered] = (1.0, 0.0, 0.0, 0.55)
        ax.imshow(tint)
    every = n_h * n_w <= MAX_OUTLINES
    for i in range(n_h):
        for j in range(n_w):
            if every or i == 0 or j == 0:
                ax.add_patch(Rectangle((j * s_w - 0.5, i * s_h - 0.5), p_w, p_h, fill=False, lw=0.8, ec="white"))
    for k, colour in enumerate(("tab:orange", "tab:cyan")[: min(2, n_w)]):
        ax.add_patch(Rectangle((k * s_w - 0.5, -0.5), p_w, p_h, fc=colour, alpha=0.45, ec=colour, lw=2))
    ys, xs = np.meshgrid(np.arange(n_h) * s_h + (p_h - 1) / 2, np.arange(n_w) * s_w + (p_w - 1) / 2, indexing="ij")
    ax.scatter(xs.ravel(), ys.ravel(), s=max(1.0, 30.0 / math.sqrt(n_h * n_w)), c="yellow", linewidths=0)
    ax.set_xlim(-0.5, W - 0.5)
    ax.set_ylim(H - 0.5, -0.5)
    ax.set_title(f"patch {p_h}x{p_w}, stride {s_h}x{s_w}: {n_h} x {n_w} = {n_h * n_w} patches")
    ax.axis("off")
    return ax


def draw_patch_mosaic(image: torch.Tensor, patch_size, stride=None, ax=None, max_side: int = 12, gap: int = 2):
    """The patches laid out apart from each other, row by row, as the Transformer receives them.

    At most ``max_side x max_side`` patches (the top-left ones) are drawn.
    """
    ax = _new_axes(ax)
    patches, (n_h, n_w) = extract_patches(image[None], patch_size, stride)  # (1, N, C, p_h, p_w)
    C, p_h, p_w = patches.shape[2:]
    max_side = max(2, min(max_side, 640 // (max(p_h, p_w) + gap)))  # keep the canvas small
    rows, cols = min(n_h, max_side), min(n_w, max_side)
    canvas = np.ones((rows * (p_h + gap) - gap, cols * (p_w + gap) - gap, C), dtype=np.float32)
    grid = patches[0].reshape(n_h, n_w, C, p_h, p_w)
    for i in range(rows):
        for j in range(cols):
            tile = grid[i, j].clamp(0, 1).permute(1, 2, 0).numpy()  # (p_h, p_w, C)
            canvas[i * (p_h + gap) : i * (p_h + gap) + p_h, j * (p_w + gap) : j * (p_w + gap) + p_w] = tile
    ax.imshow(canvas[..., 0] if C == 1 else canvas, cmap="gray" if C == 1 else None)
    shown = "all" if (rows, cols) == (n_h, n_w) else f"the first {rows} x {cols}"
    ax.set_title(f"{shown} of {n_h} x {n_w} patches, each {C}x{p_h}x{p_w}")
    ax.axis("off")
    return ax


def plot_probabilities(probs: torch.Tensor, class_names, top: int = 10, ax=None):
    """A horizontal bar chart of the ``top`` most probable classes (probs: ``(K,)``, summing to 1)."""
    ax = _new_axes(ax, figsize=(6, 3.5))
    probs = probs.detach().float().cpu()
    if probs.ndim != 1 or len(class_names) != probs.numel():
        raise ValueError(
            f"probs must be one row of {len(class_names)} probabilities (one per class name), got shape {tuple(probs.shape)}"
        )
    order = probs.argsort(descending=True)[:top].tolist()[::-1]
    values = [probs[i].item() * 100 for i in order]
    bars = ax.barh([class_names[i] for i in order], values, color="tab:blue")
    bars[-1].set_color("tab:orange")
    for bar, value in zip(bars, values):
        ax.text(bar.get_width() + 0.5, bar.get_y() + bar.get_height() / 2, f"{value:.1f}%", va="center")
    ax.set_xlabel("probability (%)")
    ax.set_xlim(0, max(values) * 1.2 + 1)
    return ax


def position_similarity(table: torch.Tensor) -> torch.Tensor:
    """Cosine similarity between every pair of position embeddings: ``(N, D) -> (N, N)``."""
    unit = torch.nn.functional.normalize(table.detach().float().cpu(), dim=-1)
    return unit @ unit.T


def draw_similarity_map(table: torch.Tensor, grid, index: int, ax=None, colorbar: bool = False):
    """How similar patch ``index``'s position embedding is to every other patch's, laid out on the grid."""
    ax = _new_axes(ax, figsize=(3.5, 3.5))
    n_h, n_w = pair(grid, "grid")
    if not 0 <= index < n_h * n_w:
        raise ValueError(f"index must be in 0..{n_h * n_w - 1} for a {n_h}x{n_w} grid, got {index}")
    sims = position_similarity(table)[index].reshape(n_h, n_w).numpy()
    image = ax.imshow(sims, cmap="viridis", vmin=-1, vmax=1, interpolation="nearest")
    ax.scatter([index % n_w], [index // n_w], marker="x", c="red", s=40)
    ax.set_xticks([])
    ax.set_yticks([])
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, label="cosine similarity")
    return ax


def plot_position_similarity_grid(table: torch.Tensor, grid, title: str = "", max_side: int = 14):
    """The ViT paper's Figure 7 (centre): one small similarity map per patch position, arranged by
    position. Large grids are subsampled to at most ``max_side`` maps per side. The maps are drawn as one
    image, a blank row and column between neighbours, so the figure stays small however many there are."""
    n_h, n_w = pair(grid, "grid")
    rows = np.unique(np.linspace(0, n_h - 1, min(n_h, max_side)).round().astype(int))
    cols = np.unique(np.linspace(0, n_w - 1, min(n_w, max_side)).round().astype(int))
    sims = position_similarity(table).reshape(n_h * n_w, n_h, n_w).numpy()
    step_h, step_w = n_h + 1, n_w + 1  # a map and the blank line after it
    mosaic = np.full((len(rows) * step_h - 1, len(cols) * step_w - 1), np.nan)
    for a, i in enumerate(rows):
        for b, j in enumerate(cols):
            mosaic[a * step_h:a * step_h + n_h, b * step_w:b * step_w + n_w] = sims[i * n_w + j]
    cmap = plt.get_cmap("viridis").with_extremes(bad="white")  # white between the maps
    fig, ax = plt.subplots(figsize=(0.45 * len(cols) + 1.8, 0.45 * len(rows) + 0.7))
    image = ax.imshow(np.ma.masked_invalid(mosaic), cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
    ax.set_xticks(np.arange(len(cols)) * step_w + (n_w - 1) / 2, [str(j) for j in cols], fontsize=7)
    ax.set_yticks(np.arange(len(rows)) * step_h + (n_h - 1) / 2, [str(i) for i in rows], fontsize=7)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.colorbar(image, ax=ax, fraction=0.04, label="cosine similarity")
    ax.set_title(title or "cosine similarity of each position embedding with all others")
    ax.set_xlabel("patch column")
    ax.set_ylabel("patch row")
    return fig


def cls_attention(attention: torch.Tensor, grid) -> torch.Tensor:
    """How much the CLS token attends to each patch, averaged over heads: ``(B, h, 1 + N, 1 + N)`` ->
    ``(B, n_h, n_w)``, each map summing to at most 1 (the rest goes to CLS itself)."""
    n_h, n_w = pair(grid, "grid")
    return attention[:, :, 0, 1:].mean(dim=1).reshape(-1, n_h, n_w)


def draw_attention_overlay(image: torch.Tensor, weights: torch.Tensor, ax=None, title: str = "",
                           patch_size=None, stride=None):
    """An image ``(C, H, W)`` in [0, 1] with an attention map ``(n_h, n_w)`` laid over it: each patch's weight
    on the pixels the patch covers (see :func:`vitlib.attention_maps.to_pixels`). Without ``patch_size``, the patches are
    taken to tile the image."""
    ax = _new_axes(ax, figsize=(2.5, 2.5))
    H, W = image.shape[-2:]
    n_h, n_w = weights.shape
    if patch_size is None:
        patch_size, stride = (H // n_h, W // n_w), None
    on_pixels = to_pixels(weights.cpu(), (H, W), patch_size, stride)  # (H, W)
    ax.imshow(to_numpy_image(image), cmap="gray" if image.shape[0] == 1 else None)
    ax.imshow(np.ma.masked_invalid(on_pixels.numpy()), cmap="inferno", alpha=0.6, interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.axis("off")
    return ax


def plot_confusion_matrix(result: EvalResult, classes, ax=None, normalise: bool = True):
    """The confusion matrix as an image: row = true class, column = predicted class."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5))
    matrix = result.confusion.float()
    if normalise:
        matrix = matrix / matrix.sum(1, keepdim=True).clamp(min=1)
    ax.imshow(matrix.numpy(), cmap="Blues", vmin=0, vmax=matrix.max().item() or 1)
    K = len(classes)
    for i in range(K):
        for j in range(K):
            count = int(result.confusion[i, j])
            if count and K <= 20:
                ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                        color="white" if matrix[i, j] > 0.5 * matrix.max() else "black")
    ax.set_xticks(range(K), classes, rotation=90 if max(len(c) for c in classes) > 2 else 0)
    ax.set_yticks(range(K), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"confusion matrix (accuracy {result.accuracy:.1%})")
    return ax


def plot_mistakes(dataset, result: EvalResult, classes=None, n: int = 16, columns: int = 8):
    """A grid of the most confident wrong predictions: each image with 'true -> predicted (confidence)'."""
    classes = classes or getattr(dataset, "classes", [str(k) for k in range(int(result.labels.max()) + 1)])
    wrong = result.mistakes[:n].tolist()
    rows = max(1, -(-len(wrong) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.5 * columns, 2.1 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, index in zip(axes.flat, wrong):
        image, _ = dataset[index]
        if hasattr(dataset, "denormalise"):
            image = dataset.denormalise(image[None].cpu())[0]
        image = image.cpu().numpy()
        ax.imshow(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0), cmap="gray" if image.shape[0] == 1 else None)
        ax.set_title(f"{classes[int(result.labels[index])]} → {classes[int(result.predictions[index])]}\n"
                     f"({result.confidence[index]:.0%})", fontsize=8)
    fig.suptitle(f"{len(result.mistakes)} mistakes of {len(result.labels)}; the most confident {len(wrong)}: true → predicted")
    fig.tight_layout()
    return fig


def plot_history(history, axes=None):
    """Loss and accuracy curves of a ``History`` (train and validation) against epochs."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    epochs = history["epoch"]
    axes[0].plot(epochs, history["train_loss"], marker="o", ms=3, label="train (with label smoothing)")
    if any(v is not None for v in history["val_loss"]):
        axes[0].plot(epochs, history["val_loss"], marker="o", ms=3, label="validation")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("loss")
    axes[1].plot(epochs, history["train_acc"], marker="o", ms=3, label="train (augmented)")
    if any(v is not None for v in history["val_acc"]):
        axes[1].plot(epochs, history["val_acc"], marker="o", ms=3, label="validation")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("accuracy")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
    return axes


ARM_COLOURS = {"digits-vit": "tab:blue", "digits-vit-p8s4": "tab:blue", "cifar-vit": "tab:blue",
               "digits-resnet": "tab:red", "digits-resnet10": "tab:red", "cifar-resnet": "tab:red"}


def undecided_cells(results: dict) -> set:
    """The ``(arm, size)`` cells of a sweep's results that may carry no conclusion (``vitlib.sweep.cell_status``);
    none for results without the rule's fields (a hand-made table)."""
    spec = results.get("spec", {})
    if not {"seeds", "steps", "headroom"} <= set(spec):
        return set()
    cells = {(p["arm"], p["size"]) for p in results["points"]}
    return {cell for cell in cells if cell_status(results, *cell)["status"] == "undecided"}


def draw_scaling(results: dict, ax=None, key: str = "test_acc"):
    """A sweep over data size (``vitlib.sweep``): the mean of ``key`` (in %) against the size on a log axis, one
    line per arm, error bars from the lowest to the highest seed. Size 0 (no pretraining) is drawn as a dashed
    level line of the arm's colour instead, since a log axis has no 0."""
    ax = _new_axes(ax, figsize=(7, 4.5))
    undecided = undecided_cells(results)
    for arm, by_size in summarise(results, key).items():
        colour = ARM_COLOURS.get(arm)
        sizes = [s for s in by_size if s > 0]
        means = np.array([100 * by_size[s]["mean"] for s in sizes])
        low = means - [100 * min(by_size[s]["values"]) for s in sizes]
        high = [100 * max(by_size[s]["values"]) for s in sizes] - means
        line = ax.errorbar(sizes, means, yerr=[low, high], marker="o", capsize=4, label=arm, color=colour)
        colour = line.lines[0].get_color()
        open_points = [(s, m) for s, m in zip(sizes, means) if (arm, s) in undecided]
        if open_points:  # an open marker: undecided (a run did not converge, a seed is missing, ...)
            ax.plot(*zip(*open_points), ls="none", marker="o", ms=9, mfc="white", mec=colour, zorder=3)
        if 0 in by_size:
            ax.axhline(100 * by_size[0]["mean"], color=colour, ls="--" if (arm, 0) not in undecided else ":", lw=1,
                       label=f"{arm}, none" + (" (undecided)" if (arm, 0) in undecided else ""))
    if undecided:
        ax.plot([], [], ls="none", marker="o", ms=9, mfc="white", mec="black", label="open: undecided")
    if any(p["size"] > 0 for p in results["points"]):
        ax.set_xscale("log")
    else:
        ax.text(0.5, 0.5, "nothing stored yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel(f"{key.replace('_acc', '')} accuracy (%)")
    ax.grid(alpha=0.3, which="both")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=9)
    return ax


def draw_ablation(results: dict, ax=None, key: str = "test_acc"):
    """An ablation (``vitlib.sweep``, kind ``"position"``): one bar per arm at the mean of ``key`` (in %), its
    error bar from the lowest to the highest seed, one dot per seed. Returns the bars."""
    ax = _new_axes(ax, figsize=(7, 4))
    table = summarise(results, key)
    arms = [arm for arm in results["spec"]["arms"] if arm in table]
    means = np.array([100 * next(iter(table[arm].values()))["mean"] for arm in arms])
    values = [[100 * v for v in next(iter(table[arm].values()))["values"]] for arm in arms]
    errors = [means - [min(v) for v in values], [max(v) for v in values] - means]
    undecided = undecided_cells(results)
    bars = ax.bar(range(len(arms)), means, yerr=errors, capsize=6, color="tab:blue", alpha=0.5)
    for bar, arm in zip(bars, arms):
        if (arm, next(iter(table[arm]))) in undecided:  # hatched: undecided
            bar.set_hatch("//")
            bar.set_facecolor("white")
            bar.set_edgecolor("tab:blue")
    for i, seeds in enumerate(values):
        ax.scatter([i] * len(seeds), seeds, color="black", s=12, zorder=3)
    ax.set_xticks(range(len(arms)), arms)
    ax.set_ylabel(f"{key.replace('_acc', '')} accuracy (%)")
    ax.grid(axis="y", alpha=0.3)
    return bars
