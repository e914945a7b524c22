"""The relativistic pairing GAN (Jolicoeur-Martineau 2019; R3GAN, Huang et al. 2024, eq. 2), with
f = softplus: min_D E_{x, z} f(D(G(z)) - D(x)), min_G E_{x, z} f(D(x) - D(G(z))), each real sample
x_i paired with the generated G(z_i) of the same row. R3GAN adds R1 and R2 (``r1_gamma``,
``r2_gamma``), without which the paper shows it does not converge (its Section 2)."""

from functools import partial
from typing import Optional

import torch
from torch import Tensor

from lit_gan.objectives import losses
from lit_gan.objectives.base import AdversarialModule


class RpGAN(AdversarialModule):
    """The critic outputs D(x); the generator's loss reads the critic's scores of the batch's real
    samples too (``pairs_real``): one more critic forward per generator update.

    Args:
        **kwargs: the arguments of :class:`~lit_gan.objectives.base.AdversarialModule`; for R3GAN
            set ``r1_gamma`` and ``r2_gamma`` (equal) and ``n_critic: 1``.

    Logs ``train/margin``: E (D(x_i) - D(G(z_i))), how far the critic ranks real above generated.
    """

    estimate_name = "margin"
    pairs_real = True
    # R3GAN (Huang et al. 2024, its configs): Adam with beta1 0, beta2 0.99
    default_optimizer = partial(torch.optim.Adam, lr=2e-4, betas=(0.0, 0.99))

    def critic_loss(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        return losses.rpgan_critic_loss(real_scores, fake_scores)

    def generator_loss(self, fake_scores: Tensor, real_scores: Optional[Tensor] = None) -> Tensor:
        if real_scores is None:
            raise ValueError("RpGAN's generator loss needs the critic's scores of the paired real samples")
        return losses.rpgan_generator_loss(fake_scores, real_scores)

    def estimate(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        return losses.relativistic_margin(real_scores, fake_scores)
