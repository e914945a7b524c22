"""Lightning callbacks of lit-gan: weight clipping, what to watch in TensorBoard, evaluation, samples out."""

from lit_gan.callbacks.critic_landscape import CriticLandscape
from lit_gan.callbacks.fit_summary import FitSummary
from lit_gan.callbacks.gradient_diagnostics import GradientDiagnostics
from lit_gan.callbacks.image_quality import ImageQuality, MixtureCoverage
from lit_gan.callbacks.progress import ProgressBar
from lit_gan.callbacks.run_lock import RunLock
from lit_gan.callbacks.sample_grid import SampleGrid
from lit_gan.callbacks.sample_writer import SampleWriter
from lit_gan.callbacks.save_config import SaveConfigToLogger
from lit_gan.callbacks.stacked_modes import StackedModes
from lit_gan.objectives.clipping import WeightClipping
from lit_gan.objectives.compiling import ChannelsLast, Compile

__all__ = [
    "ChannelsLast",
    "Compile",
    "CriticLandscape",
    "FitSummary",
    "GradientDiagnostics",
    "ImageQuality",
    "MixtureCoverage",
    "ProgressBar",
    "RunLock",
    "SampleGrid",
    "SampleWriter",
    "SaveConfigToLogger",
    "StackedModes",
    "WeightClipping",
]
