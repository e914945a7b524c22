"""Least squares GAN (Mao et al. 2017, eq. 2): min_D 1/2 E_pi (D(x) - b)^2 + 1/2 E_p (D(G(z)) - a)^2,
min_G 1/2 E_p (D(G(z)) - c)^2."""

import math
from functools import partial
from typing import Any, Optional

import torch
from torch import Tensor

from lit_gan.objectives import losses
from lit_gan.objectives.base import AdversarialModule


class LSGAN(AdversarialModule):
    """The critic outputs D(x), regressed to ``b`` on real and ``a`` on generated samples; the
    generator pulls D(G(z)) to ``c``.

    Args:
        a: the critic's target for generated samples.
        b: the critic's target for real samples (must differ from ``a``).
        c: the generator's target. The defaults (0, 1, 1) are the paper's 0-1 coding (eq. 9);
            (-1, 1, 0) satisfy b - c = 1 and b - a = 2, under which the generator minimizes the
            Pearson chi^2 divergence of pi + p from 2 p (the paper's Theorem 1).
        **kwargs: the arguments of :class:`~lit_gan.objectives.base.AdversarialModule`.

    Logs ``train/triangular``: 1 - 4 L_D / (b - a)^2, half the triangular discrimination
    1/2 integral (pi - p)^2 / (pi + p), in [0, 1], if D were optimal.
    """

    estimate_name = "triangular"
    default_optimizer = partial(torch.optim.Adam, lr=2e-4, betas=(0.5, 0.999))

    def __init__(self, a: float = 0.0, b: float = 1.0, c: float = 1.0, **kwargs: Any) -> None:
        for name, value in (("a", a), ("b", b), ("c", c)):
            if not math.isfinite(float(value)):
                raise ValueError(f"Expected argument `{name}` to be a finite number, got {value}")
        if float(a) == float(b):
            raise ValueError(f"Expected arguments `a` and `b` to differ (the critic's two targets), got {a} and {b}")
        super().__init__(**kwargs)
        self.a, self.b, self.c = float(a), float(b), float(c)

    def critic_loss(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        return losses.lsgan_critic_loss(real_scores, fake_scores, self.a, self.b)

    def generator_loss(self, fake_scores: Tensor, real_scores: Optional[Tensor] = None) -> Tensor:
        return losses.lsgan_generator_loss(fake_scores, self.c)

    def estimate(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        return losses.triangular_estimate(real_scores, fake_scores, self.a, self.b)
