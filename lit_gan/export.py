"""``lit-gan export``: the generator of a checkpoint as a file that runs without lit-gan.

    lit-gan export --checkpoint run.ckpt --format onnx --output generator.onnx
    lit-gan export --checkpoint lightning_logs/version_0 --output generator.pt   # TorchScript, by the suffix

The module exported is the one ``model.sample`` draws with (the averaged generator when the run kept
one), in eval mode and float32: z (B, latent_dim) -> x (B, *img_shape), or (z, y) -> x for a
class-conditional model (y: int64 class indices, (B,)); B is free. ONNX: torch.onnx's exporter
(``torch.export``, ``dynamo=True``; the legacy TorchScript-based one is deprecated), which needs the
packages onnx and onnxscript (``pip install lit-gan[export]``); inputs ``z`` (and ``y``), output ``x``,
for onnxruntime. TorchScript: ``torch.jit.trace``, for ``torch.jit.load``.
"""

import copy
import io
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Literal, Optional

import torch
from torch import Tensor, nn

from lit_gan.checkpoint_io import write_atomically
from lit_gan.checks import size_text
from lit_gan.cli_checks import check_writable_folder
from lit_gan.errors import ConfigError, one_line
from lit_gan.objectives.base import AdversarialModule
from lit_gan.objectives.loading import load_with_step
from lit_gan.parser import LitGanParser
from lit_gan.run_folders import checkpoint_in

Format = Literal["onnx", "torchscript"]
SUFFIXES: dict[str, Format] = {".onnx": "onnx", ".pt": "torchscript", ".pth": "torchscript", ".ts": "torchscript"}


class SampleGenerator(nn.Module):
    """z (B, latent_dim) -> x (B, *img_shape): the generator that ``sample`` uses, as a module of its own."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, z: Tensor) -> Tensor:
        return self.generator(z)


class ConditionalSampleGenerator(SampleGenerator):
    """(z (B, latent_dim), y (B,) int64 classes) -> x (B, *img_shape)."""

    def forward(self, z: Tensor, y: Tensor) -> Tensor:  # type: ignore[override]
        return self.generator(z, y)


def exported_module(model: AdversarialModule) -> tuple[nn.Module, tuple[Tensor, ...]]:
    """(the module to export, a copy in eval mode and float32; example inputs of batch 2)."""
    generator = model.generator if model.generator_ema is None else model.generator_ema.module
    wrapper = ConditionalSampleGenerator if model.num_classes else SampleGenerator
    module = wrapper(copy.deepcopy(generator).float().cpu()).eval().requires_grad_(False)
    z = torch.randn(2, model.latent_dim, generator=torch.Generator().manual_seed(0))
    return module, ((z, torch.arange(2) % model.num_classes) if model.num_classes else (z,))


def onnx_bytes(module: nn.Module, inputs: tuple[Tensor, ...]) -> bytes:
    try:
        import onnx  # noqa: F401  (the exporter's model format)
        import onnxscript  # noqa: F401  (the exporter's translation)
    except ImportError as err:
        raise ConfigError(f"`format` onnx needs the package {err.name or 'onnx'}, which is not installed:"
                          " pip install lit-gan[export]") from err
    names = ["z", "y"][: len(inputs)]
    batch = torch.export.Dim("batch")  # one dimension for z's and y's batch
    with warnings.catch_warnings():  # that z and y share the batch dimension is the point, not news
        warnings.filterwarnings("ignore", message=r".*The axis name: batch will not be used")
        program = torch.onnx.export(module, inputs, input_names=names, output_names=["x"], dynamo=True,
                                    verbose=False, dynamic_shapes={name: {0: batch} for name in names})
    return program.model_proto.SerializeToString()


def torchscript_bytes(module: nn.Module, inputs: tuple[Tensor, ...]) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # torch 2.x deprecates TorchScript; it is what this format is
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.", category=FutureWarning)
        torch.jit.save(torch.jit.trace(module, inputs), buffer)
    return buffer.getvalue()


def check_output(output: str, checkpoint: str, format: Optional[str]) -> Format:
    """The format (``format``, else by ``output``'s suffix), once ``output`` is known to be writable and
    not the checkpoint."""
    path = Path(output)
    if path.is_dir():
        raise ConfigError(f"Expected argument `output` to be a file to write, got the folder {output!r}")
    if path.exists() and Path(checkpoint).exists() and os.path.samefile(path, checkpoint):
        raise ConfigError(f"Expected argument `output` to be another file than the `checkpoint`, got {output!r}")
    check_writable_folder(str(path.parent), "`output`'s folder")
    chosen = format or SUFFIXES.get(path.suffix.lower())
    if chosen is None:
        raise ConfigError(f"Expected argument `format` to be onnx or torchscript, got none, and `output` {output!r}"
                          f" does not end in {', '.join(SUFFIXES)} to tell")
    return chosen  # type: ignore[return-value]


def run(checkpoint: str, output: str, format: Optional[Format] = None) -> dict[str, Any]:
    """Export the generator of ``checkpoint`` (a file or a run folder) to ``output``, written whole; print what."""
    path = checkpoint_in(checkpoint)
    chosen = check_output(output, path, format)
    model, step = load_with_step(path, "cpu", "checkpoint")
    module, inputs = exported_module(model)
    try:
        data = (onnx_bytes if chosen == "onnx" else torchscript_bytes)(module, inputs)
    except ConfigError:
        raise
    except Exception as err:  # a network that torch.export or tracing cannot follow
        raise ConfigError(f"cannot export the generator of `checkpoint` {path} as {chosen}:"
                          f" {one_line(err)[:300]}") from err
    try:
        write_atomically(Path(output), data)
    except OSError as err:  # a full disk or quota: the file that was there is intact
        why = os.strerror(err.errno) if err.errno else one_line(err)
        raise ConfigError(f"cannot write `output` {output}: {why}") from err
    takes = f"z (B, {model.latent_dim})" + (f", y (B,) in 0..{model.num_classes - 1}" if model.num_classes else "")
    average = ", the averaged generator" if model.generator_ema is not None else ""
    print(f"lit-gan export: wrote {output} ({chosen}, {size_text(len(data))}): {takes} -> x (B, "
          f"{', '.join(map(str, model.img_shape))})\n  from {path} (generator step {step}{average})", flush=True)
    return {"output": output, "format": chosen, "checkpoint": path, "step": step}


def main(args: Optional[list[str]] = None) -> dict[str, Any]:
    """``lit-gan export --checkpoint CKPT [--format onnx|torchscript] --output FILE``."""
    parser = LitGanParser(prog="lit-gan export", description=__doc__.split("\n")[0], env_prefix="LIT_GAN")
    parser.add_argument("--checkpoint", type=str, required=True,
                        help="a checkpoint of `lit-gan fit`, or its run folder (its checkpoints/last.ckpt, else the newest .ckpt)")
    parser.add_argument("--format", type=Optional[Format], default=None,
                        help=f"onnx (needs pip install lit-gan[export]) or torchscript; default: by the suffix of"
                             f" --output ({', '.join(SUFFIXES)})")
    parser.add_argument("--output", type=str, required=True, help="the file written (replaced whole if it exists)")
    config = parser.parse_args(sys.argv[2:] if args is None else args)
    try:
        return run(**vars(config))
    except ValueError as err:  # ConfigError included
        parser.error(str(err))
