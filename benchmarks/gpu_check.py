"""The GPU check of issue 39 (item 8): one script, under 8 minutes on one GPU, one JSON and one table.

    python -m benchmarks.gpu_check [--out gpu_check.json] [--steps 50] [--budget 300]
    python -m benchmarks.gpu_check --device cpu --tiny      # seconds: the script's own check (a test runs it)

What it measures, at batch 64, n_critic 5, 32x32 RGB images (random uint8, drawn in memory and pinned):

- generator updates per second of lit-gan (a Lightning Trainer, a CSVLogger, ``benchmark: true``) against a
  plain PyTorch loop doing the same work, for WGAN-GP on DCGAN networks (base 64, LayerNorm critic) and
  for Hinge on SNGAN's ResNets (256 / 128 channels, spectral normalization), each in float32 (TF32 matmuls:
  ``set_float32_matmul_precision("high")``, both loops), bf16-mixed, bf16-mixed with channels_last, and
  bf16-mixed with channels_last and ``torch.compile`` (inductor, one graph per shape; WGAN-GP's critic stays
  eager: a double backward). Both loops use ``Adam(fused=True)`` on CUDA, whose step counters stay on the
  device (``lit_gan.objectives.updates.guarded_step`` then never waits). Timed after ``--warmup`` updates
  (compilation included there), between two ``cuda.synchronize``;
- host-device synchronizations per generator update of lit-gan between log steps (float32): CUDA's own count
  (``torch.cuda.set_sync_debug_mode("warn")``, one warning per synchronizing call, with where it was made)
  and ``benchmarks/syncs.py``'s count of the calls that would wait (``item``, ``bool``, ``tolist``, ...);
  on the CPU only the latter;
- Inception v3 (``lit_gan.metrics.InceptionFeatures``) images per second, batches of 64 uint8 images resized
  to 299; with random weights when the real file is absent (the output says so: the speed is the same);
- the peak GPU memory of every run (``max_memory_allocated``); on the CPU the process's peak RSS instead.

Runs that would start after ``--budget`` seconds are skipped (listed in the JSON); the compiled ones come last.
"""

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from contextlib import nullcontext
from functools import partial
from pathlib import Path
from typing import Any, Optional

import torch
from lightning.pytorch import Callback, LightningDataModule, Trainer
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, IterableDataset

from benchmarks.syncs import Count
from lit_gan import WGANGP, Hinge
from lit_gan.networks import DCGANCritic, DCGANGenerator, ResNetCritic, ResNetGenerator
from lit_gan.objectives import losses
from lit_gan.objectives.compiling import ChannelsLast, Compile, compile_in_place, to_channels_last
from lit_gan.objectives.updates import Updater
from lit_gan.tensors import to_unit_range

SHAPE, LATENT, N_CRITIC = (3, 32, 32), 128, 5
CONFIGS = {  # name -> family, its arguments, networks (full size, --tiny), optimizer (lr, betas), plain-loop losses
    "wgan_gp_dcgan32": dict(
        family=WGANGP, kwargs={"gp_lambda": 10.0}, lr=1e-4, betas=(0.5, 0.9), gp_lambda=10.0,
        generator=(partial(DCGANGenerator, base_channels=64), partial(DCGANGenerator, base_channels=4)),
        critic=(partial(DCGANCritic, base_channels=64, norm="layer"), partial(DCGANCritic, base_channels=4, norm="layer")),
        d_loss=losses.wgan_critic_loss, g_loss=losses.wgan_generator_loss),
    "hinge_sn_resnet32": dict(
        family=Hinge, kwargs={}, lr=2e-4, betas=(0.0, 0.9), gp_lambda=0.0,
        generator=(partial(ResNetGenerator, channels=256), partial(ResNetGenerator, channels=8)),
        critic=(partial(ResNetCritic, channels=128), partial(ResNetCritic, channels=8)),
        d_loss=losses.hinge_critic_loss, g_loss=losses.hinge_generator_loss),
}
VARIANTS = {  # name -> precision, channels_last, compile
    "float32": ("32-true", False, False), "bf16-mixed": ("bf16-mixed", False, False),
    "bf16-mixed+channels_last": ("bf16-mixed", True, False), "bf16-mixed+channels_last+compile": ("bf16-mixed", True, True),
}
SYNC_WARNING = "called a synchronizing CUDA operation"


class RandomBatches(IterableDataset):
    """Endless uint8 batches of ``size`` images drawn from a pool in memory: one per generator iteration."""

    def __init__(self, size: int, pool: int = 4096) -> None:
        self.size, self.images = size, torch.randint(0, 256, (pool, *SHAPE), dtype=torch.uint8)

    def __iter__(self):
        rng = torch.Generator().manual_seed(0)
        while True:
            yield (self.images[torch.randint(len(self.images), (self.size,), generator=rng)],)


class Images(LightningDataModule):
    img_shape, drop_last = SHAPE, True

    def __init__(self, batch: int, pin: bool) -> None:
        super().__init__()
        self.batch_size, self.pin = batch, pin

    def train_dataloader(self) -> DataLoader:
        return DataLoader(RandomBatches(self.batch_size * N_CRITIC), batch_size=None, pin_memory=self.pin)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return [to_unit_range(batch[0])]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the process's peak RSS (KiB on Linux)


class Clock(Callback):
    """The time from the end of generator update ``warmup`` to the end of the last (Trainer.fit's teardown,
    which moves the model back to the CPU, left out), each synchronized."""

    def __init__(self, warmup: int, device: torch.device) -> None:
        self.warmup, self.device, self.start, self.end = warmup, device, None, None

    def on_train_batch_end(self, trainer: Trainer, *args: Any) -> None:
        if trainer.global_step in (self.warmup, trainer.max_steps):
            synchronize(self.device)
            self.start, self.end = (time.perf_counter(), None) if trainer.global_step == self.warmup else (self.start, time.perf_counter())

    def rate(self, trainer: Trainer) -> float:
        return (trainer.max_steps - self.warmup) / (self.end - self.start)


class CudaSyncs(Count):
    """benchmarks.syncs' count of the calls that would wait, and CUDA's own sync warnings while it counts."""

    def __init__(self, skip: int, device: torch.device) -> None:
        super().__init__(skip)
        self.device = device

    def on_train_batch_end(self, trainer: Trainer, *args: Any) -> None:
        super().on_train_batch_end(trainer, *args)
        if self.device.type == "cuda":
            torch.cuda.set_sync_debug_mode("warn" if self.on else 0)


def lit_gan_model(config: dict, tiny: bool, device: torch.device):
    torch.manual_seed(0)
    adam = partial(torch.optim.Adam, lr=config["lr"], betas=config["betas"], fused=device.type == "cuda")
    return config["family"](generator=config["generator"][tiny], critic=config["critic"][tiny], latent_dim=LATENT,
                            img_shape=SHAPE, n_critic=N_CRITIC, g_optimizer=adam, d_optimizer=adam, **config["kwargs"])


def trainer(args: argparse.Namespace, root: str, steps: int, precision: str, callbacks: list, log_every: int) -> Trainer:
    return Trainer(accelerator=args.device, devices=1, precision=precision, max_steps=steps, benchmark=True,
                   logger=CSVLogger(root), log_every_n_steps=log_every, enable_checkpointing=False,
                   enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
                   callbacks=callbacks, default_root_dir=root)


def run_lit_gan(config: dict, variant: str, args: argparse.Namespace, device: torch.device) -> float:
    precision, channels_last, compiled = VARIANTS[variant]
    clock = Clock(args.warmup, device)
    callbacks = [clock] + [ChannelsLast()] * channels_last + [Compile(backend=args.compile_backend, dynamic=False)] * compiled
    with tempfile.TemporaryDirectory() as root:
        fit = trainer(args, root, args.warmup + args.steps, precision, callbacks, 50)
        fit.fit(lit_gan_model(config, args.tiny, device), Images(args.batch, device.type == "cuda"))
        return clock.rate(fit)


def run_plain(config: dict, variant: str, args: argparse.Namespace, device: torch.device) -> float:
    """The same work in a hand-written loop: Algorithm 1, n_critic critic updates then one generator update."""
    precision, channels_last, compiled = VARIANTS[variant]
    torch.manual_seed(0)
    generator = config["generator"][args.tiny](LATENT, SHAPE).to(device)
    critic = config["critic"][args.tiny](SHAPE).to(device)
    for network, compiles in ((generator, True), (critic, config["gp_lambda"] == 0)):  # no double backward compiled
        if channels_last:
            to_channels_last(network)
        if compiled and compiles:
            compile_in_place(network, backend=args.compile_backend, dynamic=False)
    adam = partial(torch.optim.Adam, lr=config["lr"], betas=config["betas"], fused=device.type == "cuda")
    g_opt, d_opt = adam(generator.parameters()), adam(critic.parameters())
    batches = iter(DataLoader(RandomBatches(args.batch * N_CRITIC), batch_size=None, pin_memory=device.type == "cuda"))
    autocast = partial(torch.autocast, device.type, dtype=torch.bfloat16) if precision == "bf16-mixed" else nullcontext

    def iteration() -> None:
        (x,) = next(batches)
        for real in to_unit_range(x.to(device, non_blocking=True)).tensor_split(N_CRITIC):
            with autocast():
                z = torch.randn(args.batch, LATENT, device=device)
                with torch.no_grad():
                    fake = generator(z)
                loss = config["d_loss"](critic(real).float(), critic(fake).float())
                if config["gp_lambda"]:
                    loss = loss + config["gp_lambda"] * losses.gradient_penalty(critic, real, fake)[0]
            d_opt.zero_grad(set_to_none=True)
            loss.backward()
            d_opt.step()
        critic.requires_grad_(False)
        with autocast():
            loss = config["g_loss"](critic(generator(torch.randn(args.batch, LATENT, device=device))).float())
        g_opt.zero_grad(set_to_none=True)
        loss.backward()
        g_opt.step()
        critic.requires_grad_(True)

    for _ in range(args.warmup):
        iteration()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        iteration()
    synchronize(device)
    return args.steps / (time.perf_counter() - start)


def count_syncs(config: dict, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Syncs per generator update of lit-gan in float32, between log steps (``log_every_n_steps`` past the run)."""
    steps, skip = (5, 2) if args.tiny else (23, 3)
    count = CudaSyncs(skip, device)
    Updater.defer = True  # the accelerator's path on the CPU too (benchmarks/syncs.py)
    with tempfile.TemporaryDirectory() as root, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        count.wrap()
        try:
            trainer(args, root, steps, "32-true", [count], 10 * steps).fit(lit_gan_model(config, args.tiny, device),
                                                                           Images(args.batch, device.type == "cuda"))
        finally:
            count.unwrap()
            Updater.defer = None
            if device.type == "cuda":
                torch.cuda.set_sync_debug_mode(0)
    updates = max(count.updates, 1)
    cuda = Counter(f"{Path(w.filename).name}:{w.lineno}" for w in caught if SYNC_WARNING in str(w.message))
    return {"per_update": (sum(cuda.values()) if device.type == "cuda" else sum(count.calls.values())) / updates,
            "method": "torch.cuda.set_sync_debug_mode('warn')" if device.type == "cuda" else "benchmarks/syncs.py (CPU)",
            "would_wait_calls_per_update": sum(count.calls.values()) / updates, "updates": count.updates,
            "where": dict(cuda.most_common(10)) or dict(Counter(count.calls).most_common(10))}


def inception_speed(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    from lit_gan.metrics.inception import InceptionFeatures, InceptionWeightsNotFoundError, resolve_weights

    try:
        path, weights = str(resolve_weights(None, download=False)), "real (torch-fidelity's FID weights)"
    except InceptionWeightsNotFoundError:
        from tests.metrics.conftest import inception_state_dict

        path = str(Path(tempfile.mkdtemp()) / "random-inception.pth")
        torch.save(inception_state_dict(), path)
        weights = "random (the real file is absent): the speed is the real network's, the features are not"
    extractor = InceptionFeatures(weights_path=path, check_hash=False).to(device)
    batch, batches = (4, 2) if args.tiny else (64, 20)
    images = torch.randint(0, 256, (batch, *SHAPE), dtype=torch.uint8, device=device)
    with torch.no_grad():
        extractor.extract(images)  # warm-up (cuDNN's choice of algorithms)
        synchronize(device)
        start = time.perf_counter()
        for _ in range(batches):
            extractor.extract(images)
        synchronize(device)
    return {"images_per_s": batch * batches / (time.perf_counter() - start), "batch": batch, "weights": weights,
            "peak_memory_mib": peak_memory_mib(device)}


def measured(what: str, results: dict, start: float, args: argparse.Namespace, device: torch.device, run, *inputs) -> Any:
    """``run(*inputs)`` with its peak memory reset before, unless the budget is spent; errors are kept, one line each."""
    if time.perf_counter() - start > args.budget:
        results["skipped"].append(what)
        return None
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    began = time.perf_counter()
    try:
        value = run(*inputs)
    except Exception as err:  # noqa: BLE001 - one failing run must not lose the others
        results["errors"].append(f"{what}: {type(err).__name__}: {' '.join(str(err).split())[:300]}")
        traceback.print_exc()
        return None
    print(f"  {what}: {time.perf_counter() - began:.1f} s", file=sys.stderr, flush=True)
    return value


def table(results: dict) -> str:
    lines = ["| config | variant | lit-gan updates/s | plain updates/s | lit-gan / plain | lit-gan peak MiB | plain peak MiB |",
             "|---|---|---|---|---|---|---|"]
    for run in results["runs"]:
        lit, plain = run["lit-gan"], run["plain"]
        ratio = f"{lit['updates_per_s'] / plain['updates_per_s']:.3f}" if lit and plain else "-"
        cells = [f"{r['updates_per_s']:.2f}" if r else "-" for r in (lit, plain)]
        memory = [f"{r['peak_memory_mib']:.0f}" if r else "-" for r in (lit, plain)]
        lines.append(f"| {run['config']} | {run['variant']} | {cells[0]} | {cells[1]} | {ratio} | {memory[0]} | {memory[1]} |")
    for name, syncs in results["syncs"].items():
        if syncs:
            lines.append(f"syncs per generator update, {name}, float32, between log steps: {syncs['per_update']:.2f}"
                         f" ({syncs['method']}; calls that would wait: {syncs['would_wait_calls_per_update']:.2f})")
    if results["inception"]:
        i = results["inception"]
        lines.append(f"Inception v3: {i['images_per_s']:.1f} images/s (batch {i['batch']}, weights {i['weights']})")
    lines += [f"skipped (budget): {s}" for s in results["skipped"]] + [f"error: {e}" for e in results["errors"]]
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--tiny", action="store_true", help="tiny networks, batch 8, 2 timed updates: checks the script")
    parser.add_argument("--steps", type=int, default=50, help="timed generator updates per run")
    parser.add_argument("--warmup", type=int, default=5, help="generator updates before the clock starts")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--budget", type=float, default=300.0, help="seconds after which no run starts")
    parser.add_argument("--compile-backend", default=None, help="torch.compile's backend; default inductor (--tiny: eager)")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--out", default="gpu_check.json")
    args = parser.parse_args(argv)
    if args.tiny:
        args.steps, args.warmup, args.batch = 2, 1, 8
    args.compile_backend = args.compile_backend or ("eager" if args.tiny else "inductor")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no GPU is visible (torch.cuda.is_available() is False); use --device cpu --tiny")
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)  # tiny networks: more threads only wait for each other (and on a busy machine, long)
    torch.set_float32_matmul_precision("high")
    torch.backends.cudnn.benchmark = True
    start = time.perf_counter()
    results: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.processor() or 'unknown'})",
        "torch": torch.__version__, "tiny": args.tiny,
        "settings": {"batch": args.batch, "n_critic": N_CRITIC, "img_shape": list(SHAPE), "latent_dim": LATENT,
                     "timed_updates": args.steps, "warmup_updates": args.warmup, "compile_backend": args.compile_backend,
                     "float32_matmul_precision": "high", "cudnn_benchmark": True, "fused_adam": device.type == "cuda"},
        "memory": "torch.cuda.max_memory_allocated per run" if device.type == "cuda" else "process peak RSS (CPU)",
        "runs": [], "syncs": {}, "inception": None, "skipped": [], "errors": [],
    }
    for name, config in CONFIGS.items():
        results["syncs"][name] = measured(f"syncs {name}", results, start, args, device, count_syncs, config, args, device)
    results["inception"] = measured("inception", results, start, args, device, inception_speed, args, device)
    for variant in args.variants:  # the compiled runs last: the budget may skip them
        for name, config in CONFIGS.items():
            run = {"config": name, "variant": variant}
            for loop, function in (("plain", run_plain), ("lit-gan", run_lit_gan)):
                rate = measured(f"{loop} {name} {variant}", results, start, args, device, function, config, variant, args, device)
                run[loop] = None if rate is None else {"updates_per_s": rate, "peak_memory_mib": peak_memory_mib(device)}
            results["runs"].append(run)
    results["total_seconds"] = time.perf_counter() - start
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(table(results))
    print(f"written: {args.out} ({results['total_seconds']:.0f} s)")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
