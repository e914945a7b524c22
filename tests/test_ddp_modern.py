"""The objectives beyond the lecture under real 2-process DDP (CPU, gloo): the hinge, least squares
and relativistic pairing losses, R1 and R2 (taken out of place, so DDP's reducer never sees them),
the generator EMA and InfoGAN's code (Q's head in the critic) keep both ranks identical, the
average's weights and buffers included."""

import pytest
import torch

from tests.test_ddp import run_ddp

MODELS = {
    "hinge": {"class_path": "lit_gan.Hinge", "init_args": {}},
    "lsgan": {"class_path": "lit_gan.LSGAN", "init_args": {"a": -1.0, "b": 1.0, "c": 0.0}},
    "r3gan_ema": {"class_path": "lit_gan.RpGAN", "init_args": {"r1_gamma": 1.0, "r2_gamma": 1.0, "ema_decay": 0.5}},
    "infogan_code": {"class_path": "lit_gan.GAN", "init_args": {"code_categories": 2}},
}
ARGS = {"infogan_code": ["--model.init_args.latent_dim", "4"]}  # 2 entries of noise beside the code


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_two_process_ddp_keeps_ranks_identical(tmp_path, name):
    rank0, rank1 = run_ddp(tmp_path, MODELS[name], n_critic=1, args=ARGS.get(name, ()))
    assert rank0["global_step"] == rank1["global_step"] == 3
    assert not torch.equal(rank0["first_batch"], rank1["first_batch"])  # each rank its own shard
    for key, value in rank0["state"].items():
        assert torch.equal(value, rank1["state"][key]), key
    if name == "infogan_code":
        assert rank0["state"]["generator.generator.net.0.weight"].shape[1] == 4  # the latent, code and noise
    if name == "r3gan_ema":
        averaged = [k for k in rank0["state"] if k.startswith("generator_ema.module.")]
        assert averaged and any(not torch.equal(rank0["state"][k], rank0["state"][k.replace("generator_ema.module.", "generator.")])
                                for k in averaged)  # an average, not a copy
