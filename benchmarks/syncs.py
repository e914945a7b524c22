"""Host-device synchronizations per generator update, counted on the CPU (issue 39, item 1).

    python -m benchmarks.syncs [--steps 100] [--progress-bar] [-- extra lit-gan fit arguments]

A GPU waits for Python whenever a value leaves the device: ``Tensor.item``, ``bool``, ``float``,
``int``, ``tolist``, ``cpu``, ``numpy`` and ``nonzero`` each block until the queued work is done.
On a CPU nothing waits, so the calls are counted instead: each of these methods is wrapped for the
duration of the run, and a call counts when it is made on a tensor that would live on the device.
Not counted: calls on tensors that are CPU tensors on a GPU machine too (the optimizers' step
counters, read in ``torch/optim``; the data loader's seed and the sampler's permutation).

The run is WGAN-GP on DCGAN networks on scikit-learn's 8x8 digits, ``n_critic`` 5, a CSVLogger,
no progress bar (as the issue measured it), ``log_every_n_steps`` larger than the run: every
generator update counted is one between two log steps. The first updates (optimizer state, the
first batch's set-up) are left out. ``--accelerator-path`` counts what a GPU run does: on the CPU,
where reading a value costs nothing, the critic's finite checks are read at once (``Updater.deferred``);
on an accelerator they wait for the generator's, and this option makes the CPU run do the same.
"""

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Optional

import torch
from lightning.pytorch import Callback

METHODS = ("item", "__bool__", "__float__", "__int__", "__index__", "tolist", "cpu", "numpy", "nonzero")
# CPU tensors on every device: the optimizers' step counters, the data loader's seed and the sampler's permutation
EXCLUDED = ("torch/optim/", "torch/utils/data/", "lit_gan/data/order.py")


def fit_args(root: str, steps: int, progress_bar: bool) -> list[str]:
    return [
        "fit", "--config", str(Path(__file__).parents[1] / "configs" / "digits_wgan_gp.yaml"), "--seed_everything", "0",
        "--trainer.max_steps", str(steps), "--trainer.log_every_n_steps", str(10 * steps),
        "--trainer.enable_progress_bar", str(progress_bar).lower(), "--trainer.callbacks", "[]",
        "--trainer.enable_checkpointing", "false", "--trainer.limit_val_batches", "0",
        "--trainer.num_sanity_val_steps", "0", "--trainer.default_root_dir", root,
        "--trainer.logger", "lightning.pytorch.loggers.CSVLogger", "--trainer.logger.save_dir", root,
        "--model.generator", "lit_gan.networks.DCGANGenerator", "--model.generator.base_channels", "16",
        "--model.critic", "lit_gan.networks.DCGANCritic", "--model.critic.base_channels", "16",
    ]


class Count(Callback):
    """Counts the wrapped calls from the end of batch ``skip`` to the end of the run's last batch but one."""

    def __init__(self, skip: int) -> None:
        self.skip, self.on, self.calls, self.updates = skip, False, Counter(), 0
        self.originals = {name: getattr(torch.Tensor, name) for name in METHODS if hasattr(torch.Tensor, name)}

    def wrap(self) -> None:
        for name, original in self.originals.items():
            setattr(torch.Tensor, name, self._counting(name, original))

    def unwrap(self) -> None:
        for name, original in self.originals.items():
            setattr(torch.Tensor, name, original)

    def _counting(self, name: str, original: Any) -> Any:
        def counted(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            if self.on:
                caller = sys._getframe(1).f_code.co_filename.replace("\\", "/")
                if not any(part in caller for part in EXCLUDED):
                    self.calls[f"{name} from {caller.rsplit('site-packages/', 1)[-1]}:{sys._getframe(1).f_lineno}"] += 1
            return original(tensor, *args, **kwargs)
        return counted

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if trainer.global_step == self.skip:
            self.on = True  # Lightning's own end-of-batch work of this batch is the next batch's share
        elif self.on:
            self.updates += 1
            self.on = trainer.global_step < trainer.max_steps - 1  # the last iteration logs: a log step

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self.on = False


def count_syncs(steps: int = 30, skip: int = 3, progress_bar: bool = False, extra: Optional[list[str]] = None,
                accelerator_path: bool = True) -> dict[str, Any]:
    """Run the fit and return {"per_update": syncs per counted generator update, "updates", "calls"}."""
    from lit_gan.cli import run_cli
    from lit_gan.objectives.updates import Updater

    count = Count(skip)
    with tempfile.TemporaryDirectory() as root:
        _ACTIVE.append(count)
        count.wrap()
        Updater.defer = accelerator_path or None
        try:
            run_cli([*fit_args(root, steps, progress_bar), *(extra or []), "--trainer.callbacks+=benchmarks.syncs.Marker"])
        finally:
            count.unwrap()
            _ACTIVE.remove(count)
            Updater.defer = None
    # the last counted batch's end-of-batch work by Lightning falls after the last on_train_batch_end
    total = sum(count.calls.values())
    return {"per_update": total / max(count.updates, 1), "updates": count.updates, "calls": dict(count.calls.most_common())}


class Marker(Callback):
    """The counting callback of the running ``count_syncs``, reachable by class_path from the command line."""

    def __init__(self) -> None:
        self.inner = _ACTIVE[-1]

    def on_train_batch_end(self, *args: Any) -> None:
        self.inner.on_train_batch_end(*args)

    def on_train_end(self, *args: Any) -> None:
        self.inner.on_train_end(*args)


_ACTIVE: list[Count] = []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--progress-bar", action="store_true")
    parser.add_argument("--cpu-path", action="store_true", help="read each finite check at once, as on the CPU")
    args, extra = parser.parse_known_args()
    sys.argv = sys.argv[:1]
    from benchmarks.syncs import count_syncs as run  # this module by its name, whose Marker the fit builds
    result = run(args.steps, progress_bar=args.progress_bar, extra=[a for a in extra if a != "--"],
                 accelerator_path=not args.cpu_path)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
