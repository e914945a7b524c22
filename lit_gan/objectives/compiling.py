"""Networks that run faster on an accelerator: compiled (``torch.compile``) and in channels_last
memory format (issue 39, item 3). Both are callbacks that change the model's networks in place before
they train, so that the loop, the checkpoints and ``lit_gan.load`` know nothing of them:

    trainer:
      callbacks:
        - class_path: lit_gan.callbacks.ChannelsLast   # NHWC convolutions (tensor cores, no transposes)
        - class_path: lit_gan.callbacks.Compile        # the generator, and the critic where it can be

Compiling is in place (``nn.Module.compile``): the state_dict keys stay those of the eager network
(``torch.compile(net)`` would wrap it in an ``OptimizedModule`` and prefix every key with ``_orig_mod.``),
so a checkpoint of a compiled run loads into an eager model and back.

A critic whose input gradient is differentiated again cannot be compiled: AOTAutograd has no double
backward ("torch.compile with aot_autograd does not currently support double backward"). That is the
critic of WGAN-GP, of f-GAN with ``gp_lambda`` > 0 and of any family with R1 or R2 (``r1_gamma``,
``r2_gamma`` > 0); for them only the generator is compiled, and one warning line says why.
"""

from typing import Any, Literal, Optional

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor, nn

from lit_gan.errors import ConfigError

Networks = Literal["generator", "both"]
# the options of a family that put a penalty on the critic's input gradient (a double backward)
DOUBLE_BACKWARD = ("gp_lambda", "r1_gamma", "r2_gamma")
MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")  # inductor's


def double_backward(module: nn.Module) -> list[str]:
    """The options of ``module`` (an objective family) that differentiate its critic's input gradient
    again, as ``"gp_lambda 10"``; empty when the critic can be compiled."""
    return [f"{name} {getattr(module, name):g}" for name in DOUBLE_BACKWARD if float(getattr(module, name, 0) or 0) > 0]


def compile_in_place(network: nn.Module, **options: Any) -> bool:
    """Compile ``network``'s forward in place (``nn.Module.compile``), once; whether it was compiled now."""
    if getattr(network, "_lit_gan_compiled", False):
        return False
    network.compile(**options)
    network._lit_gan_compiled = True  # a plain attribute: not in the state_dict
    return True


def has_convolution(network: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.conv._ConvNd) for m in network.modules())


def _channels_last_inputs(module: nn.Module, args: tuple) -> tuple:
    """Forward pre-hook: every 4-D tensor argument (images, (B, C, H, W)) in channels_last."""
    return tuple(a.contiguous(memory_format=torch.channels_last) if isinstance(a, Tensor) and a.dim() == 4 else a
                 for a in args)


def to_channels_last(network: nn.Module) -> bool:
    """Put ``network``'s 4-D weights and the images it is called with in channels_last, once; whether it was
    changed now. The values are the same (only the strides change); a state_dict is unchanged."""
    if getattr(network, "_lit_gan_channels_last", False):
        return False
    network.to(memory_format=torch.channels_last)  # 4-D parameters and buffers; `.to(device)` later keeps it
    network.register_forward_pre_hook(_channels_last_inputs)
    network._lit_gan_channels_last = True
    return True


class Compile(Callback):
    """Compiles the model's generator and, where the family allows it, its critic, when a fit starts (after
    the model's set-up checks, whose small eager forward would otherwise be the first compiled shape);
    validate, test and predict alone run them eagerly. ``torch.compile``'s first calls take a while
    (tracing, code generation: about a minute for SNGAN's ResNets with inductor), later ones run the
    compiled code; the train and eval modes are compiled once each. Worth it on a GPU, seldom on a CPU.

    Args:
        networks: ``"both"`` (the critic too, unless the family differentiates its input gradient: see
            :mod:`lit_gan.objectives.compiling`) or ``"generator"``.
        backend: ``torch.compile``'s backend: ``"inductor"`` (generated kernels; needs a C compiler on the
            CPU), ``"aot_eager"`` or ``"eager"`` (for checking, no speed-up), or any of
            ``torch.compiler.list_backends(exclude_tags=())``.
        mode: inductor's mode, e.g. ``"max-autotune-no-cudagraphs"``; None: its default.
        dynamic: ``torch.compile``'s ``dynamic``: None, a graph for the first batch size, and one with a
            dynamic batch size from the second; False, one graph per batch size (a GPU's fastest, when the
            sizes are few: ``drop_last``); True, dynamic from the start.
    """

    def __init__(self, networks: Networks = "both", backend: str = "inductor", mode: Optional[str] = None,
                 dynamic: Optional[bool] = None) -> None:
        if networks not in ("generator", "both"):
            raise ValueError(f"Expected argument `networks` to be one of ['generator', 'both'], got {networks!r}")
        if backend not in torch.compiler.list_backends(exclude_tags=()):  # debug backends (eager, aot_eager) too
            shown = sorted({*torch.compiler.list_backends(), "eager", "aot_eager"})
            raise ValueError(f"Expected argument `backend` to be one of {shown} or another of"
                             f" torch.compiler.list_backends(exclude_tags=()), got {backend!r}")
        if mode is not None and (backend != "inductor" or mode not in MODES):
            raise ValueError(f"Expected argument `mode` to be None or, with backend 'inductor', one of {list(MODES)},"
                             f" got {mode!r} with backend {backend!r}")
        self.networks = networks
        self.options = {"backend": backend, "mode": mode, "dynamic": dynamic}

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        compile_in_place(pl_module.generator, **self.options)
        if self.networks == "generator":
            return
        reasons = double_backward(pl_module)
        if reasons:
            rank_zero_warn(f"Compile: the critic stays eager, only the generator is compiled: {type(pl_module).__name__}"
                           f" with {', '.join(reasons)} differentiates the critic's input gradient again (a double"
                           " backward), which torch.compile cannot do")
        else:
            compile_in_place(pl_module.critic, **self.options)


class ChannelsLast(Callback):
    """Puts the convolutional networks of the model (generator, critic) in channels_last memory format when
    the trainer sets up: their 4-D weights, and the images they are called with (a forward pre-hook). On a
    GPU with tensor cores (float16, bfloat16, TF32) cuDNN's convolutions run NHWC without transposes; the
    values are the same, within float tolerance. A network without convolutions is left as it is."""

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        networks = {name: getattr(pl_module, name) for name in ("generator", "critic")}
        convolutional = {name: net for name, net in networks.items() if has_convolution(net)}
        if not convolutional:
            raise ConfigError(f"ChannelsLast: neither the generator ({type(networks['generator']).__name__}) nor the"
                              f" critic ({type(networks['critic']).__name__}) has a convolution: remove the callback")
        for network in convolutional.values():
            to_channels_last(network)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """A resumed run's optimizer state, saved without this callback, in its parameters' strides: fused and
        foreach optimizers pair the elements of a parameter and of its state in memory order."""
        for optimizer in trainer.optimizers:
            for param, state in optimizer.state.items():
                for key, value in state.items():
                    if isinstance(value, Tensor) and value.shape == param.shape and value.stride() != param.stride():
                        state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)  # param's strides
