"""The ``lit-gan`` command: a LightningCLI over the objective families and data modules.

    lit-gan fit --config configs/wgan_gp.yaml
    lit-gan fit --config configs/quickstart.yaml --trainer.max_steps 500
"""

from typing import Any, Iterator, Optional

from jsonargparse import Namespace
from lightning.pytorch import LightningDataModule
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from lit_gan.objectives.base import AdversarialModule


def _learning_rates(node: Any, key: str) -> Iterator[tuple[str, Any]]:
    """Every ``...init_args.lr`` under ``node``, with its full key."""
    if isinstance(node, Namespace):
        for name, value in vars(node).items():
            child = f"{key}.{name}"
            if name == "lr" and key.endswith("init_args"):
                yield child, value
            else:
                yield from _learning_rates(value, child)


class LitGanCLI(LightningCLI):
    """Links the data's ``img_shape`` into the model and checks what types cannot."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.img_shape", "model.init_args.img_shape", apply_on="instantiate")

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        for key, lr in _learning_rates(config.get("model"), "model"):
            if lr is not None and not float(lr) > 0:
                self.parser.error(f'Parser key "{key}": Expected a learning rate > 0. Got value: {lr}')


def main(args: Optional[list[str]] = None) -> LitGanCLI:
    return LitGanCLI(
        AdversarialModule,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        auto_configure_optimizers=False,  # each family gets one optimizer per network from YAML
        args=args,
    )


if __name__ == "__main__":
    main()
