"""f-GAN: variational divergence minimization (Nowozin et al. 2016).

min_G max_V  E_pi g_f(V(x)) - E_p f*(g_f(V(G(z))))
"""

from functools import partial
from typing import Any, Literal, Optional

import torch
from jsonargparse.typing import NonNegativeFloat
from torch import Tensor

from lit_gan.checks import check_not_negative
from lit_gan.objectives import fdivergences as fd
from lit_gan.objectives import losses
from lit_gan.objectives.base import AdversarialModule
from lit_gan.objectives.penalties import refuse_batch_norm, weighted_gradient_penalty

_GENERATOR_LOSSES = {"saddle": fd.fgan_generator_loss_saddle, "alternative": fd.fgan_generator_loss_alternative}


class FGAN(AdversarialModule):
    """The critic outputs V(x); T = g_f(V) is the variational function of the chosen divergence.

    Args:
        divergence: one of ``kl``, ``reverse_kl``, ``pearson``, ``squared_hellinger``,
            ``jensen_shannon``, ``gan``, ``total_variation`` (Nowozin et al. 2016, Table 2).
        generator_loss: ``"saddle"``, minimize -E_p f*(T(G(z))) (the saddle point objective), or
            ``"alternative"``, maximize E_p T(G(z)) (the paper's Section 3.2 heuristic; with
            ``divergence: gan`` it is the non-saturating GAN loss).
        gp_lambda: opt-in stabilizer, 0 (off) by default: WGAN-GP's penalty on the critic's output V,
            gp_lambda * E[(||grad_x V(x_hat)||_2 - 1)^2], x_hat = t x + (1 - t) G(z), t ~ U[0, 1] per
            sample (:func:`~lit_gan.objectives.losses.gradient_penalty`), added to the critic's loss.
            It keeps V from growing steep between the data and the samples, where a bounded g_f
            (total variation's tanh(v) / 2) saturates and an exponential f* (KL's exp(v - 1))
            overflows. The critic must then have no BatchNorm (the penalty is per sample).
        drift_lambda: opt-in stabilizer, 0 (off) by default: drift_lambda * (E_pi V(x)^2 + E_p V(G(z))^2)
            added to the critic's loss (:func:`~lit_gan.objectives.losses.drift_penalty`). With a
            bounded g_f (total variation's tanh(v) / 2) the bound is flat once V is far from 0 on
            both batches, and the critic can drift there, where g_f' and every gradient vanish
            (BENCHMARKS.md); the penalty keeps V where g_f' is not 0.
        **kwargs: the arguments of :class:`~lit_gan.objectives.base.AdversarialModule`.

    Logs ``train/divergence``: the variational lower bound E_pi T(x) - E_p f*(T(G(z))) of D_f
    (for ``jensen_shannon``, D_f is twice the JSD: see the README).
    """

    estimate_name = "divergence"
    default_optimizer = partial(torch.optim.Adam, lr=2e-4, betas=(0.5, 0.999))

    def __init__(
        self,
        divergence: fd.DivergenceName = "gan",
        generator_loss: Literal["saddle", "alternative"] = "saddle",
        gp_lambda: NonNegativeFloat = 0.0,
        drift_lambda: NonNegativeFloat = 0.0,
        **kwargs: Any,
    ) -> None:
        for name, value, allowed in (
            ("divergence", divergence, fd.DIVERGENCES),
            ("generator_loss", generator_loss, _GENERATOR_LOSSES),
        ):
            if value not in allowed:
                raise ValueError(f"Expected argument `{name}` to be one of {list(allowed)}, got {value!r}")
        check_not_negative(gp_lambda=gp_lambda, drift_lambda=drift_lambda)
        super().__init__(**kwargs)
        self.divergence = fd.DIVERGENCES[divergence]
        self._generator_loss = _GENERATOR_LOSSES[generator_loss]
        self.gp_lambda, self.drift_lambda = float(gp_lambda), float(drift_lambda)
        if self.gp_lambda > 0:
            refuse_batch_norm(self.critic, "with `gp_lambda` > 0 (the penalty is per sample)")

    def critic_loss(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        loss = -fd.variational_bound(self.divergence, real_scores, fake_scores)
        if self.drift_lambda == 0:  # off: the loss as it was, even where a score overflows
            return loss
        return loss + self.drift_lambda * losses.drift_penalty(real_scores, fake_scores)

    def generator_loss(self, fake_scores: Tensor, real_scores: Optional[Tensor] = None) -> Tensor:
        return self._generator_loss(self.divergence, fake_scores)

    def estimate(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        return fd.variational_bound(self.divergence, real_scores, fake_scores)

    def critic_penalty(self, real: Tensor, fake: Tensor, labels: Optional[Tensor] = None) -> tuple[Tensor, dict[str, Tensor]]:
        if self.gp_lambda == 0:  # off: no interpolates, no double backward
            return super().critic_penalty(real, fake, labels)
        return weighted_gradient_penalty(self, real, fake, self.gp_lambda, labels)
