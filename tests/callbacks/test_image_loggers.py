"""Images reach every logger (issue 37, item 5): a short fit with a SampleGrid, once per logger kind, with
the real packages offline (W&B in offline mode, MLflow on a local file store and on SQLite). Each gets
the grid of the last step, pixel for pixel; a run whose loggers take no images (CSV, or none) gets PNG
files in its folder, said once in the log."""

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lit_gan.callbacks import CriticLandscape, SampleGrid
from lit_gan.callbacks.figures import to_uint8_hwc
from lit_gan.cli import run_cli
from tests.callbacks.conftest import decode
from tests.conftest import REPO

DIGITS = ["--config", str(REPO / "configs" / "digits_wgan_gp.yaml"), "--trainer.enable_progress_bar", "false",
          "--trainer.max_steps", "3", "--trainer.callbacks", "[]", "--trainer.callbacks+=lit_gan.callbacks.SampleGrid",
          "--trainer.callbacks.every_n_steps=2", "--trainer.callbacks.n_samples=16"]  # drawn at steps 2 and 3
LOGGER = "lightning.pytorch.loggers."
LOGGERS = {  # kind -> the command line's logger
    "tensorboard": [],  # the default
    "csv": ["--trainer.logger", LOGGER + "CSVLogger", "--trainer.logger.save_dir", "."],
    "none": ["--trainer.logger", "false"],
    "wandb": ["--trainer.logger", LOGGER + "WandbLogger", "--trainer.logger.save_dir", "wb",
              "--trainer.logger.offline", "true"],
    "mlflow-file": ["--trainer.logger", LOGGER + "MLFlowLogger", "--trainer.logger.tracking_uri", "file:./mlruns"],
    # MLflow 3's default store: the logger has no save_dir, and Lightning's trainer.log_dir is None
    "mlflow-sqlite": ["--trainer.logger", LOGGER + "MLFlowLogger", "--trainer.logger.tracking_uri",
                      "sqlite:///mlflow.db", "--trainer.logger.artifact_location", "{tmp}/artifacts"],
}
SAID = "Images are written as PNG files under"


def said(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The lines that say where the PNG files go."""
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(SAID)]


def read_png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def pngs(folder: Path, pattern: str, step: str) -> dict[int, np.ndarray]:
    """The PNG files of ``folder`` matching ``pattern`` by the step in their name (``step``: a regex group)."""
    return {int(re.search(step, p.name).group(1)): read_png(p) for p in folder.glob(pattern)}


def logged_images(kind: str, tmp_path: Path, run: Path) -> dict[int, np.ndarray]:
    """What the logger of ``kind`` holds of the tag ``samples``, by step, read back from its files."""
    if kind == "tensorboard":
        events = EventAccumulator(str(run), size_guidance={"images": 0}).Reload()
        return {e.step: decode(e) for e in events.Images("samples")}
    if kind in ("csv", "none"):
        return pngs(run / "images" / "samples", "step=*.png", r"step=(\d+)\.png")
    if kind == "wandb":  # files/media/images/samples_<W&B's own step>_<hash>.png: in order, not the trainer's step
        (offline,) = (tmp_path / "wb" / "wandb").glob("offline-run-*")
        found = pngs(offline / "files" / "media" / "images", "samples_*.png", r"samples_(\d+)_")
        return dict(zip((2, 3), (found[k] for k in sorted(found))))
    store = tmp_path / ("mlruns" if kind == "mlflow-file" else "artifacts")
    return pngs(store, "**/images/samples+step+*.png", r"\+step\+(\d+)\+")  # the full-size image, not the .webp


@pytest.mark.parametrize("kind", LOGGERS)
def test_the_sample_grids_reach_each_logger_kind(kind, tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wb"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONSOLE", "off")  # W&B leaves sys.stdout alone
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 refuses a file store unless asked
    (tmp_path / "wb").mkdir()
    cli = run_cli(["fit", *DIGITS, *[a.format(tmp=tmp_path) for a in LOGGERS[kind]]])
    if kind == "wandb":
        import wandb

        wandb.finish()  # the run's files written whole; the next W&B test starts its own run
    (grid,) = [c for c in cli.trainer.callbacks if isinstance(c, SampleGrid)]
    last = to_uint8_hwc(grid.grid(cli.model), "CHW")  # the final generator's grid, (22, 82, 3)
    run = Path(cli.trainer.checkpoint_callback.dirpath).parent  # the run's folder: config.yaml, checkpoints/
    assert (run / "config.yaml").is_file()
    images = logged_images(kind, tmp_path, run)
    assert sorted(images) == [2, 3]
    assert images[2].shape == last.shape == (22, 82, 3)
    np.testing.assert_array_equal(images[3], last)  # every logger gets the same pixels
    assert images[2].std() > 0
    png_files = kind in ("csv", "none")
    assert len(said(caplog)) == (1 if png_files else 0)
    assert png_files == (run / "images").exists()  # a logger that takes images gets no PNG files besides


def test_critic_landscapes_without_a_logger_are_png_files_in_the_root_folder(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    cli = run_cli(["fit", "--config", str(REPO / "configs" / "quickstart.yaml"), "--trainer.enable_progress_bar",
                   "false", "--data.init_args.n_train", "1280", "--data.init_args.n_val", "256",
                   "--trainer.max_steps", "3", "--trainer.logger", "false", "--trainer.callbacks", "[]",
                   "--trainer.callbacks+=lit_gan.callbacks.CriticLandscape", "--trainer.callbacks.every_n_steps=2",
                   "--trainer.callbacks.size_px=200", "--trainer.callbacks.resolution=20"])
    (landscape,) = [c for c in cli.trainer.callbacks if isinstance(c, CriticLandscape)]
    images = pngs(tmp_path / "images" / "critic_landscape", "*.png", r"step=(\d+)\.png")
    assert sorted(images) == [2, 3]
    np.testing.assert_array_equal(images[3], landscape.figure(cli.model, 3))
    assert said(caplog) == [f"{SAID} images/ (no logger)"]


@pytest.mark.parametrize("image,dataformats,error", [
    (np.zeros((4, 4)), "HWC", "`image` to have 3 dimensions"),
    (np.zeros((4, 4, 2)), "HWC", "1, 3 or 4 channels"),
    (np.zeros((3, 4, 4)), "NCHW", "`dataformats` to be 'HWC' or 'CHW'"),
])
def test_an_image_that_is_not_one_is_refused_in_one_line(image, dataformats, error):
    with pytest.raises(ValueError, match=re.escape(error)):
        to_uint8_hwc(image, dataformats)


def test_floats_become_the_bytes_tensorboard_makes_of_them():
    from torch.utils.tensorboard.summary import image

    x = np.random.default_rng(0).uniform(-0.2, 1.2, (3, 5, 7)).astype(np.float32)
    ours = image("t", to_uint8_hwc(x, "CHW"), dataformats="HWC").value[0].image.encoded_image_string
    assert ours == image("t", x, dataformats="CHW").value[0].image.encoded_image_string
