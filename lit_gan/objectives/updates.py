"""One update of one network: its backward pass, its gradients averaged over the ranks, the
non-finite policy, its optimizer step. The loop (:mod:`lit_gan.objectives.base`) calls it twice
per generator update, for the critic and the generator; nothing else here knows the algorithm.

DDP. Lightning's DDP wrapper prepares the reducer for every parameter at each
``manual_backward``; a critic update leaves the generator unused and fails (Lightning #20328,
#20685) unless ``find_unused_parameters=True``. Instead each backward runs under
``block_backward_sync`` and the gradients of the network being updated are all-reduced here,
in one flat buffer (the loss riding along), before its optimizer steps. Ranks stay identical
without unused-parameter detection, and the gradient penalty's double backward never meets
DDP's hooks. The finite-or-not decision is taken on the averaged values, so every rank takes
the same one.

Counting. The generator's optimizer steps through its ``LightningOptimizer`` (it advances
``trainer.global_step``); the critic's goes straight to ``strategy.optimizer_step`` (precision
plugin and hooks included, not counted). See "Step semantics" in :mod:`lit_gan.objectives.base`.
"""

from typing import Literal

import torch
import torch.distributed as dist
from lightning.pytorch import LightningModule
from lightning.pytorch.core.optimizer import LightningOptimizer
from torch import Tensor, nn

from lit_gan.checks import check_positive_ints
from lit_gan.errors import NonFiniteError

OnNonFinite = Literal["raise", "skip", "off"]


class Updater:
    """Makes the updates of one LightningModule in manual optimization and keeps count of skips.

    Args:
        on_nonfinite: when a loss or a gradient is NaN or Inf on any rank: ``"raise"`` stops with
            an error naming the loss and the step; ``"skip"`` skips that update and counts it;
            ``"off"`` does not check (one device sync per update less).
        max_consecutive_skips: with ``"skip"``, stop with an error after this many skips in a row.
    """

    def __init__(self, on_nonfinite: OnNonFinite = "raise", max_consecutive_skips: int = 100) -> None:
        if on_nonfinite not in ("raise", "skip", "off"):
            raise ValueError(f"Expected argument `on_nonfinite` to be one of raise, skip, off, got {on_nonfinite!r}")
        check_positive_ints(max_consecutive_skips=max_consecutive_skips)
        self.on_nonfinite = on_nonfinite
        self.max_consecutive_skips = int(max_consecutive_skips)
        self.skipped = 0  # updates skipped so far (saved in checkpoints)
        self.consecutive = 0

    def update(
        self, module: LightningModule, opt: LightningOptimizer, network: nn.Module, loss: Tensor, name: str, counted: bool,
        critic_update: int,
    ) -> bool:
        """One update of ``network`` on ``loss``; False when it was skipped (``on_nonfinite: skip``).

        ``counted``: the generator's update, which advances ``trainer.global_step``. ``name`` (of the
        loss) and ``critic_update`` (the number of the current critic update) go into errors."""
        opt.zero_grad(set_to_none=True)
        no_sync = getattr(module.trainer.strategy, "block_backward_sync", None)
        if no_sync is None:
            module.manual_backward(loss)
        else:
            with no_sync():
                module.manual_backward(loss)
        if not self._average_and_check(module, network, loss):
            opt.zero_grad(set_to_none=True)
            self._refuse(module, network, loss, name, critic_update)
            return False
        self.consecutive = 0
        if counted:
            opt.step()  # advances trainer.global_step
        else:
            module.trainer.strategy.optimizer_step(opt.optimizer, closure=lambda: None, model=module)
        return True

    def _average_and_check(self, module: LightningModule, network: nn.Module, loss: Tensor) -> bool:
        """Average the gradients of ``network`` over the ranks and say whether the loss and the
        gradients are finite on every rank. With a grad scaler (16-mixed) an inf gradient is the
        scaler's business: only the loss is checked."""
        grads = [p.grad for p in network.parameters() if p.grad is not None]
        check = self.on_nonfinite != "off"
        checked_grads = check and getattr(module.trainer.precision_plugin, "scaler", None) is None
        world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        if world > 1:
            flat = torch.cat([g.reshape(-1) for g in grads] + [loss.detach().reshape(1).to(grads[0].dtype)])
            dist.all_reduce(flat)
            flat /= world
            for g, part in zip(grads, flat[:-1].split([g.numel() for g in grads])):
                g.copy_(part.view_as(g))
            values = flat if checked_grads else flat[-1:]
        elif check:
            values = torch.stack([loss.detach().float().reshape(())] + (list(torch._foreach_norm(grads)) if checked_grads else []))
        else:
            return True
        return not check or bool(torch.isfinite(values).all())

    def _refuse(self, module: LightningModule, network: nn.Module, loss: Tensor, name: str, critic_update: int) -> None:
        """Raise, or count the skip (and raise after ``max_consecutive_skips`` in a row)."""
        what = f"{name} ({loss.item()}) or gradient of the {type(network).__name__} at generator step {module.global_step}"
        if self.on_nonfinite == "raise":
            precision = str(module.trainer.precision)
            hint = (f"; the weights are in {precision}, where GAN losses overflow: train with `precision:"
                    " 16-mixed` or `bf16-mixed` (float32 weights)") if precision in ("16-true", "bf16-true") else ""
            raise NonFiniteError(
                f"non-finite {what}, critic update {critic_update}; set `on_nonfinite: skip` to skip such updates" + hint
            )
        self.skipped += 1
        self.consecutive += 1
        if self.consecutive >= self.max_consecutive_skips:  # the same on every rank (decision synced)
            raise NonFiniteError(
                f"{self.consecutive} updates in a row skipped (`on_nonfinite: skip`), the last for a non-finite {what}:"
                " training is not progressing; lower the learning rates, or raise `max_consecutive_skips`"
            )
