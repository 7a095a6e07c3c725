"""Reading published weights from a file or folder, safely, into a vitlib ViT.

Weights are read from ``.safetensors`` (tensors and nothing else, by design) or, for ``.bin`` / ``.pt`` /
``.pth``, with ``torch.load(weights_only=True)`` (``vitlib.checkpoint.read_payload``), which builds tensors and
plain containers only: a file from the internet can never run code here. The layout (timm's or Hugging
Face's) is told from the keys; the config from the ``config.json`` beside the weights, and the
normalisation the model was trained with from that ``config.json`` (timm) or ``preprocessor_config.json``
(Hugging Face).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from ..checkpoint import file_path, read_payload
from ..checks import images_tensor, per_channel
from ..model import ViT
from .hf_layout import config_dict, from_hf, hf_class_names
from .timm_layout import from_timm

try:  # the optional extra "pretrained": pip install -e ".[pretrained]"
    from safetensors.torch import load_file as load_safetensors_file
except ImportError:
    load_safetensors_file = None

__all__ = ["WEIGHT_FILES", "Pretrained", "read_weights", "read_json", "detect_layout", "from_state_dict",
           "from_file"]

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.pt", "model.pth")
LAYOUTS = ("timm", "transformers")
INSTALL = 'pip install -e ".[pretrained]" (or pip install safetensors huggingface_hub)'


@dataclass
class Pretrained:
    """A published ViT loaded into vitlib.

    ``model``: the :class:`ViT` (in eval mode); ``layout``: ``"timm"`` or ``"transformers"``; ``source``: where
    it came from; ``mean``, ``std``: the per-channel normalisation its training images had (``None`` where the
    files do not say); ``classes``: the class names its config gives, or ``None``.
    """

    model: ViT
    layout: str
    source: str
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    classes: list[str] | None = None

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """Images with values in [0, 1] ``(B, C, H, W)`` -> normalised as the model's training images were."""
        images_tensor(images, channels=self.model.config.in_channels, owner=f"the model from {self.source}")
        if self.mean is None or self.std is None:
            raise ValueError(f"the files of {self.source} do not say how images were normalised; set .mean and .std "
                             "(the model card says them, e.g. 0.5 per channel for Google's ViT)")
        C = images.shape[1]
        mean = torch.tensor(per_channel(list(self.mean), "mean", C), device=images.device).view(1, C, 1, 1)
        std = torch.tensor(per_channel(list(self.std), "std", C, positive=True), device=images.device).view(1, C, 1, 1)
        return (images.float() - mean) / std


def read_weights(path) -> dict[str, torch.Tensor]:
    """A state dict from a ``.safetensors`` file, or from a ``.bin`` / ``.pt`` / ``.pth`` file read with
    ``torch.load(weights_only=True)`` (a ``{"state_dict": ...}`` or ``{"model": ...}`` wrapper is opened)."""
    path = file_path(path, "path")
    if not path.is_file():
        raise FileNotFoundError(f"weights file {str(path)!r} does not exist")
    if path.suffix == ".safetensors":
        if load_safetensors_file is None:
            raise ImportError(f"reading {path.name} needs the package safetensors: {INSTALL}")
        try:
            return load_safetensors_file(str(path), device="cpu")
        except Exception as error:  # safetensors raises its own error types for a damaged file
            raise ValueError(f"{str(path)!r} is not a readable safetensors file ({error}); download it again") from None
    payload = read_payload(path, "cpu")
    for wrapper in ("state_dict", "model"):
        if isinstance(payload, dict) and isinstance(payload.get(wrapper), dict):
            payload = payload[wrapper]
            break
    if not isinstance(payload, dict) or not all(isinstance(v, torch.Tensor) for v in payload.values()):
        raise ValueError(f"{str(path)!r} holds no state dict (parameter name -> tensor)")
    return payload


def read_json(path) -> dict:
    """A JSON file as a dict, with a message naming the file if it is not one."""
    path = Path(path)
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{str(path)!r} is not a readable JSON file ({error})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{str(path)!r} holds a JSON {type(value).__name__}, not an object")
    return value


def detect_layout(state_dict) -> str:
    """``"transformers"`` for Hugging Face's keys (``vit.embeddings...``), ``"timm"`` for timm's (``blocks.N...``,
    ``patch_embed...``); anything else is an error that shows the first keys."""
    keys = list(state_dict)
    if any(k.startswith("vit.") for k in keys):
        return "transformers"
    if any(k.startswith(("blocks.", "patch_embed.")) for k in keys):
        return "timm"
    raise ValueError(f"the weights are in neither timm's layout (patch_embed.proj.weight, blocks.0.attn.qkv.weight, "
                     f"...) nor Hugging Face's (vit.embeddings..., vit.encoder.layer.0...); their keys begin {keys[:4]}")


def from_state_dict(state_dict, config: dict | None = None, layout: str | None = None, source: str = "a state dict",
                    preprocessor: dict | None = None, **fields) -> Pretrained:
    """A :class:`Pretrained` from a state dict in either layout (told from its keys unless ``layout`` is given),
    its ``config.json`` as a dict and, for Hugging Face, its ``preprocessor_config.json``."""
    layout = detect_layout(state_dict) if layout is None else layout
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if layout == "transformers":
        if config is None:
            raise ValueError(f"{source} is in Hugging Face's layout, which needs its config.json: put config.json "
                             "(from the same model page) beside the weights")
        model = from_hf(state_dict, config, **fields)
        stats = preprocessor or {}
        mean, std, classes = stats.get("image_mean"), stats.get("image_std"), hf_class_names(config)
    else:
        model = from_timm(state_dict, config, **fields)
        stats = (config or {}).get("pretrained_cfg") or {}
        mean, std, classes = stats.get("mean"), stats.get("std"), (config or {}).get("label_names")
    return Pretrained(model, layout, source, tuple(mean) if mean else None, tuple(std) if std else None,
                      list(classes) if classes else None)


def from_file(path, **fields) -> Pretrained:
    """Published ViT weights from a file or a folder, loaded into a vitlib ViT.

    Args:
        path: a folder holding the weights (``model.safetensors``, or ``pytorch_model.bin``, ...) and
            ``config.json`` (and, from Hugging Face, ``preprocessor_config.json``), as downloaded from a model
            page; or the weights file itself, with ``config.json`` beside it.
        fields: :class:`ViTConfig` fields the files do not state (a timm state dict without its config:
            ``heads=12, image_size=224``) or that you want otherwise (``dropout=0.1``).

    Returns:
        a :class:`Pretrained`: ``.model``, and the normalisation and class names the files give.
    """
    path = file_path(path, "path")
    if path.is_dir():
        weights = next((path / name for name in WEIGHT_FILES if (path / name).is_file()), None)
        if weights is None:
            raise FileNotFoundError(f"{str(path)!r} holds none of {list(WEIGHT_FILES)}: download the weights file "
                                    "of the model (model.safetensors) into it")
        folder = path
    elif path.is_file():
        weights, folder = path, path.parent
    else:
        raise FileNotFoundError(f"{str(path)!r} does not exist: give the folder or file of the downloaded weights")
    config = read_json(folder / "config.json") if (folder / "config.json").is_file() else None
    preprocessor = (read_json(folder / "preprocessor_config.json")
                    if (folder / "preprocessor_config.json").is_file() else None)
    state_dict = read_weights(weights)
    if config is not None:
        config = config_dict(config)
    return from_state_dict(state_dict, config, source=str(weights), preprocessor=preprocessor, **fields)
