"""ImageQuality on 1 process or 2 (DDP, gloo): test an untrained GAN, then fit it for 2 steps.

    python tests/metrics/ddp_script.py OUT_DIR DEVICES CLASSIFIER_CKPT      (PYTHONPATH: the repository)

Lightning's DDP launcher runs this file again for rank 1. Every rank writes its logged metrics
to OUT_DIR/test/rank<r>.pt and OUT_DIR/fit/rank<r>.pt.
"""

import sys
from functools import partial

from lightning.pytorch import Trainer, seed_everything

from lit_gan import GAN
from lit_gan.callbacks.image_quality import ImageQuality
from lit_gan.metrics import ClassifierFeatures
from lit_gan.networks import DCGANCritic, DCGANGenerator
from tests.metrics.helpers import DigitsImages, DumpMetrics


def main(out_dir: str, devices: int, classifier_ckpt: str) -> ImageQuality:
    seed_everything(0)  # the same initial weights in every run
    model = GAN(generator=partial(DCGANGenerator, base_channels=8), critic=partial(DCGANCritic, base_channels=8),
                latent_dim=8, img_shape=(1, 8, 8))
    # uneven shares on purpose: 97 samples and 251 held-out images over 2 ranks
    quality = ImageQuality(ClassifierFeatures(classifier_ckpt), num_samples=97, batch_size=16, every_n_steps=1,
                           num_real=251, is_splits=3, kid_subsets=4, kid_subset_size=40,
                           metrics=["fid", "is", "kid", "precision_recall", "density_coverage", "mmd"])
    trainer = Trainer(
        accelerator="cpu", devices=devices, strategy="ddp" if devices > 1 else "auto", max_steps=2, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
        callbacks=[quality, DumpMetrics(out_dir)],
    )
    data = DigitsImages(batch_size=32)
    trainer.test(model, data, verbose=False)
    trainer.fit(model, data)
    return quality


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
