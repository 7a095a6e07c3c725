import pytest
import torch

from vitlib import create_vit
from vitlib.data import TensorImageDataset
from vitlib.train import TrainConfig, fit
from vitlib.transfer import count_trainable, prepare_for_task


def test_fine_tune_copy_keeps_the_encoder_and_replaces_the_head():
    pretrained = create_vit("course-tiny", num_classes=100)
    model = prepare_for_task(pretrained, 7)
    assert model.head.out_features == 7 and pretrained.head.out_features == 100
    torch.testing.assert_close(model.blocks.state_dict(), pretrained.blocks.state_dict())
    assert model.blocks[0].attn.qkv.weight is not pretrained.blocks[0].attn.qkv.weight  # a copy
    assert count_trainable(model) == sum(p.numel() for p in model.parameters())


def test_linear_probe_trains_only_the_head():
    pretrained = create_vit("course-tiny", image_size=16, in_channels=1, num_classes=3, dim=32, depth=1, heads=2)
    probe = prepare_for_task(pretrained, 2, mode="linear-probe")
    assert count_trainable(probe) == 32 * 2 + 2
    encoder_before = {k: v.clone() for k, v in probe.state_dict().items() if not k.startswith("head.")}
    head_before = probe.head.weight.detach().clone()
    images = torch.randint(0, 255, (64, 1, 16, 16), dtype=torch.uint8)
    data = TensorImageDataset(images, torch.randint(0, 2, (64,)), ["a", "b"])
    fit(probe, data, config=TrainConfig(epochs=2, batch_size=16, lr=1e-2, weight_decay=0.0), progress=False)
    for name, tensor in encoder_before.items():
        assert torch.equal(probe.state_dict()[name], tensor), name
    assert not torch.equal(probe.head.weight, head_before)


def test_new_image_size_resamples_positions():
    pretrained = create_vit("course-tiny")
    model = prepare_for_task(pretrained, 10, image_size=48)
    assert model(torch.randn(1, 3, 48, 48)).shape == (1, 10)
    assert pretrained.config.image_size == 32
    with pytest.raises(ValueError, match="mode must be one of 'fine-tune', 'linear-probe'; got 'probe'"):
        prepare_for_task(pretrained, 10, mode="probe")


def test_the_new_head_is_fresh_and_initialised_as_the_reference_vit():
    # catches a head copied from the pretrained one (as "fresh"), or not initialised by reset_head's rule:
    # Normal(0, 0.02) cut at +-0.04 (std 0.02 * 0.8796 = 0.01759), bias exactly zero
    pretrained = create_vit("course-tiny", dim=512, heads=4, depth=1, num_classes=1000)
    with torch.no_grad():
        pretrained.head.bias.fill_(1.0)  # a trained head's bias is not zero
    model = prepare_for_task(pretrained, 400)
    weight = model.head.weight.detach().flatten()  # 204,800 values: the std is known to within 0.5%
    assert weight.std().item() == pytest.approx(0.02 * 0.87963, rel=0.015)
    assert 0.039 < weight.abs().max().item() <= 0.04 + 1e-7
    assert torch.equal(model.head.bias, torch.zeros(400)) and torch.all(pretrained.head.bias == 1.0)
