"""Exercises of lesson 00: softmax turns a classifier's logits into class probabilities.

``dog40_cat25``: choose logits for the ten CIFAR-10 classes so that "dog" gets 40% and "cat" 25%.
``softmax``: write softmax by hand, so that it also works for very large logits; a function that calls
torch's softmax is refused.
"""

from __future__ import annotations

import torch

from ...data import CIFAR10_CLASSES
from ..teach import Exercise, names_used

__all__ = ["dog40_cat25", "softmax", "READY_MADE"]

TOLERANCE = 0.005  # how close a probability must be to its target (half a percentage point)
READY_MADE = frozenset({"softmax", "log_softmax", "softmin", "Softmax", "LogSoftmax", "Softmin", "predict_proba"})


def _not_filled_in(answer) -> bool:
    return answer is Ellipsis


# --- dog 40%, cat 25% ---------------------------------------------------------------------------
def _check_dog40_cat25(logits):
    if _not_filled_in(logits):
        return False, "replace the ... with 10 logits, one per class in CIFAR10_CLASSES order"
    logits = torch.as_tensor(logits, dtype=torch.float64)
    if logits.shape != (len(CIFAR10_CLASSES),):
        return False, f"give one logit per class: a tensor of shape (10,), got shape {tuple(logits.shape)}"
    if not torch.isfinite(logits).all():
        return False, "every logit must be a finite number"
    probs = logits.softmax(dim=0)
    dog, cat = probs[CIFAR10_CLASSES.index("dog")].item(), probs[CIFAR10_CLASSES.index("cat")].item()
    if abs(dog - 0.40) > TOLERANCE or abs(cat - 0.25) > TOLERANCE:
        return False, f"softmax gives dog {dog:.1%} and cat {cat:.1%}; the targets are 40% and 25%"
    return True, f"dog {dog:.1%}, cat {cat:.1%}, the other eight classes {1 - dog - cat:.1%} together"


def _solution_dog40_cat25():
    # softmax(z)_k = e^{z_k} / T with T = sum_j e^{z_j}. Give the eight other classes logit 0, so their
    # share of T is 8 = (1 - 0.40 - 0.25) * T; then e^{z_dog} = 0.40 * T and e^{z_cat} = 0.25 * T.
    total = 8 / (1 - 0.40 - 0.25)
    logits = torch.zeros(10)
    logits[CIFAR10_CLASSES.index("dog")] = torch.log(torch.tensor(0.40 * total))
    logits[CIFAR10_CLASSES.index("cat")] = torch.log(torch.tensor(0.25 * total))
    return logits


dog40_cat25 = Exercise("dog 40%, cat 25%", _check_dog40_cat25, _solution_dog40_cat25)


# --- softmax by hand ------------------------------------------------------------------------------
def _check_softmax(my_softmax):
    if _not_filled_in(my_softmax) or not callable(my_softmax):
        return False, "pass a function my_softmax(logits) that returns probabilities over the last dimension"
    ready_made = sorted(names_used(my_softmax) & READY_MADE)
    if ready_made:
        return False, f"your function calls {', '.join(ready_made)}; build it from exp, max, sum and arithmetic"
    generator = torch.Generator().manual_seed(0)
    cases = {
        "a batch of random logits": torch.randn(4, 10, generator=generator) * 3,
        "equal logits": torch.zeros(2, 5),
        "one row of logits": torch.tensor([2.0, 1.0, 0.1]),
        "large logits (like 1000)": torch.tensor([[1000.0, 999.0, 998.0], [-1000.0, 0.0, 1000.0]]),
    }
    for name, logits in cases.items():
        result = my_softmax(logits.clone())
        if result is Ellipsis:
            return False, "your function still returns ...; compute the probabilities"
        result = torch.as_tensor(result)
        expected = torch.softmax(logits, dim=-1)
        if result.shape != expected.shape:
            return False, f"{name}: expected shape {tuple(expected.shape)}, got {tuple(result.shape)}"
        if not torch.isfinite(result).all():
            return False, (
                f"{name}: the result has inf or nan, because exp of a large logit overflows. The lesson showed "
                "a change to the logits that leaves the probabilities as they were; which such change keeps "
                "every exp small?"
            )
        if not torch.allclose(result.to(expected.dtype), expected, atol=1e-6, rtol=1e-5):
            return False, f"{name}: the probabilities differ from torch.softmax(logits, dim=-1)"
    return True, "equal to torch.softmax, large logits included"


def _solution_softmax():
    def my_softmax(logits):
        shifted = logits - logits.max(dim=-1, keepdim=True).values  # the largest becomes 0: exp <= 1
        weights = shifted.exp()
        return weights / weights.sum(dim=-1, keepdim=True)

    return my_softmax


softmax = Exercise("softmax by hand", _check_softmax, _solution_softmax)
