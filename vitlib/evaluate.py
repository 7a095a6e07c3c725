"""Testing a trained model: accuracy, loss, per-class accuracy, the confusion matrix and the mistakes.

``evaluate`` returns numbers only; the course's figures (``vitlib.course.plot``) draw them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .checks import positive_int
from .device import autocast, resolve_device
from .loader import BatchLoader, check_dataset

__all__ = ["EvalResult", "evaluate", "confusion_matrix"]


@dataclass
class EvalResult:
    accuracy: float  # share of correct predictions
    loss: float  # mean cross-entropy (no label smoothing)
    per_class_accuracy: list[float]  # accuracy on each class's items (nan for a class with none)
    confusion: torch.Tensor  # (K, K): row = true class, column = predicted class
    predictions: torch.Tensor  # (N,) predicted class of each item, in dataset order
    labels: torch.Tensor  # (N,) true class of each item
    confidence: torch.Tensor  # (N,) probability the model gave its prediction

    @property
    def mistakes(self) -> torch.Tensor:
        """Indices of the wrongly predicted items, most confident first."""
        wrong = torch.nonzero(self.predictions != self.labels).flatten()
        return wrong[self.confidence[wrong].argsort(descending=True)]


def confusion_matrix(labels: torch.Tensor, predictions: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(K, K)`` counts: entry ``[i, j]`` is how many items of true class ``i`` were predicted as ``j``."""
    K = positive_int(num_classes, "num_classes")
    return torch.bincount(labels * K + predictions, minlength=K * K).reshape(K, K)


@torch.no_grad()
def evaluate(model, dataset, batch_size: int = 256, device=None) -> EvalResult:
    """Run ``model`` in eval mode (no dropout) over every item of ``dataset``, unaugmented, and measure it.
    The model is put back in the mode it was in."""
    check_dataset(dataset, model, "dataset")
    positive_int(batch_size, "batch_size")
    device = resolve_device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    was_training = model.training
    model.eval()
    predictions, labels, confidence, total_loss = [], [], [], 0.0
    try:
        for images, targets in BatchLoader(dataset, device).in_order(batch_size):
            with autocast(device):
                logits = model(images).float()  # (B, K)
            total_loss += F.cross_entropy(logits, targets, reduction="sum").item()
            conf, pred = logits.softmax(-1).max(-1)  # (B,), (B,)
            predictions.append(pred.cpu())
            labels.append(targets.cpu())
            confidence.append(conf.cpu())
    finally:
        model.train(was_training)
    predictions, labels, confidence = torch.cat(predictions), torch.cat(labels), torch.cat(confidence)
    confusion = confusion_matrix(labels, predictions, model.config.num_classes)
    per_class = (confusion.diag().float() / confusion.sum(1).float()).tolist()  # nan where a class is absent
    return EvalResult(
        accuracy=(predictions == labels).float().mean().item(),
        loss=total_loss / len(labels),
        per_class_accuracy=per_class,
        confusion=confusion,
        predictions=predictions,
        labels=labels,
        confidence=confidence,
    )
