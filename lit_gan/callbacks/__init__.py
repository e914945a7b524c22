"""Lightning callbacks of lit-gan."""

from lit_gan.callbacks.weight_clipping import WeightClipping

__all__ = ["WeightClipping"]
