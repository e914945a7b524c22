"""Pure loss functions and one LightningModule per objective family."""

from lit_gan.objectives.base import AdversarialModule
from lit_gan.objectives.fgan import FGAN
from lit_gan.objectives.gan import GAN
from lit_gan.objectives.hinge import Hinge
from lit_gan.objectives.lsgan import LSGAN
from lit_gan.objectives.rpgan import RpGAN
from lit_gan.objectives.schedules import LinearToZero
from lit_gan.objectives.wgan import WGAN, WGANGP

__all__ = ["AdversarialModule", "FGAN", "GAN", "Hinge", "LinearToZero", "LSGAN", "RpGAN", "WGAN", "WGANGP"]
