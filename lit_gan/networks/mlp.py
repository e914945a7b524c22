"""Fully connected generator and critic, for 2D toy data and flattened small images."""

import math
from typing import Literal, Optional, Sequence

import torch
from torch import nn

from lit_gan.checks import allocating, check_positive_ints
from lit_gan.networks.conditional import check_labels
from lit_gan.networks.spectral import apply_spectral_norm

Norm = Literal["none", "layer", "batch"]
_NORMS = {"none": lambda width: nn.Identity(), "layer": nn.LayerNorm, "batch": nn.BatchNorm1d}


def _norm(kind: Norm, width: int) -> nn.Module:
    # A critic trained with a gradient penalty must not use "batch": the penalty is per sample.
    return _NORMS[kind](width)


def _hidden(in_dim: int, widths: Sequence[int], norm: Norm, act: nn.Module) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Linear(in_dim, width), _norm(norm, width), act]
        in_dim = width
    return layers


class MLPGenerator(nn.Module):
    """z (B, latent_dim) -> x (B, *img_shape). Unconditional: wrap it in
    :class:`~lit_gan.networks.conditional.LabelConcat` for a conditional model.

    Args:
        latent_dim: size of z; linked from the model's ``latent_dim``.
        img_shape: shape of one sample, e.g. ``(2,)`` for toy data or ``(1, 28, 28)``; linked from the data.
        hidden_dims: widths of the hidden layers.
        norm: normalization after each hidden linear layer.
        tanh: squash the output to [-1, 1] (images scaled to [-1, 1]); off for unbounded toy data.
    """

    def __init__(
        self,
        latent_dim: int,
        img_shape: Sequence[int],
        hidden_dims: Sequence[int] = (256, 256, 256),
        norm: Norm = "none",
        tanh: bool = False,
    ) -> None:
        super().__init__()
        check_positive_ints(latent_dim=latent_dim, hidden_dims=hidden_dims, img_shape=img_shape)
        self.img_shape, self.num_classes = tuple(img_shape), 0
        with allocating("generator", self, latent_dim=latent_dim, hidden_dims=hidden_dims, img_shape=img_shape):
            layers = _hidden(latent_dim, hidden_dims, norm, nn.ReLU())
            out_dim = math.prod(int(s) for s in self.img_shape)
            layers.append(nn.Linear(hidden_dims[-1] if hidden_dims else latent_dim, out_dim))
        if tanh:
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        check_labels(self, y, "; wrap it in LabelConcat")
        return self.net(z).view(z.shape[0], *self.img_shape)


class MLPCritic(nn.Module):
    """x (B, *img_shape) -> score (B,). A critic (WGAN) or the logit of a discriminator (GAN).
    Unconditional: wrap it in :class:`~lit_gan.networks.conditional.Projection` (or
    ``LabelConcatCritic`` for flat samples) for a conditional model.

    Args:
        img_shape: shape of one sample; linked from the data.
        hidden_dims: widths of the hidden layers.
        norm: ``"none"`` or ``"layer"`` with a gradient penalty; ``"batch"`` only without one.
        negative_slope: slope of the LeakyReLU activations (0 gives ReLU).
        spectral_norm: spectrally normalize every linear layer (Miyato et al. 2018), see
            :mod:`lit_gan.networks.spectral`.
    """

    def __init__(
        self,
        img_shape: Sequence[int],
        hidden_dims: Sequence[int] = (256, 256, 256),
        norm: Norm = "none",
        negative_slope: float = 0.2,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        check_positive_ints(hidden_dims=hidden_dims, img_shape=img_shape)
        self.num_classes = 0
        in_dim = math.prod(int(s) for s in img_shape)
        layers: list[nn.Module] = [nn.Flatten()]
        with allocating("critic", self, hidden_dims=hidden_dims, img_shape=img_shape):
            layers += _hidden(in_dim, hidden_dims, norm, nn.LeakyReLU(negative_slope))
            layers.append(nn.Linear(hidden_dims[-1] if hidden_dims else in_dim, 1))
        self.net = nn.Sequential(*layers)
        if spectral_norm:
            apply_spectral_norm(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net[:-1](x)  # (B, width), the input of the last layer

    def score(self, h: torch.Tensor) -> torch.Tensor:
        return self.net[-1](h).squeeze(1)  # (B,)

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        check_labels(self, y, "; wrap it in Projection or LabelConcatCritic")
        return self.score(self.features(x))
