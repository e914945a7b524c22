"""One update of one network: its backward pass, its gradients averaged over the ranks, the
non-finite policy, its optimizer step. The loop (:mod:`lit_gan.objectives.base`) calls it twice
per generator update, for the critic and the generator; nothing else here knows the algorithm.

DDP. Lightning's DDP wrapper prepares the reducer for every parameter at each
``manual_backward``; a critic update leaves the generator unused and fails (Lightning #20328,
#20685) unless ``find_unused_parameters=True``. Instead each backward runs under
``block_backward_sync`` and the gradients of the network being updated are all-reduced here
before its optimizer steps: in buckets launched while backward runs, as DDP's reducer does
(:mod:`lit_gan.objectives.overlap`), or with ``overlap`` off in one flat buffer after it (the
loss riding along either way). Ranks stay identical
without unused-parameter detection, and the gradient penalty's double backward never meets
DDP's hooks. The finite-or-not decision is taken on the averaged values, so every rank takes
the same one.

Counting. The generator's optimizer steps through its ``LightningOptimizer`` (it advances
``trainer.global_step``); the critic's goes straight to ``strategy.optimizer_step`` (precision
plugin and hooks included, not counted). See "Step semantics" in :mod:`lit_gan.objectives.base`.
"""

from contextlib import nullcontext
from typing import Callable, Literal, Optional

import torch
import torch.distributed as dist
from lightning.pytorch import LightningModule
from lightning.pytorch.core.optimizer import LightningOptimizer
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor, nn

from lit_gan.checks import check_greater_than_zero, check_positive_ints
from lit_gan.errors import NonFiniteError
from lit_gan.objectives.overlap import BucketReducer

OnNonFinite = Literal["raise", "skip", "off"]
FIRST_STEP = "the optimizer has no state yet (its first step)"  # read at once, once a run: nothing to say


class Updater:
    """Makes the updates of one LightningModule in manual optimization and keeps count of skips.

    Args:
        on_nonfinite: when a loss or a gradient is NaN or Inf on any rank: ``"raise"`` stops with
            an error naming the loss and the step; ``"skip"`` skips that update and counts it;
            ``"off"`` does not check.
        max_consecutive_skips: with ``"skip"``, stop with an error after this many skips in a row.
        overlap: on several ranks, all-reduce the gradients in buckets of ``bucket_mb`` MiB while
            backward runs (the same sums as one buffer after it); False: one buffer after backward.
        bucket_mb: the size of those buckets (DDP's ``bucket_cap_mb``).
        compress_gradients: with ``overlap``, all-reduce float32 gradients as bfloat16.

    One read-back per generator iteration on an accelerator. Whether an update is finite is decided on
    the device. A critic update is stepped at once, guarded: the critic's weights and its optimizer's state are kept
    (one flat copy per device and type) and put back on the device where the check failed, with no
    wait for the answer. The generator's update reads its own check and every critic update's of the
    iteration in one transfer (``settle``): skips are counted, ``raise`` raises, and the generator
    steps only if finite. No non-finite update is applied, and none reaches a checkpoint.
    """

    defer: Optional[bool] = None  # see ``deferred``

    def __init__(
        self, on_nonfinite: OnNonFinite = "raise", max_consecutive_skips: int = 100, overlap: bool = True,
        bucket_mb: float = 25.0, compress_gradients: bool = False,
    ) -> None:
        if on_nonfinite not in ("raise", "skip", "off"):
            raise ValueError(f"Expected argument `on_nonfinite` to be one of raise, skip, off, got {on_nonfinite!r}")
        check_positive_ints(max_consecutive_skips=max_consecutive_skips)
        self.on_nonfinite = on_nonfinite
        self.max_consecutive_skips = int(max_consecutive_skips)
        self.skipped = 0  # updates skipped so far (saved in checkpoints)
        self.consecutive = 0
        self.pending: list[tuple[Tensor, Tensor, str, nn.Module, int]] = []  # the critic's checks, not yet read
        self._warned = False  # that an accelerator's critic checks could not wait
        check_greater_than_zero(bucket_mb=bucket_mb)
        self.overlap, self.bucket_mb = bool(overlap), float(bucket_mb)
        self.compress_gradients = bool(compress_gradients)
        self.reducers: dict[int, BucketReducer] = {}  # by id of the network, built at its first update on several ranks

    def update(
        self, module: LightningModule, opt: LightningOptimizer, network: nn.Module, loss: Tensor, name: str, counted: bool,
        critic_update: int,
    ) -> bool:
        """One update of ``network`` on ``loss``; False when it was skipped (``on_nonfinite: skip``).

        ``counted``: the generator's update, which advances ``trainer.global_step`` and settles the
        iteration's checks; the critic's are guarded and settled with it. ``name`` (of the loss) and
        ``critic_update`` (the number of the current critic update) go into errors."""
        opt.zero_grad(set_to_none=True)
        no_sync = getattr(module.trainer.strategy, "block_backward_sync", None)
        reducer = self.reducer(network)  # None on one process: no hooks, nothing changes
        with nullcontext() if reducer is None else reducer.reducing(loss):
            if no_sync is None:
                module.manual_backward(loss)
            else:
                with no_sync():
                    module.manual_backward(loss)
        finite = self._average_and_check(module, network, loss, reducer)
        step = opt.step if counted else (  # the generator's advances trainer.global_step; the critic's is not counted
            lambda: module.trainer.strategy.optimizer_step(opt.optimizer, closure=lambda: None, model=module))
        scaler = getattr(module.trainer.precision_plugin, "scaler", None)  # its step reads inf grads itself
        if finite is not None and not counted and scaler is None and self.deferred(finite):
            why = guarded_step(opt.optimizer, finite, step)
            if why and why != FIRST_STEP and finite.device.type != "cpu" and not self._warned:
                self._warned = True
                rank_zero_warn(f"the critic's finite checks are read at each update (one sync each): {why}")
            self.pending.append((finite, loss.detach(), name, network, critic_update))
            return True
        if finite is not None:
            if not self.settle(module, finite):
                opt.zero_grad(set_to_none=True)
                self._refuse(module, network, loss, name, critic_update)
                return False
            self.consecutive = 0
        step()
        return True

    def deferred(self, finite: Tensor) -> bool:
        """Whether a critic update's check waits for the generator's: on an accelerator (where reading
        it would stall the queue), not on the CPU (where reading costs nothing and guarding does);
        ``defer`` set to True or False decides instead."""
        return self.defer if self.defer is not None else finite.device.type != "cpu"

    def settle(self, module: LightningModule, finite: Optional[Tensor] = None) -> bool:
        """Read the pending critic checks (and ``finite``, the generator's) in one transfer; count or
        raise for each refused critic update, in order; whether ``finite`` holds (True without it)."""
        pending, self.pending = self.pending, []
        flags = [entry[0] for entry in pending] + ([] if finite is None else [finite])
        if not flags:
            return True
        read = torch.stack(flags).tolist()  # the one read-back of the iteration
        for ok, (_, loss, name, network, critic_update) in zip(read, pending):
            if ok:
                self.consecutive = 0
            else:
                self._refuse(module, network, loss, name, critic_update)
        return finite is None or read[-1]

    def reducer(self, network: nn.Module) -> Optional[BucketReducer]:
        """The bucketed reducer of ``network`` (rebuilt if its parameters changed); None on one process
        or with ``overlap`` off."""
        if not self.overlap or not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return None
        reducer = self.reducers.get(id(network))
        if reducer is None or not reducer.covers(network):
            if reducer is not None:
                reducer.remove()
            reducer = self.reducers[id(network)] = BucketReducer(network, self.bucket_mb, self.compress_gradients)
        return reducer

    def __getstate__(self) -> dict:
        """A copy or a pickle leaves the reducers (hooks on these parameters) behind; its own are built as it trains."""
        return {**self.__dict__, "reducers": {}}

    def _average_and_check(
        self, module: LightningModule, network: nn.Module, loss: Tensor, reducer: Optional[BucketReducer] = None,
    ) -> Optional[Tensor]:
        """Average the gradients of ``network`` over the ranks (``reducer``: those it launched during
        backward); whether the loss and the gradients are finite on every rank, as a boolean on the
        device (None with ``on_nonfinite: off``). With a grad scaler (16-mixed) an inf gradient is the
        scaler's business: only the loss is checked."""
        check = self.on_nonfinite != "off"
        checked_grads = check and getattr(module.trainer.precision_plugin, "scaler", None) is None
        world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        if reducer is not None:
            buffers, averaged_loss = reducer.finish(world)
            values = buffers if checked_grads else [averaged_loss]
            return torch.stack([torch.isfinite(v).all() for v in values]).all() if check else None
        grads = [p.grad for p in network.parameters() if p.grad is not None]
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
            return None
        return torch.isfinite(values).all() if check else None

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


def guarded_step(optimizer: torch.optim.Optimizer, finite: Tensor, step: Callable[[], None]) -> str:
    """Run ``step`` (``optimizer``'s) so that it takes effect only where ``finite`` (a device boolean)
    holds, without reading it; "" when so, else why it read ``finite`` first (and stepped only if True).

    The parameters and every tensor of their optimizer state are copied into one flat buffer per type
    before the step and chosen back with ``torch.where`` after it: a few kernels, whatever the number
    of parameters. That restores everything only for torch's own optimizers, whose state is tensors
    updated in place; so it reads ``finite`` instead for another optimizer, for state that is not all
    tensors, on the first step (before the optimizer has state), and when some state lives on another
    device than the weights (Adam's step counters on the CPU beside weights on a GPU; ``fused: true``
    or ``capturable: true`` keeps them on the GPU)."""
    params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    states = [optimizer.state.get(p) for p in params]
    values = [v for state in states for v in (state or {}).values()]
    tensors = params + [v for v in values if isinstance(v, Tensor)]
    why = ""
    if not type(optimizer).__module__.startswith("torch.optim."):
        why = f"{type(optimizer).__name__} is not one of torch.optim's optimizers"
    elif any(not state for state in states):
        why = FIRST_STEP
    elif len(tensors) != len(params) + len(values):
        why = f"{type(optimizer).__name__}'s state holds values that are not tensors"
    elif any(t.device != finite.device for t in tensors):
        why = (f"{type(optimizer).__name__}'s state is partly on the CPU beside weights on {finite.device}:"
               " give it `fused: true` (or `capturable: true`) to keep it on the device")
    if why:
        if bool(finite):
            step()
        return why
    groups: dict[torch.dtype, list[Tensor]] = {}
    for t in tensors:
        groups.setdefault(t.dtype, []).append(t)
    kept = {dtype: torch.cat([t.detach().reshape(-1) for t in group]) for dtype, group in groups.items()}
    step()
    with torch.no_grad():
        for dtype, group in groups.items():
            chosen = torch.where(finite, torch.cat([t.detach().reshape(-1) for t in group]), kept[dtype])
            torch._foreach_copy_(group, [part.view_as(t) for part, t in zip(chosen.split([t.numel() for t in group]), group)])
    return ""
