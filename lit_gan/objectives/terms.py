"""The options of the loop, each one piece that the loop calls the same way (``AdversarialModule.terms``):
what it adds to the critic's loss, what it adds to the generator's, what it does after the generator's
update. An option that is off is not in the list; the loop has no branch for any of them.

- :class:`ClassTerm`: AC-GAN's auxiliary classifier loss (``ac_weight``).
- :class:`ZeroCenteredTerm`: R1 and R2 (``r1_gamma``, ``r2_gamma``).
- :class:`AverageTerm`: the exponential moving average of the generator (``ema_decay``).

How generated samples are scored is a piece of its own (:class:`PlainScoring`, or :class:`CodeScoring`
for InfoGAN's code, whose loss reads the same critic pass as the scores); a family's own regularizer is
its ``critic_penalty`` hook. A new option (a class label's term, a hot path's hook) is a new piece.
"""

from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from lit_gan.networks.augment import DiffAugment
from lit_gan.networks.code import latent_code
from lit_gan.objectives import losses
from lit_gan.objectives.penalties import grad_scale, r1_r2


@dataclass
class Update:
    """What the pieces of one update read: the real samples and their labels (None unless conditional),
    the generated samples, their latents and labels."""

    real: Tensor
    labels: Optional[Tensor]
    fake: Tensor
    z: Tensor
    fake_labels: Optional[Tensor]


class LoopTerm:
    """One option of the loop; each method is a no-op unless the option has something to add there."""

    def critic(self, module: Any, update: Update) -> tuple[Optional[Tensor], dict[str, Tensor]]:
        """What this option adds to the critic's loss (None: nothing), with what to log."""
        return None, {}

    def generator(self, module: Any, update: Update) -> Optional[Tensor]:
        """What this option adds to the generator's loss (None: nothing)."""
        return None

    def after_generator_update(self, module: Any) -> None:
        """After the generator's optimizer stepped (not after a skipped update)."""


class ClassTerm(LoopTerm):
    """AC-GAN (Odena et al. 2017): ``weight`` times the class head's cross-entropy, on real and generated
    samples for the critic, on its own samples for the generator; logs ``ac_loss`` (the critic's)."""

    def __init__(self, weight: float) -> None:
        self.weight = float(weight)

    def loss(self, module: Any, *samples: tuple[Tensor, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """``weight`` times the loss summed over the (samples, labels) pairs, with what to log."""
        total = sum(losses.auxiliary_class_loss(module.critic.class_logits(x).float(), y) for x, y in samples)
        return self.weight * total, {"ac_loss": total.detach()}

    def critic(self, module: Any, update: Update) -> tuple[Optional[Tensor], dict[str, Tensor]]:
        return self.loss(module, (update.real, update.labels), (update.fake, update.fake_labels))

    def generator(self, module: Any, update: Update) -> Optional[Tensor]:
        return self.loss(module, (update.fake, update.fake_labels))[0]


class ZeroCenteredTerm(LoopTerm):
    """R1 and R2 (Mescheder et al. 2018; R3GAN): gamma / 2 E ||grad_x D(x)||^2 at real and at generated
    samples, each scored with its own labels; logs ``r1`` and ``r2``."""

    def __init__(self, r1_gamma: float, r2_gamma: float) -> None:
        self.r1_gamma, self.r2_gamma = float(r1_gamma), float(r2_gamma)

    def critic(self, module: Any, update: Update) -> tuple[Optional[Tensor], dict[str, Tensor]]:
        return r1_r2(module.scorer(update.labels), module.scorer(update.fake_labels), update.real, update.fake,
                     self.r1_gamma, self.r2_gamma, grad_scale(module))  # 16-mixed: the inner gradient scaled


class AverageTerm(LoopTerm):
    """The generator's exponential moving average (``module.generator_ema``), updated after each of its steps."""

    def after_generator_update(self, module: Any) -> None:
        module.generator_ema.update(module.generator, module.global_step)


class PlainScoring:
    """The critic's scores of generated samples (float32), and nothing added to the losses."""

    def __call__(self, module: Any, fake: Tensor, z: Tensor, labels: Optional[Tensor]) -> tuple[Tensor, Optional[Tensor], dict]:
        return module.judge(fake, labels).float(), None, {}

    def critic(self, module: Any, update: Update) -> tuple[Tensor, Tensor, Optional[Tensor], dict]:
        """A critic update's scores of the real and the generated samples (float32), and what the scoring
        adds and logs: a critic call on each."""
        real_scores = module.judge(update.real, update.labels).float()
        return (real_scores, *self(module, update.fake, update.z, update.fake_labels))


class JointScoring(PlainScoring):
    """``joint_critic``: one critic call on the real and the generated samples of a critic update together,
    half its launches (issue 39). The same scores, to float rounding, for a critic that scores each sample on
    its own; one with BatchNorm, dropout, spectral normalization (a power iteration a call) or DiffAugment (its
    draws) is refused when the model is built (:func:`refuse_joint`). A packed critic (``pack`` m, sample i in
    pack i mod B/m) gets the two halves interleaved by pack slot, so that its packs are those of two calls."""

    def __init__(self, pack: int = 1) -> None:
        self.pack = int(pack)

    def critic(self, module: Any, update: Update) -> tuple[Tensor, Tensor, Optional[Tensor], dict]:
        both = self.joined(update.real, update.fake.to(update.real.dtype))
        labels = None if update.labels is None else self.joined(update.labels, update.fake_labels)
        scores = module.judge(both, labels).float()
        half = scores.shape[0] // 2
        return scores[:half], scores[half:], None, {}

    def joined(self, real: Tensor, fake: Tensor) -> Tensor:
        """(2B, ...): real and fake (B, ...) each cut into its ``pack`` slots, a slot of each in turn."""
        m, rest = self.pack, real.shape[1:]
        return torch.stack([real.reshape(m, -1, *rest), fake.reshape(m, -1, *rest)], dim=1).reshape(-1, *rest)


def refuse_joint(critic: nn.Module) -> None:
    """One line naming the first part of ``critic`` whose scores depend on the other samples of its call, or on
    the number of calls: a joint call would change what the critic computes."""
    for name, part in critic.named_modules():
        why = ("BatchNorm" if isinstance(part, nn.modules.batchnorm._BatchNorm) else
               "dropout" if isinstance(part, nn.modules.dropout._DropoutNd) else
               "DiffAugment" if isinstance(part, DiffAugment) else
               "spectral normalization" if parametrize.is_parametrized(part) else None)
        if why is not None:
            raise ValueError(f"Expected argument `joint_critic` to be false for a critic with {why} ({name or 'critic'}):"
                             " one call on real and generated samples together would change its scores")


class CodeScoring(PlainScoring):
    """InfoGAN (Chen et al. 2016): the scores and, from the same pass, Q's guesses of the code: both losses
    gain ``info_weight`` times -E log Q(c | G(z)); logs ``mutual_info``, the bound log k - that loss."""

    def __init__(self, categories: int, weight: float) -> None:
        self.categories, self.weight = int(categories), float(weight)

    def __call__(self, module: Any, fake: Tensor, z: Tensor, labels: Optional[Tensor]) -> tuple[Tensor, Optional[Tensor], dict]:
        scores, logits = module.critic.scores_and_logits(fake, labels)
        info = losses.info_loss(logits.float(), latent_code(z, self.categories))
        bound = losses.mutual_information_bound(info.detach(), self.categories)
        return scores.float(), self.weight * info, {"mutual_info": bound}
