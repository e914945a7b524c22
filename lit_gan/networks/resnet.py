"""SNGAN's ResNet generator and critic (Miyato et al. 2018, Appendix B, Tables 4-5; the 64x64
networks as in Mimicry's ``sngan_64``), for 32x32 and 64x64 images of any number of channels.

The blocks follow the official Chainer code (pfnet-research/sngan_projection), as Mimicry's
``resblocks.py`` does, with two choices made explicit: the generator upsamples by nearest
neighbour (Chainer's ``unpooling_2d``; Mimicry uses bilinear), and no ReLU is applied in place
on a block's input (Mimicry's in-place ReLU also rectifies the critic's shortcut input).
Weights are initialized as there (biases keep torch's default): Xavier uniform, gain sqrt(2) on the residual 3x3 convolutions
and 1 elsewhere.
"""

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lit_gan.checks import allocating, check_not_negative_int, check_positive_ints
from lit_gan.networks.conditional import batch_norm, check_labels, conditioned
from lit_gan.networks.spectral import apply_spectral_norm

# side -> SNGAN's channels (Mimicry's ngf, ndf), the divisor of those channels at each resolution of
# the generator (from 4x4 up), the critic's blocks as (divisor, downsamples) from the image down
_SIZES = {
    32: dict(g=256, g_div=(1, 1, 1, 1), d=128, d_blocks=((1, True), (1, True), (1, False), (1, False))),
    64: dict(g=1024, g_div=(1, 2, 4, 8, 16), d=1024, d_blocks=((16, True), (8, True), (4, True), (2, True), (1, True))),
}


def _size(img_shape: Sequence[int]) -> dict:
    if len(img_shape) != 3 or img_shape[1] != img_shape[2] or int(img_shape[1]) not in _SIZES or int(img_shape[0]) < 1:
        raise ValueError(
            f"Expected argument `img_shape` to be (C, 32, 32) or (C, 64, 64) for a ResNet, got {tuple(img_shape)}"
        )
    return _SIZES[int(img_shape[1])]


def _channels(name: str, value: Optional[int], default: int, divisors: Sequence[int]) -> list[int]:
    value = default if value is None else value
    check_positive_ints(**{name: value})
    if value % max(divisors):
        raise ValueError(f"Expected argument `{name}` to be a multiple of {max(divisors)} at this size, got {value}")
    return [value // d for d in divisors]


def _conv(c_in: int, c_out: int, kernel: int, gain: float = 1.0) -> nn.Conv2d:
    conv = nn.Conv2d(c_in, c_out, kernel, 1, kernel // 2)
    nn.init.xavier_uniform_(conv.weight, gain)
    return conv


def _up(h: torch.Tensor) -> torch.Tensor:
    return F.interpolate(h, scale_factor=2, mode="nearest")


def _pool(h: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(h, 2)


class UpBlock(nn.Module):
    """(B, c_in, H, W) -> (B, c_out, 2H, 2W): BN, ReLU, 2x upsample, conv3x3, BN, ReLU, conv3x3,
    plus a shortcut of 2x upsample and a learnable 1x1 convolution. With ``num_classes`` > 0 both
    BNs are conditional on y (SNGAN's conditional generator)."""

    def __init__(self, c_in: int, c_out: int, num_classes: int = 0) -> None:
        super().__init__()
        self.b1, self.c1 = batch_norm(c_in, num_classes), _conv(c_in, c_out, 3, math.sqrt(2))
        self.b2, self.c2 = batch_norm(c_out, num_classes), _conv(c_out, c_out, 3, math.sqrt(2))
        self.shortcut = _conv(c_in, c_out, 1)

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        h = self.c1(_up(F.relu(conditioned([self.b1], x, y))))
        h = self.c2(F.relu(conditioned([self.b2], h, y)))
        return h + self.shortcut(_up(x))


class DownBlock(nn.Module):
    """(B, c_in, H, W) -> (B, c_out, H/2, W/2) (or H, W without ``downsample``): ReLU, conv3x3, ReLU,
    conv3x3, 2x2 average pooling, plus a shortcut (1x1 convolution, then pooling) when the shape changes.

    ``first``: the "optimized" first block, on the image itself: no ReLU before its first
    convolution, and its shortcut pools before its 1x1 convolution."""

    def __init__(self, c_in: int, c_out: int, downsample: bool = True, first: bool = False) -> None:
        super().__init__()
        self.downsample, self.first = downsample or first, first
        hidden = c_out if first else c_in  # as in the Chainer code: the channels change at the second conv
        self.c1, self.c2 = _conv(c_in, hidden, 3, math.sqrt(2)), _conv(hidden, c_out, 3, math.sqrt(2))
        self.shortcut = _conv(c_in, c_out, 1) if first or downsample or c_in != c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c2(F.relu(self.c1(x if self.first else F.relu(x))))
        if self.first:
            return _pool(h) + self.shortcut(_pool(x))
        out = h + (x if self.shortcut is None else self.shortcut(x))
        return _pool(out) if self.downsample else out  # pooling is linear: pool(h) + pool(shortcut)


class ResNetGenerator(nn.Module):
    """z (B, latent_dim), y (B,) or None -> x (B, C, H, W) in [-1, 1], H = W in (32, 64).

    Linear z -> (B, ch, 4, 4), upsampling residual blocks to H x W, then BN, ReLU, conv3x3, tanh.

    Args:
        latent_dim: size of z (SNGAN: 128); linked from the model's ``latent_dim``.
        img_shape: (C, 32, 32) or (C, 64, 64); linked from the data.
        channels: channels at 4x4 (Mimicry's ``ngf``); None: SNGAN's, 256 at 32x32 (every block)
            or 1024 at 64x64 (halved by every block, to 64).
        num_classes: number K of classes; set from the model's ``num_classes``. K > 0 makes every
            BatchNorm conditional on y (:class:`~lit_gan.networks.conditional.ConditionalBatchNorm2d`),
            as in SNGAN's conditional generator; 0: unconditional.
    """

    def __init__(
        self, latent_dim: int, img_shape: Sequence[int], channels: Optional[int] = None, num_classes: int = 0
    ) -> None:
        super().__init__()
        check_positive_ints(latent_dim=latent_dim)
        check_not_negative_int(num_classes=num_classes)
        self.num_classes = k = int(num_classes)
        size = _size(img_shape)
        widths = _channels("channels", channels, size["g"], size["g_div"])  # e.g. [1024, 512, 256, 128, 64]
        self.width = widths[0]
        with allocating("generator", self, latent_dim=latent_dim, channels=channels, img_shape=img_shape):
            self.linear = nn.Linear(latent_dim, 16 * widths[0])
            nn.init.xavier_uniform_(self.linear.weight)
            self.blocks = nn.Sequential(*(UpBlock(c_in, c_out, k) for c_in, c_out in zip(widths[:-1], widths[1:])))
            c = int(img_shape[0])
            self.out = nn.Sequential(batch_norm(widths[-1], k), nn.ReLU(), _conv(widths[-1], c, 3), nn.Tanh())

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        check_labels(self, y, "; build it with `num_classes` > 0")
        h = self.linear(z).view(z.shape[0], self.width, 4, 4)  # (B, ch, 4, 4)
        if not self.num_classes:
            return self.out(self.blocks(h))
        for block in self.blocks:
            h = block(h, y)
        return conditioned(self.out, h, y)


class ResNetCritic(nn.Module):
    """x (B, C, H, W) -> score (B,), H = W in (32, 64): a critic or the logit of a discriminator.
    Unconditional: wrap it in :class:`~lit_gan.networks.conditional.Projection` (SNGAN's
    conditional critic) for a conditional model.

    An optimized first down block, down blocks (and at 32x32 two blocks that keep 8x8), ReLU,
    global sum pooling, linear -> score.

    Args:
        img_shape: (C, 32, 32) or (C, 64, 64); linked from the data.
        channels: channels of the last block (Mimicry's ``ndf``); None: SNGAN's, 128 at 32x32
            (every block) or 1024 at 64x64 (from 64, doubled by every block).
        spectral_norm: normalize every layer (SNGAN, on by default): see
            :mod:`lit_gan.networks.spectral`.
    """

    def __init__(self, img_shape: Sequence[int], channels: Optional[int] = None, spectral_norm: bool = True) -> None:
        super().__init__()
        self.num_classes = 0
        size = _size(img_shape)
        divisors, downsamples = zip(*size["d_blocks"])
        widths = _channels("channels", channels, size["d"], divisors)  # e.g. [64, 128, 256, 512, 1024]
        with allocating("critic", self, channels=channels, img_shape=img_shape):
            blocks = [DownBlock(int(img_shape[0]), widths[0], first=True)]
            pairs = zip(widths[:-1], widths[1:], downsamples[1:])
            blocks += [DownBlock(c_in, c_out, down) for c_in, c_out, down in pairs]
            self.blocks = nn.Sequential(*blocks)
            self.linear = nn.Linear(widths[-1], 1)
            nn.init.xavier_uniform_(self.linear.weight)
        if spectral_norm:
            apply_spectral_norm(self)  # after the initialization: it normalizes the initialized weights

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.blocks(x)).sum(dim=(2, 3))  # global sum pooling: (B, ch)

    def score(self, h: torch.Tensor) -> torch.Tensor:
        return self.linear(h).squeeze(1)  # (B,)

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        check_labels(self, y, "; wrap it in Projection")
        return self.score(self.features(x))
