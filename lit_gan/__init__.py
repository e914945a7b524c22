"""lit-gan: the objectives of the GAN literature as PyTorch Lightning modules.

Layers, each importing only those below it: ``networks``, ``data`` and ``metrics`` (with the
neutral ``specs``, ``tensors``, ``checks``, ``errors``), then ``objectives``, then ``callbacks``,
then ``cli``. The families are loaded when first named here (``lit_gan.WGANGP``), so that
``import lit_gan.networks`` loads the networks alone.
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"
__all__ = ["AdversarialModule", "FGAN", "GAN", "Hinge", "LSGAN", "RpGAN", "WGAN", "WGANGP", "__version__", "load"]


def __getattr__(name: str) -> Any:
    if name == "load":  # lit_gan.load(path): the trained GAN of a checkpoint, whatever its family
        return import_module("lit_gan.objectives.loading").load
    if name in __all__:
        return getattr(import_module("lit_gan.objectives"), name)
    raise AttributeError(f"module 'lit_gan' has no attribute {name!r}")
