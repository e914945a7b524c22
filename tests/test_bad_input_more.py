"""More bad input that ran for an hour, ran on silently or got a vague message: now one line on stderr
naming the argument (or file), exit code 2. A YAML alias bomb, learning rates and toy sizes that are not
finite, networks too large to allocate, and fits limited to nothing."""

import math
import re
import signal
import time
import tracemalloc
from contextlib import contextmanager

import pytest

from lit_gan.cli import run_cli as main
from lit_gan.cli_checks import check_config_file
from lit_gan.data import GridOfGaussians, RingOfGaussians, SwissRoll
from lit_gan.errors import ConfigError
from lit_gan.networks import DCGANCritic, DCGANGenerator, MLPGenerator, ResNetGenerator
from tests.test_bad_input import QUICKSTART, SMALL, refused


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@contextmanager
def deadline(seconds: float):
    """Fail, rather than hang for tens of minutes, where an alias bomb is expanded after all."""
    def expire(*_):
        raise TimeoutError(f"still running after {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def billion_laughs(flow: bool = False) -> str:
    """9 levels, each a list of 9 aliases of the level below: about 300 bytes, 490 million values expanded."""
    levels = ["&a [x,x,x,x,x,x,x,x,x]"] + [f"&{b} [{','.join([f'*{a}'] * 9)}]" for a, b in zip("abcdefgh", "bcdefghi")]
    if flow:  # one value, as given on the command line
        return "[" + ", ".join(levels) + "]"
    return "".join(f"{name}: {level}\n" for name, level in zip("abcdefghi", levels))


# ------------------------------------------------------------------ YAML that expands without bound
def test_a_yaml_alias_bomb_config_is_refused_at_once_in_one_line(tmp_path, capsys):
    bomb = tmp_path / "bad.yaml"
    bomb.write_text(billion_laughs())
    assert len(bomb.read_bytes()) < 400
    tracemalloc.start()
    start = time.perf_counter()
    with deadline(10), pytest.raises(ConfigError, match="expands to 490,329,064 values through its YAML aliases"):
        check_config_file(str(bomb))
    seconds, (_, peak) = time.perf_counter() - start, tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert seconds < 0.5 and peak < 5e6, (seconds, peak)  # counted on the composed nodes, each alias once
    with deadline(30):
        line = refused(["fit", "--config", QUICKSTART, "--config", str(bomb)], capsys)
    assert re.search(r'Parser key "config": .*bad.yaml expands to 490,329,064 values through its YAML aliases, more'
                     r" than the 100,000 a config may hold: write the values out, or use fewer aliases", line), line
    # aliases as configs use them (one optimizer for both networks) are fine
    shared = tmp_path / "shared.yaml"
    shared.write_text("model:\n  init_args:\n    g_optimizer: &adam {class_path: torch.optim.Adam, init_args:"
                      " {lr: 1.0e-3}}\n    d_optimizer: *adam\n")
    check_config_file(str(shared))


@pytest.mark.parametrize("content,expected", [
    ("model:\n  init_args:\n    n_critic: &a [1, *a]\n",
     r"bad.yaml holds an alias inside its own anchor's value \(line 3\), which would expand without end"),
    ("model: " + "[" * 5000 + "]" * 5000 + "\n", r"bad.yaml nests its values too deeply to be read"),
], ids=["alias-in-itself", "nested-5000-deep"])
def test_a_config_that_expands_without_end_is_one_line(content, expected, tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text(content)
    # was a RecursionError (or, in jsonargparse, the same expanded without end)
    line = refused(["fit", "--config", QUICKSTART, "--config", str(tmp_path / "bad.yaml")], capsys)
    assert re.search(r'Parser key "config": .*' + expected, line), line


def test_a_yaml_alias_bomb_on_the_command_line_is_refused_at_once(capsys):
    # jsonargparse reads a value as YAML too; its error message alone printed the value expanded
    with deadline(30):
        line = refused(["fit", "--config", QUICKSTART, "--model.init_args.generator.init_args.hidden_dims",
                        billion_laughs(flow=True), *SMALL], capsys)
    assert ('Parser key "model.init_args.generator.init_args.hidden_dims": the value expands to 490,329,055 values'
            " through its YAML aliases, more than the 100,000") in line, line


# ------------------------------------------------------------------ learning rates that are not finite
@pytest.mark.parametrize("value,shown", [("nan", "nan"), ("inf", "inf"), ("1e999", "inf"), (".nan", "nan"),
                                         ("0", "0.0")])
def test_a_learning_rate_that_is_not_a_finite_number_is_refused_naming_it(value, shown, capsys):
    # "nan" and "inf" were "Expected a <class 'float'>", 1e999 and .nan trained on non-finite weights
    line = refused(["fit", "--config", QUICKSTART, "--model.init_args.d_optimizer.init_args.lr", value, *SMALL], capsys)
    expected = ('error: Parser key "model.init_args.d_optimizer.init_args.lr": Expected a learning rate that is a'
                f" finite number > 0. Got value: {shown} (see")
    assert expected in line, line


# ------------------------------------------------------------------ networks too large to allocate
# Sizes past any machine's address space (128 TB): the allocation fails at once, whatever the overcommit policy.
def test_a_latent_dim_too_large_to_allocate_names_the_network_and_the_size(capsys):
    line = refused(["fit", "--config", QUICKSTART, "--model.init_args.latent_dim", str(10**12), *SMALL], capsys)
    assert re.search(r"error: `generator` \(MLPGenerator\) cannot allocate its weights \(latent_dim=1000000000000,"
                     r" hidden_dims=\[256, 256, 256\], img_shape=\(2,\): one tensor of 1.0 PB, more than this"
                     r" machine can allocate\): choose smaller sizes \(see", line), line
    line = refused(["fit", "--config", QUICKSTART, "--model.init_args.critic.init_args.hidden_dims", f"[{10**15}]",
                    *SMALL], capsys)
    assert "`critic` (MLPCritic) cannot allocate its weights (hidden_dims=[1000000000000000], img_shape=(2,):" \
           " one tensor of 8.0 PB" in line, line


@pytest.mark.parametrize("build,expected", [
    (lambda: MLPGenerator(10**20, (2,)), r"`generator` \(MLPGenerator\) .*latent_dim=100000000000000000000.*"
                                         r"a size beyond 64-bit integers"),
    (lambda: DCGANGenerator(10**12, (1, 28, 28)), r"`generator` \(DCGANGenerator\) .*latent_dim=1000000000000"),
    (lambda: DCGANCritic((1, 28, 28), base_channels=10**13), r"`critic` \(DCGANCritic\) .*base_channels=10{13}"),
    (lambda: ResNetGenerator(10**12, (3, 32, 32)), r"`generator` \(ResNetGenerator\) .*latent_dim=1000000000000"),
], ids=["mlp-overflow", "dcgan-generator", "dcgan-critic", "resnet-generator"])
def test_every_network_names_the_sizes_it_cannot_allocate(build, expected):
    with pytest.raises(ConfigError, match=expected + r".*: choose smaller sizes$"):
        build()


# ------------------------------------------------------------------ toy data that is not finite
@pytest.mark.parametrize("make,kwargs,name", [
    (RingOfGaussians, dict(radius=math.inf), "radius"), (RingOfGaussians, dict(std=math.inf), "std"),
    (RingOfGaussians, dict(radius=math.nan), "radius"), (GridOfGaussians, dict(spacing=math.inf), "spacing"),
    (SwissRoll, dict(scale=math.inf), "scale"),
])
def test_toy_sizes_must_be_finite(make, kwargs, name):
    with pytest.raises(ValueError, match=rf"^Expected argument `{name}` to be a finite number > 0, got (inf|nan)$"):
        make(**kwargs)


def test_an_infinite_ring_radius_is_refused_at_setup_not_blamed_on_the_critic(capsys):
    # was: "non-finite d_loss (nan) ... set `on_nonfinite: skip` to skip such updates"
    line = refused(["fit", "--config", QUICKSTART, "--data.init_args.radius", "inf", *SMALL], capsys)
    assert "error: Expected argument `radius` to be a finite number > 0, got inf (see" in line, line


# ------------------------------------------------------------------ fits that train nothing
BATCHES = r"an int >= 1 \(training batches\) or a float in \(0.0, 1.0\] \(a fraction of them\)"


@pytest.mark.parametrize("name,value,expected", [
    ("limit_train_batches", "0", BATCHES),
    ("limit_train_batches", "0.0", BATCHES),
])
def test_a_fit_limited_to_nothing_is_refused_not_a_finished_run(name, value, expected, tmp_path, capsys):
    # trained nothing and exited 0, which the requeue loop of docs/cluster.md reads as finished
    line = refused(["fit", "--config", QUICKSTART, *SMALL, f"--trainer.{name}", value], capsys)
    assert re.search(rf'Parser key "trainer.{name}": Expected {expected} for fit, where 0 trains nothing and would'
                     rf" end as a finished run. Got value: {value} \(see", line), line
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_fast_dev_run_replaces_a_limit_of_zero(capsys):
    refused(["fit", "--config", QUICKSTART, *SMALL, "--trainer.limit_train_batches", "0"], capsys)
    cli = main(["fit", "--config", QUICKSTART, *SMALL, "--trainer.fast_dev_run", "1",
                "--trainer.limit_train_batches", "0", "--trainer.callbacks", "[]", "--model.init_args.n_critic", "1"])
    assert cli.trainer.global_step == 1  # fast_dev_run's one batch, one generator update with n_critic 1
