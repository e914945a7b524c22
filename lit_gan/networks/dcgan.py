"""DCGAN-style convolutional generator and critic (Radford et al. 2016) for square images.

Sizes of the form s0 * 2**k with s0 in {4, 7} are produced: 28 (7*4), 32 (4*8), 64 (4*16), ...
Both networks use 4x4 kernels with stride 2 for every doubling and one s0 x s0 kernel at the
ends, as in the DCGAN paper; the critic mirrors the generator. The generator can instead double
by nearest upsampling and a 3x3 convolution (``upsampling="nearest"``). ``extra_layers`` adds 3x3
convolutions of stride 1 at the generator's last hidden side and the critic's first, as
``n_extra_layers`` does in the WGAN reference code (Arjovsky et al. 2017, ``models/dcgan.py``).
"""

from typing import Literal, Optional, Sequence

import torch
from jsonargparse.typing import NonNegativeInt
from torch import nn

from lit_gan.checks import allocating, check_not_negative_int, check_positive_ints
from lit_gan.networks.conditional import batch_norm, check_labels, conditioned
from lit_gan.networks.spectral import apply_spectral_norm

_BASE_SIZES = (4, 7)


def doublings(img_shape: Sequence[int], any_channels: bool = False) -> tuple[int, int]:
    """Split the side of a (C, H, W) image into (s0, k) with side = s0 * 2**k, s0 in {4, 7}; C in (1, 3),
    or any C >= 1 with ``any_channels`` (a critic's: a packed one reads m times the data's channels)."""
    allowed = ">= 1" if any_channels else "in (1, 3)"
    square = len(img_shape) == 3 and img_shape[1] == img_shape[2]
    if not square or not (int(img_shape[0]) >= 1 if any_channels else img_shape[0] in (1, 3)):
        raise ValueError(
            f"Expected argument `img_shape` to be (C, H, H) with C {allowed} for a DCGAN network, got {tuple(img_shape)}"
        )
    side, k = int(img_shape[1]), 0
    while side % 2 == 0 and side not in _BASE_SIZES:
        side, k = side // 2, k + 1
    if side not in _BASE_SIZES or k < 1:
        raise ValueError(
            f"Expected argument `img_shape` to have a side of 4*2**k or 7*2**k (k >= 1: 8, 14, 16, 28, 32, 56, 64, ...)"
            f" for a DCGAN network, got {tuple(img_shape)}"
        )
    return side, k


CriticNorm = Literal["none", "layer", "batch"]
_NORMS = {
    "none": lambda channels: nn.Identity(),
    "layer": lambda channels: nn.GroupNorm(1, channels),  # LayerNorm over (C, H, W), per sample
    "batch": nn.BatchNorm2d,
}


Upsampling = Literal["transposed", "nearest"]
_UPSAMPLINGS = {
    # DCGAN's 4x4 transposed convolution of stride 2
    "transposed": lambda c_in, c_out, bias: nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=bias),
    # resize-convolution (Odena et al. 2016, "Deconvolution and Checkerboard Artifacts"): nearest
    # upsampling, then a 3x3 convolution; no output phase is favoured, so no checkerboard at the start
    "nearest": lambda c_in, c_out, bias: nn.Sequential(
        nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, 1, 1, bias=bias)
    ),
}


class DCGANGenerator(nn.Module):
    """z (B, latent_dim), y (B,) or None -> x (B, C, H, W) in [-1, 1].

    Args:
        latent_dim: size of z; linked from the model's ``latent_dim``.
        img_shape: (C, H, W) with C in (1, 3); linked from the data.
        base_channels: channels before the last layer; each earlier layer has twice as many.
        upsampling: how each layer doubles the side: ``"transposed"`` as in DCGAN, or
            ``"nearest"`` (resize-convolution), whose untrained samples hold no period-2 pattern:
            BENCHMARKS.md "Where the dots come from".
        extra_layers: 3x3 convolutions (with BatchNorm and ReLU) of ``base_channels`` at half the
            image's side, before the last layer.
        num_classes: number K of classes; set from the model's ``num_classes``. K > 0 makes every
            BatchNorm conditional on y (:class:`~lit_gan.networks.conditional.ConditionalBatchNorm2d`);
            0: unconditional.
    """

    def __init__(
        self,
        latent_dim: int,
        img_shape: Sequence[int],
        base_channels: int = 64,
        upsampling: Upsampling = "transposed",
        extra_layers: NonNegativeInt = 0,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        check_positive_ints(latent_dim=latent_dim, base_channels=base_channels)
        check_not_negative_int(extra_layers=extra_layers, num_classes=num_classes)
        self.num_classes = int(num_classes)
        if upsampling not in _UPSAMPLINGS:
            raise ValueError(f"Expected argument `upsampling` to be one of {sorted(_UPSAMPLINGS)}, got {upsampling!r}")
        up = _UPSAMPLINGS[upsampling]
        s0, k = doublings(img_shape)
        channels = [base_channels * 2 ** (k - 1 - i) for i in range(k)]  # e.g. [256, 128, 64] for 32x32
        with allocating("generator", self, latent_dim=latent_dim, base_channels=base_channels,
                        extra_layers=extra_layers, img_shape=img_shape):
            layers: list[nn.Module] = [
                nn.ConvTranspose2d(latent_dim, channels[0], s0, 1, 0, bias=False),  # (B, c0, s0, s0)
                batch_norm(channels[0], self.num_classes),
                nn.ReLU(True),
            ]
            for c_in, c_out in zip(channels[:-1], channels[1:]):
                layers += [up(c_in, c_out, False), batch_norm(c_out, self.num_classes), nn.ReLU(True)]
            for _ in range(extra_layers):
                c = channels[-1]
                layers += [nn.Conv2d(c, c, 3, 1, 1, bias=False), batch_norm(c, self.num_classes), nn.ReLU(True)]
            layers += [up(channels[-1], img_shape[0], True), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        check_labels(self, y, "; build it with `num_classes` > 0 or wrap it in LabelConcat")
        h = z[:, :, None, None]  # (B, latent_dim, 1, 1)
        return conditioned(self.net, h, y) if self.num_classes else self.net(h)


class DCGANCritic(nn.Module):
    """x (B, C, H, W) -> score (B,): a critic (WGAN) or the logit of a discriminator (GAN).
    Unconditional: wrap it in :class:`~lit_gan.networks.conditional.Projection` for a conditional model.

    Args:
        img_shape: (C, H, W); linked from the data (C in (1, 3); m times that in
            :class:`~lit_gan.networks.Packed`).
        base_channels: channels of the first layer; each later layer has twice as many.
        norm: ``"batch"`` as in DCGAN; ``"layer"`` or ``"none"`` with a gradient penalty, which is
            per sample and so is broken by batch statistics (Gulrajani et al. 2017, Section 4).
        spectral_norm: spectrally normalize every convolution (Miyato et al. 2018), see
            :mod:`lit_gan.networks.spectral`; SNGAN's critic has no other normalization (``norm: none``).
        extra_layers: 3x3 convolutions (with ``norm`` and LeakyReLU) of ``base_channels`` at half
            the image's side, after the first layer.
    """

    def __init__(
        self,
        img_shape: Sequence[int],
        base_channels: int = 64,
        norm: CriticNorm = "layer",
        spectral_norm: bool = False,
        extra_layers: NonNegativeInt = 0,
    ) -> None:
        super().__init__()
        check_positive_ints(base_channels=base_channels)
        check_not_negative_int(extra_layers=extra_layers)
        self.num_classes = 0
        s0, k = doublings(img_shape, any_channels=True)
        channels = [base_channels * 2**i for i in range(k)]  # e.g. [64, 128, 256] for 32x32
        with allocating("critic", self, base_channels=base_channels, extra_layers=extra_layers, img_shape=img_shape):
            layers: list[nn.Module] = [nn.Conv2d(img_shape[0], channels[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]
            for _ in range(extra_layers):
                c = channels[0]
                layers += [nn.Conv2d(c, c, 3, 1, 1, bias=norm == "none"), _NORMS[norm](c), nn.LeakyReLU(0.2, True)]
            for c_in, c_out in zip(channels[:-1], channels[1:]):
                conv = nn.Conv2d(c_in, c_out, 4, 2, 1, bias=norm == "none")
                layers += [conv, _NORMS[norm](c_out), nn.LeakyReLU(0.2, True)]
            layers.append(nn.Conv2d(channels[-1], 1, s0, 1, 0))  # (B, 1, 1, 1)
        self.net = nn.Sequential(*layers)
        if spectral_norm:
            apply_spectral_norm(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net[:-1](x)  # (B, C, s0, s0), the input of the last layer

    def score(self, h: torch.Tensor) -> torch.Tensor:
        return self.net[-1](h).flatten()  # (B,)

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        check_labels(self, y, "; wrap it in Projection")
        return self.score(self.features(x))
