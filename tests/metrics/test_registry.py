"""The metric registry (issue 36, item 3): a metric added as one file is usable in ``ImageQuality`` and
``lit-gan evaluate`` and shows in the protocol line; an option is declared once, on its metric, and the
flat names of before (``kid_subset_size``) still configure the metrics given by name; bad input in one line."""

import inspect
import sys
import textwrap

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from lit_gan.callbacks import ImageQuality
from lit_gan.errors import ConfigError
from lit_gan.evaluate import main as evaluate
from lit_gan.evaluate import run
from lit_gan.metrics import FID, KID, ImageQualityMetrics, QualityMetric
from lit_gan.tensors import fixed_latents
from tests.metrics.test_evaluate import Pooled
from tests.metrics.test_quality import CountingFeatures, images
from tests.metrics.test_torch_fidelity_protocol import write_folder

ONE_FILE = '''
"""A metric in one file: how far apart the mean features of the real and of the generated images are."""

from lit_gan.checks import check_greater_than_zero
from lit_gan.metrics.registry import QualityMetric


class MeanShift(QualityMetric):
    name, outputs = "mean_shift", ("mean_shift",)
    needs = {"real": ("features",), "generated": ("features",)}

    def __init__(self, power: float = 2.0) -> None:
        check_greater_than_zero(power=power)
        self.power = float(power)

    def score(self, rows):
        shift = rows["real"]["features"].double().mean(0) - rows["generated"]["features"].double().mean(0)
        return {"mean_shift": shift.norm(p=self.power)}

    def protocol(self, n_real, n_generated):
        return [f"mean shift p {self.power:g}"]
'''


@pytest.fixture(scope="module")
def one_file(tmp_path_factory):
    """The module ``one_file_metric`` (the file above), importable by its class_path."""
    folder = tmp_path_factory.mktemp("one-file")
    (folder / "one_file_metric.py").write_text(textwrap.dedent(ONE_FILE))
    sys.path.insert(0, str(folder))
    yield "one_file_metric.MeanShift"
    sys.path.remove(str(folder))


def mean_shift(real: torch.Tensor, fake: torch.Tensor, power: float) -> float:
    return float((real.double().mean(0) - fake.double().mean(0)).norm(p=power))


def test_a_metric_in_one_file_is_usable_in_image_quality_with_its_protocol_line(tmp_path, monkeypatch, one_file,
                                                                                 digits_classifier):
    from lit_gan.cli import run_cli
    from lit_gan.metrics import ClassifierFeatures
    from tests.metrics.helpers import DigitsImages

    monkeypatch.chdir(tmp_path)
    networks = {"generator": {"class_path": "lit_gan.networks.DCGANGenerator", "init_args": {"base_channels": 8}},
                "critic": {"class_path": "lit_gan.networks.DCGANCritic", "init_args": {"base_channels": 8}}}
    quality = {"class_path": "lit_gan.callbacks.ImageQuality", "init_args": {
        "feature_extractor": {"class_path": "lit_gan.metrics.ClassifierFeatures",
                              "init_args": {"checkpoint_path": str(digits_classifier)}},
        "num_samples": 40, "batch_size": 20, "every_n_steps": 1, "reference_cache": False,
        "metrics": ["fid", {"class_path": one_file, "init_args": {"power": 1.0}}]}}
    config = {"seed_everything": 0,
              "trainer": {"accelerator": "cpu", "max_steps": 1, "logger": False, "enable_checkpointing": False,
                          "enable_progress_bar": False, "limit_val_batches": 0, "callbacks": [quality]},
              "model": {"class_path": "lit_gan.GAN", "init_args": {"latent_dim": 8, **networks}},
              "data": {"class_path": "tests.metrics.helpers.DigitsImages", "init_args": {"batch_size": 16}}}
    (tmp_path / "fit.yaml").write_text(yaml.safe_dump(config))
    cli = run_cli(["fit", "--config", str(tmp_path / "fit.yaml")])
    callback = next(c for c in cli.trainer.callbacks if isinstance(c, ImageQuality))
    assert callback.value_names() == ["fid", "mean_shift"] and "val/mean_shift" in cli.trainer.callback_metrics
    # its value: the file's formula on the held-out and generated features, extracted here
    extractor, data = ClassifierFeatures(str(digits_classifier)), DigitsImages()
    data.setup()
    real = extractor.extract(data.held_out_set.tensors[0].float() / 127.5 - 1)[0]
    fake = extractor.extract(cli.model.sample(40, z=fixed_latents(40, 8, 0)))[0]
    assert float(callback.last_values["mean_shift"]) == pytest.approx(mean_shift(real, fake, 1.0), rel=1e-5)
    line = callback.protocol_line
    assert "resize: none: images of shape 1x8x8 as trained, uint8 mapped to [-1, 1], mean shift p 1," in line
    assert line.startswith("classifier (weights sha256 ") and "297 real (DigitsImages val) / 40 generated" in line


def test_a_metric_in_one_file_is_usable_in_evaluate_with_its_protocol_line(tmp_path, one_file, capsys):
    real, fake = write_folder(tmp_path / "real", 12, 0), write_folder(tmp_path / "fake", 10, 1, shift=40)
    metrics = f"[kid, {{class_path: {one_file}, init_args: {{power: 3}}}}]"
    result = evaluate(["--samples", str(fake), "--real", str(real), "--feature_extractor",
                       "tests.metrics.test_evaluate.Pooled", "--metrics", metrics, "--kid_subset_size", "5",
                       "--reference_cache", "false"])

    def read(folder):
        return torch.stack([torch.from_numpy(np.asarray(Image.open(path).convert("RGB"))).permute(2, 0, 1)
                            for path in sorted(folder.glob("*.png"))])

    features = [Pooled().extract(read(folder))[0] for folder in (real, fake)]
    assert list(result["metrics"]) == ["kid", "kid_std", "mean_shift"]
    assert result["metrics"]["mean_shift"] == pytest.approx(mean_shift(*features, 3.0), rel=1e-6)
    assert "KID 100 subsets of 5, draws torch-fidelity (seed 2020), mean shift p 3, lit-gan" in result["protocol_line"]
    assert f"protocol: {result['protocol_line']}" in capsys.readouterr().out
    # by its name, once its file is imported, in Python
    metric = ImageQualityMetrics(CountingFeatures(), metrics=["fid", "mean_shift"])
    metric.update(images(12, 0), real=True), metric.update(images(10, 1, shift=0.5))
    assert list(metric.compute()) == ["fid", "mean_shift"]


def test_an_option_is_declared_once_and_its_flat_name_still_configures_the_named_metric(tmp_path):
    # evaluate and ImageQuality declare no metric option of their own: their flat parameters are the metrics'
    for function in (run, ImageQuality):
        flat = {name: p for name, p in inspect.signature(function).parameters.items() if p.kind is p.KEYWORD_ONLY}
        assert set(flat) == {"is_splits", "kid_subsets", "kid_subset_size", "draws", "draw_seed", "precision_k",
                             "density_k", "mmd_sigma", "mmd_scale"}
        assert all(p.default is None for p in flat.values())
    # KID by class_path with its options, and `kid` by name with the flat ones: the same values
    real, fake = write_folder(tmp_path / "real", 12, 0), write_folder(tmp_path / "fake", 10, 1, shift=40)
    common = dict(samples=str(fake), real=str(real), feature_extractor=Pooled(), reference_cache=False)
    by_object = run(metrics=["fid", KID(subsets=7, subset_size=6, seed=3)], **common)
    by_flat = run(metrics=["fid", "kid"], kid_subsets=7, kid_subset_size=6, draw_seed=3, **common)
    assert by_object["metrics"] == by_flat["metrics"] and by_object["protocol_line"] == by_flat["protocol_line"]
    settings = {"subsets": 7, "subset_size": 6, "draws": "torch-fidelity", "seed": 3}
    assert by_object["protocol"]["settings"]["kid"] == settings
    assert ImageQuality(metrics=["kid"], kid_subset_size=20, num_samples=40).metrics[0].subset_size == 20


def test_bad_metrics_are_one_line(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"^Expected `kid_subset_size` or the options of the KID in `metrics`, not"
                                          r" both: give KID's own options$"):
        ImageQuality(metrics=[KID(subset_size=10)], kid_subset_size=20)
    with pytest.raises(ValueError, match=r"^Expected argument `metrics` to be distinct names among fid, is, kid, .*,"
                                         r" got \['fid', 'fid'\]$"):
        ImageQuality(metrics=["fid", FID()])
    with pytest.raises(TypeError, match="ImageQuality.__init__\\(\\) got an unexpected keyword argument 'kid_size'"):
        ImageQuality(kid_size=3)
    with pytest.raises(ValueError, match=r"^Expected metric `name` 'fid' of Other to be new, got the name of"
                                         r" lit_gan.metrics.standard.FID$"):
        type("Other", (QualityMetric,), {"name": "fid", "outputs": ("x",)})
    real, fake = write_folder(tmp_path / "real", 12, 0), write_folder(tmp_path / "fake", 10, 1, shift=40)
    for metrics, message in (
        ("[{class_path: lit_gan.metrics.KID, init_args: {subset_size: 0}}]",
         "Expected argument `subset_size` to be an integer >= 1, got 0"),
        ("[{class_path: lit_gan.metrics.ImprovedPrecisionRecall, init_args: {k: 10}}]",
         "Expected argument `k` (10) to be below the 10 generated images (a k-NN radius needs k other images)"),
        ("[fid, is]", "Expected argument `metrics` to leave out 'is': Pooled has no class logits"),
        ("[intra_fid]", "Expected `intra_fid` to score a class-conditional model's samples by class, but a"
                        " folder of `samples` has none: give a `checkpoint` of a conditional model"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            evaluate(["--samples", str(fake), "--real", str(real), "--feature_extractor",
                      "tests.metrics.test_evaluate.Pooled", "--metrics", metrics, "--reference_cache", "false"])
        err = capsys.readouterr().err.strip().splitlines()
        assert exit_info.value.code == 2 and len(err) == 1 and message in err[0], err
