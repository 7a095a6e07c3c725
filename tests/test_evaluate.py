import math

import pytest
import torch
from torch import nn

from vitlib.data import TensorImageDataset
from vitlib.evaluate import confusion_matrix, evaluate
from vitlib.model import ViTConfig


class Oracle(nn.Module):
    """Predicts the class written in an image's top-left pixel: logit 5 for it, 0 for the others."""

    def __init__(self, num_classes=3):
        super().__init__()
        self.config = ViTConfig(image_size=4, in_channels=1, patch_size=4, dim=4, depth=1, heads=1,
                                num_classes=num_classes)
        self.anchor = nn.Parameter(torch.zeros(()))  # so the model has a device

    def forward(self, images):
        said = (images[:, 0, 0, 0] * 255).round().long()  # (B,): normalisation is mean 0, std 1 here
        return nn.functional.one_hot(said, self.config.num_classes).float() * 5 + self.anchor


def hand_made(labels, said):
    images = torch.zeros(len(labels), 1, 4, 4, dtype=torch.uint8)
    images[:, 0, 0, 0] = torch.tensor(said, dtype=torch.uint8)
    return TensorImageDataset(images, torch.tensor(labels), ["a", "b", "c"], mean=[0.0], std=[1.0])


def test_per_class_counts_on_a_hand_made_batch():
    # true:      a a a b b c
    # predicted: a b b b a c   -> row a: 1 a, 2 b; row b: 1 a, 1 b; row c: 1 c
    result = evaluate(Oracle(), hand_made([0, 0, 0, 1, 1, 2], [0, 1, 1, 1, 0, 2]), batch_size=4)
    assert result.confusion.tolist() == [[1, 2, 0], [1, 1, 0], [0, 0, 1]]  # row: true class, column: predicted
    assert result.per_class_accuracy == pytest.approx([1 / 3, 1 / 2, 1.0])
    assert result.accuracy == pytest.approx(3 / 6)
    assert result.predictions.tolist() == [0, 1, 1, 1, 0, 2]
    # loss: -log softmax of the right class; right: log(e^5 + 2) - 5, wrong: log(e^5 + 2)
    right, wrong = math.log(math.exp(5) + 2) - 5, math.log(math.exp(5) + 2)
    assert result.loss == pytest.approx((3 * right + 3 * wrong) / 6, rel=1e-5)
    assert result.confidence[0].item() == pytest.approx(math.exp(5) / (math.exp(5) + 2), rel=1e-6)
    assert result.mistakes.tolist() in ([1, 2, 4], [1, 4, 2], [2, 1, 4], [2, 4, 1], [4, 1, 2], [4, 2, 1])


def test_a_class_with_no_items_has_no_accuracy():
    result = evaluate(Oracle(), hand_made([0, 1], [0, 0]))
    assert result.per_class_accuracy[:2] == [1.0, 0.0] and math.isnan(result.per_class_accuracy[2])
    assert confusion_matrix(torch.tensor([2, 0]), torch.tensor([1, 1]), 3).tolist() == [[0, 1, 0], [0, 0, 0], [0, 1, 0]]


def test_evaluation_runs_in_eval_mode_and_restores_the_mode(tiny_model, toy_task):
    data = toy_task(64)
    model = tiny_model(dropout=0.5, attn_dropout=0.5)
    model.train()
    first, second = evaluate(model, data), evaluate(model, data)
    assert torch.equal(first.predictions, second.predictions) and first.loss == second.loss  # no dropout
    assert model.training  # put back as it was
    model.eval()
    with torch.no_grad():
        logits = model(data.batch(torch.arange(64))[0])
    assert torch.equal(first.predictions, logits.argmax(-1))
    assert first.loss == pytest.approx(nn.functional.cross_entropy(logits, data.labels).item(), rel=1e-5)
    assert not model.training


def test_evaluate_reads_plain_datasets_too(tiny_model, toy_task):
    data = toy_task(20)
    plain = [data[i] for i in range(20)]  # a list of (image, label) pairs
    model = tiny_model()

    class Plain(torch.utils.data.Dataset):
        def __len__(self):
            return len(plain)

        def __getitem__(self, i):
            return plain[i]

    assert torch.equal(evaluate(model, Plain(), batch_size=8).predictions, evaluate(model, data).predictions)


class Table(Oracle):
    """Gives the logits of a table's row, the row number written in the image's top-left pixel."""

    def __init__(self, logits):
        super().__init__(num_classes=logits.shape[1])
        self.logits = logits

    def forward(self, images):
        return self.logits[(images[:, 0, 0, 0] * 255).round().long()] + self.anchor


def test_mistakes_come_most_confident_first_with_their_confidence_by_hand():
    # items 0, 2, 3, 5 are wrong, with confidences (softmax of the predicted class) 0.6, 0.9, 0.5, 0.8 by hand:
    # most confident first is 2, 5, 0, 3. Catches an ascending sort (3, 0, 5, 2), no sort (0, 2, 3, 5), the sort's
    # positions instead of the items (1, 3, 0, 2), and a confidence taken from the true class instead of the prediction
    probabilities = torch.tensor([
        [0.6, 0.3, 0.1],  # item 0: true 1, predicted 0 (0.6)
        [0.2, 0.7, 0.1],  # item 1: true 1, right
        [0.05, 0.05, 0.9],  # item 2: true 0, predicted 2 (0.9)
        [0.25, 0.5, 0.25],  # item 3: true 2, predicted 1 (0.5)
        [0.1, 0.1, 0.8],  # item 4: true 2, right (0.8, as confident as item 5)
        [0.8, 0.15, 0.05],  # item 5: true 2, predicted 0 (0.8)
    ])
    labels = [1, 1, 0, 2, 2, 2]
    images = torch.zeros(6, 1, 4, 4, dtype=torch.uint8)
    images[:, 0, 0, 0] = torch.arange(6, dtype=torch.uint8)
    data = TensorImageDataset(images, torch.tensor(labels), ["a", "b", "c"], mean=[0.0], std=[1.0])
    result = evaluate(Table(probabilities.log()), data, batch_size=4)  # softmax(log p) = p
    assert result.predictions.tolist() == [0, 1, 2, 1, 2, 0]
    assert result.confidence.tolist() == pytest.approx([0.6, 0.7, 0.9, 0.5, 0.8, 0.8], abs=1e-6)
    assert result.mistakes.tolist() == [2, 5, 0, 3]
