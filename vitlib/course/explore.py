"""Interactive explorers for JupyterLab, built on ipywidgets.

Each explorer holds its sliders, a label and an ``Image`` widget with the current figure as PNG; the
sliders' callbacks redraw the figure and the label. ``redraws`` counts redraws, so tests can set a
slider's value from Python and check what was redrawn. Display an explorer by leaving it as the last
expression of a cell, or with ``display(explorer)``.
"""

from __future__ import annotations

import io

import ipywidgets as widgets
import torch
from IPython.display import display
from matplotlib.figure import Figure

from matplotlib.patches import Rectangle

from ..attention_maps import attention_rollout, patch_token
from ..checks import pair
from ..patches import grid_shape
from ..recording import record_attention
from . import plot

__all__ = ["PatchExplorer", "PositionSimilarityExplorer", "AttentionExplorer"]


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    return buffer.getvalue()


class _Explorer:
    widget: widgets.Widget

    def _ipython_display_(self):
        display(self.widget)


class PatchExplorer(_Explorer):
    """Patch size and stride sliders over a photo: the grid on the photo, the mosaic of patches, and
    the count with its formula.

    Args:
        image: ``(C, H, W)`` in [0, 1].
        patch_size, stride: the starting values.
    """

    def __init__(self, image: torch.Tensor, patch_size: int = 32, stride: int | None = None):
        if image.ndim != 3:
            raise ValueError(f"image must have shape (C, H, W), got {tuple(image.shape)}")
        self.image = image
        H, W = image.shape[-2:]
        stride = patch_size if stride is None else stride
        side = min(H, W)
        style = {"description_width": "80px"}
        layout = widgets.Layout(width="420px")
        self.patch_slider = widgets.IntSlider(
            value=patch_size, min=4, max=side, step=1, description="patch size",
            continuous_update=False, style=style, layout=layout,
        )
        self.stride_slider = widgets.IntSlider(
            value=stride, min=1, max=side, step=1, description="stride",
            continuous_update=False, style=style, layout=layout,
        )
        self.count_label = widgets.HTML()
        self.figure = widgets.Image(format="png")
        self.redraws = 0
        self.count = 0
        self.patch_slider.observe(self._on_change, names="value")
        self.stride_slider.observe(self._on_change, names="value")
        self.widget = widgets.VBox([self.patch_slider, self.stride_slider, self.count_label, self.figure])
        self.redraw()

    def _on_change(self, change) -> None:
        self.redraw()

    def redraw(self) -> None:
        """Recompute the count and redraw the figure for the sliders' current values."""
        H, W = self.image.shape[-2:]
        p, s = self.patch_slider.value, self.stride_slider.value
        n_h, n_w = grid_shape((H, W), p, s)
        self.count = n_h * n_w
        kind = "overlapping" if s < p else ("tiling" if s == p else "with gaps")
        self.count_label.value = (
            f"<b class='patch-count'>N = {self.count}</b> patches ({kind}) &nbsp; = "
            f"(&lfloor;({H} &minus; {p}) / {s}&rfloor; + 1) &times; (&lfloor;({W} &minus; {p}) / {s}&rfloor; + 1)"
            f" = {n_h} &times; {n_w}; each patch is a vector of {self.image.shape[0]}&middot;{p}&middot;{p}"
            f" = {self.image.shape[0] * p * p} numbers"
        )
        fig = Figure(figsize=(10, 4.8))
        left, right = fig.subplots(1, 2)
        plot.draw_patch_grid(self.image, p, s, ax=left)
        plot.draw_patch_mosaic(self.image, p, s, ax=right)
        self.figure.value = _png(fig)
        self.redraws += 1


class PositionSimilarityExplorer(_Explorer):
    """Pick a patch (row and column sliders) and see how similar its position embedding is to every
    other patch's, for one or more position-embedding tables side by side.

    Args:
        tables: ``{title: (N, D) tensor}``, all for the same grid.
        grid: ``(n_h, n_w)`` with ``n_h * n_w = N``.
    """

    def __init__(self, tables: dict[str, torch.Tensor], grid, row: int = 0, col: int = 0):
        n_h, n_w = grid
        for title, table in tables.items():
            if table.ndim != 2 or table.shape[0] != n_h * n_w:
                raise ValueError(f"table {title!r} must have shape ({n_h * n_w}, D) for a {n_h}x{n_w} grid, got {tuple(table.shape)}")
        self.tables, self.grid = tables, (n_h, n_w)
        style = {"description_width": "90px"}
        self.row_slider = widgets.IntSlider(value=row, min=0, max=n_h - 1, description="patch row",
                                            continuous_update=False, style=style)
        self.col_slider = widgets.IntSlider(value=col, min=0, max=n_w - 1, description="patch column",
                                            continuous_update=False, style=style)
        self.label = widgets.HTML()
        self.figure = widgets.Image(format="png")
        self.redraws = 0
        self.row_slider.observe(self._on_change, names="value")
        self.col_slider.observe(self._on_change, names="value")
        self.widget = widgets.VBox([widgets.HBox([self.row_slider, self.col_slider]), self.label, self.figure])
        self.redraw()

    @property
    def index(self) -> int:
        """The chosen patch's position in the sequence (row-major)."""
        return self.row_slider.value * self.grid[1] + self.col_slider.value

    def _on_change(self, change) -> None:
        self.redraw()

    def redraw(self) -> None:
        """Redraw one similarity map per table for the chosen patch."""
        row, col = self.row_slider.value, self.col_slider.value
        self.label.value = f"<b class='patch-index'>patch ({row}, {col})</b>, token {self.index + 1} after CLS"
        fig = Figure(figsize=(3.2 * len(self.tables), 3.4))
        axes = fig.subplots(1, len(self.tables), squeeze=False)[0]
        for ax, (title, table) in zip(axes, self.tables.items()):
            plot.draw_similarity_map(table, self.grid, self.index, ax=ax)
            ax.set_title(title)
        self.figure.value = _png(fig)
        self.redraws += 1


class AttentionExplorer(_Explorer):
    """Where a trained ViT looks: choose the image, the layer, the head (one, the mean of all, or rollout
    through the layers up to the chosen one) and the query (CLS, or a patch by row and column). The
    overlay, the query's attention row and the model's prediction redraw at once.

    Args:
        model: a trained ViT.
        images: ``{name: (C, H, W)}``, normalised as the model was trained.
        classes: the class names.
        denormalise: maps a normalised ``(B, C, H, W)`` batch back to [0, 1] for display.
    """

    MEAN, ROLLOUT = "mean of heads", "rollout"

    def __init__(self, model, images: dict, classes, denormalise, layer: int = -1):
        if not images:
            raise ValueError("images must hold at least one {name: (C, H, W) tensor}")
        self.model, self.classes, self.denormalise = model.eval(), list(classes), denormalise
        config = model.config
        self.grid = config.grid
        self.patch_size, self.stride = pair(config.patch_size, "patch_size"), config.stride
        self.seen = {}  # name -> (image shown, attention (L, h, T, T), probabilities (K,))
        device = next(model.parameters()).device
        for name, image in images.items():
            with torch.no_grad(), record_attention(model) as record:
                probs = model.predict_proba(image[None].to(device))[0].float().cpu()
            shown = denormalise(image[None].cpu())[0].clamp(0, 1)
            self.seen[name] = (shown, record.stacked()[:, 0].float().cpu(), probs)
        depth, heads = len(model.blocks), config.heads
        n_h, n_w = self.grid
        style = {"description_width": "70px"}
        self.image_menu = widgets.Dropdown(options=list(images), description="image", style=style)
        self.layer_slider = widgets.IntSlider(value=layer % depth, min=0, max=depth - 1, description="layer",
                                              continuous_update=False, style=style)
        self.head_menu = widgets.Dropdown(options=[self.MEAN, self.ROLLOUT] + [f"head {i}" for i in range(heads)],
                                          description="head", style=style)
        self.query_menu = widgets.ToggleButtons(options=["CLS", "patch"], description="query", style=style)
        self.row_slider = widgets.IntSlider(value=n_h // 2, min=0, max=n_h - 1, description="patch row",
                                            continuous_update=False, style=style)
        self.col_slider = widgets.IntSlider(value=n_w // 2, min=0, max=n_w - 1, description="patch column",
                                            continuous_update=False, style=style)
        self.label = widgets.HTML()
        self.figure = widgets.Image(format="png")
        self.redraws = 0
        controls = [self.image_menu, self.layer_slider, self.head_menu, self.query_menu, self.row_slider, self.col_slider]
        for control in controls:
            control.observe(self._on_change, names="value")
        self.widget = widgets.VBox([
            widgets.HBox([self.image_menu, self.head_menu]), widgets.HBox([self.layer_slider, self.query_menu]),
            widgets.HBox([self.row_slider, self.col_slider]), self.label, self.figure,
        ])
        self.redraw()

    @property
    def query(self) -> int:
        """The query token: 0 for CLS, else the chosen patch's token."""
        if self.query_menu.value == "CLS":
            return 0
        return patch_token(self.row_slider.value, self.col_slider.value, self.grid)

    def attention_row(self) -> torch.Tensor:
        """The chosen query's weights over all ``T`` tokens, for the chosen image, layer and head: ``(T,)``."""
        _, attention, _ = self.seen[self.image_menu.value]  # (L, h, T, T)
        layer, head = self.layer_slider.value, self.head_menu.value
        if head == self.ROLLOUT:
            weights = attention_rollout([a[None] for a in attention[: layer + 1]])[0]  # (T, T)
        elif head == self.MEAN:
            weights = attention[layer].mean(dim=0)
        else:
            weights = attention[layer, int(head.split()[1])]
        return weights[self.query]

    def _on_change(self, change) -> None:
        self.redraw()

    def redraw(self) -> None:
        """Redraw the overlay, the attention row and the label for the controls' current values."""
        image, _, probs = self.seen[self.image_menu.value]
        row = self.attention_row()  # (T,)
        patch_weights = row[1:].reshape(self.grid)  # (n_h, n_w): the weights on the patch keys
        top = int(probs.argmax())
        where = "CLS" if self.query == 0 else f"patch ({self.row_slider.value}, {self.col_slider.value})"
        self.label.value = (f"<b class='attention-view'>{where}, layer {self.layer_slider.value}, "
                            f"{self.head_menu.value}</b>: the model says {self.classes[top]} ({probs[top]:.0%})")
        fig = Figure(figsize=(8.4, 3.2), layout="constrained")
        left, right = fig.subplots(1, 2, width_ratios=[1, 1.6])
        plot.draw_attention_overlay(image, patch_weights, ax=left, patch_size=self.patch_size, stride=self.stride)
        if self.query:
            r, c = self.row_slider.value, self.col_slider.value
            s_h, s_w = pair(self.stride if self.stride is not None else self.patch_size, "stride")
            left.add_patch(Rectangle((c * s_w - 0.5, r * s_h - 0.5), self.patch_size[1], self.patch_size[0],
                                     fill=False, ec="cyan", lw=1.5))
        left.set_title(f"where {where} looks", fontsize=9)
        right.bar(range(row.numel()), row.numpy(), width=1.0, color="tab:orange")
        right.set_xlabel("key token (0 = CLS, then the patches row by row)")
        right.set_ylabel("weight")
        right.set_title("the query's attention row", fontsize=9)
        self.figure.value = _png(fig)
        self.redraws += 1
