"""LightningDataModules; each exposes ``img_shape``, the shape of one sample."""

from lit_gan.data.cifar import CIFAR10DataModule
from lit_gan.data.digits import DigitsDataModule
from lit_gan.data.folder import CelebADataModule, ImageFolderDataModule
from lit_gan.data.images import ImageDataModule
from lit_gan.data.mnist import MNISTDataModule
from lit_gan.data.mnist5k import MNIST5k
from lit_gan.data.stacked_mnist import StackedMNIST
from lit_gan.data.toy import GridOfGaussians, RingOfGaussians, SwissRoll, Toy2DDataModule

__all__ = [
    "CIFAR10DataModule",
    "CelebADataModule",
    "DigitsDataModule",
    "GridOfGaussians",
    "ImageDataModule",
    "ImageFolderDataModule",
    "MNIST5k",
    "MNISTDataModule",
    "RingOfGaussians",
    "StackedMNIST",
    "SwissRoll",
    "Toy2DDataModule",
]
