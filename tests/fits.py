"""Checkpoints of tiny real fits (one generator update, no callbacks, no validation) for the tests of what
is done with a checkpoint afterwards (``lit-gan generate``, ``lit-gan export``)."""

from pathlib import Path

from lit_gan.cli import run_cli
from tests.conftest import REPO

SMALL = {  # configs/<name>.yaml -> what makes it small
    "quickstart": ["--data.init_args.n_train", "1280", "--data.init_args.n_val", "256"],  # 2-D points
    "digits_wgan_gp": ["--data.init_args.batch_size", "16"],  # 8x8 images, MLPs
    # 28x28 DCGAN, 10 classes, an average that differs from the generator after one update
    "conditional_mnist": ["--data.init_args.batch_size", "16", "--model.init_args.ema_warmup", "0",
                          "--model.init_args.ema_decay", "0.5", "--model.init_args.g_optimizer.init_args.lr", "0.01"],
}


def tiny_fit(config: str, root: Path) -> Path:
    """The checkpoint of a one-update fit of configs/``config``.yaml, under ``root``/lightning_logs/version_0."""
    fit = run_cli(["fit", "--config", str(REPO / "configs" / f"{config}.yaml"), *SMALL[config],
                   "--trainer.max_steps", "1", "--trainer.callbacks", "[]", "--trainer.limit_val_batches", "0",
                   "--trainer.enable_progress_bar", "false", "--trainer.default_root_dir", str(root)])
    return Path(fit.trainer.checkpoint_callback.best_model_path)
