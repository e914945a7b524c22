"""A small convolutional classifier for the data set itself; its features replace Inception's.

Inception v3 was trained on ImageNet photographs: on MNIST, the 8x8 digits and other small data
sets its features mean little. A classifier trained on the data set gives features for a
"Fréchet Classifier Distance" and class probabilities for an Inception Score that count digits.
"""

from typing import Sequence

import torch
from torch import nn

from lit_gan.checks import check_positive_ints


class ConvClassifier(nn.Module):
    """x (B, C, H, W) -> logits (B, num_classes), through penultimate features (B, feature_dim).

    Two blocks of 3x3 convolution, BatchNorm, ReLU and 2x2 max pooling, then a ReLU layer of
    ``feature_dim`` (the features) and a linear head.

    Args:
        img_shape: (C, H, W) with H, W >= 2**len(channels); linked from the data.
        num_classes: number of classes.
        channels: channels of the two convolution blocks.
        feature_dim: size of the penultimate features.
        dropout: dropout before the head, during training only.
    """

    def __init__(
        self,
        img_shape: Sequence[int],
        num_classes: int = 10,
        channels: Sequence[int] = (32, 64),
        feature_dim: int = 128,
        dropout: float = 0.25,
    ) -> None:
        super().__init__()
        check_positive_ints(num_classes=num_classes, channels=channels, feature_dim=feature_dim)
        side = 2 ** len(channels)  # each block halves H and W
        if len(img_shape) != 3 or min(img_shape[1:]) < side:
            raise ValueError(
                f"Expected argument `img_shape` to be (C, H, W) with H, W >= {side} for {len(channels)} blocks,"
                f" got {tuple(img_shape)}"
            )
        c, h, w = (int(s) for s in img_shape)
        layers: list[nn.Module] = []
        for c_in, c_out in zip([c, *channels[:-1]], channels):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True), nn.MaxPool2d(2)]
            h, w = h // 2, w // 2
        self.features = nn.Sequential(
            *layers,
            nn.Flatten(),  # (B, channels[-1] * h * w), h = H // 2**len(channels)
            nn.Linear(channels[-1] * h * w, feature_dim),
            nn.ReLU(True),
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, num_classes)
        self.num_features, self.num_classes = int(feature_dim), int(num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))
