"""Live figures in a notebook while ``fit`` trains: redrawn in place, one output that updates."""

from __future__ import annotations

import matplotlib.pyplot as plt

from .evaluate import plot_history
from .train import Callback

__all__ = ["LivePlot"]


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
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:
            return
        if get_ipython() is None:
            return
        if self.handle is None:
            self.handle = display(self.figure, display_id=True)
        else:
            self.handle.update(self.figure)
