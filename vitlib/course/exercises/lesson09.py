"""Exercises of lesson 09: published weights in your own ViT.

``hf_block``: one encoder block of a Hugging Face state dict, by hand, in vitlib's names.
``resample``: a learned position table resampled to a new grid, by hand.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...embedding import linear_to_conv_weight
from ...model import ViT, ViTConfig
from ...position import resample_position_embedding
from ...pretrained.hf_layout import hf_sources
from ..teach import Exercise, names_used

__all__ = ["hf_block", "resample"]


def _random_model(seed: int) -> ViT:
    torch.manual_seed(seed)
    model = ViT(ViTConfig(image_size=16, patch_size=4, dim=16, depth=2, heads=2, num_classes=3, norm_eps=1e-12))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_()  # every weight different, so a misplaced one shows
    return model


def _as_published(model: ViT) -> dict[str, torch.Tensor]:
    """``model``'s weights under Hugging Face's published names (qkv split into query, key, value)."""
    published = {}
    for name, tensor in model.state_dict().items():
        keys = hf_sources(name)
        parts = tensor.chunk(len(keys)) if len(keys) > 1 else [tensor]
        if name == "patch_embed.proj.weight":
            parts = [linear_to_conv_weight(tensor, model.config.in_channels, model.config.patch_size)]  # a convolution
        published.update({key: part.clone() for key, part in zip(keys, parts)})
    return published


# --- one block by hand -------------------------------------------------------------------------------------
def _check_hf_block(my_block):
    if my_block is Ellipsis or not callable(my_block):
        return False, "pass a function my_block(state_dict, i) that returns block i's weights in vitlib's names"
    model = _random_model(0)
    published = _as_published(model)
    ours = model.state_dict()
    for i in range(model.config.depth):
        got = my_block(dict(published), i)
        if got is Ellipsis:
            return False, "your function still returns ...; start with the two LayerNorms, one name each"
        if not isinstance(got, dict):
            return False, f"return a dict of vitlib name -> tensor, got a {type(got).__name__}"
        expected = {k: v for k, v in ours.items() if k.startswith(f"blocks.{i}.")}
        missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
        if missing or extra:
            return False, (f"block {i}: " + (f"missing {missing[:3]}" if missing else "")
                           + ("; " if missing and extra else "") + (f"not vitlib names {extra[:3]}" if extra else "")
                           + " (12 entries: norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2, each a weight and a bias)")
        for name, tensor in expected.items():
            value = got[name]
            if not isinstance(value, torch.Tensor) or value.shape != tensor.shape:
                shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                return False, f"{name}: expected shape {tuple(tensor.shape)}, got {shape}"
            if torch.equal(value, tensor):
                continue
            if name.endswith("qkv.weight") or name.endswith("qkv.bias"):
                return False, f"{name}: the numbers differ; stack query, key and value, in that order, along dim 0"
            return False, f"{name}: the numbers differ; which Hugging Face key holds it? (the lesson's table)"
    return True, "the same as vitlib.pretrained.from_hf, block by block"


def _solution_hf_block(state_dict, i):
    hf = f"vit.encoder.layer.{i}."
    pairs = {"norm1": "layernorm_before", "attn.proj": "attention.output.dense", "norm2": "layernorm_after",
             "mlp.fc1": "intermediate.dense", "mlp.fc2": "output.dense"}
    block = {}
    for kind in ("weight", "bias"):
        for ours, theirs in pairs.items():
            block[f"blocks.{i}.{ours}.{kind}"] = state_dict[f"{hf}{theirs}.{kind}"]
        q, k, v = (state_dict[f"{hf}attention.attention.{part}.{kind}"] for part in ("query", "key", "value"))
        block[f"blocks.{i}.attn.qkv.{kind}"] = torch.cat([q, k, v], dim=0)  # (3D, D) or (3D,)
    return block


hf_block = Exercise("one Hugging Face block in vitlib's names", _check_hf_block, _solution_hf_block)


# --- resampling the position table by hand -----------------------------------------------------------------
def _check_resample(my_resample):
    if my_resample is Ellipsis or not callable(my_resample):
        return False, "pass a function my_resample(pos_embed, old_grid, new_grid) that returns the new table"
    if {"resample_position_embedding", "set_image_size", "interpolate_pos_encoding"} & names_used(my_resample):
        return False, "build it from F.interpolate yourself, without vitlib's or Hugging Face's resampling"
    generator = torch.Generator().manual_seed(0)
    for old, new in [((3, 3), (3, 3)), ((4, 4), (6, 6)), ((4, 4), (2, 3)), ((2, 5), (4, 3))]:
        table = torch.randn(1, 1 + old[0] * old[1], 8, generator=generator)
        got = my_resample(table.clone(), old, new)
        if got is Ellipsis:
            return False, "your function still returns ...; lay the patch entries out as an image (1, D, n_h, n_w) first"
        expected = resample_position_embedding(table, old, new)
        case = f"{old} -> {new}"
        if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            return False, f"{case}: expected shape {tuple(expected.shape)}, got {shape}; did you keep the CLS entry?"
        if not torch.equal(got[:, 0], table[:, 0]):
            return False, f"{case}: the CLS entry (index 0) has no place on the grid: keep it as it is"
        if not torch.allclose(got, expected, atol=1e-5):
            return False, (f"{case}: the numbers differ from vitlib's; entries go row by row, (1, n_h * n_w, D) -> "
                           "(1, n_h, n_w, D) -> permute to (1, D, n_h, n_w), then bicubic with align_corners=False")
    return True, "the same as vitlib.position.resample_position_embedding, square and not"


def _solution_resample(pos_embed, old_grid, new_grid):
    cls, table = pos_embed[:, :1], pos_embed[:, 1:]  # (1, 1, D), (1, n_h * n_w, D)
    image = table.reshape(1, *old_grid, -1).permute(0, 3, 1, 2)  # (1, D, n_h, n_w): the entries as an image
    image = F.interpolate(image, size=tuple(new_grid), mode="bicubic", align_corners=False)  # (1, D, n_h', n_w')
    table = image.permute(0, 2, 3, 1).reshape(1, -1, pos_embed.shape[-1])  # (1, n_h' * n_w', D)
    return torch.cat([cls, table], dim=1)


resample = Exercise("the position table resampled by hand", _check_resample, _solution_resample)
