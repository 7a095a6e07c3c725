"""The ResNet baseline: its shapes, its parameters and FLOPs counted by hand, its blocks against torch's own
convolutions, and that it learns."""

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


def test_learns_a_toy_task():
    # class 0: a bright left half; class 1: a bright right half, with noise
    images = torch.rand(256, 1, 12, 12) * 80
    labels = torch.arange(256) % 2
    images[labels == 0, :, :, :6] += 150
    images[labels == 1, :, :, 6:] += 150
    data = TensorImageDataset(images.clamp(0, 255).to(torch.uint8), labels, ["left", "right"])
    model = create_resnet("digits-resnet", image_size=12, widths=(8, 16), blocks=(1, 1), num_classes=2)
    before = evaluate(model, data).accuracy
    fit(model, data, config=TrainConfig(epochs=4, batch_size=32, lr=3e-3, augment="none"), progress=False)
    after = evaluate(model, data).accuracy
    assert before < 0.75 and after > 0.95, (before, after)


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
