"""Live figures in a notebook while ``fit`` trains: redrawn in place, one output that updates.

Pass them to ``vitlib.train.fit(..., callbacks=[LivePlot(), LiveAttention(test)])``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from IPython import get_ipython
from IPython.display import display

from ..recording import record_attention
from ..train import Callback
from .plot import cls_attention, draw_attention_overlay, plot_history

__all__ = ["LivePlot", "LiveAttention"]


class LivePlot(Callback):
    """Redraws the loss and accuracy curves after every evaluation, in the same output area.

    Outside IPython (a script, a test) it draws into a figure without showing it; ``redraws`` counts.
    """

    def __init__(self):
        self.handle = None
        self.redraws = 0
        self.figure = None

    def on_evaluate(self, state: dict) -> None:
        history = state["history"]
        if self.figure is None:
            self.figure, self.axes = plt.subplots(1, 2, figsize=(10, 3.5))
            plt.close(self.figure)  # shown through the display handle only
        for ax in self.axes:
            ax.clear()
        plot_history(history, self.axes)
        self.figure.suptitle(f"step {state['step']} of {state['total_steps']}")
        self.redraws += 1
        show_in_place(self)


class LiveAttention(Callback):
    """After every evaluation, redraws where the CLS token looks (last layer, mean over heads) in a few
    fixed images, in the same output area: the attention maps change as the model learns.

    Args:
        dataset: a ``TensorImageDataset`` to take the images from.
        indices: which items to show.
        layer: which encoder layer's attention (-1: the last).
    """

    def __init__(self, dataset, indices=range(6), layer: int = -1):
        self.dataset, self.indices, self.layer = dataset, list(indices), layer
        self.handle, self.figure, self.redraws = None, None, 0

    def on_evaluate(self, state: dict) -> None:
        model = state["model"]
        images, labels = self.dataset.batch(torch.tensor(self.indices))
        was_training = model.training
        model.eval()
        with torch.no_grad(), record_attention(model) as record:
            logits = model(images.to(next(model.parameters()).device))
        model.train(was_training)
        maps = cls_attention(record[self.layer].float().cpu(), model.config.grid)  # (B, n_h, n_w)
        shown = self.dataset.denormalise(images.cpu())
        if self.figure is None:
            self.figure, self.axes = plt.subplots(1, len(self.indices), figsize=(1.9 * len(self.indices), 2.3))
            plt.close(self.figure)
        classes = self.dataset.classes
        for ax, image, weights, label, pred in zip(self.axes, shown, maps, labels.tolist(), logits.argmax(-1).tolist()):
            ax.clear()
            draw_attention_overlay(image, weights, ax=ax, title=f"{classes[label]} → {classes[pred]}",
                                   patch_size=model.config.patch_size, stride=model.config.stride)
        self.figure.suptitle(f"where c0 looks (last layer), step {state['step']}", fontsize=9)
        self.redraws += 1
        show_in_place(self)


def show_in_place(callback) -> None:
    """Show ``callback.figure`` in its output area, or update it in place (only inside IPython)."""
    if get_ipython() is None:  # a script or a test: nothing to show
        return
    if callback.handle is None:
        callback.handle = display(callback.figure, display_id=True)
    else:
        callback.handle.update(callback.figure)
