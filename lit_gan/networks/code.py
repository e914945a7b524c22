"""InfoGAN's categorical code (Chen et al. 2016, "InfoGAN: Interpretable Representation Learning by
Information Maximizing Generative Adversarial Nets"), as two wrappers of plain networks:

    c = argmax of z's first k entries      (uniform over k categories, since z ~ N(0, I))
    G(z) = generator([one_hot(c), z_k:])   (the generator sees the code as a one-hot in their place)
    Q(c | x) = softmax(q(features(x)))     (a linear head on the critic's last features)

So the latent stays z ~ N(0, I) everywhere (sample grids, ``sample``, fixed latents), and the code
is a function of it. The loss that makes G use the code is the family loop's (``code_categories``).
"""

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lit_gan.networks.conditional import check_labels
from lit_gan.networks.spectral import apply_spectral_norm, is_spectrally_normalized


def latent_code(z: Tensor, categories: int) -> Tensor:
    """The category (B,) that latents z (B, latent_dim) carry: the argmax of their first ``categories`` entries."""
    return z[:, :categories].argmax(dim=1)


class CodedGenerator(nn.Module):
    """z (B, latent_dim), y -> generator(z with its first ``categories`` entries replaced by the
    one-hot of their argmax, y); class labels y pass through to a conditional generator."""

    def __init__(self, generator: nn.Module, categories: int) -> None:
        super().__init__()
        self.generator, self.categories = generator, int(categories)
        self.num_classes = int(getattr(generator, "num_classes", 0))

    def forward(self, z: Tensor, y: Optional[Tensor] = None) -> Tensor:
        check_labels(self, y)
        one_hot = F.one_hot(latent_code(z, self.categories), self.categories).to(z.dtype)
        z = torch.cat([one_hot, z[:, self.categories:]], dim=1)
        return self.generator(z) if y is None else self.generator(z, y)


class CodedCritic(nn.Module):
    """A critic with InfoGAN's head Q: ``forward(x, y)`` is the critic's score (B,), and
    ``scores_and_logits(x, y)`` gives the score and Q's ``categories`` logits (B, k) from one pass;
    class labels y pass through to a conditional critic (Q reads the features alone).

    The critic must split as ``score(features(x))`` (every lit-gan critic does). Q is one linear
    layer on the flattened features, spectrally normalized when the critic's layers are.
    """

    def __init__(self, critic: nn.Module, categories: int, img_shape: Sequence[int]) -> None:
        super().__init__()
        if not (callable(getattr(critic, "features", None)) and callable(getattr(critic, "score", None))):
            raise ValueError(
                f"Expected argument `critic` to have `features` and `score` methods for `code_categories`,"
                f" {type(critic).__name__} has not"
            )
        self.critic, self.categories = critic, int(categories)
        self.num_classes = int(getattr(critic, "num_classes", 0))
        mode = critic.training
        with torch.no_grad():  # one eval-mode pass for the features' size (no power iteration, no BatchNorm update)
            critic.eval()
            width = math.prod(critic.features(torch.zeros(1, *img_shape)).shape[1:])
        critic.train(mode)
        self.q = nn.Linear(width, self.categories)
        if is_spectrally_normalized(critic):
            apply_spectral_norm(self.q)

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        check_labels(self, y)
        return self.critic(x) if y is None else self.critic(x, y)

    def scores_and_logits(self, x: Tensor, y: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
        check_labels(self, y)
        h = self.critic.features(x)
        return (self.critic.score(h) if y is None else self.critic.score(h, y)), self.q(h.flatten(1))
