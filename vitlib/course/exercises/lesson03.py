"""Exercises of lesson 03: position encodings.

``interleaved_sincos``: the original Transformer's 1D sin-cos, with sines and cosines interleaved.
``shuffle_change``: measure how much shuffling the patches changes a model's features, for CLS and mean pooling.
"""

from __future__ import annotations

import numbers

import torch

from ...model import create_vit
from ...patches import extract_patches, unpatchify
from ...position import sincos_1d
from ..teach import Exercise

__all__ = ["interleaved_sincos", "shuffle_change"]


# --- the interleaved 1D sin-cos ------------------------------------------------------------------
def _interleave(table: torch.Tensor) -> torch.Tensor:
    """vitlib's order [sin_0..sin_{D/2-1}, cos_0..cos_{D/2-1}] -> [sin_0, cos_0, sin_1, cos_1, ...]."""
    sines, cosines = table.chunk(2, dim=1)  # (N, D/2) each
    return torch.stack([sines, cosines], dim=2).flatten(1)  # (N, D)


def _first_value_kind(value: float) -> str | None:
    """What a column's value at position 0 says it is: a sine starts at 0, a cosine at 1."""
    return "sine" if abs(value) < 1e-4 else "cosine" if abs(value - 1) < 1e-4 else None


def _check_interleaved_sincos(answer):
    if answer is Ellipsis or not callable(answer):
        return False, "pass a function interleaved_sincos(num_positions, dim) that returns a (num_positions, dim) tensor"
    for n, d in [(1, 2), (5, 4), (14, 8), (196, 64)]:
        got = answer(n, d)
        call = f"interleaved_sincos({n}, {d})"
        if got is Ellipsis:
            return False, "your function still returns ...; build the table (section 5 builds vitlib's order by hand)"
        if not isinstance(got, torch.Tensor):
            return False, f"{call} returned a {type(got).__name__}, not a torch.Tensor"
        if tuple(got.shape) != (n, d):
            return False, f"{call} has shape {tuple(got.shape)}, expected {(n, d)}"
        halves = sincos_1d(n, d)
        expected = _interleave(halves)
        got, expected = got.double(), expected.double()
        if torch.allclose(got, expected, atol=1e-4):
            continue
        if torch.allclose(got, halves.double(), atol=1e-4):
            return False, (
                "these are the right numbers in vitlib's channel order; reread which channel the exercise gives each"
            )
        channel = (got - expected).abs().max(dim=0).values.argmax().item()  # the channel that is most wrong
        belongs = "sine" if channel % 2 == 0 else "cosine"
        found = _first_value_kind(got[0, channel].item())
        if found is not None and found != belongs:
            hint = f"channel {channel} starts like a {found} (look at position 0) where a {belongs} belongs"
        elif found == belongs:
            hint = (
                f"channel {channel} starts like a {belongs}, as it should, but then drifts from it: compare the "
                "speed at which it turns (its frequency) with the exercise's text"
            )
        else:
            hint = f"channel {channel} is neither a sine nor a cosine of the position; look at its value at position 0"
        return False, f"{call}: {hint}"
    return True, "the same numbers as vitlib's sincos_1d, only in another channel order"


def _solution_interleaved_sincos(num_positions, dim):
    position = torch.arange(num_positions, dtype=torch.float64)[:, None]  # (N, 1)
    two_i = torch.arange(0, dim, 2, dtype=torch.float64)  # 0, 2, 4, ... (D/2,)
    angles = position / 10000 ** (two_i / dim)  # (N, D/2)
    table = torch.empty(num_positions, dim, dtype=torch.float64)
    table[:, 0::2] = angles.sin()  # even channels
    table[:, 1::2] = angles.cos()  # odd channels
    return table.float()


interleaved_sincos = Exercise(
    "the original Transformer's interleaved 1D sin-cos", _check_interleaved_sincos, _solution_interleaved_sincos
)


# --- measuring the shuffle test -------------------------------------------------------------------
_ROUNDING = 1e-5  # torch.testing.assert_close's absolute tolerance for float32: below it, a change is rounding
_SHUFFLE_CASES = [("none", "cls"), ("none", "mean"), ("learned", "cls"), ("learned", "mean")]  # (pos_embed, pool)


def _change(model, images: torch.Tensor, shuffled: torch.Tensor, read) -> float:
    """The largest absolute change of ``read(model, x)`` from ``images`` to ``shuffled``."""
    with torch.no_grad():
        return (read(model, shuffled) - read(model, images)).abs().max().item()


def _shuffled(images: torch.Tensor, patch_size: int, order: torch.Tensor) -> torch.Tensor:
    """``images`` (B, C, H, W) with patch ``order[k]`` moved to place ``k``."""
    patches, _ = extract_patches(images, patch_size)  # (B, N, C, p, p)
    return unpatchify(patches[:, order], images.shape[-2:])  # (B, C, H, W)


def _what_was_measured(got: float, model, images: torch.Tensor, order: torch.Tensor) -> str | None:
    """A hint when ``got`` is what a common slip measures: another output, the inverse order, a mean."""
    p = model.config.patch_size
    shuffled = _shuffled(images, p, order)
    slips = [
        ("that is how much c0 changes; this model may pool its features another way: measure what "
         "model.features returns", _change(model, images, shuffled, lambda m, x: m.encode(x)[:, 0])),
        ("that is how much the logits change (model(images)); measure the features (model.features)",
         _change(model, images, shuffled, lambda m, x: m(x))),
        ("you moved patch k to place order[k]; the exercise puts patch order[k] at place k, as patches[:, order] does",
         _change(model, images, _shuffled(images, p, torch.argsort(order)), lambda m, x: m.features(x))),
    ]
    with torch.no_grad():
        mean_change = (model.features(shuffled) - model.features(images)).abs().mean().item()
    slips.append(("that looks like an average change; the exercise asks for the largest one", mean_change))
    for hint, value in slips:
        if value >= _ROUNDING and abs(got - value) <= 1e-2 * value:
            return hint
    return None


def _check_shuffle_change(answer):
    if answer is Ellipsis or not callable(answer):
        return False, "pass a function shuffle_change(model, images, order) that returns one number"
    with torch.random.fork_rng():  # leave the learner's random state alone
        torch.manual_seed(0)
        images = torch.rand(2, 3, 32, 32)  # (B, C, H, W)
        measured = {}
        for pos_embed, pool in _SHUFFLE_CASES:
            model = create_vit("course-tiny", pos_embed=pos_embed, pool=pool).eval()
            order = torch.randperm(model.config.num_patches)
            case = f"pos_embed={pos_embed!r}, pool={pool!r}"
            expected = _change(model, images, _shuffled(images, model.config.patch_size, order),
                               lambda m, x: m.features(x))
            got = answer(model, images.clone(), order.clone())
            if got is Ellipsis:
                return False, (
                    "your function still returns ...; move the patches, then compare the features "
                    "(section 2's shuffle_test does much of the work)"
                )
            if isinstance(got, torch.Tensor):
                if got.numel() != 1:
                    shape = tuple(got.shape)
                    return False, f"{case}: you returned a tensor of shape {shape}; return one number, the largest"
                got = got.item()
            if isinstance(got, bool) or not isinstance(got, numbers.Real):
                return False, f"{case}: you returned a {type(got).__name__}; return one number (a float)"
            got = float(got)
            if got < 0:
                return False, f"{case}: you returned {got:.1e}; a largest *absolute* change cannot be negative"
            rounding_both = expected < _ROUNDING and got < _ROUNDING  # both are float rounding: either will do
            if not rounding_both and abs(got - expected) > 1e-2 * expected:
                hint = _what_was_measured(got, model, images, order) or (
                    "that is not what the checker measures for this model. Move whole patches (extract_patches "
                    "and unpatchify, section 1), and compare model.features of the images before and after"
                )
                return False, f"{case}: {hint}"
            measured[pos_embed, pool] = got
    numbers_seen = ", ".join(f"{pos}/{pool} {value:.0e}" for (pos, pool), value in measured.items())
    verdicts = []
    for pos_embed in dict.fromkeys(pos for pos, _ in _SHUFFLE_CASES):
        seeing = [pool for (pos, pool), value in measured.items() if pos == pos_embed and value >= _ROUNDING]
        if not seeing:
            verdict = f"neither pooling saw the shuffle (every change below {_ROUNDING:.0e}, float rounding)"
        elif len(seeing) == sum(pos == pos_embed for pos, _ in _SHUFFLE_CASES):
            verdict = "both poolings saw it"
        else:
            verdict = f"only {', '.join(seeing)} pooling saw it"
        verdicts.append(f"with pos_embed={pos_embed!r}, {verdict}")
    summary = "; ".join(verdicts)
    return True, f"your measurements: {numbers_seen}. {summary[0].upper()}{summary[1:]}"


def _solution_shuffle_change(model, images, order):
    patches, _ = extract_patches(images, model.config.patch_size)  # (B, N, C, p, p)
    shuffled = unpatchify(patches[:, order], images.shape[-2:])  # (B, C, H, W): patch order[k] now at place k
    with torch.no_grad():
        change = model.features(shuffled) - model.features(images)  # (B, D)
    return change.abs().max().item()  # the largest over the batch and the channels


shuffle_change = Exercise(
    "measure how much a shuffle changes the features", _check_shuffle_change, _solution_shuffle_change
)
