"""What a user sees on the console: a run refused after parsing prints its one line, under the subcommand's
name, and none of Lightning's start-up lines (seed, devices, tips), which a run that starts prints as before."""

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.test_ddp import ENV

LIT_GAN = [sys.executable, "-c", "import sys; from lit_gan.cli import main; sys.argv[0] = 'lit-gan'; main()"]
QUICK = ["--config", str(REPO / "configs" / "quickstart.yaml"), "--trainer.enable_progress_bar", "false",
         "--data.init_args.n_train", "1280", "--data.init_args.n_val", "256", "--trainer.max_steps", "1"]


def run(args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*LIT_GAN, *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300)


def test_a_refusal_after_parsing_is_the_only_line_and_names_the_subcommand(tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    # refused once the trainer is built (Lightning has set the seed and found the devices by then)
    refused = run(["fit", *QUICK, "--trainer.callbacks+=ModelCheckpoint", "--trainer.callbacks.dirpath", "a_file"],
                  tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [refused.stderr.strip()], refused.stderr
    assert refused.stderr.startswith("lit-gan fit: error: ModelCheckpoint's `dirpath`"), refused.stderr
    assert "a_file is a file, not a folder" in refused.stderr and refused.stdout == ""


def test_a_run_that_starts_still_prints_the_start_up_lines_and_no_noise(tmp_path):
    ran = run(["fit", *QUICK, "--trainer.limit_val_batches", "0", "--trainer.enable_model_summary", "true"], tmp_path)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "Seed set to 0" in ran.stderr and "GPU available:" in ran.stderr
    # Lightning's adverts for litlogger and litmodels, and a deprecation inside its own code, on every run
    assert "Tip:" not in ran.stderr and "LeafSpec" not in ran.stderr, ran.stderr
    # the summary, without its FLOPs (0 for every GAN); no "fewer batches than the logging interval" (1 < 50
    # here, and the logs are written across epochs all the same)
    output = ran.stdout + ran.stderr
    assert "| generator | MLPGenerator" in output and "FLOPs" not in output and "Total Flops" not in output, output
    assert "smaller than the logging interval" not in output, output
    checkpoint = next((tmp_path / "lightning_logs" / "version_0" / "checkpoints").glob("*.ckpt"))
    validated = run(["validate", *QUICK, "--ckpt_path", str(checkpoint)], tmp_path)
    assert validated.returncode == 0, validated.stderr[-2000:]
    assert "Restoring states from the checkpoint" in validated.stderr
    assert "dirpath has changed" not in validated.stderr, validated.stderr  # a new version folder: no matter
