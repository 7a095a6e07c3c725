import torch
from torch import nn

from vitlib.encoder import Encoder, EncoderBlock


def reference_layer(block: EncoderBlock) -> nn.TransformerEncoderLayer:
    """torch's own pre-norm Transformer layer with the block's weights copied in."""
    dim, hidden = block.mlp.fc1.in_features, block.mlp.fc1.out_features
    layer = nn.TransformerEncoderLayer(
        dim, block.attn.heads, hidden, dropout=0.0, activation="gelu", layer_norm_eps=1e-6,
        batch_first=True, norm_first=True,
    )
    pairs = {
        "self_attn.in_proj_weight": block.attn.qkv.weight, "self_attn.in_proj_bias": block.attn.qkv.bias,
        "self_attn.out_proj.weight": block.attn.proj.weight, "self_attn.out_proj.bias": block.attn.proj.bias,
        "linear1.weight": block.mlp.fc1.weight, "linear1.bias": block.mlp.fc1.bias,
        "linear2.weight": block.mlp.fc2.weight, "linear2.bias": block.mlp.fc2.bias,
        "norm1.weight": block.norm1.weight, "norm1.bias": block.norm1.bias,
        "norm2.weight": block.norm2.weight, "norm2.bias": block.norm2.bias,
    }
    layer.load_state_dict({k: v.detach().clone() for k, v in pairs.items()})
    return layer.eval()


def randomise(module):
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.2)


def test_block_matches_torch_pre_norm_layer():
    block = EncoderBlock(32, 4, mlp_ratio=3.0).eval()
    randomise(block)  # LayerNorm weights away from 1 and 0, so a mixed-up norm would show
    x = torch.randn(2, 9, 32)
    torch.testing.assert_close(block(x), reference_layer(block)(x), rtol=1e-4, atol=1e-5)


def test_stack_matches_torch_encoder_and_returns_every_layers_attention():
    encoder = Encoder(32, 3, 4).eval()
    randomise(encoder)
    x = torch.randn(2, 9, 32)
    expected = x
    for block in encoder.blocks:
        expected = reference_layer(block)(expected)
    out, attentions = encoder(x, return_attention=True)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(encoder(x), out)
    assert len(attentions) == 3 and all(a.shape == (2, 4, 9, 9) for a in attentions)
    # the first layer's weights are those of its attention on the normalised input
    _, first = encoder.blocks[0].attn(encoder.blocks[0].norm1(x), return_attention=True)
    torch.testing.assert_close(attentions[0], first)
