"""f-GAN: variational divergence minimization (Nowozin et al. 2016).

min_G max_V  E_pi g_f(V(x)) - E_p f*(g_f(V(G(z))))
"""

from functools import partial
from typing import Any, Literal

import torch
from torch import Tensor

from lit_gan.objectives import fdivergences as fd
from lit_gan.objectives.base import AdversarialModule

_GENERATOR_LOSSES = {"saddle": fd.fgan_generator_loss_saddle, "alternative": fd.fgan_generator_loss_alternative}


class FGAN(AdversarialModule):
    """The critic outputs V(x); T = g_f(V) is the variational function of the chosen divergence.

    Args:
        divergence: one of ``kl``, ``reverse_kl``, ``pearson``, ``squared_hellinger``,
            ``jensen_shannon``, ``gan``, ``total_variation`` (Nowozin et al. 2016, Table 2).
        generator_loss: ``"saddle"``, minimize -E_p f*(T(G(z))) (the saddle point objective), or
            ``"alternative"``, maximize E_p T(G(z)) (the paper's Section 3.2 heuristic; with
            ``divergence: gan`` it is the non-saturating GAN loss).
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
        **kwargs: Any,
    ) -> None:
        for name, value, allowed in (
            ("divergence", divergence, fd.DIVERGENCES),
            ("generator_loss", generator_loss, _GENERATOR_LOSSES),
        ):
            if value not in allowed:
                raise ValueError(f"Expected argument `{name}` to be one of {list(allowed)}, got {value!r}")
        super().__init__(**kwargs)
        self.divergence = fd.DIVERGENCES[divergence]
        self._generator_loss = _GENERATOR_LOSSES[generator_loss]

    def critic_loss(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        return -fd.variational_bound(self.divergence, real_scores, fake_scores)

    def generator_loss(self, fake_scores: Tensor) -> Tensor:
        return self._generator_loss(self.divergence, fake_scores)

    def estimate(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        return fd.variational_bound(self.divergence, real_scores, fake_scores)
