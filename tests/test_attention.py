import pytest
import torch
from torch import nn

from vitlib.attention import MultiHeadSelfAttention, scaled_dot_product_attention


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
    out, weights = ours(x, return_attention=True)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(weights, expected_weights, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours(x), expected, rtol=1e-5, atol=1e-5)  # the fused path


def test_fused_and_hand_written_paths_agree():
    fused = MultiHeadSelfAttention(32, 4, fused=True).eval()
    manual = MultiHeadSelfAttention(32, 4, fused=False).eval()
    manual.load_state_dict(fused.state_dict())
    x = torch.randn(3, 10, 32)
    torch.testing.assert_close(fused(x), manual(x), rtol=1e-5, atol=1e-5)


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
