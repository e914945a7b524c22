"""Real 2-process DDP on the CPU (gloo): every family trains without find_unused_parameters,
and both ranks end with identical generator and critic weights."""

import os
import subprocess
import sys

import pytest
import torch
import yaml

from tests.conftest import REPO

FAMILIES = {
    "gan": {"class_path": "lit_gan.GAN", "init_args": {"generator_loss": "non_saturating"}},
    "wgan": {"class_path": "lit_gan.WGAN", "init_args": {"clip_value": 0.01}},
    "wgan_gp": {"class_path": "lit_gan.WGANGP", "init_args": {"gp_lambda": 10.0}},
    "fgan": {"class_path": "lit_gan.FGAN", "init_args": {"divergence": "jensen_shannon"}},
}


def write_config(
    tmp_path, model: dict, max_steps: int = 3, data=None, extra_callbacks=(), n_critic=2, max_epochs=None, devices=2
):
    """A small CPU DDP config (2 processes) with tiny MLPs (unless the model names its own networks);
    DumpRankState writes each rank's state to tmp_path/out."""
    model["init_args"] = {
        "generator": {"class_path": "lit_gan.networks.MLPGenerator", "init_args": {"hidden_dims": [32, 32]}},
        "critic": {"class_path": "lit_gan.networks.MLPCritic", "init_args": {"hidden_dims": [32, 32]}},
        **model["init_args"], "latent_dim": 2, "n_critic": n_critic,
    }
    config = {
        "seed_everything": 0,
        "trainer": {
            "accelerator": "cpu",
            "devices": devices,
            "strategy": "ddp" if devices > 1 else "auto",
            "max_steps": max_steps,
            "logger": False,
            "enable_checkpointing": False,
            "enable_progress_bar": False,
            "num_sanity_val_steps": 0,
            "limit_val_batches": 0,
            "max_epochs": max_epochs,
            "callbacks": [
                {"class_path": "tests.helpers.DumpRankState", "init_args": {"dirpath": str(tmp_path / "out")}},
                *extra_callbacks,
            ],
        },
        "model": model,
        "data": data or {"class_path": "lit_gan.data.RingOfGaussians", "init_args": {"batch_size": 16, "n_train": 512}},
    }
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def run_ddp(tmp_path, model: dict, devices: int = 2, args=(), **kwargs) -> list[dict]:
    """fit through the real CLI with 2 CPU processes (or ``devices``), with ``args`` added to the
    command line; returns what DumpRankState wrote per rank."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path, env = write_config(tmp_path, model, devices=devices, **kwargs), ENV
    proc = subprocess.run(
        [sys.executable, "-m", "lit_gan.cli", "fit", "--config", str(path), *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "find_unused_parameters" not in proc.stderr
    return [torch.load(tmp_path / "out" / f"rank{r}.pt") for r in range(devices)]


def assert_ranks_identical(rank0: dict, rank1: dict, steps: int, critic_steps: int) -> None:
    assert rank0["world_size"] == 2
    assert rank0["global_step"] == rank1["global_step"] == steps
    assert rank0["critic_steps"] == rank1["critic_steps"] == critic_steps
    assert not torch.equal(rank0["first_batch"], rank1["first_batch"])  # each rank its own shard
    assert not torch.equal(rank0["latent"], rank1["latent"])  # and its own latents
    keys = rank0["state"].keys()
    assert any(k.startswith("generator.") for k in keys) and any(k.startswith("critic.") for k in keys)
    for key in keys:
        assert torch.equal(rank0["state"][key], rank1["state"][key]), key


# gan and wgan_gp: in test_two_processes_of_batch_b_end_where_one_of_batch_2b_does (one launch fewer each)
@pytest.mark.slow
@pytest.mark.parametrize("family", ["fgan", "wgan"])
def test_two_process_ddp_keeps_ranks_identical(tmp_path, family):
    assert_ranks_identical(*run_ddp(tmp_path, FAMILIES[family]), steps=3, critic_steps=6)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["wgan_gp", "gan"])
def test_two_processes_of_batch_b_end_where_one_of_batch_2b_does(tmp_path, family):
    """The same data and latents in the same places of the global batch (lit_gan.data.order,
    AdversarialModule.draw), and DDP's gradient average over equal shares is the mean over 2B:
    the weights agree to float tolerance (sums in another order). The penalty's t included. And
    the two ranks end identical, each with its own shard and latents."""
    ring = lambda b: {"class_path": "lit_gan.data.RingOfGaussians", "init_args": {"batch_size": b, "n_train": 512}}  # noqa: E731
    model = lambda: {**FAMILIES[family], "init_args": dict(FAMILIES[family]["init_args"])}  # noqa: E731
    (one,) = run_ddp(tmp_path / "one", model(), devices=1, data=ring(16), max_steps=5)
    two = run_ddp(tmp_path / "two", model(), devices=2, data=ring(8), max_steps=5)
    assert one["world_size"] == 1
    assert_ranks_identical(*two, steps=5, critic_steps=10)
    assert torch.equal(torch.cat([two[0]["first_batch"], two[1]["first_batch"]]).sort(0).values, one["first_batch"].sort(0).values)
    for key, value in one["state"].items():
        torch.testing.assert_close(two[0]["state"][key], value, rtol=1e-5, atol=1e-6, msg=key)


@pytest.mark.slow
def test_a_run_of_two_processes_resumes_on_one_with_the_same_global_batch(tmp_path):
    """Checkpoint at step 3 of 2 processes of batch 8, resumed on 1 process of batch 16 to step 6:
    the weights of 1 process of batch 16 from the start (data order, latents, optimizer states)."""
    ring = lambda b: {"class_path": "lit_gan.data.RingOfGaussians", "init_args": {"batch_size": b, "n_train": 512}}  # noqa: E731
    model = lambda: {**FAMILIES["wgan_gp"], "init_args": dict(FAMILIES["wgan_gp"]["init_args"])}  # noqa: E731
    ckpt = {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
            "init_args": {"dirpath": str(tmp_path / "ckpt"), "every_n_train_steps": 3, "save_top_k": -1}}
    (uninterrupted,) = run_ddp(tmp_path / "one", model(), devices=1, data=ring(16), max_steps=6)
    run_ddp(tmp_path / "two", model(), devices=2, data=ring(8), max_steps=3, extra_callbacks=[ckpt],
            args=["--trainer.enable_checkpointing", "true"])
    (resumed,) = run_ddp(tmp_path / "resumed", model(), devices=1, data=ring(16), max_steps=6,
                         args=["--ckpt_path", str(tmp_path / "ckpt" / "epoch=0-step=3.ckpt")])
    assert resumed["global_step"] == 6 and resumed["critic_steps"] == uninterrupted["critic_steps"] == 12
    # it did resume: its first batch is the 7th of the order (3 steps x n_critic 2 were consumed), not the 1st
    assert not torch.equal(resumed["first_batch"], uninterrupted["first_batch"])
    for key, value in uninterrupted["state"].items():
        torch.testing.assert_close(resumed["state"][key], value, rtol=1e-5, atol=1e-6, msg=key)


@pytest.mark.slow
def test_a_conditional_model_of_two_processes_of_batch_b_ends_where_one_of_batch_2b_does(tmp_path):
    """Labels through DDP: the real labels travel with their points, the generated ones are drawn from the
    stream of the latents (rank r takes rows r::W), the penalty's interpolates keep their real class."""
    mlp = lambda kind: {"class_path": f"lit_gan.networks.MLP{kind}", "init_args": {"hidden_dims": [32, 32]}}  # noqa: E731
    model = lambda: {"class_path": "lit_gan.WGANGP", "init_args": {  # noqa: E731
        "num_classes": 8, "gp_lambda": 1.0,
        "generator": {"class_path": "lit_gan.networks.LabelConcat", "init_args": {"generator": mlp("Generator"), "embed_dim": 4}},
        "critic": {"class_path": "lit_gan.networks.Projection", "init_args": {"critic": mlp("Critic")}}}}
    ring = lambda b: {"class_path": "lit_gan.data.RingOfGaussians", "init_args": {"batch_size": b, "n_train": 512, "labelled": True}}  # noqa: E731
    (one,) = run_ddp(tmp_path / "one", model(), devices=1, data=ring(16), max_steps=5)
    two = run_ddp(tmp_path / "two", model(), devices=2, data=ring(8), max_steps=5)
    assert_ranks_identical(*two, steps=5, critic_steps=10)
    assert any(k.startswith("critic.embed") or "embed" in k for k in one["state"])  # the projection was trained
    for key, value in one["state"].items():
        torch.testing.assert_close(two[0]["state"][key], value, rtol=1e-5, atol=1e-6, msg=key)
