"""Wasserstein GAN with weight clipping (Arjovsky et al. 2017) and with a gradient penalty
(Gulrajani et al. 2017).

K * W(pi, p) = max_{||f||_L <= K} E_pi f(x) - E_p f(x)   (Kantorovich-Rubinstein duality)
"""

from functools import partial
from typing import Any, Optional

import torch
from jsonargparse.typing import NonNegativeFloat, PositiveFloat
from lightning.pytorch.callbacks import Callback
from torch import Tensor

from lit_gan.checks import check_not_negative, check_greater_than_zero
from lit_gan.objectives import losses
from lit_gan.objectives.base import AdversarialModule
from lit_gan.objectives.clipping import WeightClipping, refuse_spectral_norm
from lit_gan.objectives.penalties import refuse_batch_norm, weighted_gradient_penalty


class _Wasserstein(AdversarialModule):
    estimate_name = "wasserstein"

    def critic_loss(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        return losses.wgan_critic_loss(real_scores, fake_scores)

    def generator_loss(self, fake_scores: Tensor, real_scores: Optional[Tensor] = None) -> Tensor:
        return losses.wgan_generator_loss(fake_scores)

    def estimate(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        return losses.wasserstein_estimate(real_scores, fake_scores)


class WGAN(_Wasserstein):
    """WGAN: the critic's weights are clipped to [-c, c] after every critic update, which keeps f
    K-Lipschitz for some K. The clipping is a :class:`~lit_gan.callbacks.WeightClipping` callback
    that this module always adds (``configure_callbacks``).

    Args:
        clip_value: c. The paper uses 0.01 with RMSprop, lr 5e-5, n_critic 5.
        **kwargs: the arguments of :class:`~lit_gan.objectives.base.AdversarialModule`.
    """

    default_optimizer = partial(torch.optim.RMSprop, lr=5e-5)

    def __init__(self, clip_value: PositiveFloat = 0.01, **kwargs: Any) -> None:
        check_greater_than_zero(clip_value=clip_value)
        super().__init__(**kwargs)
        self.clip_value = float(clip_value)
        refuse_spectral_norm(self.critic)

    def configure_callbacks(self) -> list[Callback]:
        return [*super().configure_callbacks(), WeightClipping(self.clip_value)]


class WGANGP(_Wasserstein):
    """WGAN-GP: WGAN's losses plus gp_lambda * E[(||grad f(x_hat)||_2 - 1)^2] on random
    interpolates x_hat between real and generated samples (Gulrajani et al. 2017, Algorithm 1).

    The penalty is per sample, so the critic must not use BatchNorm (use LayerNorm or none).

    Args:
        gp_lambda: lambda, the weight of the penalty. The paper uses 10 with Adam, lr 1e-4,
            betas (0.5, 0.9), n_critic 5.
        **kwargs: the arguments of :class:`~lit_gan.objectives.base.AdversarialModule`.

    Logs ``train/gradient_penalty`` and ``train/grad_norm`` (mean ||grad f(x_hat)||) too.
    """

    default_optimizer = partial(torch.optim.Adam, lr=1e-4, betas=(0.5, 0.9))

    def __init__(self, gp_lambda: NonNegativeFloat = 10.0, **kwargs: Any) -> None:
        check_not_negative(gp_lambda=gp_lambda)
        super().__init__(**kwargs)
        self.gp_lambda = float(gp_lambda)
        refuse_batch_norm(self.critic, "with a gradient penalty (it is per sample)")

    def critic_penalty(self, real: Tensor, fake: Tensor, labels: Optional[Tensor] = None) -> tuple[Tensor, dict[str, Tensor]]:
        return weighted_gradient_penalty(self, real, fake, self.gp_lambda, labels)
