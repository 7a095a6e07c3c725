"""Shared test set-up: a non-interactive matplotlib, a fixed seed per test, and the builders several test
modules use (tiny models and toy datasets, and references built from torch's own modules), as fixtures."""

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from torch import nn

from vitlib import create_vit
from vitlib.data import TensorImageDataset
from vitlib.encoder import EncoderBlock


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives JupyterLab in a headless Chromium (left out by `make unit`)")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# --- references built from torch's own modules ----------------------------------------------------------
def build_reference_layer(block: EncoderBlock) -> nn.TransformerEncoderLayer:
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


@pytest.fixture
def reference_layer():
    """A function: EncoderBlock -> the equal ``nn.TransformerEncoderLayer(norm_first=True)``."""
    return build_reference_layer


@pytest.fixture
def randomise():
    """A function that sets every parameter of a module to N(0, 0.2), so a mixed-up weight would show."""

    def randomise(module: nn.Module) -> nn.Module:
        with torch.no_grad():
            for p in module.parameters():
                p.normal_(0, 0.2)
        return module

    return randomise


# --- tiny models and toy data -------------------------------------------------------------------------------
@pytest.fixture
def tiny_model():
    """A function building a 16x16 grey ViT with 4 classes (keyword arguments override the config)."""

    def build(**overrides):
        settings = dict(image_size=16, in_channels=1, patch_size=4, dim=32, depth=2, heads=2, num_classes=4)
        return create_vit("course-tiny", **{**settings, **overrides})

    return build


def make_toy_task(n=256, seed=0):
    """16x16 grey images; the class is the quadrant that holds a bright square (4 classes)."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 60, (n, 1, 16, 16), generator=generator, dtype=torch.uint8)
    labels = torch.randint(0, 4, (n,), generator=generator)
    for i, label in enumerate(labels.tolist()):
        r, c = divmod(label, 2)
        images[i, 0, r * 8 + 2 : r * 8 + 6, c * 8 + 2 : c * 8 + 6] = 255
    return TensorImageDataset(images, labels, ["top left", "top right", "bottom left", "bottom right"], kind="digits")


def make_toy_textures(n=256, seed=0):
    """16x16 grey images whose class survives crops, flips, shears and colour changes: horizontal stripes,
    vertical stripes, a checkerboard, or noise (4 classes), each with a random phase and contrast."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=generator)
    phase = torch.randint(0, 4, (n, 1, 1), generator=generator)
    rows, cols = torch.arange(16).view(1, 16, 1), torch.arange(16).view(1, 1, 16)
    horizontal = ((rows + phase) // 2 % 2).expand(n, 16, 16)
    vertical = ((cols + phase) // 2 % 2).expand(n, 16, 16)
    checker = (horizontal + vertical) % 2
    noise = torch.randint(0, 2, (n, 16, 16), generator=generator)
    pattern = torch.stack([horizontal, vertical, checker, noise], 1)[torch.arange(n), labels]  # (n, 16, 16) of 0/1
    low = torch.randint(0, 80, (n, 1, 1), generator=generator)
    images = (low + pattern * torch.randint(120, 176, (n, 1, 1), generator=generator)).to(torch.uint8)[:, None]
    return TensorImageDataset(images, labels, ["horizontal", "vertical", "checkerboard", "noise"], kind="photo")


@pytest.fixture
def toy_task():
    return make_toy_task


@pytest.fixture
def toy_textures():
    return make_toy_textures
