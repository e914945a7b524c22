"""Plain ``nn.Module`` generators and critics; they know nothing of training."""

from lit_gan.networks.classifier import ConvClassifier
from lit_gan.networks.dcgan import DCGANCritic, DCGANGenerator
from lit_gan.networks.mlp import MLPCritic, MLPGenerator

__all__ = ["ConvClassifier", "DCGANCritic", "DCGANGenerator", "MLPCritic", "MLPGenerator"]
