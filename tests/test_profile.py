import pytest
import torch

import vitlib
from vitlib.profile import PROFILES, current_profile, get_profile, use_profile


def test_environment_variable_then_override(monkeypatch):
    monkeypatch.setenv("VITLIB_PROFILE", "smoke")
    assert current_profile().name == "smoke"
    try:
        assert use_profile("cpu").name == "cpu"
        assert current_profile().name == "cpu"
    finally:
        use_profile(None)
    assert current_profile().name == "smoke"


def test_automatic_choice_without_the_variable(monkeypatch):
    monkeypatch.delenv("VITLIB_PROFILE", raising=False)
    import torch

    assert current_profile().name == ("gpu" if torch.cuda.is_available() else "cpu")


def test_sizes_grow_from_smoke_to_gpu():
    sizes = {name: use_profile(name) for name in PROFILES}
    use_profile(None)
    assert sizes["smoke"].demo_depth < sizes["cpu"].demo_depth
    assert sizes["smoke"].shuffle_trials <= sizes["cpu"].shuffle_trials <= sizes["gpu"].shuffle_trials
    for profile in sizes.values():
        vitlib.vit_config(profile.demo_variant, depth=profile.demo_depth)


def test_unknown_profile(monkeypatch):
    with pytest.raises(ValueError, match="profile must be one of 'smoke', 'cpu', 'gpu'; got 'fast'"):
        use_profile("fast")
    monkeypatch.setenv("VITLIB_PROFILE", "laptop")
    with pytest.raises(ValueError, match=r"profile \(from VITLIB_PROFILE\) must be one of 'smoke', 'cpu', 'gpu'; got 'laptop'"):
        current_profile()


def test_the_gpu_recipe_runs_at_toy_size_on_a_cpu():
    # lesson 05's gpu settings (variant, augmentation, MixUp, CutMix) on CIFAR-shaped data, two steps
    import math

    from vitlib import create_vit
    from vitlib.data import TensorImageDataset
    from vitlib.train import TrainConfig, fit

    gpu = get_profile("gpu")
    generator = torch.Generator().manual_seed(0)
    data = TensorImageDataset(torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8, generator=generator),
                              torch.arange(16) % 10, [str(k) for k in range(10)])
    model = create_vit(gpu.train_variant, depth=1)
    config = TrainConfig(epochs=1, batch_size=8, lr=gpu.lr, warmup_epochs=gpu.warmup_epochs, augment=gpu.augment,
                         mixup=gpu.mixup, cutmix=gpu.cutmix)
    history = fit(model, data, config=config, device="cpu", progress=False)
    assert gpu.augment == "photo-strong" and gpu.mixup > 0 and gpu.cutmix > 0
    assert history.last("step") == 2 and math.isfinite(history.last("train_loss"))
