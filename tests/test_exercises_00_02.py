"""Lessons 00-02: the road diagram draws what it says, and the exercises check what their lessons say they
check, hint without giving the answer away, and do not ask for a number the lesson has printed already."""

import io
import json
import re
from contextlib import redirect_stdout
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
import torch

from vitlib.course.diagram import STAGES, TRAINING, draw_patch_sequence, draw_vit_road, number_patches
import vitlib.patches as vitlib_patches
from vitlib.course.exercises import lesson00, lesson01, lesson02
from vitlib.embedding import PatchEmbedding
from vitlib.model import vit_config
from vitlib.patches import num_patches
from vitlib.profile import get_profile, PROFILES

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def texts_of(ax) -> dict[str, tuple[float, float]]:
    return {t.get_text(): t.get_position() for t in ax.texts}


# --- the road diagram ---------------------------------------------------------------------------------------
def test_the_road_draws_every_stage_in_reading_order():
    ax = draw_vit_road(torch.rand(3, 64, 64), patch_size=16)
    drawn = texts_of(ax)
    labels = [stage.label for stage in STAGES]
    assert all(label in drawn for label in labels), [label for label in labels if label not in drawn]
    # reading order: row by row from the top, left to right within a row
    reading = sorted(labels, key=lambda label: (-round(drawn[label][1], 3), drawn[label][0]))
    assert reading == labels
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    assert all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in drawn.values())


def test_the_road_names_every_lesson_and_the_stages_are_the_papers():
    ax = draw_vit_road(torch.rand(3, 64, 64), patch_size=16)
    drawn = texts_of(ax)
    assert {f"lesson 0{k}" for k in range(7)} <= set(drawn)
    assert all(stage.label in drawn for stage in TRAINING)
    lesson_of = {stage.label: stage.lesson for stage in STAGES}
    assert lesson_of["patches"] == "01" and lesson_of["shared linear map E"] == "02"
    assert lesson_of["+ position"] == "03" and lesson_of["prepend CLS"] == "04" and lesson_of["c0"] == "04"
    labels = [stage.label for stage in STAGES]
    assert labels.index("prepend CLS") < labels.index("+ position")  # as vitlib.model.ViT.embed does
    assert labels.index("+ position") < labels.index("Transformer encoder") < labels.index("c0")
    assert labels.index("c0") < labels.index("classifier head") < labels.index("softmax")


def test_the_sequence_is_one_row_in_reading_order():
    ax = draw_patch_sequence(torch.rand(3, 32, 32), 8, first=5)  # 4 x 4 = 16 patches
    drawn = texts_of(ax)
    shown = ["0", "1", "2", "3", "4", "...", "15"]
    assert set(shown) <= set(drawn) and not {"5", "14"} & set(drawn)
    xs = [drawn[t][0] for t in shown]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    numbers_y = {drawn[t][1] for t in shown if t != "..."}
    assert len(numbers_y) == 1  # a strip, not a grid
    assert len(ax.images) == 6  # one picture per patch shown


def test_a_short_sequence_is_shown_whole():
    drawn = texts_of(draw_patch_sequence(torch.rand(3, 16, 16), 8))  # 2 x 2 patches
    assert {"0", "1", "2", "3"} <= set(drawn) and "..." not in drawn


def test_number_patches_writes_each_place_where_its_patch_is():
    _, ax = plt.subplots()
    number_patches((32, 48), 8, 16)  # grid 2 x 3 (overlap-free stride 16 across 48, down 32)
    drawn = texts_of(ax)
    assert set(drawn) == {str(k) for k in range(num_patches((32, 48), 8, 16))}
    x, y = drawn["4"]  # row 1, column 1
    assert 16 <= x < 24 and 16 <= y < 24


# --- lesson 00 ------------------------------------------------------------------------------------------
def message(exercise, answer) -> str:
    """What ``check`` prints for a wrong ``answer``."""
    printed = io.StringIO()
    with redirect_stdout(printed):
        exercise.check(answer)
    text = printed.getvalue()
    assert text.startswith("❌ not yet: "), text
    return text.removeprefix("❌ not yet: ")


def naive_softmax(logits):
    return logits.exp() / logits.exp().sum(dim=-1, keepdim=True)


def test_the_softmax_hint_does_not_give_the_trick_away():
    text = message(lesson00.softmax, naive_softmax).lower()
    assert "inf or nan" in text
    assert not any(word in text for word in ("subtract", "max", "largest", "z - c", "minus"))


def test_softmax_from_torch_is_refused_but_a_helper_named_softmax_is_not():
    for ready_made in (lambda z: torch.softmax(z, dim=-1), lambda z: z.softmax(dim=-1),
                       lambda z: torch.nn.functional.softmax(z, dim=-1)):
        assert "softmax" in message(lesson00.softmax, ready_made)

    def softmax(z):  # the learner's own, stable
        weights = (z - z.max(dim=-1, keepdim=True).values).exp()
        return weights / weights.sum(dim=-1, keepdim=True)

    def my_softmax(z):
        return softmax(z)

    assert lesson00.softmax.passes(my_softmax)


# --- lesson 01 ------------------------------------------------------------------------------------------
def worked_count(H, W, patch, stride):
    return ((H - patch) // stride + 1) * ((W - patch) // stride + 1)


alias = num_patches


def helper_that_cheats(H, W, patch, stride):
    return num_patches((H, W), patch, stride)


CHEATS = {
    "calls num_patches": lambda H, W, p, s: num_patches((H, W), p, s),
    "calls it by another name": lambda H, W, p, s: alias((H, W), p, s),
    "through a helper": lambda H, W, p, s: helper_that_cheats(H, W, p, s),
    "through vitlib.patches.grid_shape": lambda H, W, p, s: vitlib_patches.grid_shape((H, W), p, s)[0] * vitlib_patches.grid_shape((H, W), p, s)[1],
}


@pytest.mark.parametrize("name", list(CHEATS))
def test_count_patches_refuses_vitlibs_counters(name):
    text = message(lesson01.count_patches, CHEATS[name])
    assert "by hand" in text


def test_count_patches_accepts_arithmetic_and_unfold():
    assert lesson01.count_patches.passes(worked_count)
    assert lesson01.count_patches.passes(lambda H, W, p, s: torch.zeros(H, W).unfold(0, p, s).unfold(1, p, s).shape[:2].numel())


def test_count_patches_hints_say_which_way_but_not_the_count():
    too_few = message(lesson01.count_patches, lambda H, W, p, s: ((H - p) // s) * ((W - p) // s))
    assert "too few" in too_few and str(num_patches(224, 1, 1)) not in too_few
    too_many = message(lesson01.count_patches, lambda H, W, p, s: (H // s) * (W // s) + 1)
    assert "too many" in too_many
    assert "//" not in too_few + too_many and "+ 1" not in too_few + too_many  # no formula


def test_the_numeric_hints_of_lesson_01_hide_the_answer():
    for exercise, expected in [(lesson01.count_16_8, num_patches(224, 16, 8)), (lesson01.uncovered_30, 224 * 224 - 210 * 210)]:
        assert exercise.passes(expected)
        text = message(exercise, expected + 1)
        assert str(expected) not in text and f"{expected:,}" not in text
    uncovered = message(lesson01.uncovered_30, 1)
    assert not re.search(r"\b(7|210|14)\b", uncovered)  # patches per side, pixels reached, pixels left per side


# --- lesson 02 ------------------------------------------------------------------------------------------
def test_the_embedding_exercise_asks_for_a_count_no_profile_prints():
    config = vit_config(lesson02.EMBED_VARIANT)
    asked = 3 * config.patch_size**2 * config.dim + config.dim
    assert lesson02.embed_params.passes(asked)
    for name in PROFILES:  # lesson 02 prints the count of its profile's demo model
        shown = vit_config(get_profile(name).demo_variant)
        assert 3 * shown.patch_size**2 * shown.dim + shown.dim != asked, name


def test_the_embedding_hints_hide_the_answer():
    config = vit_config(lesson02.EMBED_VARIANT)
    weights = 3 * config.patch_size**2 * config.dim
    for wrong in (weights, 1, weights + 2 * config.dim):
        text = message(lesson02.embed_params, wrong)
        assert str(weights + config.dim) not in text.replace(",", "")
        assert str(config.dim) not in text and "bias per" not in text


def test_the_from_conv_hint_does_not_say_what_to_copy():
    def from_conv_without_bias(conv):
        embedding = PatchEmbedding(in_channels=conv.in_channels, patch_size=conv.kernel_size,
                                    stride=conv.stride, dim=conv.out_channels)
        with torch.no_grad():
            embedding.proj.weight.copy_(conv.weight.reshape(conv.out_channels, -1))
        return embedding

    text = message(lesson02.from_conv, from_conv_without_bias)
    assert "tokens differ" in text and "copy" not in text and "bias" not in text


# --- answers are not printed before they are asked --------------------------------------------------------
def text_before(notebook: str, marker: str) -> str:
    """The sources and text outputs of a notebook's cells before the first cell containing ``marker``."""
    cells = json.loads((NOTEBOOKS / notebook).read_text())["cells"]
    parts = []
    for cell in cells:
        source = "".join(cell["source"])
        if marker in source:
            return "\n".join(parts)
        parts.append(source)
        for output in cell.get("outputs", []):
            parts.append("".join(output.get("text", "")) + "".join(output.get("data", {}).get("text/plain", "")))
    raise AssertionError(f"{marker} not found in {notebook}")


@pytest.mark.parametrize("notebook, marker, answer", [
    ("01_patches.ipynb", "lesson01.count_16_8.check", num_patches(224, 16, 8)),
    ("01_patches.ipynb", "lesson01.uncovered_30.check", 224 * 224 - 210 * 210),
    ("02_vectorize_and_embed.ipynb", "lesson02.embed_params.check", 3 * 14 * 14 * 1280 + 1280),
])
def test_an_answer_is_not_printed_before_it_is_asked(notebook, marker, answer):
    before = text_before(notebook, marker)
    assert not re.search(rf"\b({answer}|{answer:,})\b", before)
