"""Standard GAN (Goodfellow et al. 2014): min_G max_D E_pi log D(x) + E_p log(1 - D(G(z)))."""

from functools import partial
from typing import Any, Literal, Optional

import torch
from torch import Tensor

from lit_gan.objectives import losses
from lit_gan.objectives.base import AdversarialModule

_GENERATOR_LOSSES = {
    "minimax": losses.gan_generator_loss_minimax,
    "non_saturating": losses.gan_generator_loss_non_saturating,
}


class GAN(AdversarialModule):
    """The critic outputs the logit of D; every loss is computed from logits (softplus), never log(sigmoid).

    Args:
        generator_loss: ``"minimax"``, E log(1 - D(G(z))) as in the game, which saturates when D
            rejects the samples early on; or ``"non_saturating"``, -E log D(G(z)) (Goodfellow et al.
            2014, Section 3).
        **kwargs: the arguments of :class:`~lit_gan.objectives.base.AdversarialModule`.

    Logs ``train/jsd``: (V + log 4) / 2, the Jensen-Shannon divergence if D were optimal.
    """

    estimate_name = "jsd"
    # DCGAN (Radford et al. 2016): Adam, lr 2e-4, beta1 0.5.
    default_optimizer = partial(torch.optim.Adam, lr=2e-4, betas=(0.5, 0.999))

    def __init__(self, generator_loss: Literal["minimax", "non_saturating"] = "non_saturating", **kwargs: Any) -> None:
        if generator_loss not in _GENERATOR_LOSSES:
            raise ValueError(f"Expected argument `generator_loss` to be one of {list(_GENERATOR_LOSSES)}, got {generator_loss!r}")
        super().__init__(**kwargs)
        self._generator_loss = _GENERATOR_LOSSES[generator_loss]

    def critic_loss(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        return losses.gan_discriminator_loss(real_scores, fake_scores)

    def generator_loss(self, fake_scores: Tensor, real_scores: Optional[Tensor] = None) -> Tensor:
        return self._generator_loss(fake_scores)

    def estimate(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        return losses.jsd_estimate(losses.gan_value(real_scores, fake_scores))
