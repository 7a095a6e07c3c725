"""The ResNet baseline: its shapes, its parameters and FLOPs counted by hand, its blocks against torch's own
convolutions, its initialisation, and a pinned training run."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vitlib import create_vit
from vitlib.cost import count_flops, count_parameters
from vitlib.data import TensorImageDataset
from vitlib.evaluate import evaluate
from vitlib.resnet import BasicBlock, ResNet, ResNetConfig, create_resnet, resnet_config
from vitlib.train import TrainConfig, fit
from vitlib.transfer import prepare_for_task


def hand_count(in_channels, widths, blocks, num_classes):
    """Parameters of a ResNet counted layer by layer: 3x3 convolutions without bias, BN (scale and shift),
    1x1 shortcut convolutions where the width or the stride changes, the linear head."""
    total = in_channels * widths[0] * 9 + 2 * widths[0]  # stem
    channels = widths[0]
    for stage, (width, count) in enumerate(zip(widths, blocks)):
        for b in range(count):
            c_in = channels if b == 0 else width
            total += c_in * width * 9 + 2 * width + width * width * 9 + 2 * width
            if b == 0 and (stage > 0 or c_in != width):
                total += c_in * width + 2 * width
        channels = width
    return total + widths[-1] * num_classes + num_classes


def test_output_shapes_for_grey_digits_and_colour_photos():
    digits = create_resnet("digits-resnet")
    assert digits(torch.randn(5, 1, 28, 28)).shape == (5, 10)
    assert digits.features(torch.randn(5, 1, 28, 28)).shape == (5, 64)
    assert digits.feature_maps(torch.randn(2, 1, 28, 28)).shape == (2, 64, 4, 4)  # 28 -> 28, 14, 7, 4
    cifar = create_resnet("cifar-resnet", num_classes=100)
    assert cifar(torch.randn(2, 3, 32, 32)).shape == (2, 100)
    probabilities = digits.eval().predict_proba(torch.randn(3, 1, 28, 28))
    torch.testing.assert_close(probabilities.sum(-1), torch.ones(3))


@pytest.mark.parametrize("variant", ["digits-resnet", "cifar-resnet"])
def test_parameter_count_matches_the_hand_count(variant):
    config = resnet_config(variant)
    expected = hand_count(config.in_channels, config.widths, config.blocks, config.num_classes)
    assert count_parameters(create_resnet(variant)) == expected


def test_resnet18_on_cifar10_has_its_known_size():
    # ResNet-18 with a 3x3 stem and a 10-class head, as used for CIFAR-10: 11,173,962 parameters
    assert count_parameters(create_resnet("cifar-resnet")) == 11_173_962
    assert hand_count(3, (64, 128, 256, 512), (2, 2, 2, 2), 10) == 11_173_962


def test_a_block_equals_torch_convolutions_written_out():
    torch.manual_seed(1)
    block = BasicBlock(4, 8, stride=2).eval()
    for bn in (block.bn1, block.bn2, block.shortcut[1]):  # non-trivial running statistics
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        nn.init.uniform_(bn.weight, 0.5, 1.5)
    x = torch.randn(2, 4, 9, 9)

    def bn(t, layer):
        return F.batch_norm(t, layer.running_mean, layer.running_var, layer.weight, layer.bias, False, 0.0, layer.eps)

    out = F.relu(bn(F.conv2d(x, block.conv1.weight, stride=2, padding=1), block.bn1))
    out = bn(F.conv2d(out, block.conv2.weight, padding=1), block.bn2)
    shortcut = bn(F.conv2d(x, block.shortcut[0].weight, stride=2), block.shortcut[1])
    torch.testing.assert_close(block(x), F.relu(out + shortcut))
    assert block(x).shape == (2, 8, 5, 5)


def test_flops_are_counted_per_image_by_hand():
    conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
    conv.config = ResNetConfig(image_size=6, in_channels=3, widths=(4,), blocks=(1,))
    assert count_flops(conv) == 2 * (6 * 6) * 4 * 3 * 9  # a multiply and an add per weight and output pixel
    bare = nn.Conv2d(3, 4, 3, padding=1, bias=False)  # no config: the image must be described
    assert count_flops(bare, image_size=5, in_channels=3) == 2 * (5 * 5) * 4 * 3 * 9
    with pytest.raises(ValueError, match=r"model \(Conv2d\) has no config .*pass image_size and in_channels"):
        count_flops(bare, image_size=5)
    model = create_resnet("digits-resnet", widths=(2,), blocks=(1,), num_classes=3)
    stem = 2 * 28 * 28 * 2 * 1 * 9
    block = 2 * (2 * 28 * 28 * 2 * 2 * 9)
    head = 2 * 2 * 3
    assert count_flops(model) == stem + block + head


def test_flops_of_a_vit_by_hand():
    vit = create_vit("digits-vit")  # 8x8 = 64 patches of 7x7, width 48, 4 blocks, MLP 96, fused_attn off
    n, d, hidden = 65, 48, 96
    embed = 2 * 64 * 49 * d
    per_block = 2 * n * d * 3 * d + 2 * 2 * n * n * d + 2 * n * d * d + 2 * 2 * n * d * hidden
    head = 2 * d * 10
    assert count_flops(vit) == embed + 4 * per_block + head


def test_features_are_the_mean_of_the_last_map_and_every_parameter_learns():
    model = create_resnet("digits-resnet", image_size=12, widths=(8, 16), blocks=(1, 1), num_classes=2)
    images = torch.randn(4, 1, 12, 12)
    maps = model.feature_maps(images)
    assert maps.shape == (4, 16, 6, 6)
    torch.testing.assert_close(model.features(images), maps.mean(dim=(2, 3)))  # global average pooling
    torch.testing.assert_close(model(images), model.head(maps.mean(dim=(2, 3))))
    F.cross_entropy(model(images), torch.tensor([0, 1, 0, 1])).backward()
    for name, parameter in model.named_parameters():  # nothing detached: every weight gets a gradient
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_a_seeded_run_on_a_toy_task_is_pinned():
    # replaces "accuracy below 0.75 before and above 0.95 after", whose "before" failed for torch seed 3 (0.93: an
    # untrained network can happen to split left from right). Every number of this seeded run (torch seed 0 from
    # conftest, TrainConfig seed 0) is pinned; a change to the ResNet or to training moves them (re-pin if meant).
    # Class 0: a bright left half; class 1: a bright right half, with noise
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(128, 1, 12, 12, generator=generator) * 80
    labels = torch.arange(128) % 2
    images[labels == 0, :, :, :6] += 150
    images[labels == 1, :, :, 6:] += 150
    data = TensorImageDataset(images.clamp(0, 255).to(torch.uint8), labels, ["left", "right"])
    model = create_resnet("digits-resnet", image_size=12, widths=(8, 16), blocks=(1, 1), num_classes=2)
    before = evaluate(model, data)
    history = fit(model, data, config=TrainConfig(epochs=2, batch_size=32, lr=3e-3, augment="none"), progress=False)
    after = evaluate(model, data)
    assert (before.accuracy, before.loss) == (0.5, pytest.approx(0.711205, rel=1e-3))  # one class for everything
    assert history["train_loss"] == pytest.approx([0.707869, 0.523535], rel=1e-3)
    assert history["train_acc"] == pytest.approx([0.5, 0.7890625], abs=0.02)
    assert (after.accuracy, after.loss) == (1.0, pytest.approx(0.596291, rel=1e-3))


def test_transfer_code_adapts_a_resnet():
    pretrained = create_resnet("digits-resnet", num_classes=100)
    model = prepare_for_task(pretrained, 7, image_size=32)
    torch.testing.assert_close(model.stages.state_dict(), pretrained.stages.state_dict())
    assert model.stages[0][0].conv1.weight is not pretrained.stages[0][0].conv1.weight  # a copy
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 7) and model.config.image_size == 32
    assert pretrained.head.out_features == 100 and pretrained.config.image_size == 28
    probe = prepare_for_task(pretrained, 3, mode="linear-probe")
    assert sum(p.numel() for p in probe.parameters() if p.requires_grad) == 64 * 3 + 3


def test_bad_configs_are_named():
    with pytest.raises(ValueError, match="must be non-empty and of the same length"):
        ResNetConfig(widths=(8, 16), blocks=(2,))
    with pytest.raises(TypeError, match=r"unknown ResNetConfig field\(s\) \['depth'\]"):
        resnet_config("digits-resnet", depth=3)
    with pytest.raises(ValueError, match="variant must be one of"):
        create_resnet("resnet-50")
    with pytest.raises(TypeError, match="config must be a ResNetConfig"):
        ResNet({"widths": (8,)})
    with pytest.raises(ValueError, match="built for in_channels=1"):
        create_resnet("digits-resnet")(torch.randn(1, 3, 28, 28))


def test_fused_attention_counts_the_same_flops_as_attention_written_out():
    # PyTorch's counter has no formula for the CPU's fused kernel; vitlib.cost adds it
    fused = create_vit("course-tiny", fused_attn=True)
    written_out = create_vit("course-tiny", fused_attn=False)
    assert count_flops(fused) == count_flops(written_out) > 0
    n, d, hidden = 65, 64, 128  # 8x8 patches + CLS, width 64, MLP ratio 2
    per_block = 2 * n * d * 3 * d + 2 * 2 * n * n * d + 2 * n * d * d + 2 * 2 * n * d * hidden
    assert count_flops(fused) == 2 * 64 * 48 * 64 + 4 * per_block + 2 * d * 10


def test_convolutions_are_he_normal_by_fan_out_and_batch_norms_start_at_scale_1_shift_0():
    # He initialisation as documented: Normal(0, sqrt(2 / fan_out)), fan_out = out_channels * k * k. Catches fan_in
    # (the stem's std would be sqrt(2 / (16 * 9)) = 0.118 instead of sqrt(2 / (64 * 9)) = 0.059; the 1x1 shortcut's
    # 0.177 instead of 0.125), a linear gain (std / sqrt(2)), a uniform draw of the same std (0.577 of the values within
    # one std instead of 0.683), and batch norms at another scale or shift
    model = ResNet(ResNetConfig(image_size=8, in_channels=16, widths=(64, 128), blocks=(1, 1), num_classes=10))
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 6  # stem, two per block, the second stage's 1x1 shortcut
    standardised = []
    for conv in convs:
        out_channels, _, kh, kw = conv.weight.shape
        std = math.sqrt(2 / (out_channels * kh * kw))
        values = conv.weight.detach().flatten()  # >= 8192 values each: the empirical std is within 1% of the true one
        assert values.std().item() == pytest.approx(std, rel=0.05), (tuple(conv.weight.shape), std)
        assert abs(values.mean().item()) < 0.05 * std, tuple(conv.weight.shape)
        standardised.append(values / std)
    pooled = torch.cat(standardised)  # about 300k draws from Normal(0, 1)
    assert pooled.std().item() == pytest.approx(1.0, abs=0.01)
    assert (pooled.abs() < 1).float().mean().item() == pytest.approx(0.6827, abs=0.005)  # a normal, not a uniform
    assert (pooled.abs() > 3).float().mean().item() == pytest.approx(0.0027, abs=0.001)  # with a normal's tails
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 6
    for norm in norms:  # no zero-initialised last norm in a block: the code documents scale 1 and shift 0 for all
        assert torch.equal(norm.weight, torch.ones_like(norm.weight))
        assert torch.equal(norm.bias, torch.zeros_like(norm.bias))


def test_the_resnet_head_is_pytorchs_default_linear_layer_when_made_and_when_reset():
    # nn.Linear's default: weight and bias uniform in +-1 / sqrt(fan_in), so std 1 / sqrt(3 * fan_in). Catches a head
    # that is zeroed, or drawn as the convolutions are (He normal: values past the bound)
    model = ResNet(ResNetConfig(image_size=8, in_channels=1, widths=(8, 256), blocks=(1, 1), num_classes=1000))
    for head in (model.head, prepare_for_task(model, 500).head):
        bound = 1 / math.sqrt(256)
        weight = head.weight.detach().flatten()  # >= 128k values
        assert weight.abs().max().item() <= bound and weight.abs().max().item() > 0.99 * bound
        assert weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.01)
        assert (weight.abs() < bound / 2).float().mean().item() == pytest.approx(0.5, abs=0.01)  # uniform
        assert head.bias.abs().max().item() <= bound and head.bias.abs().max().item() > 0.9 * bound  # not zero
