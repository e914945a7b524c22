"""Bad input that used to end in a traceback, be silently accepted or get a vague message: now one line
on stderr that names the argument (the file and line for a config), exit code 2. The rows of
docs/bad_input.md from 42 on."""

import os
import re
from pathlib import Path

import pytest
import torch

from lit_gan.cli import run_cli as main
from lit_gan import WGANGP
from lit_gan.metrics import Classifier
from lit_gan.networks import MLPCritic, MLPGenerator
from tests.conftest import REPO

QUICKSTART = str(REPO / "configs" / "quickstart.yaml")
# small and short: a check that stopped refusing would not train quickstart's 2,000 steps
SMALL = ["--trainer.enable_progress_bar", "false", "--trainer.max_steps", "1",
         "--data.init_args.n_train", "1280", "--data.init_args.n_val", "256"]


def refused(args: list[str], capsys) -> str:
    """Run ``lit-gan args``; assert exit code 2 and one line on stderr; return that line."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    return err[0]


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


# ------------------------------------------------------------------ the config file
CONFIG_FILES = {
    "binary": (b"\x00\x01\xff\xfe not text",
               r'Parser key "config": .*bad.yaml is not a text file \(not UTF-8: byte 0xff'),
    "syntax": (b"trainer:\n  max_steps: [1, 2\nmodel: 3\n", r'"config": .*bad.yaml line 3, column 6: expected .*'
                                                           r"\(while parsing a flow sequence at line 2\)"),
    "empty": (b"# nothing but a comment\n", r'"config": .*bad.yaml is empty; expected a YAML mapping'),
    "list": (b"- trainer\n- model\n", r'"config": .*bad.yaml holds a list, not a mapping'),
    "repeated-key": (b"model:\n  init_args:\n    n_critic: 5\n    gp_lambda: 1.0\n    n_critic: 2\n",
                     r"\"config\": .*bad.yaml: key 'n_critic' is given twice in one mapping \(lines 3 and 5"),
}


@pytest.mark.parametrize("name", CONFIG_FILES)
def test_a_bad_config_file_is_named_with_its_line(name, tmp_path, capsys):
    content, expected = CONFIG_FILES[name]
    (tmp_path / "bad.yaml").write_bytes(content)
    line = refused(["fit", "--config", QUICKSTART, "--config", str(tmp_path / "bad.yaml")], capsys)
    assert re.search(expected, line), line
    assert not (tmp_path / "lightning_logs").exists()


# ------------------------------------------------------------------ values checked right after parsing
ARGUMENTS = {
    "val-check-interval-0": (["fit", "--trainer.val_check_interval", "0"],
                             r'Parser key "trainer.val_check_interval": Expected an int >= 1 .* Got value: 0 \(see'),
    "max-time": (["fit", "--trainer.max_time", "12h"],
                 r'Parser key "trainer.max_time": Expected DD:HH:MM:SS .* Got value: 12h \(see'),
    "ckpt-best": (["fit", "--ckpt_path", "best"], r"`ckpt_path` best means the best checkpoint of an earlier fit in the"
                                                  r" same Python process.*give the checkpoint file"),
    "ckpt-folder": (["validate", "--ckpt_path", "."], r"`ckpt_path` \. is a folder, not a checkpoint file"),
    "predict-without-ckpt": (["predict"], r"`lit-gan predict` needs `--ckpt_path`.*untrained weights"),
    "img-shape-given": (["fit", "--model.init_args.img_shape", "[1,28,28]"],
                        r'Parser key "model.init_args.img_shape": \[1, 28, 28\] is given, but the image shape comes'
                        r" from the data \(its img_shape is \(2,\)\)"),
    "root-dir-file": (["fit", "--trainer.default_root_dir", "a_file/runs"],
                      r'Parser key "trainer.default_root_dir": a_file/runs is under .*a_file, which is a file,'
                      r" not a folder"),
    "checkpoint-dirpath-file": (["fit", "--trainer.callbacks+=ModelCheckpoint",
                                 "--trainer.callbacks.dirpath", "a_file"],
                                r"ModelCheckpoint's `dirpath` .*a_file is a file, not a folder"),
    "root-dir-name-too-long": (["fit", "--trainer.default_root_dir", "runs/" + "a" * 300],  # was OSError: [Errno 36]
                               r'Parser key "trainer.default_root_dir": the folder name \'a{20}\.\.\.a{12}\' is 300'
                               r" bytes, longer than the 255 bytes a name may have on this file system"),
    "checkpoint-dirpath-name-too-long": (["fit", "--trainer.callbacks+=ModelCheckpoint", "--trainer.callbacks.dirpath",
                                          "b" * 256 + "/ckpt"],
                                         r"ModelCheckpoint's `dirpath`: the folder name 'b{20}\.\.\.b{12}' is 256 bytes"),
    "root-dir-path-too-long": (["fit", "--trainer.default_root_dir", "a/" * 2100],
                               r'Parser key "trainer.default_root_dir": a path of \d+ bytes, longer than the 4095'),
}


@pytest.mark.parametrize("name", ARGUMENTS)
def test_values_that_cannot_work_are_refused_before_anything_runs(name, tmp_path, capsys):
    (tmp_path / "a_file").write_text("not a folder")
    subcommand, *args = ARGUMENTS[name][0]
    line = refused([subcommand, "--config", QUICKSTART, *args, *SMALL], capsys)
    assert re.search(ARGUMENTS[name][1], line), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]  # nothing written


@pytest.fixture
def read_only_folder(mount_tmpfs):
    """A read-only tmpfs (root can write through chmod, not through a read-only mount)."""
    return mount_tmpfs("ro,size=1m")


def test_a_default_root_dir_on_a_read_only_file_system(read_only_folder, capsys):
    root = str(read_only_folder / "runs")
    line = refused(["fit", "--config", QUICKSTART, "--trainer.default_root_dir", root, *SMALL], capsys)
    assert re.search(r'Parser key "trainer.default_root_dir": .*disk0/runs cannot be written \(.*disk0 is on a read-only file'
                     r" system\)", line), line


def test_a_checkpoint_of_the_classifier_given_to_a_gan(tmp_path, capsys):
    # as the Python API writes it (a fit through lit-gan adds the class path, named in the message instead)
    classifier = Classifier(img_shape=(1, 8, 8), num_classes=10)
    checkpoint = {"state_dict": classifier.state_dict(), "hyper_parameters": dict(classifier.hparams)}
    torch.save(checkpoint, tmp_path / "clf.ckpt")
    config = str(REPO / "configs" / "digits_wgan_gp.yaml")
    line = refused(["validate", "--config", config, "--ckpt_path", "clf.ckpt"], capsys)
    assert ("`ckpt_path` clf.ckpt holds a lit_gan.metrics.Classifier, but the config builds a lit_gan.WGANGP:"
            " give a checkpoint of a GAN fit") in line, line


def test_a_gan_checkpoint_given_to_the_classifier(tmp_path, capsys):
    gan = WGANGP(generator=MLPGenerator, critic=MLPCritic, latent_dim=2, img_shape=(1, 8, 8))
    torch.save({"state_dict": gan.state_dict(), "hyper_parameters": {}}, tmp_path / "gan.ckpt")
    config = str(REPO / "configs" / "classifier_mnist.yaml")
    line = refused(["validate", "--config", config, "--ckpt_path", "gan.ckpt"], capsys)
    assert ("`ckpt_path` gan.ckpt holds a GAN, but the config builds a lit_gan.metrics.Classifier: give a checkpoint"
            " of a Classifier fit") in line, line


def test_an_image_folder_that_cannot_be_listed_is_not_an_empty_one(folder_root, monkeypatch, capsys):
    # as root, chmod 000 does not stop reading: the listing is made to fail as it does for another user
    real_scandir = os.scandir

    def scandir(path="."):
        if Path(path) == folder_root / "dogs":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    assert (folder_root / "dogs").is_dir()
    line = refused(["fit", "--config", str(REPO / "configs" / "folder_wgan_gp.yaml"), "--data.init_args.root",
                    str(folder_root), "--data.init_args.num_workers", "0", "--trainer.fast_dev_run", "1"], capsys)
    assert re.search(r"cannot list the folder .*dogs under `root`=.*images' \(Permission denied\)", line), line


def test_the_same_command_twice_without_a_logger(tmp_path, capsys):
    args = ["fit", "--config", QUICKSTART, "--trainer.logger", "false", "--trainer.callbacks", "[]",
            "--trainer.limit_val_batches", "0", "--model.init_args.n_critic", "1", *SMALL]
    main(args)
    first = (tmp_path / "config.yaml").read_text()
    capsys.readouterr()
    line = refused(args, capsys)
    assert re.search(r"config.yaml exists: an earlier run wrote its config \(and checkpoints\) into .*`--trainer.logger"
                     r" false` makes this run's log dir too: give this run its own folder with"
                     r" `--trainer.default_root_dir DIR`", line), line
    assert (tmp_path / "config.yaml").read_text() == first
    main([*args, "--trainer.default_root_dir", "second"])  # what the message says works
    assert (tmp_path / "second" / "config.yaml").is_file()
