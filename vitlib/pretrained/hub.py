"""Published ViT weights by model name: from a folder you filled by hand, the Hugging Face cache, or the hub.

:func:`from_hub` looks, in order, in the folder for the model under vitlib's cache (where you put files you
downloaded by hand), in huggingface_hub's own cache, and only then on the hub (``huggingface_hub``, the
optional extra ``pretrained``). Without a network it fails within seconds with a
:class:`PretrainedUnavailable` that says which files to download, from where, and where to put them.

:data:`PUBLISHED` describes the models the course uses, so that :func:`stand_in` can build a randomly
initialised model of the same layout when the weights cannot be had: the same code then runs, on a model
that knows nothing.
"""

from __future__ import annotations

import contextlib
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..checks import choice, positive_number
from ..data.paths import CACHE_DIR
from ..model import ViT, ViTConfig, vit_config
from .files import INSTALL, WEIGHT_FILES, Pretrained, from_file, load_safetensors_file
from .imagenet import imagenet_classes

try:  # the optional extra "pretrained": pip install -e ".[pretrained]"
    import huggingface_hub
    import huggingface_hub.constants  # its timeouts and endpoint, set and read here before any download
    from huggingface_hub import errors as hub_errors
except ImportError:
    huggingface_hub = hub_errors = None

__all__ = ["PublishedViT", "PUBLISHED", "PretrainedUnavailable", "manual_folder", "from_hub", "stand_in"]

DEFAULT_ENDPOINT = "https://huggingface.co"


@dataclass(frozen=True)
class PublishedViT:
    """A published ViT: its layout, the files to download, and its config and normalisation (from its model
    card and config.json), so a stand-in of the same layout can be built without the files."""

    layout: str  # "transformers" or "timm"
    about: str  # what it is and what it was trained on
    config: dict = field(default_factory=dict)  # ViTConfig fields
    weights: tuple[str, ...] = ("model.safetensors", "pytorch_model.bin")  # the first the hub has is downloaded
    extra_files: tuple[str, ...] = ("config.json",)  # needed beside the weights
    optional_files: tuple[str, ...] = ()  # downloaded where the hub has them
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)


PUBLISHED = {
    # Dosovitskiy et al. (2020): ViT-B/16 pretrained on ImageNet-21k, fine-tuned on ImageNet-1k at 224x224;
    # converted by Hugging Face from the paper's JAX release
    "google/vit-base-patch16-224": PublishedViT(
        "transformers", "ViT-B/16, pretrained on ImageNet-21k, fine-tuned on ImageNet-1k at 224x224 (the ViT paper's)",
        asdict(vit_config("B/16", image_size=224, num_classes=1000, norm_eps=1e-12)),
        optional_files=("preprocessor_config.json",),
    ),
    # Steiner et al. (2021), "How to train your ViT?": ViT-B/16 pretrained on ImageNet-21k with AugReg,
    # fine-tuned on ImageNet-1k at 224x224; timm's layout
    "timm/vit_base_patch16_224.augreg2_in21k_ft_in1k": PublishedViT(
        "timm", "ViT-B/16, pretrained on ImageNet-21k, fine-tuned on ImageNet-1k at 224x224 (AugReg, timm's)",
        asdict(vit_config("B/16", image_size=224, num_classes=1000, norm_eps=1e-6)),
    ),
}


class PretrainedUnavailable(OSError):
    """The weights could not be had (no network, no huggingface_hub, not on the hub); the message says what to
    download, from where, and where to put it."""


def manual_folder(name: str) -> Path:
    """The folder where :func:`from_hub` looks first for a model's files: ``<vitlib cache>/pretrained/<owner>--<name>``
    (``VITLIB_CACHE`` moves the cache)."""
    return CACHE_DIR / "pretrained" / name.replace("/", "--")


def endpoint() -> str:
    """The hub's address (``HF_ENDPOINT`` to use a mirror)."""
    if huggingface_hub is not None:
        return huggingface_hub.constants.ENDPOINT
    return os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT)


def unavailable(name: str, reason: str, folder: Path) -> PretrainedUnavailable:
    """The error for a model that could not be had, with what to do about it."""
    entry = PUBLISHED.get(name, PublishedViT("", ""))
    files = [entry.weights[0], *entry.extra_files, *entry.optional_files]
    page = f"{endpoint()}/{name}"
    return PretrainedUnavailable(
        f"{name} could not be loaded: {reason}.\n"
        f"To use it without the hub, download {', '.join(files)} from {page} (the 'Files and versions' tab, e.g. "
        f"{page}/resolve/main/{files[0]}) and put them in {folder}, where from_hub looks first; or put them in any "
        "folder and load it with vitlib.pretrained.from_file(folder)."
    )


def offline_mode() -> bool:
    """Whether ``HF_HUB_OFFLINE`` asks huggingface_hub not to use the network."""
    flag = os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}
    return flag or bool(getattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False))


def reachable(url: str, timeout: float) -> str | None:
    """``None`` if ``url``'s server answers an HTTP request within ``timeout`` seconds (any status is an answer),
    else why not: a quick check, so that no download waits through its retries when there is no network, or
    when a server accepts the connection and then says nothing."""
    host = urllib.parse.urlsplit(url).hostname
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None  # it answered, with an error status: the server is there
    except TimeoutError:
        return f"{host} did not answer within {timeout:g} s"
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, TimeoutError):
            return f"{host} did not answer within {timeout:g} s"
        return f"{host} cannot be reached ({getattr(reason, 'strerror', None) or reason})"


@contextlib.contextmanager
def _download_timeout(timeout: float):
    """huggingface_hub's wait for each response during a download, set to ``timeout`` seconds meanwhile."""
    before = huggingface_hub.constants.HF_HUB_DOWNLOAD_TIMEOUT
    huggingface_hub.constants.HF_HUB_DOWNLOAD_TIMEOUT = timeout
    try:
        yield
    finally:
        huggingface_hub.constants.HF_HUB_DOWNLOAD_TIMEOUT = before


def download(name: str, entry: PublishedViT, local_only: bool, timeout: float, revision: str | None) -> Path:
    """Fetch the model's files into huggingface_hub's cache (or find them there, with ``local_only``); the folder
    that holds them."""
    def fetch(filename: str) -> Path:
        with _download_timeout(timeout):
            return Path(huggingface_hub.hf_hub_download(name, filename, revision=revision, etag_timeout=timeout,
                                                        local_files_only=local_only))

    for filename in entry.weights:
        try:
            folder = fetch(filename).parent
            break
        except hub_errors.EntryNotFoundError as error:
            if isinstance(error, hub_errors.LocalEntryNotFoundError) and not local_only:
                raise  # the hub could not be asked at all
            continue  # not there under this name: try the next
    else:
        raise FileNotFoundError(f"{name} has none of {list(entry.weights)} on the hub")
    for filename in entry.extra_files:
        fetch(filename)
    for filename in entry.optional_files:
        try:
            fetch(filename)
        except hub_errors.EntryNotFoundError:
            pass
    return folder


def from_hub(name: str, *, folder=None, timeout: float = 5.0, revision: str | None = None, **fields) -> Pretrained:
    """A published ViT by its name on the Hugging Face hub, e.g. ``"google/vit-base-patch16-224"``.

    Looks in ``folder`` (default: :func:`manual_folder`), then in huggingface_hub's cache, then downloads (into
    that cache, once). Files are read as :func:`~vitlib.pretrained.files.from_file` reads them.

    Args:
        name: the model's name on the hub.
        folder: a folder to look in first.
        timeout: seconds to wait for the hub before giving up.
        revision: a branch, tag or commit of the model's repository (default: its main branch).
        fields: :class:`ViTConfig` fields to override (``dropout=0.1``).

    Raises:
        PretrainedUnavailable: no copy here and the hub cannot be reached (or huggingface_hub is not installed);
            the message says what to download and where to put it.
    """
    if not isinstance(name, str) or name.count("/") != 1:
        raise ValueError(f"name must be a model name on the hub, 'owner/model', got {name!r}")
    positive_number(timeout, "timeout")
    folder = Path(folder) if folder is not None else manual_folder(name)
    if any((folder / weights).is_file() for weights in WEIGHT_FILES):
        return with_published_stats(name, from_file(folder, **fields))
    missing = [package for package, module in (("huggingface_hub", huggingface_hub),
                                               ("safetensors", load_safetensors_file)) if module is None]
    if missing:
        raise unavailable(name, f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed "
                                f"({INSTALL})", folder)
    entry = PUBLISHED.get(name, PublishedViT("", ""))
    try:
        cached = download(name, entry, True, timeout, revision)  # no network: only what the cache holds
    except (hub_errors.EntryNotFoundError, FileNotFoundError):
        cached = None
    if cached is not None:
        return with_published_stats(name, from_file(cached, **fields))
    if offline_mode():
        raise unavailable(name, "HF_HUB_OFFLINE is set, so the hub is not asked, and no copy is cached", folder)
    problem = reachable(endpoint(), timeout)
    if problem:
        raise unavailable(name, problem, folder)
    try:
        path = download(name, entry, False, timeout, revision)
    except Exception as error:  # the hub's and its HTTP client's many errors: all mean the same here
        raise unavailable(name, f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}",
                          folder) from error
    return with_published_stats(name, from_file(path, **fields))


def with_published_stats(name: str, loaded: Pretrained) -> Pretrained:
    """``loaded``, with the normalisation of :data:`PUBLISHED` where its files do not say it."""
    if name in PUBLISHED and (loaded.mean is None or loaded.std is None):
        loaded.mean, loaded.std = PUBLISHED[name].mean, PUBLISHED[name].std
    return loaded


def stand_in(name: str, **fields) -> Pretrained:
    """A randomly initialised model of a published ViT's layout (config, normalisation, classes), for running
    the same code where the weights cannot be had; ``fields`` override the config (``depth=2``)."""
    choice(name, "name", PUBLISHED)
    entry = PUBLISHED[name]
    model = ViT(ViTConfig(**{**entry.config, **fields})).eval()
    classes = imagenet_classes() if model.config.num_classes == 1000 else None
    return Pretrained(model, entry.layout, f"a randomly initialised stand-in for {name}", entry.mean, entry.std,
                      classes)
