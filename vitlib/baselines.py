"""Baselines on raw pixels: what a network has to beat.

A network's accuracy means little alone. Two classic classifiers, fitted on the same images' raw
(normalised) pixels, say how hard the task is: a linear classifier (multinomial logistic regression,
with an L2 penalty, fitted by L-BFGS) and the nearest-neighbour rule (Euclidean distance, majority of
the ``k`` nearest, ties going to the nearest). The same linear classifier on a model's features instead
of pixels is a *linear probe*: comparing the two shows what the features add.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .checks import non_negative_number, positive_int

__all__ = ["raw_pixels", "fit_linear_classifier", "nearest_neighbour_predict", "accuracy"]


def raw_pixels(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Every item's normalised pixels flattened, ``(N, C * H * W)``, and its label ``(N,)``, on the CPU."""
    if hasattr(dataset, "batch"):
        images, labels = dataset.batch(torch.arange(len(dataset)))
    else:
        items = [dataset[i] for i in range(len(dataset))]
        images, labels = torch.stack([x for x, _ in items]), torch.tensor([int(y) for _, y in items])
    return images.flatten(1).float().cpu(), labels.cpu()


def class_indices(labels: torch.Tensor, name: str, num_classes: int | None = None) -> torch.Tensor:
    """``labels`` as int64, if it holds integer class indices in ``0..num_classes - 1`` (any index >= 0 without
    ``num_classes``); otherwise a ValueError naming ``name``, the first bad value and the valid range."""
    if not isinstance(labels, torch.Tensor) or labels.dtype == torch.bool or labels.is_floating_point() \
            or labels.is_complex():
        kind = labels.dtype if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"{name} must be an integer tensor of class indices, got {kind}")
    top = None if num_classes is None else num_classes - 1
    bad = (labels < 0) if top is None else (labels < 0) | (labels > top)
    if bad.any():
        valid = "0 or more" if top is None else f"0..{top} (num_classes={num_classes})"
        raise ValueError(f"{name} must hold class indices in {valid}, got {labels[bad][0].item()}")
    return labels.long()


def fit_linear_classifier(x: torch.Tensor, y: torch.Tensor, num_classes: int, weight_decay: float = 1e-3,
                          max_iter: int = 200) -> nn.Linear:
    """Multinomial logistic regression: the ``nn.Linear(D, K)`` that minimises the mean cross-entropy on
    ``x`` ``(N, D)``, ``y`` ``(N,)`` plus ``weight_decay / 2`` times the squared weights (not the bias),
    starting from zero, by full-batch L-BFGS; the same data always gives the same classifier."""
    positive_int(num_classes, "num_classes")
    non_negative_number(weight_decay, "weight_decay")
    positive_int(max_iter, "max_iter")
    y = class_indices(y, "y", num_classes)
    if x.ndim != 2 or y.shape != (len(x),):
        raise ValueError(f"x must be (N, D) and y (N,), got {tuple(x.shape)} and {tuple(y.shape)}")
    classifier = nn.Linear(x.shape[1], num_classes)
    nn.init.zeros_(classifier.weight)
    nn.init.zeros_(classifier.bias)
    optimizer = torch.optim.LBFGS(classifier.parameters(), lr=1.0, max_iter=max_iter, history_size=20,
                                  line_search_fn="strong_wolfe", tolerance_grad=1e-9, tolerance_change=1e-12)

    def objective() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(classifier(x), y) + 0.5 * weight_decay * classifier.weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(objective)
    return classifier.requires_grad_(False)


def nearest_neighbour_predict(train_x: torch.Tensor, train_y: torch.Tensor, x: torch.Tensor, k: int = 1,
                              chunk: int = 1024) -> torch.Tensor:
    """The class of each row of ``x`` ``(M, D)`` by its ``k`` nearest rows of ``train_x`` ``(N, D)`` (Euclidean):
    the most frequent label among them, a tie going to the label of the nearest. Returns ``(M,)``."""
    positive_int(k, "k")
    train_y = class_indices(train_y, "train_y")
    if k > len(train_x):
        raise ValueError(f"k must be at most the {len(train_x)} training items, got {k}")
    predictions = []
    for start in range(0, len(x), chunk):
        distances = torch.cdist(x[start : start + chunk], train_x)  # (m, N)
        nearest = distances.topk(k, largest=False).indices  # (m, k), nearest first
        labels = train_y[nearest]  # (m, k)
        votes = F.one_hot(labels, int(train_y.max()) + 1).sum(1).float()  # (m, K)
        votes += 0.5 * F.one_hot(labels[:, 0], votes.shape[1])  # the nearest breaks a tie
        predictions.append(votes.argmax(1))
    return torch.cat(predictions)


def accuracy(predictions: torch.Tensor, labels: torch.Tensor) -> float:
    """The share of ``predictions`` equal to ``labels``."""
    return (predictions == labels).float().mean().item()
