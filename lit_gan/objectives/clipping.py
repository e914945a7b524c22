"""Weight clipping for WGAN (Arjovsky et al. 2017, Algorithm 1, line 7): part of the objective,
so it lives here; it is a callback because it hooks the critic's optimizer, and WGAN adds it
(``lit_gan.callbacks.WeightClipping`` is the same class, for other families)."""

from typing import Any, Optional

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import nn
from torch.utils.hooks import RemovableHandle

from lit_gan.checks import check_greater_than_zero
from lit_gan.networks.spectral import is_spectrally_normalized


def refuse_spectral_norm(critic: nn.Module) -> None:
    """Raise ``ValueError`` if ``critic`` is spectrally normalized: the clip would act on the raw
    weights, which the normalization rescales, so it would constrain nothing."""
    if is_spectrally_normalized(critic):
        raise ValueError("Expected argument `critic` to have no `spectral_norm` with weight clipping: the normalization"
                         " rescales the clipped weights (use one of the two)")


class WeightClipping(Callback):
    """Clamp every parameter of ``pl_module.critic`` to [-clip_value, clip_value] right after
    EVERY step of the critic's optimizer.

    It hooks the optimizer itself (``register_step_post_hook``), so the clip happens before
    anything else sees the updated critic, whatever the loop does between updates.
    """

    def __init__(self, clip_value: float = 0.01) -> None:
        check_greater_than_zero(clip_value=clip_value)
        self.clip_value = float(clip_value)
        self._handle: Optional[RemovableHandle] = None

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        refuse_spectral_norm(pl_module.critic)
        params = list(pl_module.critic.parameters())
        ids = {id(p) for p in params}
        owners = [opt for opt in trainer.optimizers if any(id(p) in ids for g in opt.param_groups for p in g["params"])]
        if not owners:
            raise ValueError("WeightClipping: no optimizer holds the parameters of `critic`")
        optimizer = owners[0]

        @torch.no_grad()
        def clip(*_: Any) -> None:
            for p in params:
                p.clamp_(-self.clip_value, self.clip_value)

        self._handle = optimizer.register_step_post_hook(clip)

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
