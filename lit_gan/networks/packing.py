"""Packing (Lin et al. 2018, "PacGAN: The power of two samples in generative adversarial networks"):
the critic judges m samples at once, concatenated along channels (or features, for the MLP), so
that it sees how alike a batch's samples are, and a generator that drops modes is caught by the
lack of variety inside a pack. Any critic packs; every family's loss then sees one score per pack.

    x (B, C, H, W) -> packs (B / m, m * C, H, W) -> critic -> scores (B / m,)

Sample i goes into pack i mod (B / m), in the pack's place i div (B / m) (a stride of B / m, not
consecutive samples). Under DDP rank r of W holds the global batch's positions r, r + W, ... (the
data order and the latents, ``lit_gan.data.order``), so each rank's packs are packs of the global
batch, those one process with W times the batch would form: 2 processes of batch B train as 1 of 2B.
"""

import math
from typing import Callable, Optional, Sequence

import torch
from torch import Tensor, nn

from lit_gan.errors import ConfigError
from lit_gan.networks.augment import DiffAugment
from lit_gan.networks.conditional import check_labels
from lit_gan.specs import from_spec


def pack_samples(x: Tensor, pack: int) -> Tensor:
    """(B, C, ...) -> (B / pack, pack * C, ...): sample i in pack i mod (B / pack); B a multiple of ``pack``."""
    n = x.shape[0] // pack
    # (pack, n, C, ...) -> (n, pack, C, ...) -> the pack's samples one after the other along C
    return x.reshape(pack, n, *x.shape[1:]).transpose(0, 1).reshape(n, pack * x.shape[1], *x.shape[2:])


def pack_size(critic: nn.Module) -> int:
    """The samples one score of ``critic`` reads: the product of the ``pack`` of the modules it holds (1: none)."""
    return math.prod(int(getattr(m, "pack", 1)) for m in critic.modules())


def check_pack(critic: nn.Module, batch_size: Optional[int], drop_last: bool = True) -> None:
    """At setup: every critic batch (``batch_size`` samples per process) fills whole packs; one line
    naming ``pack`` where it does not. Nothing to check for an unpacked critic or an unknown batch size."""
    pack = pack_size(critic)
    if pack == 1 or batch_size is None:
        return
    if int(batch_size) % pack:
        raise ConfigError(
            f"Expected argument `pack` ({pack}) to divide the batch of {batch_size} samples per process"
            f" (`batch_size`): every pack is of {pack} samples; choose a batch size that is a multiple of it"
        )
    if not drop_last:
        raise ConfigError(
            f"Expected argument `pack` ({pack}) to come with `drop_last: true`: an epoch's last, smaller batch"
            " would not fill whole packs"
        )


class Packed(nn.Module):
    """A critic that scores packs of ``pack`` samples: x (B, *img_shape) -> (B / pack,) scores, the
    wrapped critic built for ``pack`` x the channels (images) or features (1-D samples).

    In training every batch must fill whole packs (the model checks its batch size at setup, see
    :func:`check_pack`). In eval mode a batch of any size is scored (validation's last batch, a
    diagnostic's points): its last pack is filled up with the batch's first samples.

    Wrap it in :class:`~lit_gan.networks.DiffAugment`, not the other way round: each sample is
    then augmented on its own, before packing. It has no ``features``, so the heads that read a
    sample's features (Projection, ``code_categories``, ``ac_weight``) refuse it; a conditional
    model is refused too (a pack would hold samples of several classes).

    Args:
        img_shape: shape of one sample; linked from the data.
        critic: the critic class (or factory), called as ``critic(packed_shape)``; in YAML a
            ``class_path`` whose ``init_args`` leave out ``img_shape``.
        pack: m, the samples per pack (PacGAN2 to PacGAN4: 2 to 4); 1 is the critic as it is.
        num_classes: set from the model's ``num_classes``; must be 0.
    """

    def __init__(
        self,
        img_shape: Sequence[int],
        critic: Callable[[Sequence[int]], nn.Module],
        pack: int = 2,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        if isinstance(pack, bool) or not isinstance(pack, int) or pack < 1:
            raise ValueError(
                f"Expected argument `pack` to be an integer >= 1 (the samples a critic score reads), got {pack!r}"
            )
        if num_classes:
            raise ConfigError(
                f"`Packed` (`pack` {pack}) is for unconditional models: a pack would mix samples of several classes,"
                f" and the model is conditional (`num_classes` {num_classes}); set `num_classes: 0` or leave Packed out"
            )
        self.pack, self.num_classes = int(pack), 0
        self.img_shape = tuple(int(s) for s in img_shape)
        self.critic = from_spec(critic)((self.pack * self.img_shape[0], *self.img_shape[1:]))
        if any(isinstance(m, DiffAugment) for m in self.critic.modules()):
            raise ValueError(
                "Expected argument `critic` of Packed to hold no DiffAugment: it would augment packs, not samples;"
                " wrap Packed in DiffAugment instead"
            )

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        check_labels(self, y)
        b = x.shape[0]
        if b % self.pack:
            if self.training:
                raise ConfigError(
                    f"Expected argument `pack` ({self.pack}) to divide the batch the critic scores, got {b} samples"
                )
            fill = torch.arange(-(-b // self.pack) * self.pack, device=x.device) % b  # the first samples again
            x = x[fill]
        return self.critic(pack_samples(x, self.pack))  # (B / pack,)
