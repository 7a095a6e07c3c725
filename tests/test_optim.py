import pytest
import torch

from vitlib.optim import make_optimizer, param_groups


def test_weight_decay_on_weight_matrices_only(tiny_model):
    model = tiny_model(depth=1)
    decay, no_decay = param_groups(model, 0.05)
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (0.05, 0.0)
    assert decay["names"] == [
        "patch_embed.proj.weight", "blocks.0.attn.qkv.weight", "blocks.0.attn.proj.weight",
        "blocks.0.mlp.fc1.weight", "blocks.0.mlp.fc2.weight", "head.weight",
    ]
    assert no_decay["names"] == [
        "cls_token", "pos_embed", "patch_embed.proj.bias", "blocks.0.norm1.weight", "blocks.0.norm1.bias",
        "blocks.0.attn.qkv.bias", "blocks.0.attn.proj.bias", "blocks.0.norm2.weight", "blocks.0.norm2.bias",
        "blocks.0.mlp.fc1.bias", "blocks.0.mlp.fc2.bias", "norm.weight", "norm.bias", "head.bias",
    ]
    assert model.no_weight_decay() == {"cls_token", "pos_embed"}  # the model says which, not a guess from names


def test_frozen_parameters_are_left_out_and_the_optimiser_decays_what_it_should(tiny_model):
    model = tiny_model(depth=1)
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("head."))
    decay, no_decay = param_groups(model, 0.1)
    assert decay["names"] == ["head.weight"] and no_decay["names"] == ["head.bias"]
    # one AdamW step with zero gradients moves only the decayed weight, by lr * weight_decay * w
    optimizer = make_optimizer(model, lr=0.5, weight_decay=0.1, device=torch.device("cpu"))
    before_w, before_b = model.head.weight.detach().clone(), model.head.bias.detach().clone()
    for p in (model.head.weight, model.head.bias):
        p.grad = torch.zeros_like(p)
    optimizer.step()
    torch.testing.assert_close(model.head.weight.detach(), before_w * (1 - 0.5 * 0.1))
    assert torch.equal(model.head.bias.detach(), before_b)


def test_bad_optimiser_arguments(tiny_model):
    with pytest.raises(ValueError, match="weight_decay must be a number >= 0, got -1"):
        param_groups(tiny_model(), -1)
    with pytest.raises(ValueError, match="lr must be a number > 0, got 0"):
        make_optimizer(tiny_model(), 0, 0.05, "cpu")
