"""Exercises of lesson 01: patch size, stride and the number of patches.

``count_16_8``: how many patches a 224x224 image gives with patch size 16 and stride 8.
``count_patches``: a function that counts the patches of any image, patch size and stride, by hand: a
function that calls one of ``vitlib.patches``' counters is refused (see :func:`vitlib.course.teach.names_used`).
``uncovered_30``: how many pixels of a 224x224 image no 30x30 patch covers at stride 30.
"""

from __future__ import annotations

import itertools
import numbers

from ... import patches as vitlib_patches
from ...patches import num_patches, uncovered_mask
from ..teach import Exercise, names_used

__all__ = ["count_16_8", "count_patches", "uncovered_30", "SHORTCUTS"]

SHORTCUTS = frozenset(vitlib_patches.__all__)  # vitlib's patch functions: each one counts the patches for you


def _check_int(answer, expected: int, unit: str, hint: str):
    if answer is Ellipsis:
        return False, "replace the ... with a number"
    if isinstance(answer, bool) or not isinstance(answer, numbers.Integral):
        return False, f"the answer is a whole number (an int), got {answer!r}"
    if answer != expected:
        return False, f"{answer} is not it. {hint}"
    return True, f"{expected} {unit}"


# --- 224x224, patch 16, stride 8 --------------------------------------------------------------
def _check_count_16_8(answer):
    hint = "Count the positions along one side first: a patch can start at 0, 8, 16, ... as long as it fits."
    return _check_int(answer, num_patches(224, 16, 8), "patches", hint)


def _solution_count_16_8():
    per_side = (224 - 16) // 8 + 1  # 27 starting positions: 0, 8, ..., 208
    answer = per_side * per_side  # 729 patches, each overlapping its neighbours by half
    return answer


count_16_8 = Exercise("patches of a 224x224 image, patch 16, stride 8", _check_count_16_8, _solution_count_16_8)


# --- a function that counts patches ------------------------------------------------------------
_CASES = [
    (H, W, p, s)
    for H, W in [(224, 224), (32, 32), (28, 28), (300, 451), (7, 5)]
    for p, s in itertools.product([1, 3, 4, 5, 16, 30], [1, 2, 4, 8, 16, 40])
    if p <= min(H, W)
]


def _check_count_patches(count):
    if count is Ellipsis or not callable(count):
        return False, "pass a function count_patches(H, W, patch, stride) that returns an int"
    shortcuts = sorted(names_used(count) & SHORTCUTS)
    if shortcuts:
        return False, (
            f"your function uses {', '.join(shortcuts)} from vitlib.patches, which counts for you; count by hand: "
            "how many places can a patch start at along one side?"
        )
    for H, W, p, s in _CASES:
        got, expected = count(H, W, p, s), num_patches((H, W), p, s)
        if got is Ellipsis:
            return False, "your function still returns ...; write the count formula"
        if got != expected:
            if not isinstance(got, numbers.Number):
                return False, f"count_patches({H}, {W}, {p}, {s}) gave {got!r}; return a number"
            if got > expected:
                hint = "too many: does every patch you count fit inside the image?"
            else:
                hint = "too few: does your count include the patch that starts at 0, and the last one that still fits?"
            return False, f"count_patches({H}, {W}, {p}, {s}) gave {got!r}, {hint}"
    return True, f"all {len(_CASES)} cases tried agree with the formula (image sizes {sorted({c[:2] for c in _CASES})})"


def _solution_count_patches():
    def count_patches(H, W, patch, stride):
        rows = (H - patch) // stride + 1  # starting positions down the image
        cols = (W - patch) // stride + 1  # starting positions across it
        return rows * cols

    return count_patches


count_patches = Exercise("a function that counts patches", _check_count_patches, _solution_count_patches)


# --- pixels left over ---------------------------------------------------------------------------
def _check_uncovered_30(answer):
    hint = (
        "How many whole patches fit along one side, and how far do they reach? The pixels beyond lie in the "
        "last rows and the last columns; count each pixel once."
    )
    if isinstance(answer, numbers.Integral) and not isinstance(answer, bool) and 0 < answer < 224:
        hint = "that is a number of rows or columns; the question asks for pixels, an area. " + hint
    return _check_int(answer, int(uncovered_mask(224, 30, 30).sum()), "pixels are left over", hint)


def _solution_uncovered_30():
    per_side = (224 - 30) // 30 + 1  # 7 patches along each side
    reached = per_side * 30  # they reach 210 pixels; the last 14 rows and columns are left over
    answer = 224 * 224 - reached * reached  # 6076 pixels that no patch covers
    return answer


uncovered_30 = Exercise("pixels left over: 224x224, patch 30, stride 30", _check_uncovered_30, _solution_uncovered_30)
