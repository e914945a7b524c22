"""Lightning callbacks of lit-gan: weight clipping, and what to watch in TensorBoard."""

from lit_gan.callbacks.critic_landscape import CriticLandscape
from lit_gan.callbacks.gradient_diagnostics import GradientDiagnostics
from lit_gan.callbacks.sample_grid import SampleGrid
from lit_gan.callbacks.save_config import SaveConfigToLogger
from lit_gan.callbacks.weight_clipping import WeightClipping

__all__ = ["CriticLandscape", "GradientDiagnostics", "SampleGrid", "SaveConfigToLogger", "WeightClipping"]
