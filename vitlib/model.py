"""The Vision Transformer: patches -> tokens (+ CLS, + positions) -> encoder -> c0 -> classifier.

ViT paper, Section 3.1 and Eq. 4: y = LN(z_L^0), the encoder's output at the CLS position (c0), feeds
a linear classifier whose softmax gives one probability per class. ``pool="mean"`` averages the patch
outputs c1..cn instead. Variant sizes: ViT paper Table 1 (B, L, H) and DeiT (Touvron et al., 2021,
Table 1: Ti, S).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from .attention import check_heads
from .checks import (boolean, choice, fraction, from_preset, images_tensor, instance, pair, positive_int,
                     positive_number)
from .embedding import PatchEmbedding
from .encoder import Encoder
from .patches import grid_shape
from .position import POSITION_KINDS, position_table, resample_position_embedding

__all__ = ["ViTConfig", "VARIANTS", "vit_config", "create_vit", "ViT"]

POOLINGS = ("cls", "mean")


def trunc_normal_(tensor: torch.Tensor, std: float = 0.02) -> torch.Tensor:
    """Normal(0, std) cut off at two standard deviations, in place (the reference ViT's initialiser)."""
    return nn.init.trunc_normal_(tensor, std=std, a=-2 * std, b=2 * std)


@dataclass
class ViTConfig:
    image_size: int | tuple[int, int] = 224  # H or (H, W) of the input images
    in_channels: int = 3  # C: 3 for colour, 1 for grey
    patch_size: int | tuple[int, int] = 16  # p or (p_h, p_w)
    stride: int | tuple[int, int] | None = None  # None: equal to patch_size (no overlap)
    dim: int = 768  # D, the token width
    depth: int = 12  # number of encoder blocks
    heads: int = 12  # attention heads; must divide dim
    mlp_ratio: float = 4.0  # MLP hidden width = mlp_ratio * dim
    num_classes: int = 1000  # K, the classifier's outputs
    pos_embed: str = "learned"  # one of POSITION_KINDS
    pool: str = "cls"  # "cls": c0 feeds the classifier; "mean": the mean of c1..cn does
    dropout: float = 0.0  # dropout after embeddings, attention projection and in the MLP
    attn_dropout: float = 0.0  # dropout on the attention weights
    qkv_bias: bool = True  # bias on the Q, K, V projections
    fused_attn: bool = True  # use F.scaled_dot_product_attention when weights are not needed
    norm_eps: float = 1e-6  # the LayerNorms' epsilon: 1e-6 in timm and big_vision, 1e-12 in Hugging Face's ViT

    def __post_init__(self):
        image = pair(self.image_size, "image_size")
        patch = pair(self.patch_size, "patch_size")
        pair(patch if self.stride is None else self.stride, "stride")
        if patch[0] > image[0] or patch[1] > image[1]:
            raise ValueError(f"patch_size {self.patch_size!r} is larger than image_size {self.image_size!r}")
        for name in ("in_channels", "dim", "depth", "heads", "num_classes"):
            positive_int(getattr(self, name), name)
        check_heads(self.dim, self.heads)
        positive_number(self.mlp_ratio, "mlp_ratio")
        choice(self.pos_embed, "pos_embed", POSITION_KINDS)
        choice(self.pool, "pool", POOLINGS)
        if self.pos_embed == "sincos2d" and self.dim % 4:
            raise ValueError(f"pos_embed='sincos2d' needs dim divisible by 4, got dim={self.dim}")
        if self.pos_embed == "sincos1d" and self.dim % 2:
            raise ValueError(f"pos_embed='sincos1d' needs an even dim, got dim={self.dim}")
        fraction(self.dropout, "dropout")
        fraction(self.attn_dropout, "attn_dropout")
        boolean(self.qkv_bias, "qkv_bias")
        boolean(self.fused_attn, "fused_attn")
        positive_number(self.norm_eps, "norm_eps")

    @property
    def grid(self) -> tuple[int, int]:
        """The patch grid ``(n_h, n_w)``."""
        return grid_shape(self.image_size, self.patch_size, self.stride)

    @property
    def num_patches(self) -> int:
        n_h, n_w = self.grid
        return n_h * n_w


# Named variants. The paper's models take 224x224 RGB images and 1000 (ImageNet) classes; the course
# presets are small enough to train on a laptop CPU.
VARIANTS: dict[str, dict] = {
    "Ti/16": dict(dim=192, depth=12, heads=3, patch_size=16),  # DeiT-Ti, 5.7M parameters
    "S/16": dict(dim=384, depth=12, heads=6, patch_size=16),  # DeiT-S, 22M
    "B/16": dict(dim=768, depth=12, heads=12, patch_size=16),  # ViT-Base, 86M
    "B/32": dict(dim=768, depth=12, heads=12, patch_size=32),
    "L/16": dict(dim=1024, depth=24, heads=16, patch_size=16),  # ViT-Large, 307M
    "H/14": dict(dim=1280, depth=32, heads=16, patch_size=14),  # ViT-Huge, 632M
    # course presets
    "course-tiny": dict(image_size=32, patch_size=4, dim=64, depth=4, heads=4, mlp_ratio=2.0, num_classes=10),
    "course-small": dict(image_size=32, patch_size=4, dim=192, depth=6, heads=6, mlp_ratio=2.0, num_classes=10),
    "digits-tiny": dict(
        image_size=28, in_channels=1, patch_size=4, dim=64, depth=4, heads=4, mlp_ratio=2.0, num_classes=10
    ),
    # lesson 08's ViT on the digits (digits-resnet has about its FLOPs): overlapping 7x7 patches (stride 3, an 8x8
    # grid) learn far faster from 3,500 digits than tiling ones. Width 48 with 2 heads reached a higher validation
    # accuracy in less time than width 96 with 4 heads on 2 CPU cores, and the hand-written attention
    # (fused_attn=False) trains these short sequences faster on a CPU than the fused kernel (vitlib.tools.bench;
    # the README has the figures)
    "digits-vit": dict(
        image_size=28, in_channels=1, patch_size=7, stride=3, dim=48, depth=4, heads=2, mlp_ratio=2.0, num_classes=10,
        fused_attn=False,
    ),
    # trained in lessons 05-07: digits-vit with 8x8 patches at stride 4 (a 6x6 grid, 36 patch tokens instead of 64),
    # which trains about 1.5 times as many images a second on a CPU and, in the same three minutes on 2 cores,
    # reached a higher validation accuracy (README, "Time to an accuracy")
    "digits-vit-p8s4": dict(
        image_size=28, in_channels=1, patch_size=8, stride=4, dim=48, depth=4, heads=2, mlp_ratio=2.0, num_classes=10,
        fused_attn=False,
    ),
    # digits-vit at width 96 with 4 heads, which learned more from the fractals of dataset A than the narrower
    # digits-vit in a fixed budget (lesson 06 used it until its conclusions moved to the stored "pretrain" sweep, whose
    # ViT is digits-vit-p8s4)
    "digits-vit-wide": dict(
        image_size=28, in_channels=1, patch_size=7, stride=3, dim=96, depth=4, heads=4, mlp_ratio=2.0, num_classes=10,
    ),
    # trained in lessons 05-06 on a GPU: CIFAR-10, 4x4 patches (an 8x8 grid)
    "cifar-vit": dict(
        image_size=32, patch_size=4, dim=384, depth=7, heads=6, mlp_ratio=2.0, num_classes=10, dropout=0.0,
    ),
}


def vit_config(variant: str, **overrides) -> ViTConfig:
    """The :class:`ViTConfig` of a named variant, with any field overridden by keyword."""
    return from_preset(ViTConfig, VARIANTS, variant, overrides)


def create_vit(variant: str, **overrides) -> "ViT":
    """A freshly initialised :class:`ViT` of a named variant, e.g. ``create_vit("S/16", num_classes=10)``."""
    return ViT(vit_config(variant, **overrides))


class ViT(nn.Module):
    """Vision Transformer for image classification.

    ``forward``: images ``(B, C, H, W)`` -> logits ``(B, K)``; ``features``: -> c0 ``(B, D)``;
    ``predict_proba``: -> class probabilities ``(B, K)``.

    Its parameters carry the names the ViT ecosystem uses (``patch_embed.proj``, ``cls_token``,
    ``pos_embed``, ``blocks.N.norm1``, ``blocks.N.attn.qkv``, ``blocks.N.attn.proj``, ``blocks.N.norm2``,
    ``blocks.N.mlp.fc1``, ``blocks.N.mlp.fc2``, ``norm``, ``head``), so published weights map onto it
    key by key; only ``patch_embed.proj.weight`` is the shared linear map ``(D, C * p_h * p_w)`` where
    others store a convolution ``(D, C, p_h, p_w)``, the same numbers in another shape.
    """

    def __init__(self, config: ViTConfig):
        super().__init__()
        self.config = c = instance(config, "config", ViTConfig)
        self.patch_embed = PatchEmbedding(in_channels=c.in_channels, patch_size=c.patch_size, stride=c.stride, dim=c.dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.dim))
        self._set_position_table(position_table(c.pos_embed, c.grid, c.dim))  # (1, 1 + N, D) or None
        self.pos_drop = nn.Dropout(c.dropout)
        self.blocks = Encoder(
            c.dim, c.depth, c.heads, c.mlp_ratio,
            dropout=c.dropout, attn_dropout=c.attn_dropout, qkv_bias=c.qkv_bias, fused_attn=c.fused_attn,
            norm_eps=c.norm_eps,
        )
        self.norm = nn.LayerNorm(c.dim, eps=c.norm_eps)
        self.head = nn.Linear(c.dim, c.num_classes)
        self.reset_parameters()

    def _set_position_table(self, table: torch.Tensor | None) -> None:
        """``pos_embed``: a parameter when learned, a buffer (not saved: it is a formula) when fixed."""
        if "pos_embed" in self._parameters or "pos_embed" in self._buffers:
            delattr(self, "pos_embed")
        if self.config.pos_embed == "learned":
            self.pos_embed = nn.Parameter(table)
        else:
            self.register_buffer("pos_embed", table, persistent=False)

    def reset_parameters(self) -> None:
        """Initialise as the reference ViT does: truncated normal (std 0.02) for linear weights and the
        CLS and learned position tokens (cut off at two standard deviations), zero biases, LayerNorm
        weight 1 and bias 0."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        trunc_normal_(self.cls_token)
        if self.config.pos_embed == "learned":
            trunc_normal_(self.pos_embed.data)

    def no_weight_decay(self) -> set[str]:
        """Names of the parameters that weight decay must leave alone besides biases and norms (which have one
        dimension): the CLS token and the position table, as in the reference implementations."""
        return {"cls_token", "pos_embed"}

    # --- the forward pass, step by step -------------------------------------------------------
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """images ``(B, C, H, W)`` -> encoder input ``z_0`` ``(B, 1 + N, D)``: CLS token first, positions added."""
        images_tensor(images, channels=self.config.in_channels, size=pair(self.config.image_size, "image_size"),
                      dtype=self.cls_token.dtype)
        tokens = self.patch_embed(images)  # (B, N, D)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)  # (B, 1, D)
        tokens = torch.cat([cls, tokens], dim=1)  # (B, 1 + N, D)
        if self.pos_embed is not None:
            tokens = tokens + self.pos_embed  # (B, 1 + N, D)
        return self.pos_drop(tokens)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """All encoder outputs c0..cn after the final LayerNorm: ``(B, 1 + N, D)``."""
        return self.norm(self.blocks(self.embed(images)))

    def pool(self, outputs: torch.Tensor) -> torch.Tensor:
        """``(B, 1 + N, D)`` -> ``(B, D)``: c0, or the mean of c1..cn for ``pool="mean"``."""
        return outputs[:, 0] if self.config.pool == "cls" else outputs[:, 1:].mean(dim=1)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The image's feature vector c0 (or the mean patch output): ``(B, D)``."""
        return self.pool(self.encode(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images ``(B, C, H, W)`` -> logits ``(B, K)``."""
        return self.head(self.features(images))

    @torch.no_grad()
    def predict_proba(self, images: torch.Tensor) -> torch.Tensor:
        """Softmax class probabilities ``(B, K)``; each row sums to 1."""
        return self.forward(images).softmax(dim=-1)

    def position_table(self) -> torch.Tensor | None:
        """The position encodings of the patches alone, ``(N, D)`` (the CLS entry left out), or ``None``."""
        return None if self.pos_embed is None else self.pos_embed[0, 1:]

    # --- adapting a trained model ---------------------------------------------------------------
    def reset_head(self, num_classes: int) -> None:
        """Replace the classifier with a fresh one for ``num_classes`` classes (for fine-tuning)."""
        positive_int(num_classes, "num_classes")
        device = self.head.weight.device
        self.head = nn.Linear(self.config.dim, num_classes).to(device)
        trunc_normal_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.config = dataclasses.replace(self.config, num_classes=num_classes)

    def set_image_size(self, image_size, mode: str = "bicubic") -> None:
        """Accept images of a new size: the patch grid changes and the position table is resampled
        (learned, with ``mode``; the CLS entry kept) or recomputed (sin-cos). Patch size and stride stay."""
        new_config = dataclasses.replace(self.config, image_size=image_size)  # validates
        if self.config.pos_embed == "learned":
            table = resample_position_embedding(self.pos_embed.detach(), self.config.grid, new_config.grid, mode=mode)
        elif self.pos_embed is not None:
            table = position_table(new_config.pos_embed, new_config.grid, new_config.dim).to(self.pos_embed)
        else:
            table = None
        self.config = new_config
        self._set_position_table(table)
