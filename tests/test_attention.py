import pytest
import torch
from torch import nn

from vitlib.attention import MultiHeadSelfAttention, scaled_dot_product_attention
from vitlib.recording import record_attention


def copy_into_torch_mha(ours: MultiHeadSelfAttention) -> nn.MultiheadAttention:
    reference = nn.MultiheadAttention(ours.dim, ours.heads, batch_first=True)
    with torch.no_grad():
        reference.in_proj_weight.copy_(ours.qkv.weight)
        reference.in_proj_bias.copy_(ours.qkv.bias)
        reference.out_proj.weight.copy_(ours.proj.weight)
        reference.out_proj.bias.copy_(ours.proj.bias)
    return reference.eval()


@pytest.mark.parametrize("dim, heads", [(32, 4), (48, 3), (16, 1)])
def test_matches_torch_multihead_attention(dim, heads):
    ours = MultiHeadSelfAttention(dim, heads).eval()
    reference = copy_into_torch_mha(ours)
    x = torch.randn(2, 7, dim)
    expected, expected_weights = reference(x, x, x, need_weights=True, average_attn_weights=False)
    with record_attention(ours) as record:
        out = ours(x)  # the hand-written path, while recording
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(record[0], expected_weights, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours(x), expected, rtol=1e-5, atol=1e-5)  # the fused path


def test_fused_and_hand_written_paths_agree():
    fused = MultiHeadSelfAttention(32, 4, fused=True).eval()
    manual = MultiHeadSelfAttention(32, 4, fused=False).eval()
    manual.load_state_dict(fused.state_dict())
    x = torch.randn(3, 10, 32)
    torch.testing.assert_close(fused(x), manual(x), rtol=1e-5, atol=1e-5)


def test_recording_switches_to_the_hand_written_path_only_while_it_lasts(monkeypatch):
    attn = MultiHeadSelfAttention(16, 2).eval()
    calls = []
    original = torch.nn.functional.scaled_dot_product_attention
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention",
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    x = torch.randn(1, 5, 16)
    attn(x)
    assert calls == [1]  # the fused kernel outside a recording
    with record_attention(attn) as record:
        attn(x)
    assert calls == [1] and len(record) == 1  # the hand-written path inside
    attn(x)
    assert calls == [1, 1] and attn.recorded is None  # back to fused after


def test_recording_is_undone_after_an_error_and_cannot_nest():
    attn = MultiHeadSelfAttention(16, 2)
    with pytest.raises(RuntimeError, match="boom"):
        with record_attention(attn):
            raise RuntimeError("boom")
    assert attn.recorded is None
    with record_attention(attn):
        with pytest.raises(RuntimeError, match="already being recorded"):
            with record_attention(attn):
                pass
    with pytest.raises(ValueError, match="no MultiHeadSelfAttention"):
        with record_attention(nn.Linear(2, 2)):
            pass


def test_hand_written_attention_is_softmax_of_scaled_scores():
    q, k, v = torch.randn(3, 2, 5, 4).unbind(0)
    out, weights = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 5))
    torch.testing.assert_close(out, torch.nn.functional.scaled_dot_product_attention(q, k, v))
    row = (q[0, 1] @ k[0].T / 2.0).softmax(-1)  # sqrt(d) = 2
    torch.testing.assert_close(weights[0, 1], row)


def test_width_not_divisible_by_heads():
    with pytest.raises(ValueError, match=r"dim=30 and heads=4.*\[1, 2, 3, 5, 6, 10, 15, 30\]"):
        MultiHeadSelfAttention(30, 4)
    with pytest.raises(ValueError, match="heads must be a positive int, got True"):
        MultiHeadSelfAttention(30, True)
