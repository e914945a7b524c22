"""Progress in a batch log: plain lines when stdout is not a terminal, Lightning's bar when it is."""

import re

import pytest

from lit_gan import WGANGP
from lit_gan.callbacks import ProgressBar
from lit_gan.cli import run_cli
from lit_gan.data import RingOfGaussians
from tests.conftest import REPO, cpu_trainer, tiny_networks


def fit(tmp_path, bar: ProgressBar, max_steps: int = 6) -> None:
    trainer = cpu_trainer(tmp_path, max_steps=max_steps, callbacks=[bar], enable_progress_bar=True)
    trainer.fit(WGANGP(n_critic=2, **tiny_networks()), RingOfGaussians(batch_size=8, n_train=64))


def test_without_a_terminal_one_plain_line_every_n_generator_updates(tmp_path, capsys):
    fit(tmp_path, ProgressBar(line_every_n_steps=2, terminal=False))
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in lines] == ["2/6", "4/6", "6/6"]  # once per step, although n_critic is 2
    assert "\r" not in out
    assert all(re.search(r"d_loss -?[\d.e+-]+ \| g_loss .* \| wasserstein .* updates/s \| \d+:\d\d:\d\d left$", line)
               for line in lines), lines


def test_on_a_terminal_the_bar_and_no_lines(tmp_path, capsys):
    fit(tmp_path, ProgressBar(line_every_n_steps=2, terminal=True))
    out = capsys.readouterr().out
    assert "\r" in out and not re.search(r"^step \d", out, re.MULTILINE)


def test_line_every_n_steps_must_be_positive():
    with pytest.raises(ValueError, match="line_every_n_steps"):
        ProgressBar(line_every_n_steps=0)
    with pytest.raises(ValueError, match="`refresh_rate` to be an integer >= 0, got -1"):  # tqdm's bar went off silently
        ProgressBar(refresh_rate=-1)
    assert ProgressBar(refresh_rate=0).refresh_rate == 0  # 0 is Lightning's "no bar"


def test_the_cli_prints_lines_into_a_redirected_stdout(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # pytest's captured stdout is not a terminal, like a batch job's log file
    cli = run_cli(["fit", "--config", str(REPO / "configs" / "quickstart.yaml"), "--trainer.max_steps", "4",
                   "--model.init_args.n_critic", "1", "--data.init_args.n_train", "2560", "--trainer.callbacks", "[]"])
    assert type(cli.trainer.progress_bar_callback) is ProgressBar and cli.trainer.progress_bar_callback.line_every_n_steps == 100
    out = capsys.readouterr().out
    assert "\r" not in out  # at 100 steps a line, 4 steps print none; the bar would have redrawn at every batch


def test_a_bar_given_in_the_config_is_kept(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cli = run_cli(["fit", "--config", str(REPO / "configs" / "quickstart.yaml"), "--trainer.max_steps", "4",
                   "--model.init_args.n_critic", "1", "--data.init_args.n_train", "2560",
                   "--trainer.callbacks", "[]", "--trainer.callbacks+=lit_gan.callbacks.ProgressBar",
                   "--trainer.callbacks.line_every_n_steps", "2"])
    assert cli.trainer.progress_bar_callback.line_every_n_steps == 2
    out = capsys.readouterr().out
    assert [line.split()[1] for line in out.splitlines() if line.startswith("step ")] == ["2/4", "4/4"]
