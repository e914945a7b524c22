"""An exponential moving average of the generator's weights (Karras et al. 2018; Yazici et al. 2019),
which the samples, the sample grids and the quality metrics use when it is on.

After the t-th generator update, theta_ema <- decay * theta_ema + (1 - decay) * theta; during
the first ``warmup`` updates the decay is 0 (a copy), so the average does not start from the
random initialization. Buffers (BatchNorm's running statistics) are copied, not averaged, as in
StyleGAN's code. torch's ``AveragedModel`` either leaves the buffers as they were when it was
built (``use_buffers=False``) or averages them, integer counters included (``use_buffers=True``),
and has no warm-up, hence this small module. It is a submodule of the GAN: its weights are in
every checkpoint, so a resumed run continues the same average, and under DDP every rank averages
identical weights.
"""

import copy

import torch
from torch import nn

from lit_gan.checks import check_not_negative_int


class GeneratorEMA(nn.Module):
    """Holds ``module``, the averaged copy of a generator.

    Args:
        generator: the generator to average (copied at construction).
        decay: in [0, 1); 0.999 is common for 10^5 updates, lower for short runs.
        warmup: generator updates during which the average is a copy.
    """

    def __init__(self, generator: nn.Module, decay: float, warmup: int = 0) -> None:
        super().__init__()
        if not 0 <= float(decay) < 1:
            raise ValueError(f"Expected argument `ema_decay` to be in [0, 1), got {decay}")
        check_not_negative_int(ema_warmup=warmup)
        self.decay, self.warmup = float(decay), warmup
        self.module = copy.deepcopy(generator).requires_grad_(False)

    @torch.no_grad()
    def update(self, generator: nn.Module, step: int) -> None:
        """Average in ``generator``'s weights after its ``step``-th update (1 for the first)."""
        weight = 1.0 if step <= self.warmup else 1.0 - self.decay  # of the new weights
        # one multi-tensor kernel each on a GPU, not one per tensor
        torch._foreach_lerp_(list(self.module.parameters()), [p.detach() for p in generator.parameters()], weight)
        buffers = list(self.module.buffers())
        if buffers:
            torch._foreach_copy_(buffers, list(generator.buffers()))
