"""ImageQuality refuses, at setup, too few images for FID and KID to have a value, and warns where FID has
fewer images than features (the rule of ``lit-gan evaluate``, lit_gan.metrics.quality)."""

import re

import pytest

from lit_gan.errors import ConfigError
from tests.callbacks.test_image_quality import digits_gan, image_quality
from tests.conftest import cpu_trainer
from tests.metrics.helpers import DigitsImages


@pytest.mark.parametrize("kwargs,error,message", [
    # were: a RuntimeError at the first evaluation, after training; KID NaN
    (dict(num_samples=1, is_splits=1, metrics=["fid"]), ConfigError,
     "Expected at least 2 generated images for `fid` (a covariance needs 2), got 1"),
    (dict(num_real=1, metrics=["kid"]), ConfigError, "Expected at least 2 real images for `kid` (its unbiased estimate"),
    (dict(kid_subset_size=1, metrics=["kid"]), ValueError, "Expected argument `kid_subset_size` to be an integer >= 2"),
])
def test_too_few_images_for_fid_or_kid_are_refused_at_setup(tmp_path, digits_classifier, kwargs, error, message):
    trainer = cpu_trainer(tmp_path, max_steps=2, callbacks=[image_quality(digits_classifier, every_n_steps=1, **kwargs)])
    with pytest.raises(error, match=re.escape(message)):
        trainer.fit(digits_gan(), DigitsImages(batch_size=16))
    assert trainer.global_step == 0  # before any training


def test_fid_of_fewer_images_than_features_is_warned_at_setup(tmp_path, digits_classifier):
    callback = image_quality(digits_classifier, num_samples=20, is_splits=2, kid_subset_size=10, metrics=["fid"])
    d = callback.feature_extractor.num_features
    assert d > 20
    with pytest.warns(UserWarning, match=rf"ImageQuality: FID of 20 generated and 297 real images, fewer than the {d}"
                                         " features"):
        cpu_trainer(tmp_path, callbacks=[callback]).test(digits_gan(), DigitsImages(batch_size=16), verbose=False)
