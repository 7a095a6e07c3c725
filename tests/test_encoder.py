import torch
import torch.nn.functional as F

from vitlib.encoder import MLP, Encoder, EncoderBlock
from vitlib.recording import record_attention


def test_block_matches_torch_pre_norm_layer(reference_layer, randomise):
    block = randomise(EncoderBlock(32, 4, mlp_ratio=3.0).eval())  # LayerNorm weights away from 1 and 0
    x = torch.randn(2, 9, 32)
    torch.testing.assert_close(block(x), reference_layer(block)(x), rtol=1e-4, atol=1e-5)


def test_stack_matches_torch_encoder_and_records_every_layers_attention(reference_layer, randomise):
    encoder = randomise(Encoder(32, 3, 4).eval())
    x = torch.randn(2, 9, 32)
    expected = x
    for block in encoder:
        expected = reference_layer(block)(expected)
    with record_attention(encoder) as record:
        out = encoder(x)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(encoder(x), out, rtol=1e-5, atol=1e-6)  # the fused path, not recording
    assert len(record) == 3 and all(w.shape == (2, 4, 9, 9) for w in record.weights)
    # the first layer's weights are those of its attention on the normalised input, by hand
    block = encoder[0]
    q, k, _ = block.attn.qkv(block.norm1(x)).view(2, 9, 3, 4, 8).permute(2, 0, 3, 1, 4)  # (B, h, N, d) each
    torch.testing.assert_close(record[0], (q @ k.transpose(-2, -1) / 8**0.5).softmax(-1), rtol=1e-5, atol=1e-6)
    # and the last layer's input is the output of the first two
    second = encoder[1](encoder[0](x))
    with record_attention(encoder[2]) as last:
        encoder[2](second)
    torch.testing.assert_close(record[2], last[0])


def test_mlp_dropout_sits_after_the_gelu_and_after_the_second_layer():
    # the documented order, fc1 -> GELU -> dropout -> fc2 -> dropout, written out with F.dropout drawing from the same
    # generator state. Catches a dropout moved before the GELU (gelu(drop(z)) != drop(gelu(z))), a second dropout
    # left out, one on the input instead (another mask shape, so other draws), or a dropout missing in train mode
    mlp = MLP(8, 16, dropout=0.5).train()
    x = torch.randn(2, 3, 8)
    torch.manual_seed(123)
    out = mlp(x)
    torch.manual_seed(123)
    hidden = F.dropout(F.gelu(F.linear(x, mlp.fc1.weight, mlp.fc1.bias)), 0.5, training=True)
    expected = F.dropout(F.linear(hidden, mlp.fc2.weight, mlp.fc2.bias), 0.5, training=True)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    plain = F.linear(F.gelu(F.linear(x, mlp.fc1.weight, mlp.fc1.bias)), mlp.fc2.weight, mlp.fc2.bias)
    assert (out == 0).float().mean() > 0.3  # the last dropout zeroes about half of the outputs
    torch.testing.assert_close(mlp.eval()(x), plain)  # and in eval mode, no dropout at all
