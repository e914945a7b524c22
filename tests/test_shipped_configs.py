"""Configs travel with the package (issue 37, item 8): ``--config NAME`` finds a shipped config from any
folder, a file of that name in the folder comes first, and the package data holds every config."""

import subprocess
import tomllib
from pathlib import Path


from lit_gan.cli import run_cli
from lit_gan.shipped_configs import SHIPPED, names, with_shipped_configs
from tests.conftest import REPO
from tests.test_console import LIT_GAN


def test_a_shipped_config_by_name_from_another_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert with_shipped_configs(["fit", "--config", "toys/gan.yaml"]) == ["fit", "--config", str(SHIPPED / "toys" / "gan.yaml")]
    assert with_shipped_configs(["fit", "--config=quickstart"]) == ["fit", f"--config={SHIPPED / 'quickstart.yaml'}"]
    assert with_shipped_configs(["fit", "-c", "no_such.yaml"]) == ["fit", "-c", "no_such.yaml"]  # the parser says it
    cli = run_cli(["fit", "--config", "quickstart.yaml", "--trainer.fast_dev_run", "1", "--trainer.callbacks", "[]",
                   "--data.init_args.n_train", "1280"])
    assert cli.model.n_critic == 5 and type(cli.model).__name__ == "WGANGP" and cli.trainer.global_step == 1


def test_a_file_in_the_folder_comes_first(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "quickstart.yaml").write_text((SHIPPED / "quickstart.yaml").read_text().replace("max_steps: 2000", "max_steps: 7"))
    assert with_shipped_configs(["fit", "--config", "quickstart.yaml"]) == ["fit", "--config", "quickstart.yaml"]


def test_the_package_data_holds_every_config():
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["lit_gan"]
    packaged = {str(p.relative_to(REPO / "lit_gan" / "configs")) for g in globs for p in (REPO / "lit_gan").glob(g)}
    assert packaged == {str(p.relative_to(REPO / "configs")) for p in (REPO / "configs").rglob("*.yaml")} == set(names())
    assert (REPO / "lit_gan" / "configs").resolve() == (REPO / "configs").resolve()


def test_lit_gan_configs_lists_them_and_says_where_one_is(tmp_path):
    listed = subprocess.run([*LIT_GAN, "configs"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and "  quickstart.yaml" in listed.stdout and "  toys/gan.yaml" in listed.stdout
    path = subprocess.run([*LIT_GAN, "configs", "--path", "quickstart"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert Path(path.stdout.strip()) == SHIPPED / "quickstart.yaml"
    bad = subprocess.run([*LIT_GAN, "configs", "--path", "nope.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "lit-gan configs: error: Expected argument `--path` to name a shipped config (lit-gan configs lists them), got 'nope.yaml'"]
