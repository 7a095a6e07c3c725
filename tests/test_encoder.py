import torch

from vitlib.encoder import Encoder, EncoderBlock
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
