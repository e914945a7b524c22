"""Class-conditional networks: a generator G(z, y) and a critic D(x, y), y (B,) class indices in [0, K).

Three ways in, each from its paper:

    conditional BatchNorm:  BN(h | y) = gain[y] * BN(h) + bias[y]        (a generator's every BN)
    concatenation:          G([z, e(y)]),  D([x, e(y)])                  (Mirza & Osindero 2014)
    projection:             D(x, y) = psi(phi(x)) + e(y)^T phi(x)         (Miyato & Koyama 2018, eq. 3)

e(y) is a learned embedding, or a one-hot of y. Every network of lit-gan carries ``num_classes``
(0: unconditional), so that a model can check that its networks match it; an unconditional one
refuses labels, a conditional one needs them (:func:`check_labels`).
"""

import math
from typing import Callable, Iterable, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from lit_gan.checks import check_not_negative_int, check_positive_ints
from lit_gan.specs import from_spec


def check_labels(network: nn.Module, y: Optional[Tensor], hint: str = "") -> None:
    """Refuse labels given to an unconditional network (``num_classes`` 0), and missing or misshapen
    labels given to a conditional one, in one line naming the network; ``hint`` ends the first."""
    name, k = type(network).__name__, getattr(network, "num_classes", 0)
    if k == 0:
        if y is not None:
            raise ValueError(f"`{name}` is not conditional (num_classes 0): it got class labels `y`{hint}")
        return
    if y is None:
        raise ValueError(f"`{name}` is conditional (num_classes {k}): expected class labels `y` (B,), got None")
    if y.dim() != 1 or y.dtype != torch.long:
        raise ValueError(
            f"`{name}` is conditional (num_classes {k}): expected class labels `y` as a LongTensor of shape (B,),"
            f" got {y.dtype} of shape {tuple(y.shape)}"
        )


def _check_conditional(cls: str, num_classes: int) -> int:
    check_not_negative_int(num_classes=num_classes)
    if num_classes == 0:
        raise ValueError(f"`{cls}` needs a conditional model: set the model's `num_classes` > 0")
    return int(num_classes)


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm2d without its affine map, then one per class: out = gain[y] * BN(x) + bias[y]
    (Miyato & Koyama 2018, Section 4; BigGAN). Starts as plain BatchNorm: gains 1, biases 0.

    Args:
        num_features: channels C of x (B, C, H, W).
        num_classes: number K of classes; y (B,) holds indices in [0, K).
    """

    def __init__(self, num_features: int, num_classes: int) -> None:
        super().__init__()
        check_positive_ints(num_features=num_features, num_classes=num_classes)
        self.num_classes = int(num_classes)
        self.bn = nn.BatchNorm2d(num_features, affine=False)
        self.gain, self.bias = nn.Embedding(num_classes, num_features), nn.Embedding(num_classes, num_features)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return self.gain(y)[:, :, None, None] * self.bn(x) + self.bias(y)[:, :, None, None]  # (B, C, H, W)


def conditioned(layers: Iterable[nn.Module], h: Tensor, y: Optional[Tensor]) -> Tensor:
    """``layers`` applied in order to h, the conditional BatchNorms among them fed y too."""
    for layer in layers:
        h = layer(h, y) if isinstance(layer, ConditionalBatchNorm2d) else layer(h)
    return h


def batch_norm(num_features: int, num_classes: int) -> nn.Module:
    """A generator's BatchNorm2d: plain when unconditional (``num_classes`` 0), else conditional."""
    return ConditionalBatchNorm2d(num_features, num_classes) if num_classes else nn.BatchNorm2d(num_features)


def _label_code(num_classes: int, embed_dim: Optional[int]) -> tuple[Optional[nn.Embedding], int]:
    """A learned embedding of ``embed_dim`` (None: a one-hot, no parameters) and its width."""
    if embed_dim is None:
        return None, num_classes
    check_positive_ints(embed_dim=embed_dim)
    return nn.Embedding(num_classes, embed_dim), int(embed_dim)


def _encode(embed: Optional[nn.Embedding], num_classes: int, y: Tensor, like: Tensor) -> Tensor:
    return F.one_hot(y, num_classes).to(like.dtype) if embed is None else embed(y)  # (B, e)


class LabelConcat(nn.Module):
    """A conditional generator from an unconditional one: z (B, latent_dim), y (B,) -> generator([z, e(y)]).

    Args:
        latent_dim: size of z; linked from the model's ``latent_dim``.
        img_shape: shape of one sample, passed on to ``generator``.
        generator: the generator class (or factory), called as ``generator(latent_dim + e, img_shape)``;
            in YAML a ``class_path`` whose ``init_args`` leave out both (an MLP or DCGAN generator).
        num_classes: number K of classes; set from the model's ``num_classes``.
        embed_dim: width e of a learned label embedding; None: a one-hot of y (e = K).
    """

    def __init__(
        self,
        latent_dim: int,
        img_shape: Sequence[int],
        generator: Callable[[int, Sequence[int]], nn.Module],
        num_classes: int = 0,
        embed_dim: Optional[int] = None,
    ) -> None:
        super().__init__()
        self.num_classes = _check_conditional("LabelConcat", num_classes)
        check_positive_ints(latent_dim=latent_dim)
        self.embed, width = _label_code(self.num_classes, embed_dim)
        self.generator = from_spec(generator)(int(latent_dim) + width, img_shape)

    def forward(self, z: Tensor, y: Optional[Tensor] = None) -> Tensor:
        check_labels(self, y)
        return self.generator(torch.cat([z, _encode(self.embed, self.num_classes, y, z)], dim=1))


class LabelConcatCritic(nn.Module):
    """A conditional critic from an unconditional one, for flat samples: x (B, D), y (B,) -> critic([x, e(y)]).

    Args:
        img_shape: (D,), flat samples; linked from the data. Images: use :class:`Projection`.
        critic: the critic class (or factory), called as ``critic((D + e,))``; in YAML a ``class_path``
            whose ``init_args`` leave out ``img_shape``.
        num_classes: number K of classes; set from the model's ``num_classes``.
        embed_dim: width e of a learned label embedding; None: a one-hot of y (e = K).
    """

    def __init__(
        self,
        img_shape: Sequence[int],
        critic: Callable[[Sequence[int]], nn.Module],
        num_classes: int = 0,
        embed_dim: Optional[int] = None,
    ) -> None:
        super().__init__()
        self.num_classes = _check_conditional("LabelConcatCritic", num_classes)
        if len(img_shape) != 1:
            raise ValueError(
                f"Expected argument `img_shape` to be flat (D,) for LabelConcatCritic, got {tuple(img_shape)}:"
                " condition an image critic with Projection"
            )
        check_positive_ints(img_shape=img_shape)
        self.embed, width = _label_code(self.num_classes, embed_dim)
        self.critic = from_spec(critic)((int(img_shape[0]) + width,))

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        check_labels(self, y)
        return self.critic(torch.cat([x, _encode(self.embed, self.num_classes, y, x)], dim=1))


def _feature_width(critic: nn.Module, img_shape: Sequence[int]) -> int:
    """The size of ``critic.features(x)`` flattened, from one eval-mode pass on zeros (no power
    iteration, no BatchNorm update); the critic's mode is restored."""
    mode = critic.training
    with torch.no_grad():
        critic.eval()
        width = math.prod(critic.features(torch.zeros(1, *img_shape)).shape[1:])
    critic.train(mode)
    return width


class Projection(nn.Module):
    """A projection critic (Miyato & Koyama 2018, "cGANs with Projection Discriminator", eq. 3):

        D(x, y) = psi(phi(x)) + e(y)^T phi(x),   phi = critic.features, psi = critic.score

    with e a learned (K, F) embedding, F the size of the flattened features, initialized Xavier
    uniform as in SNGAN's projection critic (pfnet-research/sngan_projection, ``l_y``).

    Args:
        img_shape: shape of one sample, passed on to ``critic``.
        critic: the critic class (or factory), called as ``critic(img_shape)``; it must split as
            ``score(features(x))`` (MLP, DCGAN, ResNet, DiffAugment); in YAML a ``class_path``
            whose ``init_args`` leave out ``img_shape``.
        num_classes: number K of classes; set from the model's ``num_classes``.
        spectral_norm: spectrally normalize the embedding (SNGAN's projection critic does), see
            :mod:`lit_gan.networks.spectral`.
    """

    def __init__(
        self,
        img_shape: Sequence[int],
        critic: Callable[[Sequence[int]], nn.Module],
        num_classes: int = 0,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        self.num_classes = _check_conditional("Projection", num_classes)
        self.critic = from_spec(critic)(img_shape)
        if not (callable(getattr(self.critic, "features", None)) and callable(getattr(self.critic, "score", None))):
            raise ValueError(
                f"Expected argument `critic` to have `features` and `score` methods for Projection,"
                f" {type(self.critic).__name__} has not"
            )
        self.embed = nn.Embedding(self.num_classes, _feature_width(self.critic, img_shape))
        nn.init.xavier_uniform_(self.embed.weight)
        if spectral_norm:
            _spectral_norm(self.embed)  # W (K, F) as a matrix, one power iteration per training-mode forward

    def features(self, x: Tensor) -> Tensor:
        return self.critic.features(x)

    def score(self, h: Tensor, y: Optional[Tensor] = None) -> Tensor:
        check_labels(self, y)
        return self.critic.score(h) + (self.embed(y) * h.flatten(1)).sum(dim=1)  # (B,)

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        return self.score(self.features(x), y)


class ClassHead(nn.Module):
    """A critic with a linear class head on its features, for the auxiliary classifier loss (AC-GAN,
    Odena et al. 2017): ``class_logits(x)`` = W phi(x) + b, K logits; the critic's score is its own.
    The model wraps its critic in it when ``ac_weight`` > 0, so that the head is the critic's (its
    optimizer, its DDP gradient average, its checkpoint).

    Args:
        critic: the critic, built; it must have ``features`` (MLP, DCGAN, ResNet, DiffAugment, Projection).
            It may take no labels (AC-GAN's): its score is then of x alone, and the class reaches the
            critic through the head's loss only.
        num_classes: number K of classes.
        img_shape: shape of one sample (for the features' size).
    """

    def __init__(self, critic: nn.Module, num_classes: int, img_shape: Sequence[int]) -> None:
        super().__init__()
        if not callable(getattr(critic, "features", None)):
            raise ValueError(f"Expected argument `critic` to have a `features` method for `ac_weight` > 0,"
                             f" {type(critic).__name__} has not")
        self.critic, self.num_classes = critic, _check_conditional("ClassHead", num_classes)
        self.head = nn.Linear(_feature_width(critic, img_shape), self.num_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.critic.features(x)

    def class_logits(self, x: Tensor) -> Tensor:
        return self.head(self.critic.features(x).flatten(1))  # (B, K)

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        # an unconditional critic (AC-GAN's) scores x alone: the class reaches it through the head's loss
        return self.critic(x) if y is None or not getattr(self.critic, "num_classes", 0) else self.critic(x, y)
