"""A ResNet for small images: the convolutional network a ViT is measured against.

ResNet-18's design (He et al., 2016): a stem, four stages of two basic blocks (two 3x3 convolutions with
batch norm, and a shortcut, 1x1 where the shape changes), global average pooling and a linear head. For
28-32 px inputs the stem is one 3x3 convolution with stride 1 and no max-pool, as is usual for CIFAR-10;
ImageNet's 7x7 stride-2 stem and max-pool would shrink a 32 px image to 8 px before the first block.

What a convolution assumes and a ViT must learn: each output sees only a small neighbourhood (locality),
and the same filter slides everywhere (translation equivariance). A :class:`ResNet` has the same interface
as :class:`vitlib.ViT` (``config``, ``features``, ``forward``, ``predict_proba``, ``reset_head``), so the same
trainer, evaluation and transfer code run it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from .checks import from_preset, images_tensor, pair, positive_int

__all__ = ["ResNetConfig", "ResNet", "BasicBlock", "RESNET_VARIANTS", "resnet_config", "create_resnet"]


@dataclass
class ResNetConfig:
    image_size: int | tuple[int, int] = 32  # H or (H, W); the network itself accepts any size
    in_channels: int = 3
    widths: tuple[int, ...] = (64, 128, 256, 512)  # channels of each stage; stages after the first halve H and W
    blocks: tuple[int, ...] = (2, 2, 2, 2)  # basic blocks per stage
    num_classes: int = 10

    def __post_init__(self):
        pair(self.image_size, "image_size")
        positive_int(self.in_channels, "in_channels")
        positive_int(self.num_classes, "num_classes")
        self.widths, self.blocks = tuple(self.widths), tuple(self.blocks)
        if not self.widths or len(self.widths) != len(self.blocks):
            raise ValueError(f"widths {self.widths} and blocks {self.blocks} must be non-empty and of the same "
                             f"length (one entry per stage)")
        for width in self.widths:
            positive_int(width, "each of widths")
        for count in self.blocks:
            positive_int(count, "each of blocks")

    @property
    def dim(self) -> int:
        """The width of the feature vector (the last stage's channels), as ``ViTConfig.dim``."""
        return self.widths[-1]


RESNET_VARIANTS: dict[str, dict] = {
    "resnet18": dict(widths=(64, 128, 256, 512), blocks=(2, 2, 2, 2)),  # 11.2M parameters on CIFAR-10
    # ResNet-18 at an eighth of the width, for grey 28x28 digits on a CPU: about the FLOPs of digits-vit (14.3 M
    # against 13.1 M per image, vitlib.cost) with about twice its parameters (176 k against 82 k)
    "digits-resnet": dict(image_size=28, in_channels=1, widths=(8, 16, 32, 64), blocks=(2, 2, 2, 2)),
    # ResNet-10 (one basic block a stage) at the same widths, for lessons 06 and 08 beside digits-vit-p8s4: 6.6 M
    # FLOPs against 6.7 M per image, 78 k parameters against 81 k (vitlib.cost)
    "digits-resnet10": dict(image_size=28, in_channels=1, widths=(8, 16, 32, 64), blocks=(1, 1, 1, 1)),
    "cifar-resnet": dict(image_size=32, in_channels=3, widths=(64, 128, 256, 512), blocks=(2, 2, 2, 2)),
}


def resnet_config(variant: str, **overrides) -> ResNetConfig:
    """The :class:`ResNetConfig` of a named variant, with any field overridden by keyword."""
    return from_preset(ResNetConfig, RESNET_VARIANTS, variant, overrides)


def create_resnet(variant: str, **overrides) -> "ResNet":
    """A freshly initialised :class:`ResNet`, e.g. ``create_resnet("digits-resnet")``."""
    return ResNet(resnet_config(variant, **overrides))


class BasicBlock(nn.Module):
    """conv3x3 -> BN -> ReLU -> conv3x3 -> BN, plus the shortcut, then ReLU. The shortcut is the identity, or a
    1x1 convolution with batch norm where the stride or the width changes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet with a 3x3 stem for small images: ``(B, C, H, W)`` -> logits ``(B, K)``."""

    def __init__(self, config: ResNetConfig):
        super().__init__()
        if not isinstance(config, ResNetConfig):
            raise TypeError(f"config must be a ResNetConfig, got {type(config).__name__}")
        self.config = config
        first = config.widths[0]
        self.stem = nn.Sequential(nn.Conv2d(config.in_channels, first, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(first), nn.ReLU())
        stages, channels = [], first
        for index, (width, count) in enumerate(zip(config.widths, config.blocks)):
            stride = 1 if index == 0 else 2
            blocks = [BasicBlock(channels, width, stride)] + [BasicBlock(width, width) for _ in range(count - 1)]
            stages.append(nn.Sequential(*blocks))
            channels = width
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(config.dim, config.num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He initialisation for convolutions (fan-out, as torchvision's ResNet), BN at scale 1 and shift 0, and the
        head as PyTorch's default linear layer."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        self.head.reset_parameters()

    def feature_maps(self, images: torch.Tensor) -> torch.Tensor:
        """The last stage's output ``(B, widths[-1], H / 2^(stages-1), W / 2^(stages-1))``."""
        images_tensor(images, channels=self.config.in_channels, dtype=self.head.weight.dtype)
        return self.stages(self.stem(images))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The image's feature vector: the mean of the last feature map over its positions, ``(B, D)``."""
        return self.feature_maps(images).mean(dim=(2, 3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images ``(B, C, H, W)`` -> logits ``(B, K)``."""
        return self.head(self.features(images))

    @torch.no_grad()
    def predict_proba(self, images: torch.Tensor) -> torch.Tensor:
        """Softmax class probabilities ``(B, K)``; each row sums to 1."""
        return self.forward(images).softmax(dim=-1)

    def set_image_size(self, image_size) -> None:
        """Accept images of a new size. The convolutions slide over any size and the pooling averages whatever
        is left, so only the config changes (a ViT must resample its position table instead)."""
        self.config = dataclasses.replace(self.config, image_size=image_size)  # validates

    def reset_head(self, num_classes: int) -> None:
        """Replace the classifier with a fresh one for ``num_classes`` classes (for fine-tuning)."""
        positive_int(num_classes, "num_classes")
        self.head = nn.Linear(self.config.dim, num_classes).to(self.head.weight.device)
        self.config = dataclasses.replace(self.config, num_classes=num_classes)
