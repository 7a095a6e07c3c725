import math

import pytest
import torch

from vitlib import checks


@pytest.mark.parametrize("check, good, bad, message", [
    (checks.positive_int, [1, 7], [0, -1, 2.0, True, "3", None], "x must be a positive int, got"),
    (checks.non_negative_int, [0, 3], [-1, 1.5, False], "x must be an int >= 0, got"),
    (checks.positive_number, [1, 0.5], [0, -2, True, math.inf, math.nan, "1"], "x must be a number > 0, got"),
    (checks.non_negative_number, [0, 0.0, 2], [-0.1, False, math.nan], "x must be a number >= 0, got"),
    (checks.fraction, [0, 0.5, 0.99], [1, 1.0, -0.1, True], r"x must be a number in \[0, 1\), got"),
])
def test_number_checks_accept_the_valid_and_name_the_invalid(check, good, bad, message):
    for value in good:
        assert check(value, "x") == value
    for value in bad:
        with pytest.raises(ValueError, match=message) as info:
            check(value, "x")
        assert str(info.value).endswith(repr(value))


def test_a_probability_may_be_one():
    assert checks.fraction(1.0, "p", inclusive=True) == 1.0
    with pytest.raises(ValueError, match=r"p must be a number in \[0, 1\], got 1.5"):
        checks.fraction(1.5, "p", inclusive=True)


def test_choice_and_pair():
    assert checks.choice("b", "letter", ("a", "b")) == "b"
    with pytest.raises(ValueError, match="letter must be one of 'a', 'b'; got 'c'"):
        checks.choice("c", "letter", ("a", "b"))
    with pytest.raises(ValueError, match="channels must be one of 1, 3; got True"):
        checks.choice(True, "channels", (1, 3))  # True == 1, but is not a channel count
    assert checks.pair(4, "p") == (4, 4) and checks.pair((2, 3), "p") == (2, 3) and checks.pair([2, 3], "p") == (2, 3)
    for bad in (0, (2, 0), (True, 2), (2.0, 2), "22", (1, 2, 3), None):
        with pytest.raises(ValueError, match=r"p must be a positive int or an \(h, w\) pair of positive ints, got"):
            checks.pair(bad, "p")


def test_images_tensor_says_what_is_wrong():
    assert checks.images_tensor(torch.zeros(1, 3, 4, 4), channels=3, size=(4, 4)).shape == (1, 3, 4, 4)
    with pytest.raises(TypeError, match="images must be a torch.Tensor of shape \\(B, C, H, W\\), got list"):
        checks.images_tensor([1, 2])
    with pytest.raises(ValueError, match=r"got a tensor of shape \(3, 4, 4\)"):
        checks.images_tensor(torch.zeros(3, 4, 4))
    with pytest.raises(ValueError, match=r"images are \(5, 4\) pixels but the model was built for image_size=\(4, 4\)"):
        checks.images_tensor(torch.zeros(1, 3, 5, 4), size=(4, 4))


def test_boolean_takes_only_true_and_false():
    assert checks.boolean(True, "amp") is True and checks.boolean(False, "amp") is False
    for bad in (1, 0, "no", None):
        with pytest.raises(ValueError, match=f"amp must be True or False, got {bad!r}"):
            checks.boolean(bad, "amp")


def test_per_channel_values():
    assert checks.per_channel((0.5, 1), "mean", 2) == [0.5, 1.0]
    assert checks.per_channel(torch.tensor([0.25]), "std", 1, positive=True) == [0.25]
    assert checks.per_channel([0.0, -1.0], "mean", 2) == [0.0, -1.0]  # a mean may be anything finite
    with pytest.raises(ValueError, match=r"mean has 3 values but the images have 1 channel; give one per channel"):
        checks.per_channel([0.5] * 3, "mean", 1)
    for bad in ([0.0], [-1.0], [math.inf], [True]):
        with pytest.raises(ValueError, match=r"std must be a list of finite numbers > 0, one per channel"):
            checks.per_channel(bad, "std", 1, positive=True)


def test_images_tensor_checks_the_dtype_when_asked():
    images = torch.zeros(1, 1, 4, 4)
    assert checks.images_tensor(images, dtype=torch.float32) is images
    assert checks.images_tensor(images.to(torch.uint8)) is not None  # no dtype asked, none checked
    with pytest.raises(TypeError, match=r"images are torch.uint8 \(raw pixels\?\) but the model takes normalised"):
        checks.images_tensor(images.to(torch.uint8), dtype=torch.float32)
    with pytest.raises(TypeError, match=r"images are torch.float16 but the model's weights are torch.float32"):
        checks.images_tensor(images.half(), dtype=torch.float32)


def test_from_preset_layers_overrides_on_a_preset_and_names_what_is_wrong():
    import dataclasses

    @dataclasses.dataclass
    class Shape:
        width: int = 1
        depth: int = 1

    presets = {"small": dict(width=8), "deep": dict(width=8, depth=12)}
    assert checks.from_preset(Shape, presets, "deep", {"width": 4}) == Shape(width=4, depth=12)
    assert checks.from_preset(Shape, presets, "small", {}) == Shape(width=8, depth=1)
    assert presets["small"] == dict(width=8)  # the preset itself is left as it was
    with pytest.raises(ValueError, match=r"variant must be one of 'small', 'deep'; got 'tall'"):
        checks.from_preset(Shape, presets, "tall", {})
    with pytest.raises(TypeError, match=r"unknown Shape field\(s\) \['heads'\]; valid fields: \['depth', 'width'\]"):
        checks.from_preset(Shape, presets, "small", {"heads": 2, "width": 2})
