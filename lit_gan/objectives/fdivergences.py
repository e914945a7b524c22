"""The f-divergences of f-GAN (Nowozin et al. 2016, Tables 1 and 2), one row each.

D_f(pi || p) = E_p f(pi(x) / p(x)) >= sup_T E_pi T(x) - E_p f*(T(x)),   f*(t) = sup_u (u t - f(u)).

The critic outputs an unconstrained V(x); the output activation g_f maps it into dom f*, T = g_f(V).
``conj_of_act(v)`` is f*(g_f(v)) simplified by hand: composing the two in floating point loses
every digit where T approaches the edge of dom f* (e.g. GAN: 1 - exp(T) with T -> 0-).
"""

import math
from dataclasses import dataclass
from typing import Callable, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

LOG2 = math.log(2.0)
Fn = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class FDivergence:
    f: Fn  # generator function f(u), u > 0, convex, f(1) = 0 (GAN: -log 4, its divergence is 2 JSD - log 4)
    conj: Fn  # Fenchel conjugate f*(t) on dom f*
    act: Fn  # output activation g_f: R -> dom f*
    conj_of_act: Fn  # f*(g_f(v)), computed stably
    dom: tuple[float, float]  # dom f* as an open interval (TV: closed [-1/2, 1/2])


def _xlogx(u: Tensor) -> Tensor:
    return torch.xlogy(u, u)


DIVERGENCES: dict[str, FDivergence] = {
    "kl": FDivergence(
        f=_xlogx,
        conj=lambda t: torch.exp(t - 1),
        act=lambda v: v,
        conj_of_act=lambda v: torch.exp(v - 1),
        dom=(-math.inf, math.inf),
    ),
    "reverse_kl": FDivergence(
        f=lambda u: -torch.log(u),
        conj=lambda t: -1 - torch.log(-t),
        act=lambda v: -torch.exp(-v),
        conj_of_act=lambda v: v - 1,
        dom=(-math.inf, 0.0),
    ),
    "pearson": FDivergence(
        f=lambda u: (u - 1) ** 2,
        conj=lambda t: t**2 / 4 + t,
        act=lambda v: v,
        conj_of_act=lambda v: v**2 / 4 + v,
        dom=(-math.inf, math.inf),
    ),
    "squared_hellinger": FDivergence(
        f=lambda u: (torch.sqrt(u) - 1) ** 2,
        conj=lambda t: t / (1 - t),
        act=lambda v: -torch.expm1(-v),  # 1 - exp(-v)
        conj_of_act=torch.expm1,  # (1 - e^-v) / e^-v = e^v - 1
        dom=(-math.inf, 1.0),
    ),
    "jensen_shannon": FDivergence(  # this f (the paper's) gives D_f = 2 JSD, not the 1/2 (...) printed beside it
        f=lambda u: -(u + 1) * torch.log((1 + u) / 2) + _xlogx(u),
        conj=lambda t: -torch.log(2 - torch.exp(t)),
        act=lambda v: LOG2 - F.softplus(-v),
        conj_of_act=lambda v: F.softplus(v) - LOG2,  # -log(2 - 2 sigmoid(v)) = -log 2 - log sigmoid(-v)
        dom=(-math.inf, LOG2),
    ),
    "gan": FDivergence(
        f=lambda u: _xlogx(u) - (u + 1) * torch.log(u + 1),
        conj=lambda t: -torch.log(-torch.expm1(t)),  # -log(1 - e^t)
        act=lambda v: -F.softplus(-v),  # log D(x), D = sigmoid(v)
        conj_of_act=F.softplus,  # -log(1 - sigmoid(v))
        dom=(-math.inf, 0.0),
    ),
    "total_variation": FDivergence(
        f=lambda u: 0.5 * torch.abs(u - 1),
        conj=lambda t: t,
        act=lambda v: 0.5 * torch.tanh(v),
        conj_of_act=lambda v: 0.5 * torch.tanh(v),
        dom=(-0.5, 0.5),
    ),
}
DivergenceName = Literal["kl", "reverse_kl", "pearson", "squared_hellinger", "jensen_shannon", "gan", "total_variation"]


def variational_bound(div: FDivergence, real_v: Tensor, fake_v: Tensor) -> Tensor:
    """E_pi T(x) - E_p f*(T(G(z))) with T = g_f(V): a lower bound on D_f(pi || p)."""
    return div.act(real_v).mean() - div.conj_of_act(fake_v).mean()


def fgan_generator_loss_saddle(div: FDivergence, fake_v: Tensor) -> Tensor:
    """The saddle point objective (Nowozin et al. 2016, eq. 6): minimize -E_p f*(T(G(z)))."""
    return -div.conj_of_act(fake_v).mean()


def fgan_generator_loss_alternative(div: FDivergence, fake_v: Tensor) -> Tensor:
    """The paper's alternative (Section 3.2): maximize E_p g_f(V(G(z))), i.e. minimize -E_p T(G(z)).

    For the "gan" divergence this is the non-saturating loss -E_p log D(G(z)).
    """
    return -div.act(fake_v).mean()
