"""Where the regular grid of dots on some MNIST runs comes from: periodic energy along training.

    python -m benchmarks.dots --config configs/wgan_gp.yaml --seeds 0 2 --steps 500 [--every 50]
        [--out /tmp/dots] [--set KEY=VALUE ...]

Each seed trains ``--config`` on MNIST5k as ``benchmarks.digits_quality`` does (the same run as
``lit-gan fit --config CONFIG --seed_everything SEED --data lit_gan.data.MNIST5k``), and every
``--every`` generator updates measures, on ``--samples`` fixed latents (256):

- ``samples``: the share of the samples' spectral power (2-D FFT of each image less its mean) at
  the periods the strided layers can imprint on a 28x28 image: period 2 (frequency 14 along a side)
  and period 4 (frequencies 7 and 21), along either side;
- ``seen``: the same shares for the samples as the critic sees them in training (the generator
  in train mode: batch statistics, where ``samples`` are drawn in eval mode, as users see them);
- ``push``: the same shares for the direction the generator is pushed in pixel space, the critic's
  input gradient d score / d x at the ``seen`` samples (from copies of both networks, so that
  their running statistics and power iterations are left alone);

and the real digits' shares once, for reference. ``--steps 0`` measures the networks as each
seed initializes them, without training. A pattern the critic's gradient holds before the
samples do is drawn by the critic; one that the samples hold without it comes from the generator.
"""

import argparse
import copy
import json
from pathlib import Path

import torch

from benchmarks.digits_quality import REPO, ScoreAlong, held_out_halves, train

SIDE = 28


def periodic_shares(images: torch.Tensor) -> dict:
    """Shares of the non-constant spectral power of (B, 1, 28, 28) images at period 2 and at period 4."""
    x = images.double().flatten(0, 1)
    power = torch.fft.fft2(x - x.mean((-2, -1), keepdim=True)).abs().square().mean(0)  # (28, 28)
    index = torch.arange(SIDE)
    period2 = (index == SIDE // 2)[:, None] | (index == SIDE // 2)[None, :]
    at4 = (index == SIDE // 4) | (index == 3 * SIDE // 4)
    period4 = (at4[:, None] | at4[None, :]) & ~period2
    total = power.sum()
    return {"p2": float(power[period2].sum() / total), "p4": float(power[period4].sum() / total)}


def measure(model, n: int) -> dict:
    z = torch.randn(n, model.latent_dim, generator=torch.Generator().manual_seed(0))  # the same n latents each time
    with torch.no_grad():
        samples = model.sample(len(z), z=z)
        # the samples the critic sees in training (batch statistics), from copies: the run's
        # running statistics (BatchNorm) and power iterations (spectral norm) are left alone
        seen = copy.deepcopy(model.generator).train()(z.to(model.device))
    critic = copy.deepcopy(model.critic).train()
    x = seen.detach().requires_grad_(True)
    (push,) = torch.autograd.grad(critic(x).sum(), x)
    return {"samples": periodic_shares(samples.cpu()), "seen": periodic_shares(seen.cpu()), "push": periodic_shares(push.cpu())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="configs/wgan_gp.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--steps", type=int, default=500, help="generator updates (trainer.max_steps); 0: the initialization only")
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--out", default="/tmp/dots")
    parser.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--data-path", help="another CSV for MNIST5k (tests)")
    parser.add_argument("--samples", type=int, default=256, help="latents (and real digits) measured")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = Path(args.config) if Path(args.config).is_absolute() else REPO / args.config
    real, _ = held_out_halves(args.samples, args.data_path)
    shares = periodic_shares(real)
    print(f"real digits: period 2 {100 * shares['p2']:.3f}%, period 4 {100 * shares['p4']:.3f}%")
    results = {"config": args.config, "overrides": args.overrides, "real": shares, "seeds": {}}
    for seed in args.seeds:
        def report(r: dict, seed: int = seed) -> None:
            s, t, p = r["samples"], r["seen"], r["push"]
            print(f"  seed {seed} step {r['step']}: samples p2 {100 * s['p2']:.3f}% p4 {100 * s['p4']:.3f}%,"
                  f" seen p2 {100 * t['p2']:.3f}% p4 {100 * t['p4']:.3f}%,"
                  f" push p2 {100 * p['p2']:.3f}% p4 {100 * p['p4']:.3f}%", flush=True)

        along = ScoreAlong(args.every, lambda model: measure(model, args.samples), report)
        overrides = [f"trainer.max_steps={args.steps}", *args.overrides]
        run = train(config, seed, Path(args.out), overrides, args.data_path, along)
        if args.steps == 0:  # the networks as initialized for this seed, untrained
            along.rows.append({"step": 0, **measure(run["model"], args.samples)})
            report(along.rows[-1])
        results["seeds"][seed] = along.rows
    (Path(args.out) / "dots.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
