"""Hugging Face transformers' ViT (``ViTForImageClassification``) to a vitlib ViT.

The published files (``model.safetensors`` and ``config.json`` on the hub, or what ``save_pretrained``
writes) name the pieces otherwise than vitlib does::

    vit.embeddings.cls_token                                 cls_token
    vit.embeddings.position_embeddings                       pos_embed
    vit.embeddings.patch_embeddings.projection               patch_embed.proj (a convolution there)
    vit.encoder.layer.N.layernorm_before                     blocks.N.norm1
    vit.encoder.layer.N.attention.attention.query/key/value  blocks.N.attn.qkv (stacked, in that order)
    vit.encoder.layer.N.attention.output.dense               blocks.N.attn.proj
    vit.encoder.layer.N.layernorm_after                      blocks.N.norm2
    vit.encoder.layer.N.intermediate.dense                   blocks.N.mlp.fc1
    vit.encoder.layer.N.output.dense                         blocks.N.mlp.fc2
    vit.layernorm                                            norm
    classifier                                               head

transformers 5 renamed the blocks inside the library (``vit.layers.N.attention.q_proj``, ``...o_proj``,
``vit.layers.N.mlp.fc1``) but still reads and writes files in the names above; a state dict with the new
names is renamed to the published ones first, so both load.

The config comes from the checkpoint's ``config.json`` (a dict, or a ``transformers.ViTConfig``): width
(``hidden_size``), depth, heads, MLP width (``intermediate_size``), patch and image size, channels,
classes (``id2label``), LayerNorm epsilon (``layer_norm_eps``, 1e-12 in Hugging Face's ViT) and whether Q, K,
V have a bias. A key it leaves out takes the default of transformers' own ``ViTConfig``, as transformers
does; the sizes have no default and must be there. The classifier reads the CLS output (``pool="cls"``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from ..model import ViT, ViTConfig
from .keys import convert_state_dict

__all__ = ["HF_DEFAULTS", "hf_sources", "published_names", "hf_config", "hf_class_names", "from_hf"]

TOP = {
    "cls_token": "vit.embeddings.cls_token",
    "pos_embed": "vit.embeddings.position_embeddings",
    "patch_embed.proj": "vit.embeddings.patch_embeddings.projection",
    "norm": "vit.layernorm",
    "head": "classifier",
}
BLOCK = {
    "norm1": "layernorm_before",
    "attn.proj": "attention.output.dense",
    "norm2": "layernorm_after",
    "mlp.fc1": "intermediate.dense",
    "mlp.fc2": "output.dense",
}
QKV = ("attention.attention.query", "attention.attention.key", "attention.attention.value")
# transformers >= 5 names inside the library -> the published names
RENAMES = [
    (r"^vit\.layers\.(\d+)\.attention\.q_proj\.", r"vit.encoder.layer.\1.attention.attention.query."),
    (r"^vit\.layers\.(\d+)\.attention\.k_proj\.", r"vit.encoder.layer.\1.attention.attention.key."),
    (r"^vit\.layers\.(\d+)\.attention\.v_proj\.", r"vit.encoder.layer.\1.attention.attention.value."),
    (r"^vit\.layers\.(\d+)\.attention\.o_proj\.", r"vit.encoder.layer.\1.attention.output.dense."),
    (r"^vit\.layers\.(\d+)\.mlp\.fc1\.", r"vit.encoder.layer.\1.intermediate.dense."),
    (r"^vit\.layers\.(\d+)\.mlp\.fc2\.", r"vit.encoder.layer.\1.output.dense."),
    (r"^vit\.layers\.(\d+)\.", r"vit.encoder.layer.\1."),
]
REQUIRED = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "image_size", "patch_size")
# transformers' ViTConfig defaults, which it uses for a key that config.json leaves out
HF_DEFAULTS = {"num_channels": 3, "layer_norm_eps": 1e-12, "qkv_bias": True, "hidden_act": "gelu",
               "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}


def hf_sources(name: str) -> list[str]:
    """A vitlib parameter's key(s) in Hugging Face's published layout (three for ``blocks.N.attn.qkv``)."""
    piece, kind = name.rsplit(".", 1) if name.endswith((".weight", ".bias")) else (name, "")
    suffix = f".{kind}" if kind else ""
    if piece in TOP:
        return [TOP[piece] + suffix]
    match = re.fullmatch(r"blocks\.(\d+)\.(.+)", piece)
    if match is None:
        raise KeyError(f"vitlib parameter {name!r} has no Hugging Face counterpart")
    layer, part = match.groups()
    prefix = f"vit.encoder.layer.{layer}."
    if part == "attn.qkv":
        return [prefix + q + suffix for q in QKV]
    return [prefix + BLOCK[part] + suffix]


def published_names(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state_dict`` with transformers 5's in-library names (``vit.layers.N...``) renamed to the published
    ones (``vit.encoder.layer.N...``); other keys are kept as they are."""
    renamed = {}
    for key, tensor in state_dict.items():
        new = key
        for pattern, replacement in RENAMES:
            new, done = re.subn(pattern, replacement, new)
            if done:
                break
        if new in renamed:
            raise ValueError(f"the state dict holds {new!r} twice, under two names")
        renamed[new] = tensor
    return renamed


def config_dict(config) -> dict:
    """``config.json`` as a dict, from a dict or a ``transformers`` config object."""
    if hasattr(config, "to_dict"):
        config = config.to_dict()
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be the checkpoint's config.json as a dict (or a transformers ViTConfig), got "
                        f"{type(config).__name__}")
    return dict(config)


def hf_config(config, **fields) -> ViTConfig:
    """The :class:`ViTConfig` of a Hugging Face ViT checkpoint, read from its ``config.json`` (a dict or a
    ``transformers.ViTConfig``); ``fields`` override any ViTConfig field (``dropout=0.1``)."""
    config = config_dict(config)
    model_type = config.get("model_type", "vit")
    if model_type != "vit":
        raise ValueError(f"config.json describes a {model_type!r} model; only Hugging Face's plain ViT "
                         "(model_type 'vit') has vitlib's layout")
    absent = [k for k in REQUIRED if k not in config]
    if absent:
        raise ValueError(f"config.json does not say {absent}; a ViT's sizes are never guessed: use the "
                         "config.json published with the weights")
    config = {**HF_DEFAULTS, **config}
    if config["hidden_act"] != "gelu":
        raise ValueError(f"config.json's hidden_act is {config['hidden_act']!r}; vitlib's MLP uses the exact "
                         "GELU ('gelu')")
    dim, hidden = config["hidden_size"], config["intermediate_size"]
    labels = config.get("id2label")
    num_classes = len(labels) if labels else config.get("num_labels")
    if num_classes is None:
        raise ValueError("config.json says neither id2label nor num_labels: how many classes has the classifier?")

    def size(value):  # an int, or [h, w] in JSON
        return value if isinstance(value, int) else tuple(value)

    return ViTConfig(**{
        "image_size": size(config["image_size"]), "patch_size": size(config["patch_size"]),
        "in_channels": config["num_channels"], "dim": dim, "depth": config["num_hidden_layers"],
        "heads": config["num_attention_heads"], "mlp_ratio": hidden / dim, "num_classes": num_classes,
        "qkv_bias": config["qkv_bias"], "norm_eps": float(config["layer_norm_eps"]), "pool": "cls",
        "pos_embed": "learned", "dropout": float(config["hidden_dropout_prob"]),
        "attn_dropout": float(config["attention_probs_dropout_prob"]), **fields,
    })


def hf_class_names(config) -> list[str] | None:
    """The class names of ``config.json``'s ``id2label`` in index order, or ``None`` where it has only
    transformers' placeholders (``LABEL_0``, ...)."""
    labels = config_dict(config).get("id2label") or {}
    names = [labels.get(str(k), labels.get(k)) for k in range(len(labels))]
    if not names or any(n is None for n in names) or all(re.fullmatch(r"LABEL_\d+", n) for n in names):
        return None
    return names


def from_hf(state_dict: Mapping[str, torch.Tensor], config, **fields) -> ViT:
    """A vitlib :class:`ViT` holding the weights of a Hugging Face ``ViTForImageClassification``.

    Args:
        state_dict: the weights, with the published names (``model.safetensors``) or transformers 5's
            in-library ones (``hf_model.state_dict()``).
        config: the checkpoint's ``config.json`` as a dict, or ``hf_model.config``.
        fields: :class:`ViTConfig` fields to override (``dropout=0.1``); sizes come from the config.

    Raises:
        ValueError: a key is missing or unexpected, or a tensor's shape does not fit; the message names it.
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a dict of parameter name -> tensor, got {type(state_dict).__name__}")
    model = ViT(hf_config(config, **fields))
    model.load_state_dict(convert_state_dict(published_names(state_dict), model, hf_sources, "Hugging Face"))
    return model.eval()
