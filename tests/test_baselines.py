import math

import pytest
import torch

from vitlib.baselines import accuracy, fit_linear_classifier, nearest_neighbour_predict, raw_pixels
from vitlib.data import load_digits


def test_nearest_neighbour_by_hand():
    train_x = torch.tensor([[0.0], [1.0], [10.0], [11.0], [20.0]])
    train_y = torch.tensor([0, 0, 1, 1, 2])
    x = torch.tensor([[2.0], [9.0], [5.4], [16.0], [19.0]])
    assert nearest_neighbour_predict(train_x, train_y, x, k=1).tolist() == [0, 1, 0, 2, 2]  # 16: 20 is nearer
    # k = 3: 5.4's neighbours are 1 (4.4), 10 (4.6), 0 (5.4): two votes for 0; 16's are 20, 11, 10: 1 wins
    assert nearest_neighbour_predict(train_x, train_y, x, k=3).tolist() == [0, 1, 0, 1, 1]
    # k = 2 and a tie (one vote each): the nearest decides; 17's two nearest are 20 (class 2) and 11 (class 1)
    assert nearest_neighbour_predict(train_x, train_y, torch.tensor([[17.0], [12.0]]), k=2).tolist() == [2, 1]
    with pytest.raises(ValueError, match="k must be at most the 5 training items, got 6"):
        nearest_neighbour_predict(train_x, train_y, x, k=6)


def test_linear_classifier_separates_separable_data_and_the_penalty_shrinks_it():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=generator)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long() + 2 * (x[:, 2] > 1).long()  # 4 classes, linearly separable
    free = fit_linear_classifier(x, y, 4, weight_decay=0.0)
    assert accuracy(free(x).argmax(1), y) == 1.0
    shrunk = fit_linear_classifier(x, y, 4, weight_decay=1.0)
    assert shrunk.weight.norm() < 0.25 * free.weight.norm()
    again = fit_linear_classifier(x, y, 4, weight_decay=1.0)
    assert torch.equal(again.weight, shrunk.weight)  # deterministic


def test_linear_classifier_optimum_by_hand():
    # two points, x = -1 (class 0) and x = +1 (class 1), penalty 0.5 * wd * (w0^2 + w1^2): by symmetry b = 0
    # and w1 = -w0 = a; each point's loss is log(1 + exp(-2a)), so the objective is log(1 + exp(-2a)) + wd a^2,
    # whose minimum for wd = 1 solves a = 1 / (1 + exp(2a)): a = 0.33742 (by bisection)
    x, y = torch.tensor([[-1.0], [1.0]]), torch.tensor([0, 1])
    classifier = fit_linear_classifier(x, y, 2, weight_decay=1.0)
    assert classifier.weight[:, 0].tolist() == pytest.approx([-0.33742, 0.33742], abs=1e-4)
    assert classifier.bias.abs().max().item() < 1e-5


def test_raw_pixels_of_the_digits_and_their_baselines():
    train, test = load_digits("train"), load_digits("test")
    x, y = raw_pixels(test)
    assert x.shape == (1000, 784) and torch.equal(y, test.labels)
    torch.testing.assert_close(x[3], ((test.images[3].float() / 255 - 0.1307) / 0.3081).flatten())
    small = train.stratified_subset(20, seed=0)
    train_x, train_y = raw_pixels(small)
    nearest = accuracy(nearest_neighbour_predict(train_x, train_y, x), y)
    # no randomness here (a fixed subset, an exact rule): 797 of 1000 test digits, far above chance (0.1) and far
    # from perfect; the tolerance (two digits) only allows for distances that tie to within rounding on another CPU
    assert nearest == pytest.approx(0.797, abs=0.002)


def objective_by_hand(weight, bias, x, y, weight_decay):
    """The documented objective written out: mean cross-entropy (log-sum-exp minus the true class's logit) plus
    weight_decay / 2 times the squared weights; the bias is not penalised."""
    logits = x @ weight.T + bias  # (N, K)
    cross_entropy = (logits.exp().sum(1).log() - logits[torch.arange(len(y)), y]).mean()
    return cross_entropy + weight_decay / 2 * weight.square().sum()


def test_linear_classifier_is_the_minimum_of_the_documented_objective():
    # catches a penalty on the bias too, a penalty without the 1/2, or a summed instead of a mean cross-entropy: the
    # fitted point would minimise another objective, and the gradient of this one would not vanish there
    generator = torch.Generator().manual_seed(0)
    y = torch.tensor([0] * 5 + [1] * 10 + [2] * 15)
    x = torch.randn(30, 4, generator=generator) + 0.5 + (y == 2).float()[:, None]  # off-centre: the bias matters
    classifier = fit_linear_classifier(x, y, 3, weight_decay=0.1)
    weight, bias = (t.detach().clone().requires_grad_(True) for t in (classifier.weight, classifier.bias))
    value = objective_by_hand(weight, bias, x, y, 0.1)
    value.backward()
    assert bias.detach().abs().max() > 0.1  # the optimum needs a bias, so penalising it would move it
    assert weight.grad.abs().max() < 1e-4 and bias.grad.abs().max() < 1e-4, (weight.grad, bias.grad)
    # the start (all zeros) guesses uniformly: log 3; the fitted point is lower
    assert objective_by_hand(torch.zeros(3, 4), torch.zeros(3), x, y, 0.1).item() == pytest.approx(math.log(3))
    assert value.item() < math.log(3) - 0.1


def test_a_huge_weight_penalty_leaves_the_bias_free_to_fit_the_class_frequencies():
    # with the weights held at zero, the best bias gives every item the classes' frequencies:
    # softmax(b) = (1, 2, 5) / 8. A penalty on the bias too (a one-line slip) would pin b near 0 and give (1, 1, 1) / 3
    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 1, 2, 2, 2, 2, 2])
    classifier = fit_linear_classifier(x, y, 3, weight_decay=1e4)
    assert classifier.weight.abs().max() < 1e-3
    assert classifier.bias.softmax(0).tolist() == pytest.approx([1 / 8, 2 / 8, 5 / 8], abs=1e-3)
    assert classifier(x).argmax(1).tolist() == [2] * 8  # the bias alone predicts the most frequent class
    single = fit_linear_classifier(x, torch.full((8,), 1), 3, weight_decay=1e4)
    assert single(x).argmax(1).tolist() == [1] * 8 and single.bias[1] > single.bias[0] + 5


def test_labels_outside_the_classes_are_refused_by_name():
    x = torch.zeros(2, 3)
    for bad, value in ((torch.tensor([0, 3]), "3"), (torch.tensor([-1, 0]), "-1")):
        with pytest.raises(ValueError, match=rf"y must hold class indices in 0\.\.2 .*got {value}"):
            fit_linear_classifier(x, bad, 3)
    with pytest.raises(ValueError, match="y must be an integer tensor of class indices, got torch.float32"):
        fit_linear_classifier(x, torch.tensor([0.0, 1.0]), 3)
    with pytest.raises(ValueError, match=r"train_y must hold class indices in 0 or more, got -2"):
        nearest_neighbour_predict(x, torch.tensor([1, -2]), x)
    assert fit_linear_classifier(x, torch.tensor([0, 2], dtype=torch.int32), 3).weight.shape == (3, 3)  # any int type
