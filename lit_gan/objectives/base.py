"""The one training loop that every objective family shares: Algorithm 1 of WGAN-GP (Gulrajani et
al. 2017; Arjovsky et al. 2017, Algorithm 1). One Lightning batch is one generator iteration: the
training loader yields the n_critic real batches of one iteration at once (``batches_per_step``,
``lit_gan.data.order``), and

    for each training batch (x_1, ..., x_n_critic):              # one generator iteration
        for t = 1, ..., n_critic:
            z ~ p(z);  update the critic on critic_loss(D(x_t), D(G(z))) + critic_penalty(x_t, G(z))
        z ~ p(z);  update the generator on generator_loss(D(G(z)))

A class-conditional model (``num_classes`` K > 0) reads the real samples' labels y_t with them, draws
the generated samples' labels uniformly from the same stream as z, and every G and D above is G(z, y)
and D(x, y); the losses are the family's as they are (Mirza & Osindero 2014; Miyato & Koyama 2018).

A family overrides three pure hooks, ``critic_loss``, ``generator_loss`` and ``estimate`` (plus
``critic_penalty`` for a regularizer of the critic, and ``pairs_real = True`` when the generator's
loss also reads the critic's scores of the batch's real samples, as the relativistic GAN's does).
Any family may add the zero-centred penalties R1 and R2 (``r1_gamma``, ``r2_gamma``), InfoGAN's
categorical code (``code_categories``), AC-GAN's class loss (``ac_weight``) and sample from an
exponential moving average of the generator (``ema_decay``): each is one piece of
:mod:`lit_gan.objectives.terms` that the loop calls the same way (``terms``, ``scoring``), with no
branch of its own in the loop. How one update is made (backward, the gradients averaged over DDP
ranks, the non-finite policy, the optimizer step) is :class:`~lit_gan.objectives.updates.Updater`'s
business; the run's plumbing (random streams at start and resume, preemption, learning-rate checks,
a checkpoint's training state) is :class:`~lit_gan.objectives.fit_guard.FitGuard`'s, a callback the
module configures; what a checkpoint holds beyond the weights is :mod:`lit_gan.checkpoints`'.

Step semantics. Lightning's ``global_step`` counts every ``LightningOptimizer.step()`` call in
manual optimization (Lightning issue #17958), so ``max_steps`` would count critic updates too.
Here only the generator's update is counted, so ``trainer.global_step``, ``max_steps``,
checkpoint names and the logged x axis all count generator updates, as the papers do; and since
a batch is a generator iteration, so do Lightning's own counts of batches (``log_every_n_steps``,
``val_check_interval``, ``limit_train_batches``, ``fast_dev_run``).

What callbacks may read (the step contract): ``generator_step`` (generator updates so far),
``last_critic_update`` (the critic update being made is the iteration's last, before the generator's)
and ``log_every_n_generator_steps`` (the trainer's ``log_every_n_steps``).
"""

from functools import partial
from typing import Any, Callable, Literal, Optional, Sequence

import torch
from jsonargparse.typing import NonNegativeFloat, NonNegativeInt, PositiveInt, restricted_number_type
from lightning.pytorch import Callback, LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.core.optimizer import LightningOptimizer
from lightning.pytorch.trainer.states import TrainerFn
from torch import Tensor, nn

from lit_gan.compat import ends_training, is_log_step
from lit_gan.checkpoints import (check_contents, check_fits, load_through_door, load_training_state,
                                 save_training_state)
from lit_gan.checks import check_not_negative, check_not_negative_int, check_positive_ints
from lit_gan.errors import ConfigError
from lit_gan.networks.code import CodedCritic, CodedGenerator
from lit_gan.networks.conditional import ClassHead
from lit_gan.networks.packing import check_pack, pack_size
from lit_gan.objectives.conditional import (batch_labels, check_data_classes, check_sample_labels, conditional_network,
                                            data_class_frequencies)
from lit_gan.objectives.ema import GeneratorEMA
from lit_gan.objectives.penalties import refuse_batch_norm
from lit_gan.objectives.terms import (AverageTerm, ClassTerm, CodeScoring, JointScoring, LoopTerm, PlainScoring, Update,
                                      ZeroCenteredTerm, refuse_joint)
from lit_gan.objectives.fit_guard import FitGuard
from lit_gan.objectives.updates import OnNonFinite, Updater
from lit_gan.specs import build, from_spec, to_spec
from lit_gan.tensors import eval_mode, real_images

GeneratorFactory = Callable[[int, Sequence[int]], nn.Module]  # (latent_dim, img_shape) -> generator
CriticFactory = Callable[[Sequence[int]], nn.Module]  # img_shape -> critic
EMADecay = restricted_number_type("EMADecay", float, [(">=", 0), ("<", 1)], join="and")  # [0, 1)
LabelFrequencies = Literal["uniform", "data"]


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
            ``lit_gan.objectives.LinearToZero`` for a linear decay to zero at ``trainer.max_steps``
            (it follows the run's length); None: a constant learning rate.
        d_scheduler: the same for the critic's optimizer. Both step once per generator update
            (``trainer.global_step``), the critic's too, so that one schedule's length fits both.
        on_nonfinite: when a loss or a gradient is NaN or Inf (on any rank): ``"raise"`` stops with an
            error naming the loss and the step; ``"skip"`` skips that update and counts it in
            ``train/skipped_updates``; ``"off"`` does not check.
        max_consecutive_skips: with ``"skip"``, stop with an error naming the loss after this many
            updates in a row were skipped (a run whose every update is non-finite would otherwise
            run on at its step, printing nothing).
        r1_gamma: gamma of R1, r1_gamma / 2 * E_pi ||grad_x D(x)||^2, added to the critic's loss
            (Mescheder et al. 2018); 0: off. Logged as ``train/r1`` (the expectation).
        r2_gamma: gamma of R2, the same at generated samples (R3GAN uses R1 and R2 with one gamma).
        ema_decay: sample (``sample``, ``predict``, the sample grids and quality callbacks) from an
            exponential moving average of the generator with this decay, in [0, 1); None: off.
        ema_warmup: generator updates during which the average is a copy of the generator.
        code_categories: InfoGAN's categorical code (Chen et al. 2016): 0 (off) or k in 2 to
            ``latent_dim`` - 1. The argmax of z's first k entries is a category c, uniform, that
            the generator sees as a one-hot in their place; a linear head Q on the critic's
            features guesses c from G(z), and the critic (with Q) and the generator both minimize
            ``info_weight`` times -E log Q(c | G(z)). See :mod:`lit_gan.networks.code`. Logs
            ``train/mutual_info``, the lower bound log k - that loss of I(c; G(z)).
        info_weight: lambda of that loss (InfoGAN: 1 for a categorical code).
        num_classes: 0 (unconditional) or K >= 2: a class-conditional model, trained on data with K
            classes (the data module's ``num_classes``), whose generator and critic take the labels
            (``lit_gan.networks``: ``LabelConcat``, ``num_classes`` of the DCGAN and ResNet generators'
            conditional BatchNorm, ``Projection``, ``LabelConcatCritic``); they are built with
            ``num_classes=K``. Generated samples get labels uniform over the K classes.
        ac_weight: the auxiliary classifier loss of AC-GAN (Odena et al. 2017) with this weight, for a
            conditional model: a linear head on the critic's features (:class:`~lit_gan.networks.ClassHead`)
            guesses the class (the critic itself may then take no labels, as AC-GAN's, or take them, a
            projection with a class loss); the critic adds ``ac_weight`` times its cross-entropy on real and on
            generated samples to its loss, the generator on its samples. Logs ``train/ac_loss`` (the
            critic's). 0: off.
        label_frequencies: how a conditional model draws the generated samples' labels: ``"uniform"``
            over the classes, or ``"data"``, with the classes' frequencies in the training data (the
            data module's ``class_counts``), from the same stream as z either way.
        joint_critic: score a critic update's real and generated samples in one critic call (half its
            launches, for a GPU); the same scores to float rounding. Refused for a critic whose scores
            depend on the rest of its call or on the number of calls (BatchNorm, dropout, spectral
            normalization, DiffAugment) and with ``code_categories``. Off: a call on each, as before.
    """

    estimate_name = "estimate"  # the family's distance estimate, logged as train/<estimate_name>
    pairs_real = False  # generator_loss reads the critic's scores of the batch's real samples too
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
        on_nonfinite: OnNonFinite = "raise",
        max_consecutive_skips: PositiveInt = 100,
        r1_gamma: NonNegativeFloat = 0.0,
        r2_gamma: NonNegativeFloat = 0.0,
        ema_decay: Optional[EMADecay] = None,
        ema_warmup: NonNegativeInt = 0,
        code_categories: NonNegativeInt = 0,
        info_weight: NonNegativeFloat = 1.0,
        num_classes: NonNegativeInt = 0,
        ac_weight: NonNegativeFloat = 0.0,
        label_frequencies: LabelFrequencies = "uniform",
        joint_critic: bool = False,
    ) -> None:
        super().__init__()
        check_positive_ints(latent_dim=latent_dim, n_critic=n_critic)
        self.updater = Updater(on_nonfinite, max_consecutive_skips)  # checks both before anything is built
        if ema_decay is None and ema_warmup:
            raise ValueError(f"Expected argument `ema_warmup` ({ema_warmup}) to come with an `ema_decay`, got none")
        self.save_hyperparameters()
        self.save_hyperparameters(to_spec(dict(self.hparams)))  # plain data: checkpoints load with weights_only
        self.automatic_optimization = False
        self.latent_dim, self.img_shape, self.n_critic = int(latent_dim), tuple(img_shape), int(n_critic)
        check_not_negative_int(num_classes=num_classes)
        if num_classes == 1:
            raise ValueError("Expected argument `num_classes` to be 0 (unconditional) or at least 2 classes, got 1")
        self.num_classes = int(num_classes)
        self.generator = conditional_network("generator", generator, self.num_classes, self.latent_dim, self.img_shape)
        check_not_negative(ac_weight=ac_weight)
        self.ac_weight = float(ac_weight)
        if self.ac_weight > 0 and not self.num_classes:
            raise ValueError(f"Expected argument `ac_weight` ({ac_weight}) to come with a conditional model: set `num_classes`")
        # AC-GAN's critic may take no labels: its class head (ClassHead, below) is what reads the class
        self.critic = conditional_network("critic", critic, self.num_classes, self.img_shape, unconditional_ok=self.ac_weight > 0)
        check_not_negative_int(code_categories=code_categories)
        check_not_negative(info_weight=info_weight)
        self.code_categories, self.info_weight = int(code_categories), float(info_weight)
        if self.code_categories:
            if not 2 <= self.code_categories < self.latent_dim:  # at least one entry of noise beside the code
                raise ValueError(
                    f"Expected argument `code_categories` to be 0 (off) or 2 to latent_dim - 1 ({self.latent_dim - 1}),"
                    f" got {code_categories}"
                )
            self.generator = CodedGenerator(self.generator, self.code_categories)
            self.critic = CodedCritic(self.critic, self.code_categories, self.img_shape)
        if label_frequencies not in ("uniform", "data"):
            raise ValueError(f"Expected argument `label_frequencies` to be uniform or data, got {label_frequencies!r}")
        if label_frequencies == "data" and not self.num_classes:
            raise ValueError("Expected argument `label_frequencies` (data) to come with a conditional model: set `num_classes`")
        self.label_frequencies = label_frequencies
        self.label_probabilities: Optional[Tensor] = None  # "data": the training classes' frequencies, at setup
        if self.ac_weight > 0:
            if self.code_categories:
                raise ValueError(f"Expected argument `ac_weight` ({ac_weight}) to be 0 with `code_categories` ({code_categories}):"
                                 " AC-GAN's class head and InfoGAN's Q are not combined; set one of them to 0")
            self.critic = ClassHead(self.critic, self.num_classes, self.img_shape)
        check_not_negative(r1_gamma=r1_gamma, r2_gamma=r2_gamma)
        self.r1_gamma, self.r2_gamma = float(r1_gamma), float(r2_gamma)
        if self.r1_gamma > 0 or self.r2_gamma > 0:
            refuse_batch_norm(self.critic, "with `r1_gamma` or `r2_gamma` > 0 (the penalties are per sample)")
        self.generator_ema = None if ema_decay is None else GeneratorEMA(self.generator, ema_decay, ema_warmup)
        # the options, each one piece the loop calls the same way (lit_gan.objectives.terms); off: not there
        if joint_critic:
            if self.code_categories:
                raise ValueError("Expected argument `joint_critic` to be false with `code_categories`: InfoGAN's Q reads"
                                 " the generated samples' features alone")
            refuse_joint(self.critic)
        self.scoring = (CodeScoring(self.code_categories, self.info_weight) if self.code_categories else
                        JointScoring(pack_size(self.critic)) if joint_critic else PlainScoring())
        self.terms: list[LoopTerm] = [term for on, term in (
            (self.ac_weight > 0, ClassTerm(self.ac_weight)),
            (self.r1_gamma > 0 or self.r2_gamma > 0, ZeroCenteredTerm(self.r1_gamma, self.r2_gamma)),
            (self.generator_ema is not None, AverageTerm()),
        ) if on]
        self._g_optimizer = from_spec(g_optimizer) or self.default_optimizer
        self._d_optimizer = from_spec(d_optimizer) or self.default_optimizer
        self._schedulers = {"g_scheduler": from_spec(g_scheduler), "d_scheduler": from_spec(d_scheduler)}
        self.critic_steps = 0  # critic updates so far (named in errors)
        self.last_critic_update = False  # the critic update being made is the iteration's last
        self._loaded_step: Optional[int] = None  # the generator step of the checkpoint the weights come from

    # ----------------------------------------------------------------- hooks of the families
    def critic_loss(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        raise NotImplementedError

    def generator_loss(self, fake_scores: Tensor, real_scores: Optional[Tensor] = None) -> Tensor:
        """The generator's loss from the critic's scores of its samples (and, with ``pairs_real``,
        of the real samples of the same batch, row for row; else None)."""
        raise NotImplementedError

    def estimate(self, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        """The family's estimate of the distance between data and samples."""
        raise NotImplementedError

    def critic_penalty(self, real: Tensor, fake: Tensor, labels: Optional[Tensor] = None) -> tuple[Tensor, dict[str, Tensor]]:
        """A regularizer added to the critic's loss, with what to log; none by default. ``labels``: the
        real samples' (a conditional model's; None otherwise), with which ``scorer`` scores."""
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
        return sampler((n * world, *shape), device=self.device, dtype=self.dtype)[rank::world]  # bf16-true: bf16

    def sample_latent(self, n: int) -> Tensor:
        return self.draw(torch.randn, n, self.latent_dim)

    def sample_labels(self, n: int) -> Optional[Tensor]:
        """n class labels uniform over ``num_classes``, from the same stream as the latents (``draw``);
        None for an unconditional model."""
        if not self.num_classes:
            return None
        if self.label_probabilities is None:
            return self.draw(lambda size, device, dtype: torch.randint(self.num_classes, size, device=device), n)
        probabilities = self.label_probabilities
        return self.draw(lambda size, device, dtype: torch.multinomial(probabilities.to(device), size[0], replacement=True), n)

    def generate(self, z: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        """G(z), or G(z, y) for a conditional model (an unconditional generator is called with z alone)."""
        return self.generator(z) if labels is None else self.generator(z, labels)

    def judge(self, x: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        """The critic's scores D(x), or D(x, y) for a conditional model."""
        return self.critic(x) if labels is None else self.critic(x, labels)

    def scorer(self, labels: Optional[Tensor] = None) -> Callable[[Tensor], Tensor]:
        """The critic as a function of x alone, with ``labels`` (the penalties' input gradients)."""
        return self.critic if labels is None else partial(self.critic, y=labels)

    @torch.no_grad()
    def sample(self, n: int, z: Optional[Tensor] = None, labels: Optional[Tensor] = None) -> Tensor:
        """n generator samples in data space, shape (n, *img_shape), drawn in eval mode, from the
        averaged generator when ``ema_decay`` is set. A conditional model draws class ``labels[i]``
        (a LongTensor of n class indices); without them, labels are drawn as in training when ``z``
        is drawn too, and are the classes in turn (i mod ``num_classes``) for a given ``z``, so that a
        callback's fixed latents give the same samples every time and draw nothing from the stream."""
        labels = self.labels_for(n, labels, drawn=z is None)
        generator = self.generator if self.generator_ema is None else self.generator_ema.module
        with eval_mode(generator):
            z = self.sample_latent(n) if z is None else z.to(self.device, self.dtype)
            return generator(z) if labels is None else generator(z, labels)

    def labels_for(self, n: int, labels: Optional[Tensor], drawn: bool) -> Optional[Tensor]:
        """``sample``'s labels, checked: one line for labels of an unconditional model, or of another
        type, shape or range."""
        if labels is None:
            if not self.num_classes:
                return None
            return self.sample_labels(n) if drawn else torch.arange(n, device=self.device) % self.num_classes
        return check_sample_labels(labels, n, self.num_classes).to(self.device)

    def forward(self, z: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        return self.generate(z, labels)

    # ----------------------------------------------------------------- training loop
    def setup(self, stage: str) -> None:
        """Refuse shapes that do not fit, with both shapes, before any forward pass on data."""
        data_shape = getattr(self.trainer.datamodule, "img_shape", None) if self._trainer else None
        if data_shape is not None and tuple(data_shape) != self.img_shape:
            raise ConfigError(f"the data's img_shape {tuple(data_shape)} differs from the model's `img_shape` {self.img_shape}")
        check_data_classes(self.trainer.datamodule if self._trainer else None, self.num_classes)
        if self.label_frequencies == "data":
            self.label_probabilities = data_class_frequencies(self.trainer.datamodule if self._trainer else None,
                                                              self.num_classes)
        datamodule = self.trainer.datamodule if self._trainer else None  # PacGAN: batches of whole packs
        check_pack(self.critic, getattr(datamodule, "batch_size", None), getattr(datamodule, "drop_last", True))
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

    def configure_callbacks(self) -> list[Callback]:
        """The run's plumbing, kept out of the algorithm (:class:`~lit_gan.objectives.fit_guard.FitGuard`):
        the random streams' start and resume, preemption, the learning rates' checks, the training
        state of checkpoints."""
        return [FitGuard(self)]

    def on_fit_start(self) -> None:
        self._loaded_step = None  # while fitting, and after it, the trainer counts the steps

    def on_train_start(self) -> None:
        self.critic_steps = self.global_step * self.n_critic  # (a resumed run's, skips aside)

    # ----------------------------------------------------------------- the step contract
    @property
    def generator_step(self) -> int:
        """Generator updates so far: ``trainer.global_step`` while fitting; in validate, test and
        predict (whose trainer counts none), those of the checkpoint the weights come from."""
        fitting = self._trainer is not None and self.trainer.state.fn == TrainerFn.FITTING
        return self.global_step if fitting or self._loaded_step is None else self._loaded_step

    @property
    def log_every_n_generator_steps(self) -> int:
        """How often the trainer writes logged values, in generator updates: its ``log_every_n_steps``."""
        return self.trainer.log_every_n_steps

    @property
    def batches_per_step(self) -> int:
        """The real batches one training batch holds (``lit_gan.data.order``): one per critic update."""
        return self.n_critic

    @property
    def skipped_updates(self) -> int:
        """Updates skipped for non-finite values (``on_nonfinite: skip``), logged as ``train/skipped_updates``."""
        return self.updater.skipped

    # ----------------------------------------------------------------- the loop
    def training_step(self, batch: Any, batch_idx: int) -> None:
        """One generator iteration: a critic update on each of the batch's ``n_critic`` real batches
        (the last one smaller, or fewer of them, at the end of an epoch without ``drop_last``), then one
        generator update, with the last of them."""
        g_opt, d_opt = self.optimizers()
        real, labels = self.real(batch), self.labels(batch)
        xs = real.tensor_split(self.n_critic)
        ys = [None] * len(xs) if labels is None else labels.tensor_split(self.n_critic)
        chunks = [(x, y) for x, y in zip(xs, ys) if len(x)]  # each a critic update's real batch
        window: dict[str, Tensor] = {}  # the critic's logs, summed over its updates
        for t, (x, y) in enumerate(chunks):
            self.last_critic_update = t == len(chunks) - 1
            for key, value in self.critic_update(d_opt, x, y).items():
                window[key] = window.get(key, 0) + value
            self.critic_steps += 1
        g_loss = self.generator_update(g_opt, *chunks[-1])
        self.log_iteration({k: v / len(chunks) for k, v in window.items()}, g_loss)

    def critic_update(self, opt: LightningOptimizer, real: Tensor, labels: Optional[Tensor] = None) -> dict[str, Tensor]:
        """Algorithm 1, lines 3-8: the critic's loss on real and generated samples, plus its penalty and
        what the options add (``terms``); what to log. ``labels``: the real samples' classes (a
        conditional model's; None otherwise)."""
        z, fake_labels = self.sample_latent(real.shape[0]), self.sample_labels(real.shape[0])
        with torch.no_grad():
            fake = self.generate(z, fake_labels)
        update = Update(real, labels, fake, z, fake_labels)
        # losses in float32 even under bf16/16-mixed autocast
        real_scores, fake_scores, added, logs = self.scoring.critic(self, update)
        penalty, more = self.critic_penalty(real, fake, labels)  # the interpolates keep the real sample's class
        penalty, logs = (penalty if added is None else penalty + added), {**more, **logs}
        for term in self.terms:
            added, more = term.critic(self, update)
            penalty, logs = (penalty if added is None else penalty + added), {**logs, **more}
        loss = self.critic_loss(real_scores, fake_scores) + penalty
        logs = {"d_loss": loss, self.estimate_name: self.estimate(real_scores, fake_scores), **logs}
        self.updater.update(self, opt, self.critic, loss, "d_loss", counted=False, critic_update=self.critic_steps + 1)
        return {k: v.detach() for k, v in logs.items()}

    def generator_update(self, opt: LightningOptimizer, real: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        """Algorithm 1, lines 10-11: the generator's loss on fresh samples, as many as ``real`` holds, plus
        what the options add; the schedulers and the options (the average of the generator) follow its step."""
        with self.toggled_optimizer(opt):  # critic parameters get no gradient here
            z, fake_labels = self.sample_latent(real.shape[0]), self.sample_labels(real.shape[0])
            fake = self.generate(z, fake_labels)
            fake_scores, added, _ = self.score_generated(fake, z, fake_labels)
            real_scores = self.judge(real, labels).float() if self.pairs_real else None
            update = Update(real, labels, fake, z, fake_labels)
            added = [added, *(term.generator(self, update) for term in self.terms)]
            loss = self.generator_loss(fake_scores, real_scores)
            for term in added:
                loss = loss if term is None else loss + term
            stepped = self.updater.update(self, opt, self.generator, loss, "g_loss", counted=True, critic_update=self.critic_steps)
        if stepped:
            for scheduler in self.trainer.lr_scheduler_configs:
                scheduler.scheduler.step()
            for term in self.terms:
                term.after_generator_update(self)
        return loss.detach()

    def score_generated(self, fake: Tensor, z: Tensor, labels: Optional[Tensor] = None) -> tuple[Tensor, Optional[Tensor], dict[str, Tensor]]:
        """The critic's scores (float32) of generated samples ``fake`` = G(z, labels), what the scoring
        adds to both losses (InfoGAN's code: ``info_weight`` times its loss; None: nothing) and what to
        log: ``self.scoring``'s (lit_gan.objectives.terms)."""
        return self.scoring(self, fake, z, labels)

    def log_iteration(self, critic_logs: dict[str, Tensor], g_loss: Tensor) -> None:
        """Log the critic's values averaged over the iteration's updates, and the generator's loss.

        They are logged at log steps, and at the run's and each epoch's last batch (so that
        ``callback_metrics`` hold the final values): the loggers write nothing at the other steps, and
        Lightning's logging costs about 1 ms a value (4% of the quickstart's loop when every step logged;
        BENCHMARKS.md, "After issue 36"). They stay on the device: lit-gan's progress display reads this
        iteration's (``training_values``, logged or not) when it shows them (``progress_values``).
        Lightning reads back the progress-bar values at every batch they are logged in, so they
        (``d_loss``, ``g_loss``, the estimate: for Lightning's own bars and for monitors) are logged at
        log steps only; so is the logged x axis ``step``, a copy to the device."""
        self._unlogged = (critic_logs, g_loss)
        self.training_values = {**critic_logs, "g_loss": g_loss}  # this iteration's, for a progress display
        log_step = is_log_step(self.trainer)
        if log_step or ends_training(self.trainer):
            self._log_training_values(log_step)

    def _log_training_values(self, log_step: bool) -> None:
        critic_logs, g_loss = self._unlogged
        self._unlogged = None
        logs = {**critic_logs, "g_loss": g_loss}
        if self.updater.on_nonfinite == "skip":
            logs["skipped_updates"] = torch.tensor(float(self.updater.skipped))
        self.log_dict({f"train/{k}": v for k, v in logs.items()})
        if log_step:  # for Lightning's own bars and monitors too, read only at log steps
            self.log_dict({k: logs[k] for k in self.progress_values}, prog_bar=True, logger=False)
            self.log_step()

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.trainer.should_stop:  # a stop a callback asked for after training_step: Lightning logs at it too
            if getattr(self, "_unlogged", None) is not None:
                self._log_training_values(False)
            self.log_step()

    def log_step(self) -> None:
        """The logged x axis, generator updates (before the callbacks' batch end: ModelCheckpoint names by it)."""
        if self.loggers:
            self.log("step", float(self.global_step))

    @property
    def progress_values(self) -> tuple[str, ...]:
        """What a progress display shows of the logged training values (``train/`` + each)."""
        return ("d_loss", "g_loss", self.estimate_name)

    # ----------------------------------------------------------------- evaluation
    def real(self, batch: Any) -> Tensor:
        """The batch's images (or points), in the weights' float type: under ``16-true`` or
        ``bf16-true`` the image data modules still give float32 (converted from uint8 after transfer)."""
        real = real_images(batch)
        return real.to(self.dtype) if real.is_floating_point() and self.dtype.is_floating_point else real

    def labels(self, batch: Any) -> Optional[Tensor]:
        """The batch's class labels for a conditional model, None for an unconditional one."""
        return batch_labels(batch, self.num_classes) if self.num_classes else None

    def _evaluate(self, batch: Any, stage: str) -> Tensor:
        real, labels = self.real(batch), self.labels(batch)
        # the training stream is left as it was: a resumed run, which does not repeat an epoch's
        # validation, continues it exactly
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            fake_labels = self.sample_labels(real.shape[0])
            fake = self.generate(self.sample_latent(real.shape[0]), fake_labels)
        estimate = self.estimate(self.judge(real, labels), self.judge(fake, fake_labels))
        self.log(f"{stage}/{self.estimate_name}", estimate, prog_bar=True, sync_dist=True)
        if self.loggers:
            self.log("step", float(self.generator_step))  # the same x axis as training: generator updates
        return estimate

    def validation_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._evaluate(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._evaluate(batch, "test")

    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        """Generator samples, as many as the batch holds."""
        return self.sample(real_images(batch).shape[0])

    # ----------------------------------------------------------------- checkpoints
    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Lightning's, through lit-gan's door (``open_checkpoint``: plain data, whole, and no import outside
        lit_gan, torch.optim and torch.nn, or ``trusted_imports=[...]``, before the model is built from its
        hyperparameters); on ``AdversarialModule`` itself, the GAN of whatever family the file holds
        (``lit_gan.load``), in eval mode."""
        if cls is AdversarialModule:
            from lit_gan.objectives.loading import load  # it imports this module

            return load(str(checkpoint_path), kwargs.get("map_location") or "cpu", kwargs.get("trusted_imports", ()))
        return load_through_door(cls, checkpoint_path, args, kwargs)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # here, not in FitGuard: Lightning calls callbacks' hook only for full checkpoints, and a weights-only
        # one must be refused with NaN/Inf weights and carry the family too
        save_training_state(checkpoint, self, self.updater.skipped)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Every load passes here (a Trainer's restore, `--ckpt_path last` too, and load_from_checkpoint);
        # `lit-gan` checked an explicit path already, before anything was set up or written.
        path = self.trainer.ckpt_path if self._trainer is not None else None
        check_contents(checkpoint, path)  # non-tensors, counters that are not counts, NaN/Inf weights
        self.updater.skipped, rng_states = load_training_state(checkpoint, self, path)  # refused: another family's
        if self._trainer is not None and self.strict_loading:
            check_fits(checkpoint, path, self)  # one line, not load_state_dict's list
        self._loaded_step = int(checkpoint.get("global_step", 0))
        if self._trainer is not None and self.trainer.state.fn == TrainerFn.FITTING:  # resuming: the guard's
            guard = next((c for c in self.trainer.callbacks if isinstance(c, FitGuard)), None)
            if guard is None:
                raise ConfigError(f"{type(self).__name__}.configure_callbacks left out the FitGuard of"
                                  " AdversarialModule.configure_callbacks: return super().configure_callbacks() with yours")
            guard.resume(self.trainer, self, checkpoint, path, rng_states)
