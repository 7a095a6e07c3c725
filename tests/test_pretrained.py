"""Published ViT weights in vitlib's ViT (vitlib.pretrained), checked against Hugging Face transformers' own ViT.

The reference is a randomly initialised ``transformers.ViTForImageClassification`` of a small size (with every
weight, bias and LayerNorm drawn at random, so that a misplaced bias or norm shows): converted, vitlib's ViT
must give its logits to 1e-5 in float32, for patches that tile a square image and for a non-square image.

timm needs torchvision, which cannot be installed beside the course's CPU torch build, so timm itself is not
a test dependency: its layout is built here from the Hugging Face state dict by the published key mapping
(``vit.encoder.layer.N.attention.attention.query/key/value`` stacked into ``blocks.N.attn.qkv``,
``layernorm_before`` -> ``norm1``, ``attention.output.dense`` -> ``attn.proj``, ``layernorm_after`` ->
``norm2``, ``intermediate.dense`` -> ``mlp.fc1``, ``output.dense`` -> ``mlp.fc2``, ``vit.layernorm`` -> ``norm``,
``classifier`` -> ``head``, the patch embedding kept a convolution), written out below independently of
vitlib's converter, and loaded with ``from_timm``.

No test touches the network: the hub's tests run with ``HF_HUB_OFFLINE`` set, or an address that refuses at
once, or a download function that fails, and a watchdog fails any of them that waits.
"""

import contextlib
import dataclasses
import signal
import time

import pytest
import torch
from torch import nn

transformers = pytest.importorskip("transformers", reason="the test extra installs transformers")
pytest.importorskip("safetensors", reason="the test extra installs safetensors")
huggingface_hub = pytest.importorskip("huggingface_hub", reason="the test extra installs huggingface_hub")

import vitlib  # noqa: E402
import vitlib.profile  # noqa: E402
import vitlib.transfer  # noqa: E402
from vitlib import pretrained  # noqa: E402
from vitlib.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from vitlib.position import resample_position_embedding  # noqa: E402
from vitlib.pretrained import hub  # noqa: E402

TOLERANCE = dict(atol=1e-5, rtol=1e-5)


# --- the reference --------------------------------------------------------------------------------------------
def hf_model(image_size=32, patch_size=8, **changes) -> "transformers.ViTForImageClassification":
    """A small Hugging Face ViT with every parameter random (biases and LayerNorms too), in eval mode."""
    config = transformers.ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                                    image_size=image_size, patch_size=patch_size, num_labels=5, **changes)
    model = transformers.ViTForImageClassification(config).eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    return model


def hf_published_state_dict(model, tmp_path) -> dict:
    """The state dict as the published files hold it (``save_pretrained`` writes the published names)."""
    model.save_pretrained(tmp_path)
    return pretrained.read_weights(tmp_path / "model.safetensors")


def hf_logits(model, images, **kwargs) -> torch.Tensor:
    with torch.no_grad():
        return model(pixel_values=images, **kwargs).logits


def timm_from_hf(published: dict, depth: int) -> dict:
    """timm's layout of a Hugging Face ViT, by the published key mapping (not by vitlib's converter)."""
    timm = {
        "cls_token": published["vit.embeddings.cls_token"],
        "pos_embed": published["vit.embeddings.position_embeddings"],
        "patch_embed.proj.weight": published["vit.embeddings.patch_embeddings.projection.weight"],
        "patch_embed.proj.bias": published["vit.embeddings.patch_embeddings.projection.bias"],
        "norm.weight": published["vit.layernorm.weight"], "norm.bias": published["vit.layernorm.bias"],
        "head.weight": published["classifier.weight"], "head.bias": published["classifier.bias"],
    }
    pairs = {"norm1": "layernorm_before", "attn.proj": "attention.output.dense", "norm2": "layernorm_after",
             "mlp.fc1": "intermediate.dense", "mlp.fc2": "output.dense"}
    for i in range(depth):
        hf = f"vit.encoder.layer.{i}."
        for kind in ("weight", "bias"):
            timm[f"blocks.{i}.attn.qkv.{kind}"] = torch.cat(
                [published[f"{hf}attention.attention.{part}.{kind}"] for part in ("query", "key", "value")])
            for ours, theirs in pairs.items():
                timm[f"blocks.{i}.{ours}.{kind}"] = published[f"{hf}{theirs}.{kind}"]
    return timm


@contextlib.contextmanager
def watchdog(seconds: int):
    """Fail (rather than hang) if the block takes longer than ``seconds``."""
    def expire(*_):
        raise TimeoutError(f"took longer than {seconds} s: something waited on the network")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --- Hugging Face's layout --------------------------------------------------------------------------------------
@pytest.mark.parametrize("image_size", [32, (32, 48)], ids=["square", "non-square"])
def test_hugging_face_weights_give_hugging_faces_logits(image_size, tmp_path):
    reference = hf_model(image_size)
    model = pretrained.from_hf(hf_published_state_dict(reference, tmp_path), reference.config)
    H, W = (image_size, image_size) if isinstance(image_size, int) else image_size
    images = torch.randn(3, 3, H, W)
    expected = hf_logits(reference, images)
    assert model.config.grid == (H // 8, W // 8) and model.config.num_classes == 5
    torch.testing.assert_close(model(images), expected, **TOLERANCE)
    assert expected.abs().max() > 0.5  # the logits are large enough for a misplaced weight to show


def test_the_in_library_state_dict_of_transformers_loads_too():
    # transformers 5 names its blocks vit.layers.N.attention.q_proj ... in memory; older versions use the
    # published names there too. Either way, hf_model.state_dict() loads.
    reference = hf_model()
    model = pretrained.from_hf(reference.state_dict(), reference.config)
    images = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model(images), hf_logits(reference, images), **TOLERANCE)


def test_the_config_is_read_from_config_json(tmp_path):
    reference = hf_model(layer_norm_eps=1e-12, qkv_bias=True)
    reference.save_pretrained(tmp_path)
    loaded = pretrained.from_file(tmp_path)
    c = loaded.model.config
    assert (c.dim, c.depth, c.heads, c.mlp_ratio, c.patch_size, c.image_size, c.num_classes) == (32, 2, 4, 2.0, 8, 32, 5)
    assert c.norm_eps == 1e-12 and c.pool == "cls" and loaded.layout == "transformers"
    # the eps is too small to move these logits by 1e-5, so it is checked where it is used
    assert {m.eps for m in loaded.model.modules() if isinstance(m, nn.LayerNorm)} == {1e-12}
    assert loaded.classes is None  # transformers' placeholders LABEL_0 ... are no class names
    images = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(loaded.model(images), hf_logits(reference, images), **TOLERANCE)


def test_class_names_and_normalisation_come_from_the_files(tmp_path):
    reference = hf_model(id2label={k: f"class {k}" for k in range(5)})
    reference.save_pretrained(tmp_path)
    (tmp_path / "preprocessor_config.json").write_text('{"image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.5, 1.0]}')
    loaded = pretrained.from_file(tmp_path / "model.safetensors")
    assert loaded.classes == [f"class {k}" for k in range(5)]
    images = torch.full((1, 3, 32, 32), 0.75)
    torch.testing.assert_close(loaded.normalise(images)[0, :, 0, 0], torch.tensor([1.0, 0.5, 0.25]))


@pytest.mark.parametrize("change, message", [
    (lambda sd: sd.pop("vit.encoder.layer.1.output.dense.bias"), r"missing keys \['vit.encoder.layer.1.output.dense.bias'\]"),
    (lambda sd: sd.update({"vit.pooler.dense.weight": torch.zeros(32, 32)}), r"unexpected keys \['vit.pooler.dense.weight'\]"),
    (lambda sd: sd.update({"classifier.weight": torch.zeros(6, 32)}),
     r"'classifier.weight' has shape \(6, 32\) in the state dict, but .* needs \(5, 32\)"),
    (lambda sd: sd.update({"vit.encoder.layer.0.attention.attention.key.weight": torch.zeros(32, 16)}),
     r"'vit.encoder.layer.0.attention.attention.key.weight' has shape \(32, 16\) .* needs \(32, 32\)"),
    (lambda sd: sd.update({"vit.encoder.layer.0.attention.attention.query.weight": torch.ones(32, 32, dtype=torch.int8)}),
     r"'vit.encoder.layer.0.attention.attention.query.weight' holds torch.int8 values .* quantised"),
    (lambda sd: sd.update({"classifier.bias": torch.full((5,), float("nan"))}),
     r"'classifier.bias' holds values that are not finite"),
], ids=["missing", "unexpected", "head shape", "key shape", "int8", "nan"])
def test_a_key_that_does_not_fit_is_named(change, message, tmp_path):
    reference = hf_model()
    state_dict = hf_published_state_dict(reference, tmp_path)
    change(state_dict)
    with pytest.raises(ValueError, match=message):
        pretrained.from_hf(state_dict, reference.config)


@pytest.mark.parametrize("change, message", [
    ({"hidden_size": None}, r"config.json does not say \['hidden_size'\]"),
    ({"hidden_act": "gelu_new"}, "vitlib's MLP uses the exact GELU"),
    ({"model_type": "deit"}, "only Hugging Face's plain ViT"),
])
def test_a_config_that_vitlib_cannot_follow_is_refused(change, message):
    config = hf_model().config.to_dict()
    config.update(change)
    config = {k: v for k, v in config.items() if v is not None}
    with pytest.raises(ValueError, match=message):
        pretrained.hf_config(config)


def test_a_state_dict_in_no_known_layout_is_refused():
    with pytest.raises(ValueError, match="neither timm's layout .* nor Hugging Face's"):
        pretrained.from_state_dict({"encoder.weight": torch.zeros(2)})
    with pytest.raises(ValueError, match="needs its config.json"):
        pretrained.from_state_dict({"vit.embeddings.cls_token": torch.zeros(1, 1, 4)})


# --- timm's layout ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("image_size", [32, (32, 48)], ids=["square", "non-square"])
def test_timm_weights_give_the_references_logits(image_size, tmp_path):
    reference = hf_model(image_size)
    timm = timm_from_hf(hf_published_state_dict(reference, tmp_path), depth=2)
    model = pretrained.from_timm(timm, heads=4, image_size=image_size, norm_eps=1e-12)
    H, W = (image_size, image_size) if isinstance(image_size, int) else image_size
    images = torch.randn(3, 3, H, W)
    torch.testing.assert_close(model(images), hf_logits(reference, images), **TOLERANCE)


def test_timms_config_json_gives_what_the_tensors_cannot(tmp_path):
    reference = hf_model()
    timm = timm_from_hf(hf_published_state_dict(reference, tmp_path), depth=2)
    config = {"architecture": "vit_custom", "global_pool": "token", "model_args": {"num_heads": 4},
              "pretrained_cfg": {"input_size": [3, 32, 32], "mean": [0.5] * 3, "std": [0.5] * 3}}
    loaded = pretrained.from_state_dict(timm, config, norm_eps=1e-12)
    assert loaded.layout == "timm" and loaded.mean == (0.5, 0.5, 0.5)
    assert (loaded.model.config.heads, loaded.model.config.image_size) == (4, (32, 32))
    images = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(loaded.model(images), hf_logits(reference, images), **TOLERANCE)
    # the architecture name states the heads and the image size of timm's published models
    assert pretrained.timm_layout.from_architecture({"architecture": "vit_base_patch16_224"}) == {
        "heads": 12, "image_size": 224}
    assert pretrained.timm_layout.from_architecture({"architecture": "vit_large_patch16_384"})["heads"] == 16


def test_timm_without_heads_or_image_size_says_what_to_pass():
    timm = pretrained.to_timm(vitlib.create_vit("course-tiny"))
    with pytest.raises(ValueError, match=r"does not say heads or image_size.*from_timm\(state_dict, heads=\.\.\., image_size=\.\.\.\)"):
        pretrained.from_timm(timm)
    with pytest.raises(ValueError, match="global_pool='avg' is not supported"):
        pretrained.from_timm(timm, {"global_pool": "avg"}, heads=4, image_size=32)


@pytest.mark.parametrize("qkv_bias", [True, False])
def test_round_trip_vitlib_timm_vitlib(qkv_bias):
    model = vitlib.create_vit("course-tiny", qkv_bias=qkv_bias).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 0.3)
    timm = pretrained.to_timm(model)
    assert timm["patch_embed.proj.weight"].shape == (64, 3, 4, 4)  # a convolution, as timm stores it
    assert set(timm) == set(model.state_dict())
    back = pretrained.from_timm(timm, heads=4, image_size=32, mlp_ratio=2.0)
    assert dataclasses.asdict(back.config) == dataclasses.asdict(model.config)
    for name, tensor in model.state_dict().items():
        assert torch.equal(back.state_dict()[name], tensor), name
    images = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(back(images), model(images), atol=0, rtol=0)


@pytest.mark.parametrize("change, message", [
    (lambda sd: sd.pop("norm.weight"), r"missing keys \['norm.weight'\]"),
    (lambda sd: sd.update({"fc_norm.weight": torch.ones(64)}), r"unexpected keys \['fc_norm.weight'\]"),
    (lambda sd: sd.update({"blocks.0.ls1.gamma": torch.ones(64)}), r"unexpected keys \['blocks.0.ls1.gamma'\]"),
    (lambda sd: sd.update({"pos_embed": torch.zeros(1, 50, 64)}), r"'pos_embed' has shape \(1, 50, 64\) .* needs \(1, 65, 64\)"),
    (lambda sd: sd.update({"patch_embed.proj.weight": torch.zeros(64, 48)}), "timm stores the patch embedding as a convolution"),
], ids=["missing", "unexpected", "layer scale", "position table", "linear patch weight"])
def test_a_timm_key_that_does_not_fit_is_named(change, message):
    timm = pretrained.to_timm(vitlib.create_vit("course-tiny"))
    change(timm)
    with pytest.raises(ValueError, match=message):
        pretrained.from_timm(timm, heads=4, image_size=32)


# --- another resolution --------------------------------------------------------------------------------------
def test_resampling_is_the_identity_at_the_same_size():
    reference = hf_model()
    model = pretrained.from_hf(reference.state_dict(), reference.config)
    table = model.pos_embed.detach().clone()
    torch.testing.assert_close(resample_position_embedding(table, (4, 4), (4, 4)), table, atol=0, rtol=0)
    images = torch.randn(2, 3, 32, 32)
    before = model(images)
    model.set_image_size(32)
    torch.testing.assert_close(model.pos_embed.detach(), table, atol=0, rtol=0)
    torch.testing.assert_close(model(images), before, atol=0, rtol=0)


def test_at_another_resolution_the_resampled_table_gives_hugging_faces_logits():
    # transformers' interpolate_pos_encoding resamples the same way (bicubic, the CLS entry kept apart)
    reference = hf_model()
    model = pretrained.from_hf(reference.state_dict(), reference.config)
    model.set_image_size((48, 64))
    assert model.config.grid == (6, 8) and model.pos_embed.shape == (1, 1 + 48, 32)
    images = torch.randn(2, 3, 48, 64)
    torch.testing.assert_close(model(images), hf_logits(reference, images, interpolate_pos_encoding=True), **TOLERANCE)


# --- files -----------------------------------------------------------------------------------------------------
def test_bin_files_load_with_weights_only_and_objects_are_refused(tmp_path):
    reference = hf_model()
    reference.save_pretrained(tmp_path)
    state_dict = pretrained.read_weights(tmp_path / "model.safetensors")
    (tmp_path / "model.safetensors").unlink()
    torch.save(state_dict, tmp_path / "pytorch_model.bin")
    loaded = pretrained.from_file(tmp_path)
    images = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(loaded.model(images), hf_logits(reference, images), **TOLERANCE)
    torch.save({"weights": state_dict, "object": nn.Identity()}, tmp_path / "pytorch_model.bin")
    with pytest.raises(ValueError, match="holds Python objects"):
        pretrained.from_file(tmp_path)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        pretrained.from_file(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="holds none of"):
        pretrained.from_file(tmp_path)


# --- the hub, without a network ---------------------------------------------------------------------------------
NAME = "google/vit-base-patch16-224"


@pytest.fixture
def empty_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    return tmp_path / "manual"


def test_offline_the_hub_fails_fast_and_says_what_to_do(empty_hub_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with watchdog(30), pytest.raises(pretrained.PretrainedUnavailable) as error:
        pretrained.from_hub(NAME, folder=empty_hub_cache)
    assert time.perf_counter() - start < 5
    message = str(error.value)
    for part in (NAME, "HF_HUB_OFFLINE", "model.safetensors", "config.json", str(empty_hub_cache), "from_file(folder)",
                 f"/{NAME}/resolve/main/model.safetensors"):
        assert part in message, part


def test_an_unreachable_hub_fails_fast(empty_hub_cache, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")  # the discard port: refused
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda *a, **k: pytest.fail("the hub was asked"))
    monkeypatch.setattr(hub, "download", lambda name, entry, local_only, *a: (_ for _ in ()).throw(
        FileNotFoundError("not cached")) if local_only else pytest.fail("a download was tried"))
    with watchdog(30), pytest.raises(pretrained.PretrainedUnavailable, match="127.0.0.1 cannot be reached"):
        pretrained.from_hub(NAME, folder=empty_hub_cache, timeout=2)


@contextlib.contextmanager
def silent_server():
    """A local server that accepts connections and never answers: its address as an http URL."""
    import socket
    import threading
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])  # keep the connection open, say nothing
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


def test_a_hub_that_accepts_and_never_answers_fails_within_the_timeout(empty_hub_cache, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    with silent_server() as url:
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", url)
        start = time.perf_counter()
        with watchdog(30), pytest.raises(pretrained.PretrainedUnavailable, match="did not answer within 2 s"):
            pretrained.from_hub(NAME, folder=empty_hub_cache, timeout=2)
        assert time.perf_counter() - start < 10
        # past the probe, the download itself waits at most the timeout for each answer
        monkeypatch.setattr(hub, "reachable", lambda url, timeout: None)
        start = time.perf_counter()
        with watchdog(30), pytest.raises(pretrained.PretrainedUnavailable):
            pretrained.from_hub(NAME, folder=empty_hub_cache, timeout=1)
        assert time.perf_counter() - start < 25


def test_a_failed_download_says_what_to_do(empty_hub_cache, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "reachable", lambda url, timeout: None)

    def no_download(*args, local_files_only=False, **kwargs):
        if local_files_only:
            raise huggingface_hub.errors.LocalEntryNotFoundError("not in the cache")
        raise ConnectionError("connection reset by peer")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_download)
    with watchdog(30), pytest.raises(pretrained.PretrainedUnavailable, match="connection reset by peer") as error:
        pretrained.from_hub(NAME, folder=empty_hub_cache)
    assert "from_file(folder)" in str(error.value) and str(empty_hub_cache) in str(error.value)


def test_without_huggingface_hub_the_error_names_the_extra(empty_hub_cache, monkeypatch):
    monkeypatch.setattr(hub, "huggingface_hub", None)
    with pytest.raises(pretrained.PretrainedUnavailable, match=r'pip install -e "\.\[pretrained\]"'):
        pretrained.from_hub(NAME, folder=empty_hub_cache)


def test_files_put_in_the_folder_by_hand_load_without_the_hub(empty_hub_cache, monkeypatch):
    reference = hf_model()
    reference.save_pretrained(empty_hub_cache)
    monkeypatch.setattr(hub, "huggingface_hub", None)  # not even asked
    loaded = pretrained.from_hub(NAME, folder=empty_hub_cache)
    images = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(loaded.model(images), hf_logits(reference, images), **TOLERANCE)
    assert pretrained.manual_folder(NAME).name == "google--vit-base-patch16-224"


def test_the_stand_in_has_the_published_layout():
    stand_in = pretrained.stand_in(NAME, depth=1)
    c = stand_in.model.config
    assert (c.dim, c.heads, c.patch_size, c.image_size, c.num_classes, c.norm_eps) == (768, 12, 16, 224, 1000, 1e-12)
    assert "stand-in" in stand_in.source and stand_in.classes == pretrained.imagenet_classes()
    timm_layout = pretrained.PUBLISHED["timm/vit_base_patch16_224.augreg2_in21k_ft_in1k"]
    assert timm_layout.layout == "timm" and timm_layout.config["norm_eps"] == 1e-6


# --- ImageNet class names, and checkpoints saved before norm_eps ------------------------------------------------------
def test_imagenet_class_names():
    names = pretrained.imagenet_classes()
    assert len(names) == 1000 and len(set(names)) == 1000
    assert (names[0], names[1], names[281], names[409], names[817]) == (
        "tench", "goldfish", "tabby", "analog clock", "sports car")
    synsets = pretrained.imagenet_synsets()
    assert synsets[0] == "n01440764" and synsets == sorted(synsets)


def test_a_checkpoint_saved_before_norm_eps_existed_still_loads(tmp_path):
    model = vitlib.create_vit("course-tiny")
    save_checkpoint(tmp_path / "old.pt", model)
    payload = torch.load(tmp_path / "old.pt", weights_only=True)
    del payload["model_config"]["norm_eps"]
    torch.save(payload, tmp_path / "old.pt")
    load_checkpoint(tmp_path / "old.pt", vitlib.create_vit("course-tiny"))
    with pytest.raises(ValueError, match="norm_eps: checkpoint 1e-06 vs model 1e-12"):
        load_checkpoint(tmp_path / "old.pt", vitlib.create_vit("course-tiny", norm_eps=1e-12))


# --- lesson 09's profiles ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", vitlib.profile.PROFILES)
def test_lesson_09s_settings_make_sense(name):
    P = vitlib.profile.get_profile(name)
    assert P.published_model in pretrained.PUBLISHED
    assert P.published_finetune_data in ("digits", "cifar10")
    assert P.published_finetune_mode in vitlib.transfer.MODES
    assert P.published_finetune_size % 16 == 0  # whole 16x16 patches
    assert name != "smoke" or not P.published_download  # the tests never download


def test_the_gpu_fine_tuning_recipe_runs_at_toy_size_on_a_cpu():
    # lesson 09's gpu settings (resolution, mode, learning rate) on CIFAR-shaped data, a one-block stand-in, two steps
    import math

    from vitlib.data import TensorImageDataset
    from vitlib.train import TrainConfig, fit

    gpu = vitlib.profile.get_profile("gpu")
    size = gpu.published_finetune_size
    weights = pretrained.stand_in(gpu.published_model, depth=1)
    model = vitlib.transfer.prepare_for_task(weights.model, 10, image_size=size, mode=gpu.published_finetune_mode)
    assert model.config.grid == (size // 16, size // 16) and model.pos_embed.shape[1] == 1 + (size // 16) ** 2
    generator = torch.Generator().manual_seed(0)
    data = TensorImageDataset(torch.randint(0, 256, (8, 3, size, size), dtype=torch.uint8, generator=generator),
                              torch.arange(8) % 10, [str(k) for k in range(10)], weights.mean, weights.std)
    config = TrainConfig(epochs=1, batch_size=4, lr=gpu.published_finetune_lr, warmup_epochs=0.5)
    history = fit(model, data, config=config, device="cpu", progress=False)
    assert history.last("step") == 2 and math.isfinite(history.last("train_loss"))
