"""Published ViT weights in the learner's own model: timm's and Hugging Face's layouts, files, the hub.

ViT paper, Section 4: the models pretrained on a huge dataset A (ImageNet-21k, JFT-300M) are public. This
package loads them into :class:`vitlib.ViT`, key by key, every key accounted for:

* ``keys``: the check that a state dict holds exactly the keys and shapes a ViT of a config needs;
* ``timm_layout``: timm's state dicts to vitlib and back (:func:`from_timm`, :func:`to_timm`);
* ``hf_layout``: Hugging Face transformers' ``ViTForImageClassification`` to vitlib (:func:`from_hf`);
* ``files``: safetensors or ``torch.load(weights_only=True)``, the layout told from the keys, the config from
  ``config.json`` (:func:`from_file`);
* ``hub``: by model name, through ``huggingface_hub`` (:func:`from_hub`), with a clear error offline, and a
  randomly initialised :func:`stand_in` of the same layout;
* ``imagenet``: the ImageNet-1k class names (:func:`imagenet_classes`).

To fine-tune at another resolution, ``model.set_image_size(size)`` resamples the position embedding
(Section 3.2; ``vitlib.position.resample_position_embedding``), as ``vitlib.transfer.prepare_for_task`` does.
Reading safetensors and downloading need the optional extra: ``pip install -e ".[pretrained]"``.
"""

from .files import Pretrained, detect_layout, from_file, from_state_dict, read_weights
from .hf_layout import from_hf, hf_config
from .hub import PUBLISHED, PretrainedUnavailable, from_hub, manual_folder, stand_in
from .imagenet import imagenet_classes, imagenet_synsets
from .timm_layout import from_timm, timm_config, to_timm

__all__ = [
    "Pretrained", "from_file", "from_state_dict", "read_weights", "detect_layout",
    "from_hf", "hf_config", "from_timm", "timm_config", "to_timm",
    "PUBLISHED", "PretrainedUnavailable", "from_hub", "manual_folder", "stand_in",
    "imagenet_classes", "imagenet_synsets",
]
