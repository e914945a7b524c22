"""Regularizers of the critic that any family may add to its loss (``critic_penalty``'s contract:
the penalty, with what to log): WGAN-GP's gradient penalty and the zero-centred R1 and R2.

Each is taken out of place (``torch.autograd.grad``), so DDP's reducer hooks never fire, and
each is per sample, so the critic must have no BatchNorm. Under 16-mixed each inner gradient is taken
at the grad scaler's scale and unscaled after (``grad_scale``), so that it does not underflow in float16.
"""

from typing import Callable, Optional

import torch
from lightning.pytorch import LightningModule
from torch import Tensor, nn

from lit_gan.objectives import losses


def refuse_batch_norm(critic: nn.Module, why: str) -> None:
    """Raise ``ValueError`` if ``critic`` has a BatchNorm layer, which a per-sample penalty cannot have."""
    batch_norms = [name for name, m in critic.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if batch_norms:
        raise ValueError(f"Expected argument `critic` to have no BatchNorm {why}, found {batch_norms[0]!r}: use norm: layer or none")


def grad_scale(module: LightningModule) -> Optional[Tensor]:
    """The scale of ``module``'s grad scaler (16-mixed), as a tensor on the device, which the penalties'
    inner gradients are taken at (:func:`~lit_gan.objectives.losses.input_gradient`); None without one.
    Read as ``scaler.scale(1)``, on the device: ``scaler.get_scale()`` would wait for it (a host sync)."""
    plugin = module.trainer.precision_plugin if module._trainer is not None else None
    scaler = getattr(plugin, "scaler", None)
    if scaler is None or not scaler.is_enabled():
        return None
    return scaler.scale(torch.ones((), device=module.device))


def weighted_gradient_penalty(module: LightningModule, real: Tensor, fake: Tensor, gp_lambda: float,
                              labels: Optional[Tensor] = None) -> tuple[Tensor, dict[str, Tensor]]:
    """gp_lambda times WGAN-GP's penalty on ``module``'s critic, with what to log; a conditional model
    scores each interpolate with its real sample's class (``labels``), as StudioGAN does."""
    t = module.draw(torch.rand, real.shape[0])  # this rank's rows of one global draw, as the latents
    penalty, grad_norm = losses.gradient_penalty(module.scorer(labels), real, fake, t, grad_scale(module))
    return gp_lambda * penalty, {"gradient_penalty": penalty, "grad_norm": grad_norm}


def r1_r2(real_critic: Callable[[Tensor], Tensor], fake_critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor,
          r1_gamma: float, r2_gamma: float, scale: Optional[Tensor] = None) -> tuple[Tensor, dict[str, Tensor]]:
    """r1_gamma / 2 E_pi ||grad D(x)||^2 + r2_gamma / 2 E_p ||grad D(G(z))||^2 (R3GAN, eq. 4-5), with
    the two penalties logged as ``r1`` and ``r2``; a gamma of 0 costs nothing. The critic scores real
    and generated samples as ``real_critic`` and ``fake_critic`` (a conditional model's: with their labels);
    ``scale``: the grad scaler's (:func:`grad_scale`), None without one."""
    total, logs = real.new_zeros(()), {}
    for name, gamma, x, critic in (("r1", r1_gamma, real, real_critic), ("r2", r2_gamma, fake, fake_critic)):
        if gamma > 0:
            penalty, _ = losses.zero_centered_gradient_penalty(critic, x, scale)
            total = total + gamma / 2 * penalty
            logs[name] = penalty.detach()
    return total, logs
