"""Runs that can be shortened and extended (issue 37, item 3): the learning-rate decay follows
``max_steps``; a finished run resumed with a larger ``max_steps`` goes on at a non-zero rate, or, when
its schedule ended for good, is refused in one line; a default fit writes ``last.ckpt`` and
``--ckpt_path last`` continues the latest run in its own folder."""

import subprocess

import pytest
import torch
from torch.optim.lr_scheduler import LinearLR

from lit_gan.cli import run_cli
from lit_gan.objectives import LinearToZero
from tests.conftest import REPO
from tests.test_console import LIT_GAN

QUICK = ["--config", str(REPO / "configs" / "quickstart.yaml"), "--trainer.enable_progress_bar", "false",
         "--trainer.callbacks", "[]", "--data.init_args.n_train", "1280", "--data.init_args.n_val", "256",
         "--model.init_args.generator.init_args.hidden_dims", "[16]", "--model.init_args.critic.init_args.hidden_dims", "[16]"]


def learning_rates(cli):
    return [opt.param_groups[0]["lr"] for opt in cli.trainer.optimizers]


def test_linear_to_zero_is_linear_lr_to_the_bit_and_goes_on_along_a_new_length():
    weights = [torch.nn.Parameter(torch.zeros(1))]
    torch_opt, our_opt = torch.optim.Adam(weights, lr=1e-3), torch.optim.Adam(weights, lr=1e-3)
    theirs, ours = LinearLR(torch_opt, 1.0, 0.0, total_iters=300), LinearToZero(our_opt)
    ours.follow_run_length(300)
    for _ in range(310):
        assert torch_opt.param_groups[0]["lr"] == our_opt.param_groups[0]["lr"]
        theirs.step(), ours.step()
    assert our_opt.param_groups[0]["lr"] == 0.0
    ours.follow_run_length(620)  # extended: on the line of the new length, at update 310 of 620
    assert our_opt.param_groups[0]["lr"] == pytest.approx(0.5e-3)
    ours.step()
    assert our_opt.param_groups[0]["lr"] == pytest.approx(1e-3 * (1 - 311 / 620))


def test_a_shortened_run_decays_to_zero_at_its_own_end(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cli = run_cli(["fit", *QUICK, "--trainer.max_steps", "6"])
    assert learning_rates(cli) == [0.0, 0.0]  # zero at update 6 of 6, not at the config's 2,000


def test_a_finished_run_extended_goes_on_at_a_non_zero_rate_in_its_own_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = run_cli(["fit", *QUICK, "--trainer.max_steps", "4"])
    run = tmp_path / "lightning_logs" / "version_0"
    assert (run / "checkpoints" / "last.ckpt").is_file()  # a default fit writes last.ckpt
    before = [p.detach().clone() for p in first.model.generator.parameters()]
    extended = run_cli(["fit", *QUICK, "--trainer.max_steps", "8", "--ckpt_path", "last"])
    assert extended.trainer.global_step == 8 and extended.trainer.log_dir == str(run)  # the same run, the same folder
    assert sorted(p.name for p in (tmp_path / "lightning_logs").iterdir()) == ["version_0"]
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 8
    after = list(extended.model.generator.parameters())
    assert not all(torch.equal(a, b) for a, b in zip(before, after))  # trained on, at lr (1 - t/8) > 0 for t < 8


def test_a_run_whose_schedule_ended_is_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fixed = ["--model.init_args.g_scheduler", "torch.optim.lr_scheduler.LinearLR",
             "--model.init_args.g_scheduler.start_factor", "1.0", "--model.init_args.g_scheduler.end_factor", "0.0",
             "--model.init_args.g_scheduler.total_iters", "4"]
    run_cli(["fit", *QUICK, *fixed, "--trainer.max_steps", "4"])
    result = subprocess.run([*LIT_GAN, "fit", *QUICK, *fixed, "--trainer.max_steps", "8", "--ckpt_path", "last"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("lit-gan fit: error: the learning rate of `g_optimizer` is 0 at generator update 4"
                                " (its scheduler LinearLR ended there, at total_iters 4): training on would change nothing"), lines
    assert "LinearToZero" in lines[-1] and "Traceback" not in result.stderr


def test_a_decay_to_the_end_of_a_run_without_one_is_one_line():
    from lit_gan.errors import ConfigError

    schedule = LinearToZero(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1))
    with pytest.raises(ConfigError, match=r"^`LinearToZero` decays the learning rate to zero at the run's end: give the run"
                                          r" one, `trainer.max_steps` or `trainer.max_epochs` \(the run's length is inf\)$"):
        schedule.follow_run_length(float("inf"))


def test_a_schedule_that_passes_through_zero_is_not_refused():
    from types import SimpleNamespace

    from lit_gan.errors import ConfigError
    from lit_gan.objectives.schedules import check_learning_rates

    def trainer(make):
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        scheduler = make(optimizer)
        return SimpleNamespace(max_steps=10, optimizers=[optimizer], lr_scheduler_configs=[SimpleNamespace(scheduler=scheduler)])

    warm_up = trainer(lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda step: step / 5))  # 0 at step 0, then up
    check_learning_rates(warm_up, 0)
    ended = trainer(lambda o: LinearLR(o, 1.0, 0.0, total_iters=4))
    for _ in range(4):
        ended.lr_scheduler_configs[0].scheduler.step()
    with pytest.raises(ConfigError, match=r"`g_optimizer` is 0 at generator update 4 \(its scheduler LinearLR ended there"):
        check_learning_rates(ended, 4)


def test_ckpt_path_last_refuses_the_latest_run_of_another_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_cli(["fit", *QUICK, "--trainer.max_steps", "2"])
    other = ["--model", "lit_gan.GAN", "--model.init_args.generator", "lit_gan.networks.MLPGenerator",
             "--model.init_args.critic", "lit_gan.networks.MLPCritic"]
    with pytest.raises(SystemExit) as exit_:
        run_cli(["fit", "--config", str(REPO / "configs" / "quickstart.yaml"), *other, "--ckpt_path", "last",
                 "--trainer.max_steps", "4", "--trainer.callbacks", "[]"])
    assert exit_.value.code == 2


def test_ckpt_path_last_with_no_run_yet_starts_one_without_lightnings_hint(tmp_path, monkeypatch):
    import warnings

    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cli = run_cli(["fit", *QUICK, "--trainer.max_steps", "2", "--ckpt_path", "last"])  # a requeued job's first start
    assert cli.trainer.global_step == 2 and (tmp_path / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt").is_file()
    assert not [w for w in caught if "no last checkpoint available" in str(w.message)]
