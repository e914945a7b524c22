"""Plain ``nn.Module`` generators and critics; they know nothing of training."""

from lit_gan.networks.augment import DiffAugment
from lit_gan.networks.classifier import ConvClassifier
from lit_gan.networks.code import CodedCritic, CodedGenerator
from lit_gan.networks.conditional import ClassHead, ConditionalBatchNorm2d, LabelConcat, LabelConcatCritic, Projection
from lit_gan.networks.dcgan import DCGANCritic, DCGANGenerator
from lit_gan.networks.mlp import MLPCritic, MLPGenerator
from lit_gan.networks.packing import Packed
from lit_gan.networks.resnet import ResNetCritic, ResNetGenerator
from lit_gan.networks.spectral import apply_spectral_norm

__all__ = [
    "ClassHead", "CodedCritic", "CodedGenerator", "ConditionalBatchNorm2d", "ConvClassifier", "DCGANCritic", "DCGANGenerator",
    "DiffAugment", "LabelConcat", "LabelConcatCritic", "MLPCritic", "MLPGenerator", "Packed", "Projection", "ResNetCritic",
    "ResNetGenerator",
    "apply_spectral_norm",
]
