"""lit-gan: the objectives of the GAN literature as PyTorch Lightning modules."""

from lit_gan.objectives import FGAN, GAN, WGAN, WGANGP, AdversarialModule

__version__ = "0.1.0"
__all__ = ["AdversarialModule", "FGAN", "GAN", "WGAN", "WGANGP", "__version__"]
