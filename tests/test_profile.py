import pytest

import vitlib
from vitlib.profile import PROFILES, current_profile, use_profile


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
    with pytest.raises(ValueError, match="unknown profile 'fast'.*'smoke'"):
        use_profile("fast")
    monkeypatch.setenv("VITLIB_PROFILE", "laptop")
    with pytest.raises(ValueError, match="VITLIB_PROFILE.*'laptop'.*'cpu'"):
        current_profile()
