"""Plain ``nn.Module`` generators and critics; they know nothing of training."""

from lit_gan.networks.dcgan import DCGANCritic, DCGANGenerator
from lit_gan.networks.mlp import MLPCritic, MLPGenerator

__all__ = ["DCGANCritic", "DCGANGenerator", "MLPCritic", "MLPGenerator"]
