"""A digit "classifier" that knows its digits: it labels an image by looking it up among the digit
images it was given, so that the labels of real stacks are exactly their digits' (no training)."""

import torch
from torch import Tensor

from lit_gan.metrics.features import FeatureExtractor
from lit_gan.tensors import to_uint8


class DigitLookup(FeatureExtractor):
    """``extract(images)`` -> (a (B, 1) feature, one-hot logits (B, num_classes)) of each image's digit among
    ``digits`` (N, 1, H, W) uint8 with ``labels``; an image it does not know is labelled ``unknown``."""

    def __init__(self, digits: Tensor, labels: Tensor, num_classes: int = 10, unknown: int = 0) -> None:
        super().__init__()
        self.img_shape, self.num_features, self.num_classes = tuple(digits.shape[1:]), 1, num_classes
        self.weights = torch.randint(1, 2**40, (digits[0].numel(),), generator=torch.Generator().manual_seed(0))
        keys = self._keys(digits)
        self.keys, order = keys.sort()
        self.labels, self.unknown = labels[order], unknown
        self.requires_grad_(False).eval()

    def _keys(self, images: Tensor) -> Tensor:
        return (to_uint8(images).flatten(1).long().cpu() * self.weights).sum(1)  # exact: integers

    def extract(self, images: Tensor) -> tuple[Tensor, Tensor]:
        keys = self._keys(images)
        at = torch.searchsorted(self.keys, keys).clamp_(max=len(self.keys) - 1)
        labels = torch.where(self.keys[at] == keys, self.labels[at], torch.tensor(self.unknown))
        logits = torch.nn.functional.one_hot(labels, self.num_classes).float()
        return labels[:, None].float().to(images.device), logits.to(images.device)

    def identity(self) -> dict[str, str]:
        return {"extractor": "lookup", "features": "1", "weights_sha256": "", "resize": "none"}
