"""Differentiable augmentation of the critic's input (DiffAugment, Zhao et al. 2020, "Differentiable
Augmentation for Data-Efficient GAN Training"): every image the critic sees in training, real or
generated, in the critic's update and in the generator's, is first transformed at random by
operations that gradients pass through, so that a critic trained on few images cannot memorize
them, and the generator is still pushed towards the un-augmented data:

    D_aug(x) = D(T(x)),  T drawn anew for every sample and every call

The operations and their ranges are those of the reference code (mit-han-lab/data-efficient-gans,
``DiffAugment_pytorch.py``), for images in [-1, 1]:

    color:        x + U(-0.5, 0.5) (brightness); channels scaled about their mean by U(0, 2)
                  (saturation); the image scaled about its mean by U(0.5, 1.5) (contrast)
    translation:  an integer shift of up to ratio (1/8) of each side, the uncovered border 0
    cutout:       a square of ratio (1/2) of each side, centred at random, set to 0

In eval mode (validation, test) the critic scores the images as they are.
"""

from typing import Callable, Literal, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lit_gan.checks import check_not_negative_int
from lit_gan.networks.conditional import check_labels
from lit_gan.specs import from_spec

Operation = Literal["color", "translation", "cutout"]


def brightness(x: Tensor) -> Tensor:
    return x + (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device) - 0.5)


def saturation(x: Tensor) -> Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device) * 2) + mean


def contrast(x: Tensor) -> Tensor:
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device) + 0.5) + mean


def _grid(b: int, h: int, w: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    ranges = (torch.arange(n, dtype=torch.long, device=device) for n in (b, h, w))
    return torch.meshgrid(*ranges, indexing="ij")


def translation(x: Tensor, ratio: float = 0.125) -> Tensor:
    """Shift each image by integers in [-s, s] (s = ratio * side, rounded) along both axes, zero-filled."""
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, size=[b, 1, 1], device=x.device)
    dx = torch.randint(-sw, sw + 1, size=[b, 1, 1], device=x.device)
    gb, gy, gx = _grid(b, h, w, x.device)
    gy = torch.clamp(gy + dy + 1, 0, h + 1)  # into the 1-pixel zero border of the padded image
    gx = torch.clamp(gx + dx + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)
    return padded[gb, gy, gx].permute(0, 3, 1, 2)


def cutout(x: Tensor, ratio: float = 0.5) -> Tensor:
    """Zero a (ratio * side)-square of each image, centred uniformly (it may overlap the border)."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), size=[b, 1, 1], device=x.device)
    ox = torch.randint(0, w + (1 - cw % 2), size=[b, 1, 1], device=x.device)
    gb, gy, gx = _grid(b, ch, cw, x.device)
    gy = torch.clamp(gy + oy - ch // 2, min=0, max=h - 1)
    gx = torch.clamp(gx + ox - cw // 2, min=0, max=w - 1)
    mask = torch.ones(b, h, w, dtype=x.dtype, device=x.device)
    mask[gb, gy, gx] = 0
    return x * mask.unsqueeze(1)


OPERATIONS: dict[str, tuple[Callable[[Tensor], Tensor], ...]] = {
    "color": (brightness, saturation, contrast),
    "translation": (translation,),
    "cutout": (cutout,),
}


def diff_augment(x: Tensor, policy: Sequence[str]) -> Tensor:
    """The reference's ``DiffAugment(x, policy)``: the policy's operations in order."""
    for name in policy:
        for op in OPERATIONS[name]:
            x = op(x)
    return x.contiguous()


class DiffAugment(nn.Module):
    """A critic that scores DiffAugment-ed images in training mode: x (B, C, H, W), y -> critic(T(x), y).

    Args:
        img_shape: shape of one sample, passed on to ``critic``.
        critic: the critic class (or factory), called as ``critic(img_shape)``, or as
            ``critic(img_shape, num_classes=num_classes)`` when ``num_classes`` > 0 (e.g. a
            :class:`~lit_gan.networks.conditional.Projection`); in YAML a ``class_path`` whose
            ``init_args`` leave out ``img_shape``.
        policy: the operations, applied in this order; the paper's choice for few images is all
            three (``[color, translation, cutout]``).
        num_classes: number K of classes, passed on to ``critic`` when > 0; set from the model's
            ``num_classes``. The wrapper's ``num_classes`` is the critic's.
    """

    def __init__(
        self,
        img_shape: Sequence[int],
        critic: Callable[[Sequence[int]], nn.Module],
        policy: Sequence[Operation] = ("color", "translation", "cutout"),
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        check_not_negative_int(num_classes=num_classes)
        unknown = [p for p in policy if p not in OPERATIONS]
        if unknown or not policy or len(set(policy)) != len(policy):  # a repeat would apply the operation twice
            raise ValueError(
                f"Expected argument `policy` to be a non-empty list of distinct names among {sorted(OPERATIONS)},"
                f" got {list(policy)}"
            )
        if len(img_shape) != 3:
            raise ValueError(f"Expected argument `img_shape` to be (C, H, W) for DiffAugment, got {tuple(img_shape)}")
        self.policy = tuple(policy)
        factory = from_spec(critic)
        self.critic = factory(img_shape, num_classes=int(num_classes)) if num_classes else factory(img_shape)
        self.num_classes = int(getattr(self.critic, "num_classes", 0))

    def features(self, x: Tensor) -> Tensor:
        """The wrapped critic's ``features`` of T(x) (for ``code_categories`` and ``Projection``)."""
        return self.critic.features(diff_augment(x, self.policy) if self.training else x)

    def score(self, h: Tensor, y: Optional[Tensor] = None) -> Tensor:
        check_labels(self, y)
        return self.critic.score(h) if y is None else self.critic.score(h, y)

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        check_labels(self, y, "; wrap it in Projection, or give it a conditional critic and `num_classes`")
        x = diff_augment(x, self.policy) if self.training else x
        return self.critic(x) if y is None else self.critic(x, y)
