"""timm's ViT state dicts (``timm.models.vision_transformer``) to a vitlib ViT, and back.

vitlib's parameters carry timm's names (``cls_token``, ``pos_embed``, ``patch_embed.proj``, ``blocks.N.norm1``,
``blocks.N.attn.qkv``, ``blocks.N.attn.proj``, ``blocks.N.norm2``, ``blocks.N.mlp.fc1``, ``blocks.N.mlp.fc2``,
``norm``, ``head``), so the conversion is one reshape: timm's patch embedding is a convolution.

What a state dict cannot say, the config must: the tensors give the width, depth, patch size, channels, MLP
width, classes and whether Q, K, V have a bias, but not the number of heads (``qkv`` is ``(3D, D)`` for any
head count) nor the image size of a non-square grid. Those come from timm's ``config.json`` (its
``model_args``, its ``pretrained_cfg["input_size"]``, or its architecture name such as
``vit_base_patch16_224``, whose width, depth and heads are the ViT paper's Table 1) or from the caller; a
value that nothing states is an error that says what to pass, never a guess. timm's ViT uses LayerNorm
with epsilon 1e-6 and GELU (exact), as vitlib does.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

import torch

from ..embedding import linear_to_conv_weight
from ..model import VARIANTS, ViT, ViTConfig
from .keys import PATCH_WEIGHT, convert_state_dict, name_list

__all__ = ["TIMM_SIZES", "TIMM_NORM_EPS", "timm_config", "from_timm", "to_timm"]

# timm's size names and the vitlib variant with the same width, depth and heads (ViT paper Table 1, DeiT)
TIMM_SIZES = {"tiny": "Ti/16", "small": "S/16", "base": "B/16", "large": "L/16", "huge": "H/14"}
TIMM_NORM_EPS = 1e-6  # timm's ViT builds its LayerNorms with eps=1e-6
ARCHITECTURE = re.compile(r"vit_(?P<size>tiny|small|base|large|huge)_patch(?P<patch>\d+)(?:_(?P<image>\d+))?")
REQUIRED = ("cls_token", "pos_embed", PATCH_WEIGHT, "blocks.0.mlp.fc1.weight", "head.weight")


def timm_sources(name: str) -> list[str]:
    """A vitlib parameter's key in timm's layout: the same name."""
    return [name]


def from_architecture(config: Mapping) -> dict:
    """What timm's ``config.json`` says about the model: ``heads``, ``image_size`` and pooling, from its
    ``model_args``, ``pretrained_cfg`` and architecture name (the first that says it)."""
    found: dict = {}
    args = config.get("model_args") or {}
    if "num_heads" in args:
        found["heads"] = args["num_heads"]
    if "img_size" in args:
        found["image_size"] = args["img_size"] if isinstance(args["img_size"], int) else tuple(args["img_size"])
    input_size = (config.get("pretrained_cfg") or {}).get("input_size")
    if "image_size" not in found and input_size:
        found["image_size"] = tuple(input_size[-2:])
    match = ARCHITECTURE.match(str(config.get("architecture", "")))
    if match:
        found.setdefault("heads", VARIANTS[TIMM_SIZES[match["size"]]]["heads"])
        if match["image"]:
            found.setdefault("image_size", int(match["image"]))
    pool = args.get("global_pool", config.get("global_pool", "token"))
    if pool not in ("token", ""):
        raise ValueError(f"timm global_pool={pool!r} is not supported: timm then normalises after pooling "
                         "(fc_norm), which vitlib's pool='mean' does not; only 'token' (the CLS output) loads")
    if args.get("class_token") is False or args.get("reg_tokens") or args.get("no_embed_class"):
        raise ValueError("this timm ViT has no CLS token, register tokens or a position table without the CLS "
                         "entry; vitlib's ViT has one CLS token with its own position entry")
    return found


def timm_config(state_dict: Mapping[str, torch.Tensor], config: Mapping | None = None, **fields) -> ViTConfig:
    """The :class:`ViTConfig` of a timm state dict: sizes from its tensors, heads and image size from timm's
    ``config`` (its ``config.json``) or ``fields``, which win over both (any ViTConfig field)."""
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a dict of parameter name -> tensor, got {type(state_dict).__name__}")
    if config is not None and not isinstance(config, Mapping):
        raise TypeError(f"config must be timm's config.json as a dict, got {type(config).__name__}")
    absent = [k for k in REQUIRED if k not in state_dict]
    if absent:
        raise ValueError(f"not a timm ViT state dict: missing keys {name_list(absent)} (its keys begin "
                         f"{name_list(list(state_dict)[:4], most=4)})")
    patch = state_dict[PATCH_WEIGHT]
    if patch.ndim != 4:
        raise ValueError(f"{PATCH_WEIGHT!r} has shape {tuple(patch.shape)}, but timm stores the patch embedding as "
                         "a convolution (D, C, p_h, p_w); a vitlib state dict loads with model.load_state_dict")
    dim, channels, p_h, p_w = patch.shape
    depth = 1 + max(int(m[1]) for k in state_dict if (m := re.match(r"blocks\.(\d+)\.", k)))
    hidden = state_dict["blocks.0.mlp.fc1.weight"].shape[0]
    stated = {
        "dim": dim, "depth": depth, "in_channels": channels, "patch_size": p_h if p_h == p_w else (p_h, p_w),
        "mlp_ratio": hidden / dim, "num_classes": state_dict["head.weight"].shape[0],
        "qkv_bias": "blocks.0.attn.qkv.bias" in state_dict, "pool": "cls", "pos_embed": "learned",
        "norm_eps": TIMM_NORM_EPS, **from_architecture(config or {}), **fields,
    }
    unknown = sorted(set(stated) - {f.name for f in dataclasses.fields(ViTConfig)})
    if unknown:
        raise TypeError(f"unknown ViTConfig field(s) {unknown}")
    needed = [k for k in ("heads", "image_size") if k not in stated]
    if needed:
        tokens = state_dict["pos_embed"].shape[1] - 1
        raise ValueError(f"the state dict does not say {' or '.join(needed)}, and no config does: pass them, e.g. "
                         f"from_timm(state_dict, heads=..., image_size=...) (its position table holds {tokens} "
                         f"patches of {p_h}x{p_w} pixels), or timm's config.json as config")
    if stated["pos_embed"] != "learned":
        raise ValueError("a timm ViT has a learned position table; pos_embed must be 'learned'")
    return ViTConfig(**stated)


def from_timm(state_dict: Mapping[str, torch.Tensor], config: Mapping | None = None, **fields) -> ViT:
    """A vitlib :class:`ViT` holding a timm ViT's weights.

    Args:
        state_dict: timm's state dict (``patch_embed.proj.weight`` a convolution, ``blocks.N.attn.qkv``, ...).
        config: timm's ``config.json`` as a dict, if there is one (heads, image size, pooling).
        fields: :class:`ViTConfig` fields the state dict and config do not state (``heads=12``,
            ``image_size=224``) or that the caller wants otherwise (``dropout=0.1``).

    Raises:
        ValueError: a key is missing or unexpected, or a tensor's shape does not fit; the message names it.
    """
    model = ViT(timm_config(state_dict, config, **fields))
    model.load_state_dict(convert_state_dict(state_dict, model, timm_sources, "timm"))
    return model.eval()


def to_timm(model: ViT) -> dict[str, torch.Tensor]:
    """``model``'s weights as a timm state dict (the patch embedding as a convolution), ready for
    ``timm.create_model(..., pretrained=False).load_state_dict``; the tensors are copies."""
    if not isinstance(model, ViT):
        raise TypeError(f"model must be a vitlib ViT, got {type(model).__name__}")
    c = model.config
    if c.stride is not None and c.stride != c.patch_size:
        raise ValueError(f"timm's ViT cuts patches that tile (stride = patch size); this model has stride={c.stride}")
    if c.pos_embed != "learned" or c.pool != "cls":
        raise ValueError(f"timm's layout holds a learned position table and pools the CLS output; this model has "
                         f"pos_embed={c.pos_embed!r}, pool={c.pool!r}")
    state = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
    state[PATCH_WEIGHT] = linear_to_conv_weight(state[PATCH_WEIGHT], c.in_channels, c.patch_size).clone()
    return state
