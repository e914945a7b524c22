"""Sample-quality metrics the torchmetrics way, and the feature extractors they run on.

- :class:`FrechetDistance`: FID with a fast exact trace term (:func:`frechet_distance`).
- :class:`InceptionScore`, :class:`KernelDistance`: IS and KID whose states sync under DDP.
- :class:`ImageQualityMetrics`: FID, IS and KID together, on one pass of a feature extractor.
- :class:`ModeCoverage`: modes captured and high-quality fraction on toy mixtures.
- :class:`InceptionFeatures` (torch-fidelity's Inception v3) and :class:`ClassifierFeatures` (a
  :class:`Classifier` trained on the data set): both are :class:`FeatureExtractor`\\ s.
"""

from lit_gan.metrics.classifier import Classifier, ClassifierFeatures
from lit_gan.metrics.coverage import ModeCoverage
from lit_gan.metrics.features import FeatureExtractor, PrecomputedFeatures
from lit_gan.metrics.frechet import FrechetDistance, frechet_distance, trace_sqrt_product
from lit_gan.metrics.inception import InceptionFeatures, InceptionWeightsNotFoundError
from lit_gan.metrics.quality import ImageQualityMetrics
from lit_gan.metrics.scores import InceptionScore, KernelDistance

__all__ = [
    "Classifier",
    "ClassifierFeatures",
    "FeatureExtractor",
    "FrechetDistance",
    "ImageQualityMetrics",
    "InceptionFeatures",
    "InceptionScore",
    "InceptionWeightsNotFoundError",
    "KernelDistance",
    "ModeCoverage",
    "PrecomputedFeatures",
    "frechet_distance",
    "trace_sqrt_product",
]
