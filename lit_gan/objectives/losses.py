"""Losses as small pure functions of critic scores, each beside its formula.

Notation (lecture 8): pi is the data, p the generator's distribution, D = sigmoid(logit) the
discriminator, f the Wasserstein critic. Every function returns a scalar to *minimize*.
"""

import math
from typing import Callable, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from lit_gan.networks.packing import pack_samples

LOG4 = math.log(4.0)


# --- standard GAN (Goodfellow et al. 2014), from logits: log D = -softplus(-l), log(1 - D) = -softplus(l)
def gan_value(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """V(G, D) = E_pi log D(x) + E_p log(1 - D(G(z)))."""
    return -F.softplus(-real_logits).mean() - F.softplus(fake_logits).mean()


def gan_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """The discriminator maximizes V: loss -V."""
    return -gan_value(real_logits, fake_logits)


def gan_generator_loss_minimax(fake_logits: Tensor) -> Tensor:
    """The generator minimizes V; only E_p log(1 - D(G(z))) depends on it."""
    return -F.softplus(fake_logits).mean()


def gan_generator_loss_non_saturating(fake_logits: Tensor) -> Tensor:
    """-E_p log D(G(z)): same fixed point, strong gradients when D rejects the samples."""
    return F.softplus(-fake_logits).mean()


def jsd_estimate(value: Tensor) -> Tensor:
    """V(G, D*) = 2 JSD(pi || p) - log 4, so JSD ~= (V + log 4) / 2 (at most log 2)."""
    return (value + LOG4) / 2


# --- Wasserstein GAN (Arjovsky et al. 2017), Kantorovich-Rubinstein duality
def wasserstein_estimate(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """E_pi f(x) - E_p f(G(z)): K * W(pi, p) for the best K-Lipschitz f."""
    return real_scores.mean() - fake_scores.mean()


def wgan_critic_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """The critic maximizes the estimate: loss E_p f(G(z)) - E_pi f(x)."""
    return fake_scores.mean() - real_scores.mean()


def wgan_generator_loss(fake_scores: Tensor) -> Tensor:
    """-E_p f(G(z))."""
    return -fake_scores.mean()


def drift_penalty(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """E_pi V(x)^2 + E_p V(G(z))^2: keeps the critic's raw scores near 0 (the drift term of Karras et
    al. 2018, Section A.1, there on real scores only), where a bounded output activation is not flat."""
    return real_scores.pow(2).mean() + fake_scores.pow(2).mean()


# --- WGAN-GP (Gulrajani et al. 2017, Algorithm 1)
def per_score(grad: Tensor, scores: Tensor) -> Tensor:
    """The input gradient (B, *shape) as one row per score, (n, -1): a sample's, or a packed critic's
    (PacGAN, :class:`~lit_gan.networks.Packed`) pack's m = B / n samples together, so that a norm is
    the pack's, over the input the score reads."""
    if grad.shape[0] % scores.numel():
        raise ValueError(f"Expected the critic to give one score per sample or per pack, got {scores.numel()} scores"
                         f" of {grad.shape[0]} samples")
    return pack_samples(grad, grad.shape[0] // scores.numel()).flatten(1)


def input_gradient(scores: Tensor, x: Tensor, scale: Union[Tensor, float, None] = None) -> Tensor:
    """grad_x sum(scores), (B, *shape), with its graph kept (``create_graph``) for the penalty's own
    backward. Out of place (``torch.autograd.grad``): no ``.grad`` is touched and DDP's reducer hooks
    do not fire (pytorch #63812).

    ``scale``: a grad scaler's scale (16-mixed; None otherwise). Then the backward through the critic runs
    on scale times the mean score, so that input gradients far below float16's smallest number (6e-8)
    do not underflow to 0, and the gradient is unscaled after, in float32: PyTorch's AMP recipe for a
    gradient penalty ("Automatic Mixed Precision examples", Gradient penalty). The mean, not the sum:
    the backward then carries the magnitudes of the loss's own (a mean over the batch), for which the
    scaler keeps its scale small enough not to overflow.
    """
    if scale is None:
        (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
        return grad
    (grad,) = torch.autograd.grad(scores.float().mean() * scale, x, create_graph=True)
    return grad.float() * (scores.numel() / scale)  # grad of the sum, unscaled in float32


def gradient_penalty(
    critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, t: Optional[Tensor] = None,
    scale: Union[Tensor, float, None] = None,
) -> tuple[Tensor, Tensor]:
    """E[(||grad f(x_hat)||_2 - 1)^2] with x_hat = t x + (1 - t) G(z), t ~ U[0, 1] per sample
    (``t``: shape (B,), drawn here when None).

    Returns the penalty (differentiable w.r.t. the critic's parameters) and the mean gradient
    norm (detached). The gradient is taken out of place (:func:`input_gradient`, where ``scale``,
    a grad scaler's, keeps it from underflowing in float16).
    """
    t = torch.rand(real.shape[0], device=real.device) if t is None else t
    t = t.to(real.dtype).view((real.shape[0],) + (1,) * (real.dim() - 1))
    x_hat = (t * real.detach() + (1 - t) * fake.detach()).requires_grad_(True)  # (B, *img_shape)
    scores = critic(x_hat)
    grad = input_gradient(scores, x_hat, scale)
    norms = per_score(grad, scores).norm(2, dim=1)  # one norm per sample (per pack) over all non-batch dims
    return ((norms - 1) ** 2).mean(), norms.detach().mean()


# --- zero-centred gradient penalties (Mescheder et al. 2018; R3GAN, Huang et al. 2024, eq. 4-5)
def zero_centered_gradient_penalty(critic: Callable[[Tensor], Tensor], x: Tensor,
                                   scale: Union[Tensor, float, None] = None) -> tuple[Tensor, Tensor]:
    """E ||grad_x D(x)||_2^2 at the points ``x``: R1 at real data, R2 at generated samples (the
    weight gamma / 2 is the caller's). Out of place, like :func:`gradient_penalty` (``scale``: a grad
    scaler's, see :func:`input_gradient`). Returns the penalty and the mean gradient norm (detached)."""
    x = x.detach().requires_grad_(True)  # (B, *img_shape)
    scores = critic(x)
    grad = input_gradient(scores, x, scale)
    squared = per_score(grad, scores).pow(2).sum(dim=1)  # ||grad_x D(x_i)||^2 per sample (per pack)
    return squared.mean(), squared.detach().sqrt().mean()


# --- hinge loss (Lim & Ye 2017; Miyato et al. 2018, SNGAN, eq. 17)
def hinge_critic_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """E_pi relu(1 - D(x)) + E_p relu(1 + D(G(z)))."""
    return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()


def hinge_generator_loss(fake_scores: Tensor) -> Tensor:
    """-E_p D(G(z))."""
    return -fake_scores.mean()


def total_variation_estimate(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """1 - L_D / 2: the total variation distance TV(pi, p) if D were optimal, since the smallest
    hinge risk over all D is 2 * integral of min(pi, p) = 2 (1 - TV) (D* = sign(pi - p))."""
    return 1 - hinge_critic_loss(real_scores, fake_scores) / 2


# --- least squares GAN (Mao et al. 2017, eq. 2): targets a (fake), b (real) for D, c for G
def lsgan_critic_loss(real_scores: Tensor, fake_scores: Tensor, a: float, b: float) -> Tensor:
    """1/2 E_pi (D(x) - b)^2 + 1/2 E_p (D(G(z)) - a)^2."""
    return 0.5 * (real_scores - b).pow(2).mean() + 0.5 * (fake_scores - a).pow(2).mean()


def lsgan_generator_loss(fake_scores: Tensor, c: float) -> Tensor:
    """1/2 E_p (D(G(z)) - c)^2."""
    return 0.5 * (fake_scores - c).pow(2).mean()


def triangular_estimate(real_scores: Tensor, fake_scores: Tensor, a: float, b: float) -> Tensor:
    """1 - 4 L_D / (b - a)^2: half the triangular discrimination, 1/2 integral (pi - p)^2 / (pi + p)
    (in [0, 1]), if D were optimal: D* = (b pi + a p) / (pi + p) makes L_D = (b - a)^2 / 2 *
    integral pi p / (pi + p)."""
    return 1 - 4 * lsgan_critic_loss(real_scores, fake_scores, a, b) / (b - a) ** 2


# --- relativistic pairing GAN (Jolicoeur-Martineau 2019; R3GAN, Huang et al. 2024, eq. 2), f = softplus
def rpgan_critic_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """E_{x, z} softplus(D(G(z)) - D(x)), on pairs (x_i, G(z_i)) of the same batch."""
    return F.softplus(fake_scores - real_scores).mean()


def rpgan_generator_loss(fake_scores: Tensor, real_scores: Tensor) -> Tensor:
    """E_{x, z} softplus(D(x) - D(G(z))), on pairs (x_i, G(z_i))."""
    return F.softplus(real_scores - fake_scores).mean()


def relativistic_margin(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """E (D(x_i) - D(G(z_i))): how far the critic ranks real above generated, on the pairs."""
    return (real_scores - fake_scores).mean()


# --- InfoGAN's categorical code (Chen et al. 2016, eq. 4-5): L_I(G, Q) = E_{c, x ~ G(z, c)} log Q(c | x) + H(c)
def info_loss(code_logits: Tensor, code: Tensor) -> Tensor:
    """-E log Q(c | G(z, c)): the cross-entropy of Q's logits (B, k) for the codes c (B,). Both the
    generator and Q minimize it (weighted by lambda), which maximizes L_I, as H(c) is constant."""
    return F.cross_entropy(code_logits, code)


def mutual_information_bound(info: Tensor, categories: int) -> Tensor:
    """L_I = H(c) - info for c uniform over k = ``categories`` (``info``: :func:`info_loss`'s value): a
    lower bound of I(c; G(z, c)), at most log k (reached when Q recovers every code), negative while
    Q guesses worse than uniform."""
    return math.log(categories) - info


# --- the auxiliary classifier (AC-GAN, Odena et al. 2017, eq. 2)
def auxiliary_class_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """-L_C on one set of samples: -E log P(C = c | X), the cross-entropy of the class head's logits
    (B, K) against the classes c (B,). The critic minimizes it on real and generated samples, the
    generator on its own (both maximize L_C in the paper)."""
    return torch.nn.functional.cross_entropy(logits, labels)
