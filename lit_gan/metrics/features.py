"""Feature extractors: frozen networks that map images to features (for FID, KID) and logits (for IS).

Every extractor takes images as the data modules give them (float in [-1, 1], or uint8 in
[0, 255]), shape (B, C, H, W), and returns both outputs of one forward pass from ``extract``, so
that FID, KID and IS of one batch cost one pass through the network. ``forward`` returns the
features alone, so that an extractor also plugs into torchmetrics' metrics as ``feature=``.
"""

from torch import Tensor, nn

from lit_gan.checks import check_positive_ints


class FeatureExtractor(nn.Module):
    """Base class: a frozen network, always in eval mode.

    Subclasses set ``num_features`` and ``num_classes``, implement ``extract``, and end their
    ``__init__`` with ``self.requires_grad_(False).eval()``.
    """

    num_features: int
    num_classes: int

    def extract(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """images (B, C, H, W) -> (features (B, num_features), logits (B, num_classes)), float32."""
        raise NotImplementedError

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
