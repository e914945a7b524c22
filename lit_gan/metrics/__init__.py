"""Sample-quality metrics the torchmetrics way, and the feature extractors they run on.

- :class:`FrechetDistance`: FID with a fast exact trace term (:func:`frechet_distance`); FD_DINOv2 on DINOv2 features.
- :class:`InceptionScore`, :class:`KernelDistance`: IS and KID whose states sync under DDP, with
  torch-fidelity's random draws by default (its values on the same images).
- :class:`PrecisionRecall` (Kynkäänniemi et al. 2019), :class:`DensityCoverage` (Naeem et al. 2020):
  fidelity and diversity apart, on k-NN balls of the features.
- :class:`KernelMMD`: the Gaussian-kernel MMD of CMMD (Jayasumana et al. 2024), on any features.
- :class:`ImageQualityMetrics`: any of these together, on one pass of a feature extractor.
- The registry (:class:`QualityMetric`, one class a metric, in one file): :class:`FID`, :class:`IS`,
  :class:`KID`, :class:`ImprovedPrecisionRecall`, :class:`DensityAndCoverage`, :class:`MMD`, and by class
  :class:`ClassAccuracy`, :class:`IntraClassFID`, :class:`CAS`: what ``metrics:`` takes, by name or class_path.
- :class:`ReferenceCache`: the held-out images' features on disk, extracted once.
- :class:`ModeCoverage`: modes captured and high-quality fraction on toy mixtures (by class, too).
- :func:`stacked_modes`, :func:`stacked_scores`, :class:`StackedModeCoverage`: modes of 1,000 and KL from
  uniform on Stacked MNIST (VEEGAN, PacGAN), each channel labelled by a digit classifier.
- :func:`class_accuracy`, :func:`intra_class_fid`, :func:`classification_accuracy_score`: a
  class-conditional model's samples checked against the classes asked for (pure functions).
- :class:`InceptionFeatures` (torch-fidelity's Inception v3), :class:`CLIPFeatures`,
  :class:`DINOv2Features` and :class:`ClassifierFeatures` (a :class:`Classifier` trained on the
  data set): all are :class:`FeatureExtractor`\\ s.
"""

from lit_gan.metrics.classifier import Classifier, ClassifierFeatures
from lit_gan.metrics.clip import CLIPFeatures
from lit_gan.metrics.conditional import (class_accuracy, classification_accuracy_score, intra_class_fid,
                                         intra_class_fid_floor)
from lit_gan.metrics.coverage import ModeCoverage
from lit_gan.metrics.dinov2 import DINOv2Features
from lit_gan.metrics.features import FeatureExtractor, PrecomputedFeatures
from lit_gan.metrics.frechet import FrechetDistance, frechet_distance, trace_sqrt_product
from lit_gan.metrics.inception import InceptionFeatures, InceptionWeightsNotFoundError
from lit_gan.metrics.manifold import DensityCoverage, PrecisionRecall, density_coverage, precision_recall
from lit_gan.metrics.mmd import KernelMMD, gaussian_mmd
from lit_gan.metrics.by_class import CAS, ClassAccuracy, IntraClassFID
from lit_gan.metrics.quality import ImageQualityMetrics
from lit_gan.metrics.registry import QualityMetric
from lit_gan.metrics.standard import FID, IS, KID, MMD, DensityAndCoverage, ImprovedPrecisionRecall
from lit_gan.metrics.reference import ReferenceCache
from lit_gan.metrics.scores import InceptionScore, KernelDistance
from lit_gan.metrics.stacked import StackedModeCoverage, label_stacks, stacked_modes, stacked_scores
from lit_gan.metrics.weights import WeightsNotFoundError

__all__ = [
    "CAS",
    "ClassAccuracy",
    "DensityAndCoverage",
    "FID",
    "IS",
    "ImprovedPrecisionRecall",
    "IntraClassFID",
    "KID",
    "MMD",
    "QualityMetric",
    "class_accuracy",
    "classification_accuracy_score",
    "intra_class_fid",
    "intra_class_fid_floor",
    "CLIPFeatures",
    "Classifier",
    "ClassifierFeatures",
    "DINOv2Features",
    "DensityCoverage",
    "FeatureExtractor",
    "FrechetDistance",
    "ImageQualityMetrics",
    "InceptionFeatures",
    "InceptionScore",
    "InceptionWeightsNotFoundError",
    "KernelDistance",
    "KernelMMD",
    "ModeCoverage",
    "PrecisionRecall",
    "PrecomputedFeatures",
    "ReferenceCache",
    "StackedModeCoverage",
    "WeightsNotFoundError",
    "density_coverage",
    "frechet_distance",
    "gaussian_mmd",
    "label_stacks",
    "precision_recall",
    "stacked_modes",
    "stacked_scores",
    "trace_sqrt_product",
]
