"""Feature extractors: frozen networks that map images to features (for FID, KID) and logits (for IS).

Every extractor takes images as the data modules give them (float in [-1, 1], or uint8 in
[0, 255]), shape (B, C, H, W), and returns both outputs of one forward pass from ``extract``, so
that FID, KID and IS of one batch cost one pass through the network. ``forward`` returns the
features alone, so that an extractor also plugs into torchmetrics' metrics as ``feature=``.

``identity`` says which network, weights and preprocessing gave the features: a key for a cache of
reference statistics, and a protocol line a paper can quote.
"""

from pathlib import Path
from typing import Optional, Sequence, Union

from torch import Tensor, nn

from lit_gan.checks import check_positive_ints
from lit_gan.errors import ConfigError
from lit_gan.files import file_digest
from lit_gan.tensors import to_uint8


def rgb_uint8(images: Tensor) -> Tensor:
    """images (B, 1 or 3, H, W), float in [-1, 1] or uint8 -> uint8 RGB (B, 3, H, W), what the
    pretrained networks (Inception, CLIP, DINOv2) take: float is quantized, grayscale repeated."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"Expected argument `images` to have shape (B, 1 or 3, H, W), got {tuple(images.shape)}")
    x = to_uint8(images)
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def input_shape(extractor: nn.Module) -> Optional[tuple[int, ...]]:
    """The one image shape (C, H, W) that ``extractor`` takes (a classifier's ``img_shape``); None: any
    (the pretrained networks resize every image, and repeat a grayscale channel)."""
    shape = getattr(extractor, "img_shape", None)
    return None if shape is None else tuple(int(s) for s in shape)


def check_takes(extractor: nn.Module, shape: Optional[Sequence[int]], whose: str) -> None:
    """Refuse images of ``shape`` (``whose``: which, in words) for an extractor that takes another one,
    before anything is extracted or trained; nothing to check where either shape is unknown (None)."""
    takes = input_shape(extractor)
    if takes is not None and shape is not None and takes != tuple(shape):
        raise ConfigError(
            f"Expected argument `feature_extractor` to take {whose} of shape {tuple(shape)}, got a"
            f" {type(extractor).__name__} that takes {takes}: use one trained on images of shape {tuple(shape)}"
        )


class FeatureExtractor(nn.Module):
    """Base class: a frozen network, always in eval mode.

    Subclasses set ``num_features`` and ``num_classes`` (0: no logits, as CLIP and DINOv2 have; then
    ``extract`` returns an empty (B, 0) tensor for them, and IS cannot be computed), implement
    ``extract`` and ``identity``, and end their ``__init__`` with ``self.requires_grad_(False).eval()``.
    """

    num_features: int
    num_classes: int

    def extract(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """images (B, C, H, W) -> (features (B, num_features), logits (B, num_classes)), float32."""
        raise NotImplementedError

    def identity(self) -> dict[str, str]:
        """Which features these are, as strings: at least ``extractor`` (a short name of the network),
        ``features`` (their number), ``weights_sha256`` (the full sha256 of the weights file) and
        ``resize`` (how images are brought to the network's input, in words). Two extractors with
        the same identity give the same features (up to floating-point rounding on other hardware),
        so reference statistics can be cached under it."""
        raise NotImplementedError(
            f"{type(self).__name__} does not implement `identity`: it cannot say which features it gives"
        )

    def _file_sha256(self, path: Union[str, Path]) -> str:
        """The sha256 of the file at ``path``, computed once per extractor (weights files are large)."""
        memo = self.__dict__.setdefault("_sha256_of", {})  # a plain attribute, not a module or a buffer
        if str(path) not in memo:
            memo[str(path)] = file_digest(Path(path), "sha256")
        return memo[str(path)]

    def forward(self, images: Tensor) -> Tensor:
        return self.extract(images)[0]

    def train(self, mode: bool = True) -> "FeatureExtractor":
        return super().train(False)  # batch statistics or dropout would make the features depend on the batch


class PrecomputedFeatures(nn.Module):
    """The identity, with ``num_features``: torchmetrics' FID, KID and IS then accumulate features
    that were extracted once, instead of running their own network on images."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        check_positive_ints(num_features=num_features)
        self.num_features = int(num_features)

    def forward(self, features: Tensor) -> Tensor:
        if features.ndim != 2 or features.shape[1] != self.num_features:
            raise ValueError(f"Expected features of shape (N, {self.num_features}), got {tuple(features.shape)}")
        return features
