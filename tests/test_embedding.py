import pytest
import torch
from torch import nn

from vitlib.embedding import PatchEmbedding


@pytest.mark.parametrize(
    "channels, patch, stride, size",
    [(3, 4, 4, (32, 32)), (3, 4, 2, (32, 32)), (1, 5, 3, (28, 28)), (3, (4, 6), (3, 5), (30, 40)), (3, 4, 7, (32, 32))],
)
def test_equals_strided_convolution(channels, patch, stride, size):
    embed = PatchEmbedding(in_channels=channels, patch_size=patch, stride=stride, dim=24)
    conv = nn.Conv2d(channels, 24, kernel_size=patch, stride=stride)
    with torch.no_grad():  # copy the shared linear map into the convolution's kernel
        conv.weight.copy_(embed.proj.weight.view(conv.weight.shape))
        conv.bias.copy_(embed.proj.bias)
    images = torch.randn(2, channels, *size)
    expected = conv(images).flatten(2).transpose(1, 2)  # (B, D, n_h, n_w) -> (B, N, D)
    torch.testing.assert_close(embed(images), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(embed.as_conv2d()(images), conv(images))


def test_one_linear_map_shared_by_all_patches():
    embed = PatchEmbedding(in_channels=3, patch_size=4, dim=8)
    images = torch.randn(1, 3, 8, 8)
    tokens = embed(images)
    # the token of the bottom-right patch is W x + b of that patch alone
    patch = images[0, :, 4:8, 4:8].reshape(-1)
    torch.testing.assert_close(tokens[0, 3], embed.proj.weight @ patch + embed.proj.bias)


def test_wrong_channels():
    embed = PatchEmbedding(in_channels=3, patch_size=4, dim=8)
    with pytest.raises(ValueError, match=r"1 channels but this patch embedding was built for in_channels=3"):
        embed(torch.randn(1, 1, 8, 8))
