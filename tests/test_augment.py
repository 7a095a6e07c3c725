import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance, ImageOps

from vitlib.augment import apply_operation, augment_batch, mix_batch, random_erase, resolve_augmentation
from vitlib.data import load_digits
from vitlib.course.photos import list_photos, load_photo


def photos(size=48):
    """The bundled photos, shrunk, with values on the 256 levels of a uint8 image: (N, 3, size, size)."""
    images = torch.stack([load_photo(name, size=size) for name in list_photos()])
    return (images * 255).round() / 255


def to_pil(image):
    return Image.fromarray((image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))


def from_pil(image):
    return torch.from_numpy(np.asarray(image).astype(np.float32) / 255).permute(2, 0, 1)


# (operation, strength in [-1, 1], the same with PIL)
PIL_REFERENCES = [
    ("brightness", 0.5, lambda p: ImageEnhance.Brightness(p).enhance(1.45)),
    ("brightness", -1.0, lambda p: ImageEnhance.Brightness(p).enhance(0.1)),
    ("contrast", 0.5, lambda p: ImageEnhance.Contrast(p).enhance(1.45)),
    ("contrast", -0.8, lambda p: ImageEnhance.Contrast(p).enhance(0.28)),
    ("color", 1.0, lambda p: ImageEnhance.Color(p).enhance(1.9)),
    ("color", -1.0, lambda p: ImageEnhance.Color(p).enhance(0.1)),
    ("sharpness", 0.5, lambda p: ImageEnhance.Sharpness(p).enhance(1.45)),
    ("sharpness", -1.0, lambda p: ImageEnhance.Sharpness(p).enhance(0.1)),
    ("posterize", 1.0, lambda p: ImageOps.posterize(p, 4)),
    ("posterize", 0.5, lambda p: ImageOps.posterize(p, 6)),
    ("solarize", 0.5, lambda p: ImageOps.solarize(p, 128)),
    ("solarize", 0.0, lambda p: ImageOps.solarize(p, 256)),
    ("autocontrast", 1.0, lambda p: ImageOps.autocontrast(p)),
    ("equalize", 1.0, lambda p: ImageOps.equalize(p)),
]


@pytest.mark.parametrize("name, strength, reference", PIL_REFERENCES, ids=[f"{n}{s:+}" for n, s, _ in PIL_REFERENCES])
def test_pixel_operations_match_pil(name, strength, reference):
    images = photos()
    mine = apply_operation(images, name, strength)
    theirs = torch.stack([from_pil(reference(to_pil(image))) for image in images])
    assert mine.shape == images.shape
    # PIL rounds to whole levels after every operation; within 1.5 levels of 255
    assert (mine - theirs).abs().max() * 255 < 1.5


def test_pixel_operations_reject_unknown_names_and_geometric_ones():
    with pytest.raises(ValueError, match="name must be one of 'identity', 'brightness'.*; got 'invert'"):
        apply_operation(photos(), "invert", 1.0)
    with pytest.raises(ValueError, match="; got 'rotate'"):
        apply_operation(photos(), "rotate", 1.0)


def test_photo_augmentation_is_a_whole_pixel_crop_and_maybe_a_flip():
    torch.manual_seed(0)
    images = torch.rand(16, 3, 32, 32)
    out = augment_batch(images, "photo", torch.Generator().manual_seed(0))
    inner = slice(4, 28)  # away from the reflected border
    for x, y in zip(images, out):
        matches = [
            (dy, dx, flip)
            for flip in (False, True)
            for dy in range(-4, 5)
            for dx in range(-4, 5)
            if torch.allclose(
                y[:, inner, inner],
                (x.flip(-1) if flip else x)[:, 4 - dy : 28 - dy, 4 - dx : 28 - dx],
                atol=1e-5,
            )
        ]
        assert len(matches) == 1, "each output must be the input shifted by whole pixels, maybe mirrored"


def test_strong_augmentation_draws_per_image_and_repeats_with_the_seed():
    image = photos(32)[:1]  # (1, 3, 32, 32)
    batch = image.repeat(64, 1, 1, 1)
    first = augment_batch(batch, "photo-strong", torch.Generator().manual_seed(3))
    again = augment_batch(batch, "photo-strong", torch.Generator().manual_seed(3))
    other = augment_batch(batch, "photo-strong", torch.Generator().manual_seed(4))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    distinct = {tuple(x.flatten()[:: 97].tolist()) for x in first}
    assert len(distinct) > 48  # one operation and strength per image, not one per batch


def test_strong_augmentation_works_on_normalised_images():
    # the pixel operations act on [0, 1] values: normalising before or after gives the same images
    images = photos(32)
    mean, std = [0.5, 0.4, 0.3], [0.25, 0.2, 0.3]
    m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    plain = augment_batch(images, "photo-strong", torch.Generator().manual_seed(0))
    normalised = augment_batch((images - m) / s, "photo-strong", torch.Generator().manual_seed(0), mean=mean, std=std)
    erased = (plain - ((normalised * s) + m)).abs() > 1e-4  # only the erased rectangles (noise) differ
    assert erased.float().mean() < 0.1
    unerased = ~erased.any(1, keepdim=True).expand_as(erased)
    assert torch.allclose(plain[unerased], (normalised * s + m)[unerased], atol=1e-4)


def test_random_erasing_covers_a_rectangle_in_the_chosen_share_of_images():
    images = torch.full((2000, 1, 20, 30), 7.0)
    out = random_erase(images, 0.25, torch.Generator().manual_seed(0))
    erased = out != 7.0  # (B, 1, H, W)
    per_image = erased.flatten(1).sum(1)
    share = (per_image > 0).float().mean()
    assert 0.2 < share < 0.3
    for mask in erased[per_image > 0][:50, 0]:
        rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
        h, w = len(rows), len(cols)
        assert rows[-1] - rows[0] + 1 == h and cols[-1] - cols[0] + 1 == w  # one solid rectangle
        assert mask.sum() == h * w
        assert h * w <= 20 * 30 / 3 + 20 + 30  # at most a third of the area (plus rounding)


def test_mixup_blends_images_and_targets_in_the_same_proportion():
    images, labels = torch.rand(8, 3, 16, 16), torch.arange(8) % 4
    mixed, targets = mix_batch(images, labels, 4, mixup=0.8, rng=np.random.default_rng(0))
    assert targets.shape == (8, 4) and torch.allclose(targets.sum(1), torch.ones(8))
    lam = float(targets[0, labels[0]])  # image 0 is mixed with image 7, of another class
    assert 0 < lam < 1
    assert torch.allclose(mixed, lam * images + (1 - lam) * images.flip(0))


def test_cutmix_pastes_a_rectangle_whose_area_matches_the_targets():
    images, labels = torch.rand(8, 3, 16, 16), torch.arange(8) % 4
    for seed in range(5):
        mixed, targets = mix_batch(images, labels, 4, cutmix=1.0, rng=np.random.default_rng(seed))
        pasted = (mixed != images).any(1)[0]  # (H, W) of image 0
        assert torch.equal(mixed[0][:, pasted], images[7][:, pasted])
        assert float(targets[0, labels[7]]) == pytest.approx(pasted.float().mean().item(), abs=1e-6)


def test_mixing_off_gives_one_hot_targets_and_bad_alphas_are_refused():
    images, labels = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 1])
    same, targets = mix_batch(images, labels, 3)
    assert same is images and torch.equal(targets, torch.eye(3)[labels])
    with pytest.raises(ValueError, match="mixup must be a number >= 0, got -1"):
        mix_batch(images, labels, 3, mixup=-1)



def test_photo_flips_half_the_images_and_digits_never_do():
    # left half dark, right half bright: a flipped image is brighter on the left, whatever its shift
    images = torch.zeros(4000, 1, 16, 16)
    images[..., 8:] = 1.0
    for kind, low, high in (("photo", 0.46, 0.54), ("photo-strong", 0.46, 0.54), ("digits", 0.0, 0.0)):
        out = augment_batch(images, kind, torch.Generator().manual_seed(1))
        flipped = (out[..., :, :4].mean(dim=(1, 2, 3)) > out[..., :, -4:].mean(dim=(1, 2, 3))).float().mean().item()
        assert low <= flipped <= high, (kind, flipped)


def test_auto_augmentation_is_decided_in_one_place():
    class Kind:
        def __init__(self, kind):
            self.kind = kind

    assert resolve_augmentation("auto", Kind("digits")) == "digits"
    assert resolve_augmentation("auto", Kind("photo")) == "photo"
    assert resolve_augmentation("auto", object()) == "none"  # a dataset that does not say
    assert resolve_augmentation("photo-strong", Kind("digits")) == "photo-strong"  # asked for by name
    assert resolve_augmentation("auto", load_digits("test")) == "digits"
    with pytest.raises(ValueError, match="augment must be one of 'auto', 'photo'"):
        resolve_augmentation("strong", Kind("photo"))
