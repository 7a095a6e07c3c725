"""vitlib: the pieces of a Vision Transformer, built one concept per module for the course.

patches -> embedding -> position -> attention -> encoder -> model; profile picks sizes per machine.
"""

from . import attention, embedding, encoder, model, patches, position, profile
from .model import VARIANTS, ViT, ViTConfig, create_vit, vit_config
from .profile import Profile, current_profile, use_profile

__all__ = ["ViT", "ViTConfig", "VARIANTS", "create_vit", "vit_config", "Profile", "current_profile", "use_profile"]
__version__ = "0.1.0"
