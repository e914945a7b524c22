"""The one training loop that every objective family shares.

Each training batch is one critic (discriminator) update on a fresh real batch; after every
``n_critic``-th critic update the same batch also makes one generator update (Arjovsky et al.
2017, Algorithm 1; Gulrajani et al. 2017, Algorithm 1). A family overrides three pure hooks:
``critic_loss``, ``generator_loss`` and ``estimate`` (plus ``critic_penalty`` for WGAN-GP).

Step semantics. Lightning's ``global_step`` counts every ``LightningOptimizer.step()`` call in
manual optimization (Lightning issue #17958), so ``max_steps`` would count critic updates too.
Here only the generator's optimizer steps through its ``LightningOptimizer``; the critic's steps
go straight to ``strategy.optimizer_step`` (precision plugin and hooks included, not counted).
So ``trainer.global_step``, ``max_steps``, checkpoint names and the logged x axis all count
generator updates, as the papers do. ``log_every_n_steps`` is scaled by ``n_critic`` during fit
so that it counts generator updates too.

DDP. Lightning's DDP wrapper prepares the reducer for every parameter at each
``manual_backward``; a critic update leaves the generator unused and fails (Lightning #20328,
#20685) unless ``find_unused_parameters=True``. Instead each backward runs under
``block_backward_sync`` and the gradients of the network being updated are all-reduced here,
in one flat buffer, before its optimizer steps. Ranks stay identical without unused-parameter
detection, and the gradient penalty's double backward never meets DDP's hooks.
"""

import random
from functools import partial
from typing import Any, Callable, Literal, Optional, Sequence, Union

import numpy as np
import torch
import torch.distributed as dist
from jsonargparse.typing import PositiveInt
from lightning.fabric.utilities.seed import reset_seed
from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.core.optimizer import LightningOptimizer
from torch import Tensor, nn

from lit_gan.checks import check_positive_ints
from lit_gan.errors import ConfigError, NonFiniteError, one_line
from lit_gan.interrupt import InterruptAsPreemption
from lit_gan.specs import build, from_spec, to_spec
from lit_gan.tensors import eval_mode, real_images

GeneratorFactory = Callable[[int, Sequence[int]], nn.Module]  # (latent_dim, img_shape) -> generator
CriticFactory = Callable[[Sequence[int]], nn.Module]  # img_shape -> critic


def rng_states() -> dict[str, Any]:
    """The random states of torch (CPU and CUDA), numpy and python, as plain data (weights_only loads them)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [kind, keys.tolist(), pos, has_gauss, cached],
        "python": random.getstate(),
    }


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    random.setstate(tuple(x if not isinstance(x, list) else tuple(x) for x in states["python"]))


class AdversarialModule(LightningModule):
    """Base class of the objective families; not trained by itself.

    Args:
        generator: generator class (or factory) called as ``generator(latent_dim, img_shape)``;
            in YAML a ``class_path`` whose ``init_args`` leave out those two.
        critic: critic class (or factory) called as ``critic(img_shape)``; returns one score per sample.
        latent_dim: size of z ~ N(0, I), written once and passed to the generator.
        img_shape: shape of one sample; linked from the data module's ``img_shape``.
        n_critic: critic updates per generator update.
        g_optimizer: optimizer of the generator, called with its parameters; None: the family's default.
        d_optimizer: optimizer of the critic, called with its parameters; None: the family's default.
        g_scheduler: learning-rate scheduler of the generator's optimizer, called with it, e.g.
            ``torch.optim.lr_scheduler.LinearLR`` with ``end_factor`` 0 and ``total_iters`` =
            ``max_steps`` for a linear decay to zero; None: a constant learning rate.
        d_scheduler: the same for the critic's optimizer. Both step once per generator update
            (``trainer.global_step``), the critic's too, so that one ``total_iters`` fits both.
        on_nonfinite: when a loss or a gradient is NaN or Inf (on any rank): ``"raise"`` stops with an
            error naming the loss and the step; ``"skip"`` skips that update and counts it in
            ``train/skipped_updates``; ``"off"`` does not check (one device sync per update less).
        max_consecutive_skips: with ``"skip"``, stop with an error naming the loss after this many
            updates in a row were skipped (a run whose every update is non-finite would otherwise
            run on at its step, printing nothing).
    """

    estimate_name = "estimate"  # the family's distance estimate, logged as train/<estimate_name>
    default_optimizer: Callable[..., torch.optim.Optimizer] = partial(torch.optim.Adam, lr=2e-4, betas=(0.5, 0.999))

    def __init__(
        self,
        generator: GeneratorFactory,
        critic: CriticFactory,
        latent_dim: PositiveInt = 64,
        img_shape: Sequence[int] = (2,),
        n_critic: PositiveInt = 1,
        g_optimizer: Optional[OptimizerCallable] = None,
        d_optimizer: Optional[OptimizerCallable] = None,
        g_scheduler: Optional[LRSchedulerCallable] = None,
        d_scheduler: Optional[LRSchedulerCallable] = None,
        on_nonfinite: Literal["raise", "skip", "off"] = "raise",
        max_consecutive_skips: PositiveInt = 100,
    ) -> None:
        super().__init__()
        check_positive_ints(latent_dim=latent_dim, n_critic=n_critic, max_consecutive_skips=max_consecutive_skips)
        self.save_hyperparameters()
        self.save_hyperparameters(to_spec(dict(self.hparams)))  # plain data: checkpoints load with weights_only
        self.automatic_optimization = False
        self.latent_dim, self.img_shape, self.n_critic = int(latent_dim), tuple(img_shape), int(n_critic)
        self.generator = from_spec(generator)(self.latent_dim, self.img_shape)
        self.critic = from_spec(critic)(self.img_shape)
        self._g_optimizer = from_spec(g_optimizer) or self.default_optimizer
        self._d_optimizer = from_spec(d_optimizer) or self.default_optimizer
        self._schedulers = {"g_scheduler": from_spec(g_scheduler), "d_scheduler": from_spec(d_scheduler)}
        if on_nonfinite not in ("raise", "skip", "off"):
            raise ValueError(f"Expected argument `on_nonfinite` to be one of raise, skip, off, got {on_nonfinite!r}")
        self.on_nonfinite = on_nonfinite
        self.skipped_updates = 0
        self.max_consecutive_skips, self._consecutive_skips = int(max_consecutive_skips), 0
        self.critic_steps = 0  # critic updates so far; its phase mod n_critic is saved in checkpoints
        self._window: dict[str, Tensor] = {}  # sums of the critic's logs since the last generator update
        self._interrupt = InterruptAsPreemption(self)

    # ----------------------------------------------------------------- hooks of the families
    def critic_loss(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        raise NotImplementedError

    def generator_loss(self, fake_scores: Tensor) -> Tensor:
        raise NotImplementedError

    def estimate(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        """The family's estimate of the distance between data and samples."""
        raise NotImplementedError

    def critic_penalty(self, real: Tensor, fake: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """A regularizer added to the critic's loss, with what to log; none by default."""
        return real.new_zeros(()), {}

    # ----------------------------------------------------------------- sampling
    def draw(self, sampler: Callable[..., Tensor], n: int, *shape: int) -> Tensor:
        """n random rows of shape ``shape`` for this rank, e.g. ``draw(torch.randn, n, latent_dim)``.

        Every rank draws the rows of all W ranks (n * W) from the same stream and takes rows
        rank::W, the positions of its real samples in the global batch (``lit_gan.data.order``).
        So the run does not depend on how a batch is split over processes: 2 ranks with batch B
        draw what 1 process with batch 2B draws, and the ranks' streams stay in step.
        """
        world, rank = (self.trainer.world_size, self.trainer.global_rank) if self._trainer is not None else (1, 0)
        return sampler((n * world, *shape), device=self.device)[rank::world]

    def sample_latent(self, n: int) -> Tensor:
        return self.draw(torch.randn, n, self.latent_dim)

    @torch.no_grad()
    def sample(self, n: int, z: Optional[Tensor] = None) -> Tensor:
        """n generator samples in data space, shape (n, *img_shape), drawn in eval mode."""
        was_training = self.generator.training
        self.generator.eval()
        try:
            return self.generator(self.sample_latent(n) if z is None else z.to(self.device))
        finally:
            self.generator.train(was_training)

    def forward(self, z: Tensor) -> Tensor:
        return self.generator(z)

    # ----------------------------------------------------------------- training loop
    def setup(self, stage: str) -> None:
        """Refuse shapes that do not fit, with both shapes, before any forward pass on data."""
        data_shape = getattr(self.trainer.datamodule, "img_shape", None) if self._trainer else None
        if data_shape is not None and tuple(data_shape) != self.img_shape:
            raise ConfigError(f"the data's img_shape {tuple(data_shape)} differs from the model's `img_shape` {self.img_shape}")
        shape = tuple(self.sample(2, z=torch.zeros(2, self.latent_dim)).shape[1:])  # eval mode, no grad, mode restored
        if shape != self.img_shape:
            raise ConfigError(f"`generator` produces samples of shape {shape}, but the data's img_shape is {self.img_shape}")

    def configure_optimizers(self) -> Any:
        # Order is fixed: generator first, critic second. Lightning saves and restores the
        # schedulers' states; in manual optimization they are stepped here, in training_step.
        optimizers = [
            build("g_optimizer", self._g_optimizer, self.generator.parameters()),
            build("d_optimizer", self._d_optimizer, self.critic.parameters()),
        ]
        schedulers = []
        for (name, factory), optimizer in zip(self._schedulers.items(), optimizers):
            if factory is not None:
                scheduler = build(name, factory, optimizer)
                if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    raise ConfigError(f"`{name}`: ReduceLROnPlateau needs a monitored value; use a scheduler stepped by updates")
                schedulers.append(scheduler)
        return (optimizers, schedulers) if schedulers else optimizers

    def on_fit_start(self) -> None:
        # Every rank keeps the same random stream (seed_everything) and takes its own rows of each
        # draw (``draw``): ranks get different latents, and 1 or W processes draw the same ones.
        # Lightning's DDP re-seeds every process when it sets up; do as much with one process, so
        # that the stream starts at the same point whatever the strategy (a resume restores it later).
        reset_seed()
        self._interrupt.install()  # Ctrl+C: stop after this batch, as on SIGTERM
        self._log_every = self.trainer.log_every_n_steps
        self.trainer.log_every_n_steps = self._log_every * self.n_critic  # counted in generator updates

    def on_train_start(self) -> None:
        # Resuming: the random streams continue where the checkpoint left them (latents, t, data order).
        if getattr(self, "_rng_to_restore", None) is not None:
            set_rng_states(self._rng_to_restore)  # rank 0's, the same on every rank (see ``draw``)
            self._rng_to_restore = None

    def on_fit_end(self) -> None:
        self.trainer.log_every_n_steps = self._log_every
        self._interrupt.uninstall()

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self._interrupt.sync_sigterm()  # DDP: a SIGTERM on any rank stops every rank after this same batch

    def training_step(self, batch: Any, batch_idx: int) -> None:
        g_opt, d_opt = self.optimizers()
        real = real_images(batch)
        self._critic_update(d_opt, real)
        self.critic_steps += 1
        if self.critic_steps % self.n_critic == 0:
            g_loss, stepped = self._generator_update(g_opt, real.shape[0])
            if stepped:
                for scheduler in self.trainer.lr_scheduler_configs:
                    scheduler.scheduler.step()
            logs = {k: v / self.n_critic for k, v in self._window.items()}
            logs["g_loss"] = g_loss
            if self.on_nonfinite == "skip":
                logs["skipped_updates"] = torch.tensor(float(self.skipped_updates))
            self._window = {}
            self.log_dict({f"train/{k}": v for k, v in logs.items()}, prog_bar=False)
            self.log_dict(
                {k: logs[k] for k in ("d_loss", "g_loss", self.estimate_name)}, prog_bar=True, logger=False
            )
            if self.loggers:
                self.log("step", float(self.global_step))  # the logged x axis: generator updates

    def _critic_update(self, opt: LightningOptimizer, real: Tensor) -> None:
        with torch.no_grad():
            fake = self.generator(self.sample_latent(real.shape[0]))
        # losses in float32 even under bf16/16-mixed autocast
        real_scores, fake_scores = self.critic(real).float(), self.critic(fake).float()
        penalty, logs = self.critic_penalty(real, fake)
        loss = self.critic_loss(real_scores, fake_scores) + penalty
        logs = {"d_loss": loss, self.estimate_name: self.estimate(real_scores, fake_scores), **logs}
        self._backward_and_step(opt, self.critic, loss, counted=False, name="d_loss")
        for k, v in logs.items():
            self._window[k] = self._window.get(k, 0) + v.detach()

    def _generator_update(self, opt: LightningOptimizer, n: int) -> tuple[Tensor, bool]:
        with self.toggled_optimizer(opt):  # critic parameters get no gradient here
            loss = self.generator_loss(self.critic(self.generator(self.sample_latent(n))).float())
            stepped = self._backward_and_step(opt, self.generator, loss, counted=True, name="g_loss")
        return loss.detach(), stepped

    def _backward_and_step(self, opt: LightningOptimizer, module: nn.Module, loss: Tensor, counted: bool, name: str) -> bool:
        """One update of ``module``; False when it was skipped (non-finite, ``on_nonfinite: skip``)."""
        opt.zero_grad(set_to_none=True)
        no_sync = getattr(self.trainer.strategy, "block_backward_sync", None)
        if no_sync is None:
            self.manual_backward(loss)
        else:
            with no_sync():
                self.manual_backward(loss)
        if not self._sync_and_check(module, loss):
            opt.zero_grad(set_to_none=True)
            if self.on_nonfinite == "raise":
                precision = str(self.trainer.precision)
                hint = (f"; the weights are in {precision}, where GAN losses overflow: train with `precision:"
                        " 16-mixed` or `bf16-mixed` (float32 weights)") if precision in ("16-true", "bf16-true") else ""
                raise NonFiniteError(
                    f"non-finite {name} ({loss.item()}) or gradient of the {type(module).__name__} at generator step"
                    f" {self.global_step}, critic update {self.critic_steps + 1}; set `on_nonfinite: skip` to skip such updates"
                    + hint
                )
            self.skipped_updates += 1
            self._consecutive_skips += 1
            if self._consecutive_skips >= self.max_consecutive_skips:  # the same on every rank (decision synced)
                raise NonFiniteError(
                    f"{self._consecutive_skips} updates in a row skipped (`on_nonfinite: skip`), the last for a non-finite"
                    f" {name} ({loss.item()}) or gradient of the {type(module).__name__} at generator step"
                    f" {self.global_step}: training is not progressing; lower the learning rates, or raise"
                    " `max_consecutive_skips`"
                )
            return False
        self._consecutive_skips = 0
        if counted:
            opt.step()  # counted: advances trainer.global_step
        else:
            self.trainer.strategy.optimizer_step(opt.optimizer, closure=lambda: None, model=self)
        return True

    def _sync_and_check(self, module: nn.Module, loss: Tensor) -> bool:
        """Average the gradients of ``module`` over the ranks (one flat all-reduce, the loss riding
        along) and say whether the loss and the gradients are finite on every rank, so that all
        ranks take the same decision. With a grad scaler (16-mixed) an inf gradient is the
        scaler's business: only the loss is checked."""
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        check = self.on_nonfinite != "off"
        checked_grads = check and getattr(self.trainer.precision_plugin, "scaler", None) is None
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

    # ----------------------------------------------------------------- evaluation
    def _evaluate(self, batch: Any, stage: str) -> Tensor:
        real = real_images(batch)
        # the training stream is left as it was: a resumed run, which does not repeat an epoch's
        # validation, continues it exactly
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            fake = self.generator(self.sample_latent(real.shape[0]))
        estimate = self.estimate(self.critic(real), self.critic(fake))
        self.log(f"{stage}/{self.estimate_name}", estimate, prog_bar=True, sync_dist=True)
        if self.loggers:
            self.log("step", float(self.global_step))  # the same x axis as training: generator updates
        return estimate

    def validation_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._evaluate(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._evaluate(batch, "test")

    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        """Generator samples, as many as the batch holds."""
        return self.sample(real_images(batch).shape[0])

    # ----------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # A checkpoint with NaN/Inf weights must never replace a good one: refuse before anything is written.
        bad = [k for k, v in checkpoint["state_dict"].items() if v.is_floating_point() and not torch.isfinite(v).all()]
        if bad:
            raise NonFiniteError(f"refusing to save a checkpoint at step {self.global_step}: non-finite weights in {bad[0]}")
        checkpoint["critic_steps"] = self.critic_steps
        checkpoint["skipped_updates"] = self.skipped_updates
        checkpoint["lit_gan_family"] = type(self).__qualname__
        checkpoint["rng_states"] = rng_states()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        family = checkpoint.get("lit_gan_family")
        if family is not None and family not in {c.__qualname__ for c in type(self).__mro__}:  # subclasses load it
            raise ConfigError(f"the checkpoint holds a {family}, not a {type(self).__qualname__}")
        self._rng_to_restore = checkpoint.get("rng_states")  # applied at on_train_start, after on_fit_start
        self.critic_steps = int(checkpoint.get("critic_steps", 0))
        self.skipped_updates = int(checkpoint.get("skipped_updates", 0))
