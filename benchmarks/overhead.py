"""Training speed: lit-gan's WGANGP through a Lightning Trainer against a minimal hand-written
PyTorch loop doing the same work (issue 6, item 1).

    python -m benchmarks.overhead [--steps 20] [--repeats 5] [--batch 64] [--channels 32]
    python -m benchmarks.overhead --profile [--steps 30]     # where lit-gan's extra time goes

Same DCGAN generator and critic (28x28, 1 channel, no BatchNorm in the critic), same batch
size, WGAN-GP with n_critic=5, the same in-memory uint8 data converted per batch, the same
number of generator steps; Lightning without logger, progress bar or checkpoints. Runs
alternate; the median generator steps/s of each and their ratio are printed, per second of wall
time and per second of the process's CPU time (both threads): on a shared virtual machine the
wall time also counts time the host gave to others, the CPU time only the work done.
"""

import argparse
import cProfile
import pstats
import statistics
import time
from functools import partial

import torch
from lightning.pytorch import LightningDataModule, Trainer
from torch.utils.data import DataLoader, TensorDataset

from lit_gan import WGANGP
from lit_gan.tensors import to_unit_range
from lit_gan.networks import DCGANCritic, DCGANGenerator
from lit_gan.objectives.losses import gradient_penalty, wgan_critic_loss, wgan_generator_loss

SHAPE, LATENT, N_CRITIC, LAMBDA = (1, 28, 28), 64, 5, 10.0


class Images(LightningDataModule):
    img_shape = SHAPE

    def __init__(self, images: torch.Tensor, batch: int) -> None:
        super().__init__()
        self.images, self.batch = images, batch

    def train_dataloader(self) -> DataLoader:  # one batch is one generator iteration: N_CRITIC critic batches
        return DataLoader(TensorDataset(self.images), batch_size=self.batch * N_CRITIC, shuffle=True, drop_last=True)

    def on_after_batch_transfer(self, batch, dataloader_idx):
        return [to_unit_range(batch[0])]


def run_lightning(images, args) -> float:
    torch.manual_seed(0)
    model = WGANGP(generator=partial(DCGANGenerator, base_channels=args.channels),
                   critic=partial(DCGANCritic, base_channels=args.channels, norm="layer"),
                   latent_dim=LATENT, img_shape=SHAPE, n_critic=N_CRITIC, gp_lambda=LAMBDA)
    trainer = Trainer(accelerator="cpu", max_steps=args.steps, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0)
    start, cpu = time.perf_counter(), time.process_time()
    trainer.fit(model, Images(images, args.batch))
    return args.steps / (time.perf_counter() - start), args.steps / (time.process_time() - cpu)


def run_plain(images, args) -> float:
    torch.manual_seed(0)
    generator = DCGANGenerator(LATENT, SHAPE, base_channels=args.channels)
    critic = DCGANCritic(SHAPE, base_channels=args.channels, norm="layer")
    g_opt = torch.optim.Adam(generator.parameters(), lr=1e-4, betas=(0.5, 0.9))
    d_opt = torch.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.5, 0.9))
    loader = DataLoader(TensorDataset(images), batch_size=args.batch, shuffle=True, drop_last=True)
    start, cpu = time.perf_counter(), time.process_time()
    batches, steps = iter(loader), 0
    while steps < args.steps:
        for _ in range(N_CRITIC):
            try:
                (real,) = next(batches)
            except StopIteration:
                batches = iter(loader)
                (real,) = next(batches)
            real = to_unit_range(real)
            with torch.no_grad():
                fake = generator(torch.randn(real.shape[0], LATENT))
            penalty, _ = gradient_penalty(critic, real, fake)
            loss = wgan_critic_loss(critic(real), critic(fake)) + LAMBDA * penalty
            d_opt.zero_grad(set_to_none=True)
            loss.backward()
            d_opt.step()
        for p in critic.parameters():
            p.requires_grad_(False)
        loss = wgan_generator_loss(critic(generator(torch.randn(args.batch, LATENT))))
        g_opt.zero_grad(set_to_none=True)
        loss.backward()
        g_opt.step()
        for p in critic.parameters():
            p.requires_grad_(True)
        steps += 1
    return args.steps / (time.perf_counter() - start), args.steps / (time.process_time() - cpu)


# what the lit-gan run does that the plain loop does not, as cProfile names it (file, function)
PARTS = {
    "Trainer.fit setup and teardown": None,  # fit's total minus its training loop
    "LightningModule.log (train/ values, every generator update)": ("lightning/pytorch/core/module.py", "log"),
    "non-finite check (loss and gradient norms)": ("lit_gan/objectives/updates.py", "_average_and_check"),
    "toggled_optimizer (generator update)": ("lightning/pytorch/core/module.py", "toggle_optimizer"),
    "data fetching and batch transfer hooks": ("lightning/pytorch/loops/fetchers.py", "__next__"),
    "callback and module hooks per batch": ("lightning/pytorch/trainer/call.py", "_call_callback_hooks"),
}


def profile(images, args) -> None:
    """cProfile of one lit-gan run: the seconds of each part of PARTS, and its share of the run."""
    run_lightning(images, argparse.Namespace(**{**vars(args), "steps": 2}))  # warm up
    profiler = cProfile.Profile()
    profiler.enable()
    rate, _ = run_lightning(images, args)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # {(file, line, function): (calls, ..., tottime, cumtime, callers)}

    def cumulative(file: str, function: str) -> float:
        return sum(v[3] for (f, _, fn), v in stats.items() if f.endswith(file) and fn == function)

    total = cumulative("lightning/pytorch/trainer/trainer.py", "fit")
    loop = cumulative("lightning/pytorch/loops/fit_loop.py", "run")
    print(f"lit-gan + Lightning, {args.steps} generator steps: {rate:.3f} steps/s under cProfile, fit {total:.2f} s")
    for name, where in PARTS.items():
        seconds = total - loop if where is None else cumulative(*where)
        print(f"  {name:62s} {seconds:6.3f} s  {100 * seconds / total:5.2f}%")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--profile", action="store_true", help="profile one lit-gan run instead")
    args = parser.parse_args()
    images = torch.randint(0, 256, (8192, *SHAPE), dtype=torch.uint8)
    if args.profile:
        return profile(images, args)
    run_plain(images, argparse.Namespace(**{**vars(args), "steps": 2}))  # warm up both
    run_lightning(images, argparse.Namespace(**{**vars(args), "steps": 2}))
    lit, plain = [], []
    for _ in range(args.repeats):
        plain.append(run_plain(images, args))
        lit.append(run_lightning(images, args))
    print(f"DCGAN 28x28 base_channels={args.channels}, batch {args.batch}, WGAN-GP n_critic={N_CRITIC}, "
          f"{args.steps} generator steps, {args.repeats} alternating runs, torch threads {torch.get_num_threads()}")
    for i, clock in enumerate(("wall", "CPU")):
        p, q = [r[i] for r in plain], [r[i] for r in lit]
        print(f"plain PyTorch loop  {statistics.median(p):7.3f} generator steps per {clock} s   (runs: {', '.join(f'{v:.3f}' for v in p)})")
        print(f"lit-gan + Lightning {statistics.median(q):7.3f} generator steps per {clock} s   (runs: {', '.join(f'{v:.3f}' for v in q)})")
    print(f"ratio lit-gan / plain: {statistics.median(r[0] for r in lit) / statistics.median(r[0] for r in plain):.3f}"
          f" (wall), {statistics.median(r[1] for r in lit) / statistics.median(r[1] for r in plain):.3f} (CPU)")


if __name__ == "__main__":
    main()
