"""A fit that ends between two evaluations of a sample-quality callback (a run shortened below its period)
is evaluated at its last step too, so that its summary and hp_metric have scores; one that ends on a multiple
is not evaluated twice."""

import pytest

from lit_gan.callbacks import MixtureCoverage
from lit_gan.cli import run_cli
from tests.conftest import REPO

QUICK = ["--config", str(REPO / "configs" / "quickstart.yaml"), "--trainer.enable_progress_bar", "false",
         "--data.init_args.n_train", "1280", "--data.init_args.n_val", "256"]


@pytest.mark.parametrize("max_steps,every,evaluated", [(3, 500, [3]), (5, 2, [2, 4, 5]), (4, 2, [2, 4])])
def test_the_last_step_is_evaluated_once(max_steps, every, evaluated, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    steps = []
    evaluate = MixtureCoverage.evaluate
    monkeypatch.setattr(MixtureCoverage, "evaluate", lambda self, trainer, *a: (steps.append(trainer.global_step),
                                                                                 evaluate(self, trainer, *a))[1])
    cli = run_cli(["fit", *QUICK, "--trainer.max_steps", str(max_steps), "--trainer.callbacks", "[]",
                   "--trainer.callbacks+=lit_gan.callbacks.MixtureCoverage",
                   f"--trainer.callbacks.every_n_steps={every}"])
    assert steps == evaluated
    assert "val/modes" in cli.trainer.callback_metrics and float(cli.trainer.callback_metrics["hp_metric"]) >= 0
