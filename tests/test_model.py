import dataclasses
import math

import pytest
import torch
from torch import nn

from vitlib import VARIANTS, ViT, ViTConfig, create_vit, vit_config
from vitlib.embedding import conv_to_linear_weight, linear_to_conv_weight
from vitlib.recording import record_attention


def test_logits_match_a_reference_built_from_torch_modules(reference_layer):
    """The same ViT computed with torch's own modules (Conv2d patch embedding, TransformerEncoderLayer)."""
    model = create_vit("course-tiny").eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    images = torch.randn(3, 3, 32, 32)
    conv = model.patch_embed.as_conv2d()
    tokens = conv(images).flatten(2).transpose(1, 2)  # (B, N, D)
    z = torch.cat([model.cls_token.expand(len(images), -1, -1), tokens], dim=1) + model.pos_embed
    for block in model.blocks:
        z = reference_layer(block)(z)
    c0 = nn.functional.layer_norm(z, (model.config.dim,), model.norm.weight, model.norm.bias, eps=1e-6)[:, 0]
    torch.testing.assert_close(model(images), c0 @ model.head.weight.T + model.head.bias, rtol=1e-4, atol=1e-4)


def test_state_dict_names_are_the_ecosystems():
    # the names timm's VisionTransformer uses for the same parameters (vit_tiny_patch16_224, depth 2)
    model = create_vit("Ti/16", depth=2)
    expected = {"cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias", "norm.weight",
                "norm.bias", "head.weight", "head.bias"}
    for i in range(2):
        for name in ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2"):
            expected |= {f"blocks.{i}.{name}.weight", f"blocks.{i}.{name}.bias"}
    state = model.state_dict()
    assert set(state) == expected
    shapes = {"cls_token": (1, 1, 192), "pos_embed": (1, 197, 192), "blocks.1.attn.qkv.weight": (576, 192),
              "blocks.0.mlp.fc1.weight": (768, 192), "head.weight": (1000, 192)}
    assert {k: tuple(state[k].shape) for k in shapes} == shapes
    assert set(create_vit("course-tiny", pos_embed="sincos2d").state_dict()) >= {"cls_token", "blocks.3.mlp.fc2.bias"}
    assert "pos_embed" not in create_vit("course-tiny", pos_embed="sincos2d").state_dict()  # a formula, not saved


def test_patch_projection_is_a_convolution_weight_reshaped():
    model = create_vit("course-tiny", patch_size=(4, 2), image_size=(32, 16))
    linear = model.patch_embed.proj.weight  # (D, C * p_h * p_w)
    conv = linear_to_conv_weight(linear, 3, (4, 2))  # (D, C, p_h, p_w)
    assert conv.shape == (64, 3, 4, 2)
    # weight [d, c, i, j] of the convolution is entry c * 8 + i * 2 + j of the flattened patch
    assert conv[5, 2, 3, 1] == linear[5, 2 * 8 + 3 * 2 + 1] and conv[0, 1, 0, 1] == linear[0, 8 + 1]
    assert torch.equal(conv_to_linear_weight(conv), linear)
    assert torch.equal(model.patch_embed.as_conv2d().weight, conv)
    with pytest.raises(ValueError, match=r"must have shape \(D, 48\) for 3 channels and 4x4 patches, got \(64, 24\)"):
        linear_to_conv_weight(linear, 3, 4)


# Parameter counts published for the reference models (224x224 RGB, 1000 classes), as timm reports them
# for vit_tiny_patch16_224, vit_small_patch16_224, vit_base_patch16_224 and vit_base_patch32_224.
@pytest.mark.parametrize(
    "variant, params", [("Ti/16", 5_717_416), ("S/16", 22_050_664), ("B/16", 86_567_656), ("B/32", 88_224_232)]
)
def test_variant_sizes_match_published_parameter_counts(variant, params):
    with torch.device("meta"):
        model = create_vit(variant)
    assert sum(p.numel() for p in model.parameters()) == params


def test_paper_table_1_sizes():
    for name, (dim, depth, heads) in {"B/16": (768, 12, 12), "L/16": (1024, 24, 16), "H/14": (1280, 32, 16)}.items():
        config = vit_config(name)
        assert (config.dim, config.depth, config.heads, config.dim * config.mlp_ratio) == (dim, depth, heads, 4 * dim)


def test_features_are_c0_and_probabilities_sum_to_one():
    model = create_vit("course-tiny").eval()
    images = torch.randn(4, 3, 32, 32)
    outputs = model.encode(images)  # (B, 1 + N, D)
    assert outputs.shape == (4, 65, 64)
    torch.testing.assert_close(model.features(images), outputs[:, 0])
    torch.testing.assert_close(model(images), model.head(outputs[:, 0]))
    probs = model.predict_proba(images)
    torch.testing.assert_close(probs.sum(-1), torch.ones(4))
    torch.testing.assert_close(probs, model(images).softmax(-1))


def test_mean_pooling_averages_patch_outputs():
    model = create_vit("course-tiny", pool="mean").eval()
    images = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model.features(images), model.encode(images)[:, 1:].mean(1))


def test_attention_maps_for_every_layer():
    model = create_vit("course-tiny").eval()
    images = torch.randn(2, 3, 32, 32)
    with record_attention(model) as record:
        logits = model(images)
    assert len(record) == 4 and record.stacked().shape == (4, 2, 4, 65, 65)
    torch.testing.assert_close(logits, model(images), rtol=1e-5, atol=1e-5)  # fused path agrees
    torch.testing.assert_close(record[-1].sum(-1), torch.ones(2, 4, 65))
    assert isinstance(model(images), torch.Tensor)  # what the model returns does not change


def test_initialisation_follows_the_reference():
    model = create_vit("S/16", depth=2)
    for name in ("cls_token", "pos_embed", "blocks.0.attn.qkv.weight", "blocks.1.mlp.fc1.weight"):
        tensor = model.get_parameter(name)
        assert 0.016 < tensor.std().item() < 0.019, name  # 0.02 * 0.88 after the cut
        assert tensor.abs().max().item() <= 0.04 + 1e-6, name  # truncated at two standard deviations
    assert torch.all(model.blocks[0].attn.qkv.bias == 0)
    assert torch.all(model.norm.weight == 1)


def test_reset_head_for_fine_tuning():
    model = create_vit("course-tiny")
    encoder_before = model.state_dict()["blocks.0.attn.qkv.weight"].clone()
    model.reset_head(3)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 3) and model.config.num_classes == 3
    assert torch.equal(model.blocks[0].attn.qkv.weight, encoder_before)
    with pytest.raises(ValueError, match="num_classes must be a positive int, got True"):
        model.reset_head(True)


@pytest.mark.parametrize(
    "overrides, error, words",
    [
        (dict(dim=100, heads=3), ValueError, ["dim=100", "heads=3", "[1, 2, 4, 5, 10, 20, 25, 50, 100]"]),
        (dict(pos_embed="rope"), ValueError, ["'rope'", "'learned'", "'sincos2d'"]),
        (dict(pool="max"), ValueError, ["'max'", "'cls'", "'mean'"]),
        (dict(patch_size=64), ValueError, ["patch_size", "64", "image_size"]),
        (dict(patch_size=0), ValueError, ["patch_size", "0"]),
        (dict(stride=0), ValueError, ["stride", "0"]),
        (dict(depth=0), ValueError, ["depth", "0"]),
        (dict(depth=True), ValueError, ["depth must be a positive int, got True"]),
        (dict(dropout=1.0), ValueError, ["dropout must be a number in [0, 1), got 1.0"]),
        (dict(colour=True), TypeError, ["colour", "valid fields"]),
    ],
)
def test_bad_configs(overrides, error, words):
    with pytest.raises(error) as info:
        vit_config("course-tiny", **overrides)
    for word in words:
        assert word in str(info.value)


def test_unknown_variant():
    with pytest.raises(ValueError, match=r"variant must be one of 'Ti/16'.*; got 'B/8'"):
        create_vit("B/8")


def test_wrong_channels_and_sizes_say_what_to_do():
    model = create_vit("course-tiny")
    with pytest.raises(ValueError, match=r"1 channels.*in_channels=3"):
        model(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError) as info:
        model(torch.randn(1, 3, 48, 48))
    assert "image_size=(32, 32)" in str(info.value) and "set_image_size((48, 48))" in str(info.value)
    assert "F.interpolate" in str(info.value)
    with pytest.raises(TypeError, match="ViTConfig"):
        ViT({"dim": 64})


def test_config_is_a_dataclass_and_variants_build():
    assert dataclasses.is_dataclass(ViTConfig)
    for name in VARIANTS:
        config = vit_config(name)
        assert config.num_patches == config.grid[0] * config.grid[1]


# Normal(0, 1) cut off at +-2: its standard deviation and the share within one standard deviation, by hand
# (phi(2) = 0.0539910, Phi(2) - Phi(-2) = 0.9544997, Phi(1) - Phi(-1) = 0.6826895)
TRUNCATED_STD = math.sqrt(1 - 2 * 2 * 0.0539910 / 0.9544997)  # 0.87963
TRUNCATED_WITHIN_ONE = 0.6826895 / 0.9544997  # 0.71523


def assert_reference_init(weight: torch.Tensor, name: str) -> None:
    """``weight`` drawn from Normal(0, 0.02) cut off at +-0.04 (checked on >= 100k values, to well within 1%)."""
    values = weight.detach().flatten()
    assert values.numel() >= 100_000, name
    assert values.std().item() == pytest.approx(0.02 * TRUNCATED_STD, rel=0.015), name  # 0.017593
    assert abs(values.mean().item()) < 2e-4, name
    assert 0.039 < values.abs().max().item() <= 0.04 + 1e-7, name  # cut at two standard deviations, and reaching it
    within = (values.abs() < 0.02).float().mean().item()  # a uniform draw of the same std would give 0.66
    assert within == pytest.approx(TRUNCATED_WITHIN_ONE, abs=0.01), name


def test_a_reset_head_is_drawn_as_the_reference_initialises_it():
    # catches a head left at PyTorch's default (uniform, std 1 / sqrt(3 * 512) = 0.0255), another std (0.01, 0.2), an
    # untruncated normal (std 0.02, values past 0.04), and a bias that is not zeroed
    model = create_vit("course-tiny", dim=512, heads=4, depth=1)
    model.reset_head(1000)
    assert_reference_init(model.head.weight, "head.weight")
    assert torch.equal(model.head.bias, torch.zeros(1000))
    fresh = create_vit("course-tiny", dim=512, heads=4, depth=1, num_classes=1000)  # the same rule at creation
    assert_reference_init(fresh.head.weight, "fresh head.weight")
    assert torch.equal(fresh.head.bias, torch.zeros(1000))
