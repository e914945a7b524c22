"""The gradient average of one network over the ranks, launched while its backward runs (issue #39).

DDP's reducer does this for a wrapped network; lit-gan averages itself (see
:mod:`lit_gan.objectives.updates`: a critic update leaves the generator unused and the other way
round), so it buckets the same way: parameters in reverse registration order (backward reaches the
last layers first) in buckets of about ``bucket_mb``, each flattened and all-reduced asynchronously
as soon as backward has accumulated every gradient it expects (``register_post_accumulate_grad_hook``),
the buckets launched in the same order on every rank. Each element's sum is the one the flat buffer
after backward would get, of the same values by the same operation: the same averages.

Only a gradient accumulated into ``.grad`` calls a hook: the penalties' out-of-place
``torch.autograd.grad`` (WGAN-GP, R1, R2) never does. Which parameters get a gradient is learned
from the backward before (all of them at first): a bucket waits only for those. A bucket that
still misses one goes after backward, with what it has, and any gradient not yet sent goes in a
last buffer: every rank averages ``[p.grad for p in network.parameters() if p.grad is not None]``,
each once, as without overlap.
"""

from contextlib import contextmanager
from typing import Iterator, Optional

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from lit_gan.checks import check_greater_than_zero

MB = 2**20


class BucketReducer:
    """Averages the gradients of ``network`` over the ranks while its backward runs.

    Args:
        network: the network an update trains; its parameters that require a gradient now get a hook
            (the others' gradients, if any, go after backward).
        bucket_mb: the size of a bucket in MiB (DDP's ``bucket_cap_mb``: 25).
        compress: all-reduce float32 gradients as bfloat16 (half the bytes, about 3 significant
            digits), back to float32 after; every rank still gets the same values.

    The hooks act only inside :meth:`reducing`; elsewhere (a backward of the user's, the other
    network's update) they return at once. Built only where there are several ranks.
    """

    def __init__(self, network: nn.Module, bucket_mb: float = 25.0, compress: bool = False) -> None:
        check_greater_than_zero(bucket_mb=bucket_mb)
        self.params = list(network.parameters())
        hooked = [p for p in reversed(self.params) if p.requires_grad]
        self.buckets: list[list[Tensor]] = []
        size, cap = 0, bucket_mb * MB
        for p in hooked:  # contiguous runs of one dtype and device, each up to the cap (at least one parameter)
            nbytes = p.numel() * p.element_size()
            last = self.buckets[-1][-1] if self.buckets else None
            if last is None or size + nbytes > cap or (last.dtype, last.device) != (p.dtype, p.device):
                self.buckets.append([])
                size = 0
            self.buckets[-1].append(p)
            size += nbytes
        self.bucket_of = {p: i for i, bucket in enumerate(self.buckets) for p in bucket}
        self.expected: set[Tensor] = set(hooked)  # those that got a gradient in the last backward
        self.handles: list[RemovableHandle] = [p.register_post_accumulate_grad_hook(self._accumulated) for p in hooked]
        self.compress = bool(compress)
        self.armed = False
        self.launched_in_backward = 0  # buckets launched from a hook, over the reducer's life
        self._reset(None)

    def covers(self, network: nn.Module) -> bool:
        """Whether ``network`` still has the parameters this reducer was built on."""
        params = list(network.parameters())
        return len(params) == len(self.params) and all(a is b for a, b in zip(params, self.params))

    def remove(self) -> None:
        """Take the hooks off the parameters."""
        for handle in self.handles:
            handle.remove()
        self.handles = []

    @contextmanager
    def reducing(self, loss: Tensor) -> Iterator[None]:
        """Arm the hooks for one backward; ``loss`` (every rank's) rides in the first buffer launched."""
        self._reset(loss.detach())
        self.armed = True
        try:
            yield
        finally:
            self.armed = False

    def finish(self, world: int) -> tuple[list[Tensor], Tensor]:
        """After backward: launch what is left, wait, divide by ``world`` and copy the averages back into
        the gradients. Returns the averaged buffers (every gradient once, and the loss) and the loss."""
        self.armed = False
        fired = self.seen
        if self.twice:  # a gradient accumulated twice in one backward (reentrant checkpointing): redo it all
            for _, _, work in self.inflight:
                work.wait()
            self._reset(self.round_loss)
        for bucket in self.buckets[self.next:]:
            self._launch([p for p in bucket if p.grad is not None])
        rest = [p for p in reversed(self.params) if p.grad is not None and p not in self.sent]
        if rest or self.loss is not None:  # unexpected, unhooked (or nothing at all: the loss alone)
            self._launch(rest, force=True)
        buffers = []
        for params, flat, work in self.inflight:
            work.wait()
            grads, sizes = [p.grad for p in params], [p.numel() for p in params]
            flat = flat.to(self.dtypes[len(buffers)])  # back from bfloat16 (a no-op otherwise)
            flat /= world
            parts = flat[: sum(sizes)].split(sizes)  # the loss, if it rode here, is last
            if grads:  # (the loss alone has none)
                torch._foreach_copy_(grads, [part.view_as(g) for g, part in zip(grads, parts)])
            buffers.append(flat)
        loss = buffers[self.loss_index][-1:]
        self.expected = fired
        self._reset(None)
        return buffers, loss

    # ------------------------------------------------------------------ internals
    def _reset(self, loss: Optional[Tensor]) -> None:
        self.round_loss = loss
        self.loss: Optional[Tensor] = loss  # not launched yet
        self.missing = [sum(p in self.expected for p in bucket) for bucket in self.buckets]
        self.seen: set[Tensor] = set()  # accumulated in this backward
        self.sent: set[Tensor] = set()
        self.next = 0  # the next bucket to launch: in order, as on every rank
        self.twice = False
        self.inflight: list[tuple[list[Tensor], Tensor, dist.Work]] = []
        self.dtypes: list[torch.dtype] = []
        self.loss_index = 0  # the buffer the loss rides in

    def _accumulated(self, p: Tensor) -> None:
        """A parameter's gradient is complete for this backward: launch the buckets now ready, in order."""
        if not self.armed or self.twice:
            return
        if p in self.seen:
            self.twice = True  # finish redoes the whole average (every rank alike: the same graph)
            return
        self.seen.add(p)
        if p in self.expected:
            self.missing[self.bucket_of[p]] -= 1
        while self.next < len(self.buckets) and not self.missing[self.next]:
            self.launched_in_backward += self._launch([q for q in self.buckets[self.next] if q in self.seen])
            self.next += 1

    def _launch(self, params: list[Tensor], force: bool = False) -> bool:
        """Flatten the gradients of ``params`` (and the loss, if it has not gone yet) and all-reduce them;
        nothing for no gradient, unless ``force``. Whether it launched."""
        if not params and not force:
            return False
        parts = [p.grad.reshape(-1) for p in params]  # type: ignore[union-attr]
        dtype = parts[0].dtype if parts else self.round_loss.dtype  # type: ignore[union-attr]
        if self.loss is not None:
            parts.append(self.loss.reshape(1).to(dtype))
            self.loss_index, self.loss = len(self.inflight), None
        flat = torch.cat(parts)
        self.dtypes.append(flat.dtype)
        if self.compress and flat.dtype == torch.float32:
            flat = flat.to(torch.bfloat16)
        self.inflight.append((params, flat, dist.all_reduce(flat, async_op=True)))
        self.sent.update(params)
        return True
