"""The 1,000 class names of ImageNet-1k (ILSVRC-2012), for reading a published classifier's outputs.

``data/imagenet_classes.txt`` holds, in class-index order, each class's WordNet ID and a short name (the
synset's first WordNet lemma); its header names the source. Class ``k`` of every ImageNet-1k classifier
(output ``k`` of its head) is the ``k``-th WordNet ID in sorted order.
"""

from __future__ import annotations

import functools

from ..data.paths import DATA_DIR

__all__ = ["IMAGENET_CLASSES_FILE", "imagenet_classes", "imagenet_synsets"]

IMAGENET_CLASSES_FILE = DATA_DIR / "imagenet_classes.txt"


@functools.cache
def read_classes() -> tuple[tuple[str, str], ...]:
    """``(wordnet_id, name)`` for the 1,000 classes, in class-index order."""
    if not IMAGENET_CLASSES_FILE.is_file():
        raise FileNotFoundError(f"{IMAGENET_CLASSES_FILE} is missing; it comes with the course's data/ folder")
    rows = [line.split("\t") for line in IMAGENET_CLASSES_FILE.read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    if len(rows) != 1000 or any(len(row) != 2 for row in rows):
        raise ValueError(f"{IMAGENET_CLASSES_FILE} must hold 1,000 lines 'wordnet_id<TAB>name', got {len(rows)} lines")
    wordnet_ids = [row[0] for row in rows]
    if wordnet_ids != sorted(wordnet_ids):
        raise ValueError(f"{IMAGENET_CLASSES_FILE} must list the classes in the sorted order of their WordNet IDs")
    return tuple((row[0], row[1]) for row in rows)


def imagenet_classes() -> list[str]:
    """The short names of the 1,000 ImageNet-1k classes; entry ``k`` names output ``k`` of the classifier."""
    return [name for _, name in read_classes()]


def imagenet_synsets() -> list[str]:
    """The WordNet IDs of the 1,000 ImageNet-1k classes (``n01440764``, ...), in class-index order."""
    return [wordnet_id for wordnet_id, _ in read_classes()]
