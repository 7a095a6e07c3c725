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
    assert 0.6 < nearest < 0.95  # 200 training digits: far above chance (0.1), far from perfect
