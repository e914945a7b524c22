"""``lit-gan export``: the generator as ONNX (run back with onnxruntime) and TorchScript (``torch.jit.load``)
gives what ``model.sample`` gives, for any batch size, with labels for a conditional model and from the
average for a run that kept one; bad input in one line; ``lit-gan --help`` and ``--version``."""

import sys
import warnings
from importlib.metadata import version

import onnxruntime
import pytest
import torch

import lit_gan
from lit_gan.cli import main
from tests.fits import tiny_fit


@pytest.fixture(scope="module")
def fits(tmp_path_factory):
    """Checkpoints of one update: the quickstart's 2-D points (unconditional, z -> x) and 28x28 conditional
    MNIST digits whose average generator differs from the last one ((z, y) -> x)."""
    root = tmp_path_factory.mktemp("fits")
    return {name: tiny_fit(name, root / name) for name in ("quickstart", "conditional_mnist")}


def inputs_of(gan, n: int) -> dict[str, torch.Tensor]:
    inputs = {"z": torch.randn(n, gan.latent_dim, generator=torch.Generator().manual_seed(n))}
    return inputs | ({"y": torch.arange(n) % gan.num_classes} if gan.num_classes else {})


@pytest.mark.parametrize("fit", ["quickstart", "conditional_mnist"])
@pytest.mark.parametrize("fmt,suffix", [("onnx", ".onnx"), ("torchscript", ".pt")])
def test_the_exported_generator_gives_what_sample_gives(fit, fmt, suffix, fits, tmp_path, capsys):
    output = tmp_path / f"generator{suffix}"
    run = fits[fit].parents[1]  # the run folder: its checkpoint
    main(["export", "--checkpoint", str(run), "--format", fmt, "--output", str(output)])
    assert str(output) in capsys.readouterr().out
    gan = lit_gan.load(str(fits[fit]))
    if fmt == "onnx":
        session = onnxruntime.InferenceSession(str(output), providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == ["z", "y"][: 1 + bool(gan.num_classes)]
        exported = lambda **inputs: torch.from_numpy(session.run(["x"], {k: v.numpy() for k, v in inputs.items()})[0])  # noqa: E731
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load is deprecated in torch 2.x
            module = torch.jit.load(str(output))
        exported = lambda **inputs: module(*inputs.values())  # noqa: E731
    for n in (1, 3):  # not the batch of 2 it was traced with: the batch dimension is free
        inputs = inputs_of(gan, n)
        got, expected = exported(**inputs), gan.sample(n, z=inputs["z"], labels=inputs.get("y"))
        assert got.shape == expected.shape and (got - expected).abs().max() <= 1e-5
    if gan.generator_ema is not None:  # sample's generator is the run's average, not its last generator
        with torch.no_grad():
            last = gan.generator(*inputs.values())
        assert (got - last).abs().max() > 1e-3


@pytest.mark.parametrize("args,name,words", [
    (["--output", "{tmp}/g.bin"], "format", "does not end in .onnx"),
    (["--output", "{tmp}/g.onnx", "--format", "tf"], "format", "onnx"),
    (["--output", "{ckpt}", "--format", "onnx"], "output", "another file than the `checkpoint`"),
    (["--output", "{tmp}"], "output", "the folder"),
], ids=["no-format", "unknown-format", "output-is-the-checkpoint", "output-is-a-folder"])
def test_bad_input_is_one_line(args, name, words, fits, tmp_path, capsys):
    ckpt = str(fits["quickstart"])
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--checkpoint", ckpt, *(a.format(tmp=tmp_path, ckpt=ckpt) for a in args)])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1 and err[0].startswith("lit-gan export: error: ")
    assert name in err[0] and words in err[0], err
    assert list(tmp_path.iterdir()) == []


def test_onnx_without_its_packages_says_what_to_install(fits, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as if not installed: its import fails
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--checkpoint", str(fits["quickstart"]), "--output", str(tmp_path / "g.onnx")])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1 and "onnxscript" in err[0]
    assert "pip install lit-gan[export]" in err[0] and not (tmp_path / "g.onnx").exists()


def test_help_lists_every_subcommand_and_version_prints_the_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and "{fit,validate,test,predict,evaluate,generate,export,configs}" in out
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("    ") and line.split()]
    assert {"fit", "validate", "test", "predict", "evaluate", "generate", "export"} <= set(listed)
    main(["--version"])
    assert capsys.readouterr().out.strip() == f"lit-gan {version('lit-gan')}"


@pytest.mark.parametrize("args,got", [(["fitt"], "got 'fitt'"), ([], "got none")])
def test_an_unknown_subcommand_lists_them_all(args, got, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1 and got in err[0]
    assert "fit, validate, test, predict, evaluate, generate, export, configs" in err[0]
