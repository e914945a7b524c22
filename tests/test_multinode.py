"""Two "nodes" on this machine: two torchrun launches (--nnodes=2, one process each, gloo over
loopback) train a few steps through `lit-gan fit` and end with identical weights."""

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.test_ddp import ENV, FAMILIES, write_config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_nodes_through_torchrun(tmp_path):
    config = write_config(tmp_path, dict(FAMILIES["wgan_gp"], init_args=dict(FAMILIES["wgan_gp"]["init_args"])))
    torchrun = Path(sys.executable).parent / "torchrun"
    port = free_port()
    launches = [
        subprocess.Popen(
            [str(torchrun), "--nnodes=2", "--nproc_per_node=1", f"--node_rank={rank}", "--master_addr=127.0.0.1",
             f"--master_port={port}", "-m", "lit_gan.cli", "fit", "--config", str(config),
             "--trainer.num_nodes", "2", "--trainer.devices", "1"],
            cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in launches]
    assert all(p.returncode == 0 for p in launches), outputs[0][-2000:] + outputs[1][-2000:]
    rank0, rank1 = (torch.load(tmp_path / "out" / f"rank{r}.pt") for r in (0, 1))
    assert rank0["world_size"] == rank1["world_size"] == 2
    assert rank0["global_step"] == rank1["global_step"] == 3
    assert not torch.equal(rank0["first_batch"], rank1["first_batch"])
    for key, value in rank0["state"].items():
        assert torch.equal(value, rank1["state"][key]), key
