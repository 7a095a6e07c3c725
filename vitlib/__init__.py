"""vitlib: the pieces of a Vision Transformer, built one concept per module for the course.

The model: patches -> embedding -> position -> attention -> encoder -> model (recording and attention_maps
look inside).
Training: data -> augment -> loader -> schedule, optim -> train (with checkpoint, early_stopping) -> evaluate
-> transfer, and baselines (classifiers on raw pixels) to compare with. Published weights: pretrained
(timm's and Hugging Face's ViT checkpoints, from a file or the hub, into a ViT).
Around them: checks (argument checks), device, profile (sizes per machine). ``vitlib.course`` holds what
exists only for the lessons, ``vitlib.tools`` the command-line tools; the library imports neither.
"""

from .model import VARIANTS, ViT, ViTConfig, create_vit, vit_config
from .profile import Profile, current_profile, use_profile

__all__ = ["ViT", "ViTConfig", "VARIANTS", "create_vit", "vit_config", "Profile", "current_profile", "use_profile"]
__version__ = "0.1.0"
