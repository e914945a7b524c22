"""LightningDataModules; each exposes ``img_shape``, the shape of one sample."""

from lit_gan.data.mnist import MNISTDataModule
from lit_gan.data.toy import GridOfGaussians, RingOfGaussians, SwissRoll, Toy2DDataModule

__all__ = ["MNISTDataModule", "GridOfGaussians", "RingOfGaussians", "SwissRoll", "Toy2DDataModule"]
