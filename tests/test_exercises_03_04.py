"""The exercises of lessons 03 and 04 look at what the learner wrote: each catches a one-line slip with a
hint, and no hint gives away the formula or the answer."""

import re

import torch
from einops import rearrange

from vitlib.course.exercises import lesson03, lesson04
from vitlib.encoder import EncoderBlock
from vitlib.patches import extract_patches, unpatchify
from vitlib.position import sincos_1d
from vitlib.recording import record_attention


def judge(exercise, answer) -> tuple[bool, str]:
    return exercise._judge(answer)


def shuffled(images, model, order):
    patches, _ = extract_patches(images, model.config.patch_size)  # (B, N, C, p, p)
    return unpatchify(patches[:, order], images.shape[-2:])  # (B, C, H, W)


# --- lesson 03: measuring the shuffle test -----------------------------------------------------------
def test_shuffle_change_accepts_the_worked_solution_and_reports_the_measurements():
    ok, message = judge(lesson03.shuffle_change, lesson03._solution_shuffle_change)
    assert ok, message
    assert re.search(r"none/mean \d\.?\d*e-\d\d", message)  # the numbers measured, not a typed-in verdict
    assert "pos_embed='none', neither pooling saw the shuffle" in message
    assert "pos_embed='learned', both poolings saw it" in message


def test_shuffle_change_accepts_another_correct_way_to_shuffle():
    def with_einops(model, images, order):
        p = model.config.patch_size
        patches = rearrange(images, "b c (h p1) (w p2) -> b (h w) c p1 p2", p1=p, p2=p)  # (B, N, C, p, p)
        moved = rearrange(patches[:, order], "b (h w) c p1 p2 -> b c (h p1) (w p2)", w=images.shape[-1] // p)
        with torch.no_grad():
            return float((model.features(moved) - model.features(images)).abs().max())

    assert lesson03.shuffle_change.passes(with_einops)


def test_shuffle_change_rejects_made_up_numbers():
    for made_up in (0.0, 1e-6, 1e-3, 0.1):
        ok, message = judge(lesson03.shuffle_change, lambda model, images, order, v=made_up: v)
        assert not ok, made_up
        assert "not what the checker measures" in message or "pos_embed=" in message


def test_shuffle_change_rejects_a_random_order_of_its_own():
    def own_order(model, images, order):
        return lesson03._solution_shuffle_change(model, images, torch.randperm(len(order)))

    assert not lesson03.shuffle_change.passes(own_order)


def test_shuffle_change_catches_reading_c0_instead_of_the_features():
    def c0_change(model, images, order):
        with torch.no_grad():
            before, after = model.encode(images)[:, 0], model.encode(shuffled(images, model, order))[:, 0]
        return (after - before).abs().max().item()

    ok, message = judge(lesson03.shuffle_change, c0_change)
    assert not ok and "pool='mean'" in message and "model.features" in message


def test_shuffle_change_catches_the_inverse_order_and_an_average():
    def inverse(model, images, order):
        return lesson03._solution_shuffle_change(model, images, torch.argsort(order))

    def average(model, images, order):
        with torch.no_grad():
            return (model.features(shuffled(images, model, order)) - model.features(images)).abs().mean().item()

    ok, message = judge(lesson03.shuffle_change, inverse)
    assert not ok and "patches[:, order]" in message
    ok, message = judge(lesson03.shuffle_change, average)
    assert not ok and "largest" in message


def test_shuffle_change_failure_does_not_print_the_measurement():
    ok, message = judge(lesson03.shuffle_change, lambda model, images, order: 0.5)
    assert not ok
    assert not re.search(r"\de-0\d", message), message  # no measured change leaks into the hint


def test_shuffle_change_leaves_the_random_state_alone():
    state = torch.get_rng_state()
    lesson03.shuffle_change.passes(lesson03._solution_shuffle_change)
    assert torch.equal(state, torch.get_rng_state())


# --- lesson 03: interleaved sin-cos ------------------------------------------------------------------
FORMULA = re.compile(r"10000|\bsin\(|\bcos\(|\b2i\b|\^")


def test_interleaved_sincos_hint_for_swapped_sine_and_cosine_names_the_channel_not_the_formula():
    def swapped(n, d):
        table = lesson03._solution_interleaved_sincos(n, d)
        return table[:, [c ^ 1 for c in range(d)]]  # cos at even channels, sin at odd

    ok, message = judge(lesson03.interleaved_sincos, swapped)
    assert not ok
    assert "channel 0" in message and "like a cosine" in message and "where a sine belongs" in message
    assert not FORMULA.search(message), message


def test_interleaved_sincos_hint_for_a_wrong_frequency_does_not_give_it():
    def wrong_frequency(n, d):
        position = torch.arange(n, dtype=torch.float64)[:, None]
        angles = position / 10000 ** (torch.arange(d // 2, dtype=torch.float64) / d)  # i where 2i belongs
        table = torch.empty(n, d, dtype=torch.float64)
        table[:, 0::2], table[:, 1::2] = angles.sin(), angles.cos()
        return table.float()

    ok, message = judge(lesson03.interleaved_sincos, wrong_frequency)
    assert not ok and "frequency" in message
    assert not FORMULA.search(message), message


def test_interleaved_sincos_hint_for_vitlibs_order():
    ok, message = judge(lesson03.interleaved_sincos, sincos_1d)
    assert not ok and "channel order" in message
    assert not re.search(r"even|odd", message)  # which channel holds what is the exercise's text, not the hint's


# --- lesson 04: one head's weights ---------------------------------------------------------------------
def head_parts(attn, x, i, with_bias=True):
    D, d = attn.dim, attn.head_dim
    rows_q, rows_k = slice(i * d, (i + 1) * d), slice(D + i * d, D + (i + 1) * d)
    weight, bias = attn.qkv.weight, attn.qkv.bias
    q = x @ weight[rows_q].T + (bias[rows_q] if with_bias else 0)
    k = x @ weight[rows_k].T + (bias[rows_k] if with_bias else 0)
    return q, k, d


ANSWER_OF_HEAD_WEIGHTS = re.compile(r"sqrt|√|softmax\(|q k|D\.\.|\d+\.\.\d*D|i\*d|from i")


def test_head_weights_hints_without_the_formula():
    def no_scale(attn, x, i):
        q, k, d = head_parts(attn, x, i)
        return (q @ k.transpose(-2, -1)).softmax(dim=-1)

    def no_bias(attn, x, i):
        q, k, d = head_parts(attn, x, i, with_bias=False)
        return (q @ k.transpose(-2, -1) / d**0.5).softmax(dim=-1)

    def wrong_axis(attn, x, i):
        q, k, d = head_parts(attn, x, i)
        return (q @ k.transpose(-2, -1) / d**0.5).softmax(dim=-2)

    def keys_from_the_query_block(attn, x, i):
        d = attn.head_dim
        rows = slice((i + 1) * d, (i + 2) * d)  # the next head's queries, not head i's keys
        q, _, _ = head_parts(attn, x, i)
        k = x @ attn.qkv.weight[rows].T + attn.qkv.bias[rows]
        return (q @ k.transpose(-2, -1) / d**0.5).softmax(dim=-1)

    expected_words = {no_scale: "scale", no_bias: "parameters", wrong_axis: "axis", keys_from_the_query_block: "rows"}
    for slip, word in expected_words.items():
        ok, message = judge(lesson04.head_weights, slip)
        assert not ok, slip.__name__
        assert word in message, (slip.__name__, message)
        assert not ANSWER_OF_HEAD_WEIGHTS.search(message), (slip.__name__, message)


def test_head_weights_placeholder_hint_points_to_the_lesson():
    ok, message = judge(lesson04.head_weights, lambda attn, x, i: ...)
    assert not ok and "section" in message
    assert not ANSWER_OF_HEAD_WEIGHTS.search(message), message


# --- lesson 04: parameters of a block ------------------------------------------------------------------
def test_block_parameters_hints_never_print_the_count_or_the_parts():
    for slip in (
        lambda D: 12 * D * D,  # no vectors at all
        lambda D: 12 * D * D + 9 * D,  # the LayerNorms forgotten
        lambda D: 8 * D * D + 13 * D,  # an MLP of width 2D
        lambda D: 12 * D * D + 13 * D + 1,  # one too many
    ):
        ok, message = judge(lesson04.block_parameters, slip)
        assert not ok
        for dim in (8, 64, 192, 384, 768):
            assert str(lesson04._block_parameter_count(dim)) not in message, message
        assert not re.search(r"LayerNorm|4D|12 ?D|13 ?D|hidden width", message), message


def test_block_parameters_tells_matrices_from_vectors():
    _, matrices = judge(lesson04.block_parameters, lambda D: 8 * D * D + 13 * D)
    _, vectors = judge(lesson04.block_parameters, lambda D: 12 * D * D + 9 * D)
    assert "D^2" in matrices and "vectors" in vectors
    assert lesson04.block_parameters.passes(lambda D: 12 * D * D + 13 * D)


def test_block_parameters_refuses_letting_pytorch_count():
    def counted_by_pytorch(D):
        return sum(p.numel() for p in EncoderBlock(D, 1).parameters())

    ok, message = judge(lesson04.block_parameters, counted_by_pytorch)
    assert not ok and "EncoderBlock" in message and "by hand" in message


def test_head_weights_refuses_recorded_weights():
    def recorded(attn, x, i):
        with record_attention(attn) as record:
            attn(x)
        return record[0][:, i]

    ok, message = judge(lesson04.head_weights, recorded)
    assert not ok and "record_attention" in message
