"""Gradient diagnostics of the critic (Gulrajani et al. 2017, WGAN-GP, Section 3 and Figure 1b:
with weight clipping the gradients of a deep critic explode or vanish layer by layer, with the
gradient penalty they stay stable; and the optimal critic has ||grad_x f|| = 1 almost
everywhere between the data and the samples, Proposition 1)."""

import re
from contextlib import contextmanager
from typing import Any, Iterator, Optional

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import Tensor, nn

from lit_gan.checks import check_positive_ints
from lit_gan.networks.packing import pack_size
from lit_gan.objectives.losses import per_score
from lit_gan.tensors import real_images


@contextmanager
def _buffers_restored(*modules: nn.Module) -> Iterator[None]:
    """Run forward passes without leaving a trace: BatchNorm's running statistics are put back."""
    saved = [[b.detach().clone() for b in m.buffers()] for m in modules]
    try:
        yield
    finally:
        with torch.no_grad():
            for m, buffers in zip(modules, saved):
                for b, old in zip(m.buffers(), buffers):
                    b.copy_(old)


def input_gradient_norm(critic: nn.Module, x: Tensor) -> Tensor:
    """Mean over the batch of ||grad_x f(x)||_2, the norm per sample over all non-batch dims.

    Taken out of place (``torch.autograd.grad``): no parameter's ``.grad`` is touched."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        scores = critic(x)
        (grad,) = torch.autograd.grad(scores.sum(), x)  # (B, *img_shape)
    return per_score(grad, scores).norm(2, dim=1).mean()  # a packed critic's (PacGAN): per pack, as its penalty


def layers(critic: nn.Module) -> dict[str, list[nn.Parameter]]:
    """The parameters of each layer of ``critic``, from the input on: a spectrally normalized layer's
    weight (``<layer>.parametrizations.weight.original``) counts with its layer, not as one of its own."""
    found: dict[str, list[nn.Parameter]] = {}
    for name, param in critic.named_parameters():
        layer = re.sub(r"\.?parametrizations\.[^.]+$", "", name.rpartition(".")[0])
        found.setdefault(layer, []).append(param)
    return found


class GradientDiagnostics(Callback):
    """Writes to the loggers, every ``every_n_steps`` generator updates (on the generator-step axis):

    - ``diagnostics/critic_grad_norm/<i>_<layer>``: the L2 norm of the gradient of the critic's
      loss with respect to the parameters of each layer of the critic (every module that holds
      parameters; ``i`` counts from the input), read just before the critic's optimizer steps on
      the last critic update before that generator update; and ``.../total``, over all of them.
    - ``diagnostics/critic_input_grad_norm/{real,fake,interpolated}``: the mean of
      ||grad_x f(x)||_2 over ``n_points`` real points (the current batch), generated points and
      random interpolates t x + (1 - t) G(z), t ~ U[0, 1], the points where WGAN-GP's penalty is taken.

    A WGAN run and a WGAN-GP run compare as in the paper's Figure 1b: plot the per-layer norms
    against the layer index on a log scale. The values go to the loggers directly, at their own step:
    through ``pl_module.log``, Lightning would write them at ``log_every_n_steps`` only, and write a
    value again at every later write until the next one.

    The input gradients run the critic and the generator in the mode they train in (BatchNorm
    uses batch statistics, as in the loss), with their BatchNorm buffers put back afterwards, and
    draw z and t from a private ``torch.Generator``: the training run is the same with or without
    this callback. The generator's state is in checkpoints, so a resumed run logs the values of an
    uninterrupted one.

    Args:
        every_n_steps: log every this many generator updates; None: every ``log_every_n_steps``.
        n_points: how many real, generated and interpolated points for the input gradients.
        input_gradients: also compute the input-gradient norms (three small backward passes).
        seed: seed of the private generator of z and t.
    """

    def __init__(
        self, every_n_steps: Optional[int] = None, n_points: int = 64, input_gradients: bool = True, seed: int = 0
    ) -> None:
        check_positive_ints(every_n_steps=every_n_steps, n_points=n_points)
        self.every_n_steps = None if every_n_steps is None else int(every_n_steps)
        self.n_points, self.input_gradients, self.seed = int(n_points), bool(input_gradients), int(seed)
        self._every = 1
        self._layers: list[tuple[str, list[nn.Parameter]]] = []
        self._param_ids: set[int] = set()
        self._norms: dict[str, Tensor] = {}
        self._rng: Optional[torch.Generator] = None
        self._rng_to_restore: Optional[Tensor] = None  # the stream's state in a checkpoint

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._every = self.every_n_steps or max(1, pl_module.log_every_n_generator_steps)
        modules = list(layers(pl_module.critic).items())
        width = len(str(len(modules) - 1))
        self._layers = [(f"{i:0{width}d}_{name or 'critic'}", params) for i, (name, params) in enumerate(modules)]
        self._param_ids = {id(p) for _, params in self._layers for p in params}
        self._rng = torch.Generator(device=pl_module.device).manual_seed(self.seed)
        if self._rng_to_restore is not None:  # resumed: the stream goes on where the checkpoint left it
            self._rng.set_state(self._rng_to_restore)
            self._rng_to_restore = None

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self._rng.get_state()} if self._rng is not None else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._rng_to_restore = state_dict.get("rng")

    def on_before_optimizer_step(
        self, trainer: Trainer, pl_module: LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        if not any(id(p) in self._param_ids for group in optimizer.param_groups for p in group["params"]):
            return  # the generator's optimizer
        # the critic's last update before a generator update that lands on a multiple of the period
        if not (pl_module.last_critic_update and (pl_module.generator_step + 1) % self._every == 0):
            return
        with torch.no_grad():
            per_layer = {
                name: torch.stack([p.grad.detach().float().norm(2) for p in params if p.grad is not None]).norm(2)
                for name, params in self._layers
                if any(p.grad is not None for p in params)
            }
            self._norms = {f"diagnostics/critic_grad_norm/{k}": v for k, v in per_layer.items()}
            if per_layer:
                self._norms["diagnostics/critic_grad_norm/total"] = torch.stack(list(per_layer.values())).norm(2)

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if not self._norms:  # set by the critic's step of a batch that made a due generator update
            return
        logs, self._norms = self._norms, {}
        if self.input_gradients:
            n = self.n_points - self.n_points % pack_size(pl_module.critic) or self.n_points  # whole packs
            labels = pl_module.labels(batch)[:n] if getattr(pl_module, "num_classes", 0) else None
            logs.update(self.input_gradient_norms(pl_module, real_images(batch)[:n], labels))
        metrics = {key: float(value) for key, value in logs.items()}
        for logger in trainer.loggers:  # rank 0 only (Lightning's loggers), at the generator update just made
            logger.log_metrics(metrics, step=pl_module.generator_step)

    def input_gradient_norms(self, pl_module: LightningModule, real: Tensor, labels: Optional[Tensor] = None) -> dict[str, Tensor]:
        """A conditional model's generated and interpolated points take the real points' ``labels``."""
        n, device = real.shape[0], real.device
        z = torch.randn(n, pl_module.latent_dim, generator=self._rng, device=device, dtype=real.dtype)
        t = torch.rand((n,) + (1,) * (real.dim() - 1), generator=self._rng, device=device, dtype=real.dtype)
        with _buffers_restored(pl_module.critic, pl_module.generator):
            with torch.no_grad():
                fake = pl_module.generate(z, labels)  # (n, *img_shape), as the critic's update draws it
            points = {"real": real, "fake": fake, "interpolated": t * real + (1 - t) * fake}
            critic = pl_module.scorer(labels)
            return {
                f"diagnostics/critic_input_grad_norm/{k}": input_gradient_norm(critic, x).detach()
                for k, x in points.items()
            }
