"""Mode collapse on Stacked MNIST (Srivastava et al. 2017, VEEGAN, Section 5.2; Lin et al. 2018,
PacGAN, Section 5): a digit classifier labels each channel of N generated stacks (N = 26,000 in
both papers), the three digits make one of 1,000 modes, and the scores are

    modes = #{k : n_k > 0},    KL(p || uniform) = sum_{k : p_k > 0} p_k log(1000 p_k),   p_k = n_k / N

(natural log, as PacGAN's code; 0 for uniform p, log 1000 = 6.91 for a single mode). The same scores
of N real held-out stacks are the floor: what the data itself scores with the same N and classifier.

:func:`stacked_modes` scores labels, :func:`label_stacks` labels images, :func:`stacked_scores`
does both; :class:`StackedModeCoverage` accumulates them the torchmetrics way (for the callback).
"""

from typing import Optional, Sequence

import torch
from torch import Tensor, nn
from torchmetrics import Metric

from lit_gan.data.stacked_mnist import DIGITS, NUM_MODES, stack_modes
from lit_gan.errors import ConfigError
from lit_gan.metrics.features import input_shape

DIGIT_CLASSES = 10


def check_digit_classifier(classifier: nn.Module, img_shape: Optional[Sequence[int]] = None) -> None:
    """Refuse, in one line naming ``classifier``, a classifier that does not label one channel of
    stacks of ``img_shape`` (C, H, W) as one of 10 digits: another class count or image shape."""
    k, takes = int(getattr(classifier, "num_classes", 0)), input_shape(classifier)
    wanted = None if img_shape is None else (1, *(int(s) for s in img_shape[1:]))
    if k != DIGIT_CLASSES or (takes is not None and wanted is not None and takes != wanted):
        shape = "any shape" if takes is None else f"images of shape {takes}"
        raise ConfigError(
            f"Expected argument `classifier` to be a digit classifier of {DIGIT_CLASSES} classes on images of shape"
            f" {wanted or '(1, H, W)'}, one channel of the stacks (ClassifierFeatures of a Classifier trained as"
            f" configs/classifier_mnist5k.yaml), got {type(classifier).__name__} of {k} classes on {shape}"
        )


def check_stacks(images: Tensor) -> None:
    """Refuse, in one line naming ``images``, images that are not stacks of 3 digits, (B, 3, H, W)."""
    if images.ndim != 4 or images.shape[1] != DIGITS:
        raise ConfigError(f"Expected argument `images` to be stacks of {DIGITS} digits, one a channel, shape"
                          f" (B, {DIGITS}, H, W), got {tuple(images.shape)}")


def mode_counts(labels: Tensor, num_modes: int = NUM_MODES) -> Tensor:
    """(num_modes,) counts of ``labels``: (N,) modes in 0..num_modes - 1, or (N, 3) digit triples."""
    modes = stack_modes(labels) if labels.ndim == 2 and labels.shape[1] == DIGITS else labels
    if modes.ndim != 1 or modes.is_floating_point():
        raise ValueError(f"Expected argument `labels` to be (N,) integer modes or (N, {DIGITS}) digits, got a"
                         f" {labels.dtype} tensor of shape {tuple(labels.shape)}")
    if len(modes) and (int(modes.min()) < 0 or int(modes.max()) >= num_modes):
        raise ValueError(f"Expected argument `labels` to be modes in 0..{num_modes - 1}, got"
                         f" {int(modes.min())}..{int(modes.max())}")
    return torch.bincount(modes.long(), minlength=num_modes)


def scores_of_counts(counts: Tensor) -> dict[str, Tensor]:
    """``stacked_modes`` (modes with a sample) and ``stacked_kl`` (KL(p || uniform), float64) of the
    per-mode counts (num_modes,)."""
    total = counts.sum()
    if total == 0:
        raise ValueError("Expected at least one label to score, got none")
    p = counts.double() / total
    covered = p > 0
    kl = (p[covered] * torch.log(len(counts) * p[covered])).sum()
    return {"stacked_modes": covered.sum(), "stacked_kl": kl}


def stacked_modes(labels: Tensor, num_modes: int = NUM_MODES) -> dict[str, Tensor]:
    """The modes covered and KL(p || uniform) of ``labels``: (N,) modes or (N, 3) digit triples."""
    return scores_of_counts(mode_counts(labels, num_modes))


@torch.no_grad()
def label_stacks(images: Tensor, classifier: nn.Module) -> Tensor:
    """The mode (N,) of each stack (N, 3, H, W) (float in [-1, 1], or uint8): ``classifier`` (a
    :class:`~lit_gan.metrics.FeatureExtractor` of 10 digit classes) labels each channel."""
    check_stacks(images)
    b = images.shape[0]
    _, logits = classifier.extract(images.flatten(0, 1).unsqueeze(1))  # (3B, 10), channel by channel
    return stack_modes(logits.argmax(dim=1).view(b, DIGITS))


def stacked_scores(images: Tensor, classifier: nn.Module, batch_size: int = 500) -> dict[str, Tensor]:
    """``stacked_modes`` and ``stacked_kl`` of generated (or real) stacks ``images`` (N, 3, H, W),
    labelled by ``classifier`` ``batch_size`` stacks at a time."""
    check_stacks(images)
    check_digit_classifier(classifier, images.shape[1:])
    modes = torch.cat([label_stacks(images[i : i + batch_size], classifier) for i in range(0, len(images), batch_size)])
    return stacked_modes(modes)


class StackedModeCoverage(Metric):
    """The Stacked MNIST scores of generated stacks, and their floor on real held-out ones.

    ``update(images, real=False)`` counts the modes ``classifier`` reads in generated stacks;
    ``update(images, real=True, modes=...)`` those of held-out stacks, and how many of them it reads
    right (``modes``: their true modes). ``compute`` returns ``stacked_modes`` and ``stacked_kl``
    (:func:`stacked_modes`), and once real stacks were given ``stacked_modes_floor``,
    ``stacked_kl_floor`` and ``stacked_classifier_accuracy`` (the share of real stacks whose three
    digits it reads right). ``reset`` forgets the generated stacks and keeps the real ones. The
    states are counts summed over DDP ranks.

    Args:
        classifier: a :class:`~lit_gan.metrics.FeatureExtractor` of the 10 digits on one channel
            (:class:`~lit_gan.metrics.ClassifierFeatures`).
    """

    is_differentiable = False
    full_state_update = False
    needs_real = True  # the floor: fed once, kept across reset

    counts: Tensor
    real_counts: Tensor
    real_right: Tensor

    def __init__(self, classifier: nn.Module, **kwargs) -> None:
        super().__init__(**kwargs)
        check_digit_classifier(classifier)
        self.classifier = classifier.eval()
        self.add_state("counts", torch.zeros(NUM_MODES, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("real_counts", torch.zeros(NUM_MODES, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("real_right", torch.tensor(0), dist_reduce_fx="sum")

    def update(self, images: Tensor, real: bool = False, modes: Optional[Tensor] = None) -> None:
        read = label_stacks(images, self.classifier)  # (B,)
        if not real:
            self.counts += torch.bincount(read, minlength=NUM_MODES)
            return
        if modes is None or modes.shape != read.shape:
            raise ValueError(f"Expected argument `modes` of shape {tuple(read.shape)} with real stacks, got"
                             f" {None if modes is None else tuple(modes.shape)}")
        self.real_counts += torch.bincount(read, minlength=NUM_MODES)
        self.real_right += (read == modes.to(read.device)).sum()

    def compute(self) -> dict[str, Tensor]:
        values = scores_of_counts(self.counts)
        if self.real_counts.sum() > 0:
            floor = scores_of_counts(self.real_counts)
            values |= {f"{name}_floor": value for name, value in floor.items()}
            values["stacked_classifier_accuracy"] = self.real_right.double() / self.real_counts.sum()
        return values

    def reset(self) -> None:
        """Forget the generated stacks; keep the real ones (the floor is computed once)."""
        kept = {name: getattr(self, name).clone() for name in ("real_counts", "real_right")}
        super().reset()
        for name, value in kept.items():
            setattr(self, name, value)
