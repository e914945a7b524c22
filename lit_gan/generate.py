"""``lit-gan generate``: images (or 2-D points) from a checkpoint alone, no config and no data.

    lit-gan generate --checkpoint run.ckpt --seeds 0-99 --outdir out
    lit-gan generate --checkpoint lightning_logs/version_0 --seeds 0-7 --truncation 0.7 --class 3
    lit-gan generate --checkpoint run.ckpt --seeds 1,5,9 --interpolate 8 --outdir walk

Each seed s gives one latent z ~ N(0, I), drawn from a ``torch.Generator`` seeded s (and, for a
class-conditional model, its class from the same generator), so a seed gives the same image on every
run on the same device, alone or in any list, as StyleGAN2-ADA's ``generate.py --seeds`` does.
``--num_samples N --seed S`` draws N latents from one generator seeded S instead. InfoGAN's code is
a function of z (:mod:`lit_gan.networks.code`), so it needs no draw of its own. Samples come from
``model.sample``: the averaged generator when the run kept one (``ema_decay``).
"""

import math
import os
import re
import sys
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from jsonargparse.typing import PositiveInt
from torch import Tensor

from lit_gan.checks import check_greater_than_zero, check_positive_ints
from lit_gan.cli_checks import check_writable_folder
from lit_gan.errors import ConfigError, one_line
from lit_gan.files import leftovers, written_whole
from lit_gan.image_files import save_grid, save_pngs, save_scatter
from lit_gan.objectives.base import AdversarialModule
from lit_gan.objectives.loading import load_with_step
from lit_gan.parser import LitGanParser
from lit_gan.run_folders import checkpoint_in

DEFAULT_SEEDS = "0-63"  # neither --seeds nor --num_samples: an 8 x 8 grid
MAX_COUNT = 100_000  # seeds (or classes) one command may name: files in one folder
GRID_MAX = 256  # samples shown in grid.png (the PNGs and the .npz hold all)
# what an earlier generate wrote in an outdir, replaced by the next (no folder mixes two runs)
OUTPUT = re.compile(r"(?:(?:seed|sample)\d+(?:-class\d+)?|frame\d+)\.png|grid\.png|strip\.png|scatter\.png|samples\.npz")


def parse_numbers(text: str, name: str, what: str = "seeds") -> list[int]:
    """``"0-99"`` or ``"1,4,7-9"`` -> [0, ..., 99] or [1, 4, 7, 8, 9], in the order given; one line naming
    ``name`` for anything else."""
    numbers: list[int] = []
    for part in str(text).split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        first, last = (int(match[1]), int(match[2] or match[1])) if match else (0, -1)
        why = "" if match else f": {part.strip()!r} is not a number or a range"
        why = why or (f": the range {part.strip()} goes down" if last < first else "")
        why = why or (f": {last} is beyond 2**63 - 1" if last >= 2**63 else "")
        if why:
            raise ConfigError(f"Expected argument `{name}` to be {what} (integers >= 0) or ranges of them, separated"
                              f" by commas (e.g. 0-99 or 1,4,7-9), got {text!r}{why}")
        if len(numbers) + last - first + 1 > MAX_COUNT:
            raise ConfigError(f"Expected argument `{name}` to name at most {MAX_COUNT} {what}, got {text!r}")
        numbers += range(first, last + 1)
    return numbers


def truncate(z: Tensor, psi: Optional[float], generator: torch.Generator) -> Tensor:
    """The truncation trick (Brock et al. 2019, BigGAN, Section 3.1): every entry of z ~ N(0, I) with |z| > psi
    is drawn again until it falls within psi, that is from N(0, 1) conditioned on |z| <= psi; here in one
    pass, by the inverse CDF of a uniform from ``generator``, so that a small psi takes no longer than a large
    one. The entries within psi are kept. None: z as it is."""
    if psi is None:
        return z
    outside = z.abs() > psi
    u = torch.rand(int(outside.sum()), generator=generator, dtype=torch.float64)
    within = math.sqrt(2) * torch.erfinv(math.erf(psi / math.sqrt(2)) * (2 * u - 1))  # erf(psi / sqrt 2) = P(|z| <= psi)
    z = z.clone()
    z[outside] = within.clamp(-psi, psi).to(z.dtype)
    return z


def draw_latents(seeds: Optional[list[int]], num_samples: int, seed: int, latent_dim: int, num_classes: int,
                 psi: Optional[float] = None) -> tuple[Tensor, Optional[Tensor]]:
    """(z (N, latent_dim) ~ N(0, I); for a conditional model, each row's class (N,), uniform; else None): one
    generator per seed of ``seeds``, or ``num_samples`` rows from one generator seeded ``seed``; from each, z,
    then the classes, then the entries that truncation to ``psi`` draws again (so z's other entries and the
    classes are the same with and without it)."""
    groups = [(s, 1) for s in seeds] if seeds is not None else [(seed, num_samples)]
    zs, labels = [], []
    for s, n in groups:
        g = torch.Generator().manual_seed(s)
        z = torch.randn(n, latent_dim, generator=g)
        labels.append(torch.randint(num_classes, (n,), generator=g) if num_classes else torch.empty(0))
        zs.append(truncate(z, psi, g))
    return torch.cat(zs), (torch.cat(labels) if num_classes else None)


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation from a to b (D,) at fractions t (T,) -> (T, D) (Shoemake 1985; White 2016,
    "Sampling Generative Networks": the path of a Gaussian z keeps its norm typical, a straight line does not)."""
    cos = torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-12)
    theta = torch.arccos(cos.clamp(-1, 1))
    t = t[:, None]
    if theta < 1e-6:  # (nearly) the same direction: the line
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * theta) * a + torch.sin(t * theta) * b) / torch.sin(theta)


def interpolation(z: Tensor, k: int) -> Tensor:
    """``k`` frames between each two consecutive latents of z (N, D), both ends included once:
    ((N - 1) * (k + 1) + 1, D)."""
    t = torch.arange(k + 1, dtype=z.dtype) / (k + 1)
    return torch.cat([slerp(a, b, t) for a, b in zip(z[:-1], z[1:])] + [z[-1:]])


def check_classes(classes: Optional[str], num_classes: int, interpolate: Optional[int]) -> Optional[list[int]]:
    """The classes ``--class`` names, in range for the model; None when not given."""
    if classes is None:
        return None
    if not num_classes:
        raise ConfigError(f"Expected argument `class` to be left out: the checkpoint's model is not class-conditional"
                          f" (num_classes 0), got {classes!r}")
    wanted = parse_numbers(classes, "class", "classes")
    if max(wanted) >= num_classes:
        raise ConfigError(f"Expected argument `class` to be classes in 0..{num_classes - 1} (the checkpoint's"
                          f" num_classes is {num_classes}), got {classes!r}")
    if interpolate and len(wanted) > 1:
        raise ConfigError(f"Expected argument `class` to be one class with `interpolate` (the frames are of one"
                          f" class), got {classes!r}")
    return wanted


def check_device(device: str) -> torch.device:
    try:
        where = torch.device(device)
        torch.empty(0, device=where)
    except (RuntimeError, AssertionError) as err:
        raise ConfigError(f"Expected argument `device` to be a device this machine has (cpu, cuda), got {device!r}:"
                          f" {one_line(err)}") from err
    return where


def layout(z: Tensor, drawn: Optional[Tensor], prefix: list[str], wanted: Optional[list[int]],
           interpolate: Optional[int]) -> tuple[Tensor, Optional[Tensor], list[str], Optional[int]]:
    """(the latents to draw, their classes, the names of their PNGs, the grid's row length (None: a square))
    from the seeds' latents z and classes ``drawn``: the frames of an interpolation, of one class (the one
    asked for, else the first seed's); or each latent in each class asked for, a grid row per class; or
    each latent in its own class."""
    if interpolate:
        frames = interpolation(z, interpolate)
        labels = None if drawn is None else torch.full((len(frames),), wanted[0] if wanted else int(drawn[0]))
        return frames, labels, [f"frame{i:04d}" for i in range(len(frames))], None
    if wanted is not None:
        names = [f"{p}-class{c}" for c in wanted for p in prefix]
        return (z.repeat(len(wanted), 1), torch.tensor(wanted).repeat_interleave(len(z)), names,
                len(z) if len(wanted) > 1 else None)
    return z, drawn, prefix if drawn is None else [f"{p}-class{int(c)}" for p, c in zip(prefix, drawn)], None


def draw(model: AdversarialModule, z: Tensor, labels: Optional[Tensor], batch_size: int) -> Tensor:
    """``model.sample`` of each row of z (and its label), by batches; float32 on the CPU."""
    rows = range(0, len(z), batch_size)
    return torch.cat([model.sample(len(z[i : i + batch_size]), z=z[i : i + batch_size],
                                   labels=None if labels is None else labels[i : i + batch_size]).float().cpu()
                      for i in rows])


def write(folder: Path, samples: Tensor, names: list[str], labels: Optional[Tensor], arrays: dict[str, Any],
          rows: Optional[list[Tensor]], grid_row: Optional[int]) -> list[str]:
    """samples.npz; images: a PNG per sample (``names``) and grid.png, or the ``rows`` of an interpolation
    as strip.png; points: scatter.png. The names of the files written, the per-sample PNGs first."""
    np.savez_compressed(folder / "samples.npz", x=samples.numpy(), **arrays)
    if samples.dim() == 4 and samples.shape[1] in (1, 3):
        save_pngs(samples, [folder / f"{name}.png" for name in names])
        if rows is not None:
            save_grid(torch.cat(rows), folder / "strip.png", nrow=len(rows[0]))
            return [f"{name}.png" for name in names] + ["strip.png", "samples.npz"]
        save_grid(samples[:GRID_MAX], folder / "grid.png", nrow=grid_row)
        return [f"{name}.png" for name in names] + ["grid.png", "samples.npz"]
    if samples.dim() == 2:  # points: a toy's 2-D samples
        title = f"{len(samples)} {'frames' if rows is not None else 'generator samples'}"
        save_scatter(samples, folder / "scatter.png", title, labels, joined=rows is not None)
        return ["scatter.png", "samples.npz"]
    return ["samples.npz"]  # samples of another shape: the array only


def run(checkpoint: str, seeds: Optional[str] = None, num_samples: Optional[int] = None, seed: int = 0,
        truncation: Optional[float] = None, interpolate: Optional[int] = None, classes: Optional[str] = None,
        outdir: str = "generated", batch_size: int = 64, device: str = "cpu") -> dict[str, Any]:
    """Draw the samples and write them into ``outdir`` (what an earlier generate wrote there is replaced,
    whole: a run stopped while writing leaves the folder as it was); print where; return the paths.

    Args: as ``lit-gan generate --help`` says; ``classes`` is ``--class``."""
    check_positive_ints(num_samples=num_samples, interpolate=interpolate, batch_size=batch_size)
    check_greater_than_zero(truncation=truncation)
    if seeds is not None and num_samples is not None:
        raise ConfigError("Expected one of the arguments `seeds` and `num_samples` (with `seed`), got both")
    seed_list = None if num_samples is not None else parse_numbers(seeds or DEFAULT_SEEDS, "seeds")
    if interpolate and len(seed_list or range(num_samples or 0)) < 2:
        raise ConfigError("Expected argument `interpolate` to come with at least 2 seeds (or `num_samples`), to"
                          " interpolate between, got 1")
    check_writable_folder(outdir, "`outdir`")
    path = checkpoint_in(checkpoint)
    model, step = load_with_step(path, check_device(device), "checkpoint")
    wanted = check_classes(classes, model.num_classes, interpolate)

    z, drawn = draw_latents(seed_list, num_samples or 0, seed, model.latent_dim, model.num_classes, truncation)
    prefix = [f"seed{s:04d}" for s in seed_list] if seed_list is not None else [f"sample{i:04d}" for i in range(len(z))]
    z, labels, names, grid_row = layout(z, drawn, prefix, wanted, interpolate)
    samples = draw(model, z, labels, batch_size)
    step_k = (interpolate or 0) + 1  # an interpolation's rows: seed to seed, both ends included
    rows = [samples[i * step_k : (i + 1) * step_k + 1] for i in range(len(z) // step_k)] if interpolate else None
    arrays: dict[str, Any] = {"seeds": np.array(seed_list)} if seed_list is not None else {"seed": np.array(seed)}
    arrays |= {"z": z.numpy()} | ({} if labels is None else {"labels": labels.numpy()})

    out = Path(outdir)
    try:
        with written_whole(out, [f for f in out.glob("*") if OUTPUT.fullmatch(f.name)] + leftovers(out)) as folder:
            files = write(folder, samples, names, labels, arrays, rows, grid_row)
    except OSError as err:  # a read-only file system, a full disk or quota
        why = os.strerror(err.errno) if err.errno else one_line(err)
        raise ConfigError(f"cannot write into `outdir` {outdir}: {why} (nothing of this run was kept)") from err
    pngs = [f for f in files if re.fullmatch(r"(seed|sample|frame).*\.png", f)]
    listed = ([f"{len(pngs)} PNGs ({pngs[0]} ... {pngs[-1]})"] if pngs else []) + [f for f in files if f not in pngs]
    average = ", the averaged generator" if model.generator_ema is not None else ""
    psi = f", truncation {truncation}" if truncation is not None else ""
    print(f"lit-gan generate: wrote {', '.join(listed[:-1])} and {listed[-1]} to {out}{os.sep}\n"
          f"  from {path} (generator step {step}{average}{psi})", flush=True)
    return {"outdir": str(out), "files": [str(out / f) for f in files], "checkpoint": path, "step": step}


def main(args: Optional[list[str]] = None) -> dict[str, Any]:
    """``lit-gan generate --checkpoint CKPT [--seeds 0-99 | --num_samples N --seed S] [--outdir DIR] ...``."""
    parser = LitGanParser(prog="lit-gan generate", description=__doc__.split("\n")[0], env_prefix="LIT_GAN")
    parser.add_argument("--checkpoint", type=str, required=True,
                        help="a checkpoint of `lit-gan fit`, or its run folder (its checkpoints/last.ckpt, else the newest .ckpt)")
    parser.add_argument("--seeds", type=Optional[str], default=None,
                        help=f"one image per seed: 0-99, 1,4,7-9 (default, without --num_samples: {DEFAULT_SEEDS})")
    parser.add_argument("--num_samples", type=Optional[PositiveInt], default=None,
                        help="or this many samples from one generator seeded --seed (sample0000.png ...)")
    parser.add_argument("--seed", type=int, default=0, help="the seed of --num_samples")
    parser.add_argument("--truncation", type=Optional[float], default=None,
                        help="psi > 0: entries of z beyond psi are drawn again (Brock et al. 2019); default off")
    parser.add_argument("--interpolate", type=Optional[PositiveInt], default=None,
                        help="K frames between consecutive seeds (spherical): frame0000.png ... and strip.png")
    parser.add_argument("--class", dest="classes", type=Optional[str], default=None,
                        help="a class-conditional model's class(es): 3, or 0-9 (each seed in each class);"
                             " default: each seed's own class, drawn from it")
    parser.add_argument("--outdir", type=str, default="generated",
                        help="the folder written (created); what an earlier generate wrote there is replaced")
    parser.add_argument("--batch_size", type=PositiveInt, default=64, help="samples per generator call")
    parser.add_argument("--device", type=str, default="cpu", help="where the generator runs (cpu, cuda, cuda:1)")
    config = parser.parse_args(sys.argv[2:] if args is None else args)
    try:
        return run(**vars(config))
    except ValueError as err:  # ConfigError included
        parser.error(str(err))
