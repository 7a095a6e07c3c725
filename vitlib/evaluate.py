"""Testing a trained model: accuracy, per-class accuracy, the confusion matrix and the mistakes."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F


__all__ = ["EvalResult", "evaluate", "plot_confusion_matrix", "plot_mistakes", "plot_history"]


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


@torch.no_grad()
def evaluate(model, dataset, batch_size: int = 256, device=None) -> EvalResult:
    """Run ``model`` over every item of ``dataset`` (no augmentation) and measure it."""
    from .train import _autocast, _Loader, check_dataset

    check_dataset(dataset, model, "dataset")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    was_training = model.training
    model.eval()
    predictions, labels, confidence, total_loss = [], [], [], 0.0
    for images, targets in _Loader(dataset, device).batches(batch_size):
        with _autocast(device, True):
            logits = model(images).float()
        total_loss += F.cross_entropy(logits, targets, reduction="sum").item()
        probs = logits.softmax(-1)
        conf, pred = probs.max(-1)
        predictions.append(pred.cpu())
        labels.append(targets.cpu())
        confidence.append(conf.cpu())
    model.train(was_training)
    predictions, labels, confidence = torch.cat(predictions), torch.cat(labels), torch.cat(confidence)
    K = model.config.num_classes
    confusion = torch.bincount(labels * K + predictions, minlength=K * K).reshape(K, K)
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
        axes[0].plot(epochs, history["val_loss"], marker="o", ms=3, label="held-out data")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("loss")
    axes[1].plot(epochs, history["train_acc"], marker="o", ms=3, label="train (augmented)")
    if any(v is not None for v in history["val_acc"]):
        axes[1].plot(epochs, history["val_acc"], marker="o", ms=3, label="held-out data")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("accuracy")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
    return axes
