"""The hinge loss (Lim & Ye 2017), SNGAN's objective with a spectrally normalized critic (Miyato et
al. 2018, eq. 17): min_D E_pi relu(1 - D(x)) + E_p relu(1 + D(G(z))), min_G -E_p D(G(z))."""

from functools import partial
from typing import Optional

import torch
from torch import Tensor

from lit_gan.objectives import losses
from lit_gan.objectives.base import AdversarialModule


class Hinge(AdversarialModule):
    """The critic outputs an unbounded score D(x); spectral normalization of the critic
    (``spectral_norm: true`` on it) makes it the SNGAN baseline.

    Args:
        **kwargs: the arguments of :class:`~lit_gan.objectives.base.AdversarialModule`.

    Logs ``train/total_variation``: 1 - L_D / 2, the total variation distance if D were optimal.
    """

    estimate_name = "total_variation"
    # SNGAN's ResNet experiments (Miyato et al. 2018, Appendix B): Adam, lr 2e-4, betas (0, 0.9), n_critic 5
    default_optimizer = partial(torch.optim.Adam, lr=2e-4, betas=(0.0, 0.9))

    def critic_loss(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        return losses.hinge_critic_loss(real_scores, fake_scores)

    def generator_loss(self, fake_scores: Tensor, real_scores: Optional[Tensor] = None) -> Tensor:
        return losses.hinge_generator_loss(fake_scores)

    def estimate(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        return losses.total_variation_estimate(real_scores, fake_scores)
