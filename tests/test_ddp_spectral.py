"""A spectrally normalized critic in training: its power-iteration buffers (u, v) stay identical
on both ranks of a real 2-process DDP run, and its checkpoints load with ``weights_only=True``
and resume."""

from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback

from lit_gan.cli import run_cli
from tests.conftest import REPO
from tests.test_ddp import FAMILIES, run_ddp

SN = ["--model.init_args.critic.init_args.spectral_norm", "true"]


class DumpInitialBuffers(Callback):
    """Each rank writes its critic's u and v as training starts (after DDP's first broadcast)."""

    def __init__(self, dirpath: str) -> None:
        self.dirpath = Path(dirpath)

    def on_train_start(self, trainer, pl_module):
        self.dirpath.mkdir(parents=True, exist_ok=True)
        buffers = {k: v.detach().cpu().clone() for k, v in pl_module.critic.named_buffers()}
        torch.save(buffers, self.dirpath / f"initial{trainer.global_rank}.pt")


def sigma(state: dict, prefix: str) -> float:
    """The largest singular value of the normalized weight W / (u^T W v) stored under ``prefix``."""
    w = state[prefix + "parametrizations.weight.original"].flatten(1)
    u, v = state[prefix + "parametrizations.weight.0._u"], state[prefix + "parametrizations.weight.0._v"]
    return torch.linalg.matrix_norm(w / (u @ w @ v), 2).item()


@pytest.mark.slow
def test_two_process_ddp_keeps_the_power_iteration_buffers_identical(tmp_path):
    # WGAN-GP: the gradient penalty's double backward goes through the normalized weights too
    model = {**FAMILIES["wgan_gp"], "init_args": dict(FAMILIES["wgan_gp"]["init_args"])}
    out = str(tmp_path / "out")
    initial = {"class_path": "tests.test_ddp_spectral.DumpInitialBuffers", "init_args": {"dirpath": out}}
    rank0, rank1 = run_ddp(tmp_path, model, max_steps=3, args=SN, extra_callbacks=[initial])
    assert rank0["world_size"] == 2 and rank0["global_step"] == rank1["global_step"] == 3
    assert not torch.equal(rank0["first_batch"], rank1["first_batch"])  # each rank its own shard
    buffers = [k for k in rank0["state"] if k.startswith("critic.") and k.endswith(("._u", "._v"))]
    assert len(buffers) == 2 * 3  # u and v of the critic's three Linear layers
    for key, value in rank0["state"].items():
        assert torch.equal(rank1["state"][key], value), key
    start = torch.load(tmp_path / "out" / "initial0.pt", weights_only=True)
    for key in (k for k in buffers if k.endswith("._v")):  # they did iterate (the last layer's u is a 1-vector: +-1)
        assert not torch.equal(start[key.removeprefix("critic.")], rank0["state"][key]), key
    for prefix in {k.split("parametrizations.")[0] for k in buffers}:
        assert sigma(rank0["state"], prefix) == pytest.approx(1.0, abs=0.05), prefix


def test_a_checkpoint_of_a_normalized_critic_loads_with_weights_only_and_resumes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    quick = [*SN, "--trainer.enable_progress_bar", "false", "--data.init_args.n_train", "640",
             "--data.init_args.n_val", "128", "--model.init_args.generator.init_args.hidden_dims", "[32]",
             "--model.init_args.critic.init_args.hidden_dims", "[32]"]
    config = ["--config", str(REPO / "configs" / "quickstart.yaml")]
    fit = run_cli(["fit", *config, "--trainer.max_steps", "2", *quick])
    ckpt = fit.trainer.checkpoint_callback.best_model_path
    state = torch.load(ckpt, weights_only=True)["state_dict"]
    u = "critic.net.1.parametrizations.weight.0._u"
    assert {u, u.replace("._u", "._v"), "critic.net.1.parametrizations.weight.original"} <= set(state)
    resumed = run_cli(["fit", *config, "--trainer.max_steps", "3", "--ckpt_path", ckpt, *quick])
    assert resumed.trainer.global_step == 3
    assert not torch.equal(resumed.model.critic.state_dict()[u.removeprefix("critic.")], state[u])  # iterated on
