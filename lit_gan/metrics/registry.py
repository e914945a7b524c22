"""The metric registry: a sample-quality metric is one class, in one file.

A :class:`QualityMetric` declares

- ``name``: its entry in ``metrics: [...]`` (registered when the class is defined);
- ``needs``: what it reads of each side, ``real`` (the held-out images), ``generated`` (the samples)
  and ``train`` (training images, as many of each class as there are samples of it: a real-vs-real
  floor): the extractor's ``features`` and ``logits``, the ``images`` themselves, their ``labels``
  (a generated sample's, the class it was drawn for; a real image's, its class);
- its options: the arguments of ``__init__``, with their defaults, checked there;
- ``outputs``: the names of the values it returns;
- what the protocol line says of it (``protocol``, ``settings``), and the checks and warnings on the
  numbers of images (``check_counts``, ``warnings``), made before anything is extracted.

:class:`~lit_gan.metrics.ImageQualityMetrics`, ``ImageQuality`` and ``lit-gan evaluate`` take a list of
metrics, names (``fid``: the class's defaults) or objects (``KID(subset_size=100)``; in YAML a
``class_path``), so an option is declared once, on its metric. The default ``build`` keeps the rows a
metric needs (:class:`Collected`, synced under DDP) and ``compute`` hands them to ``score``: a new metric
is a subclass with ``name``, ``needs``, ``outputs`` and ``score`` (docs/evaluation.md, "Adding a metric").

The metrics that came before the registry also take their options by the flat names of then
(``kid_subset_size`` for KID's ``subset_size``, ``flat``): :func:`with_flat_options` adds those names to
``ImageQuality``'s and ``evaluate``'s signatures, so configs and command lines of before keep working.
"""

import inspect
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping, Optional, Sequence, TypeVar, Union

from torch import Tensor, nn
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat

from lit_gan.errors import ConfigError
from lit_gan.metrics.features import FeatureExtractor

SIDES = ("real", "generated", "train")
FIELDS = ("features", "logits", "images", "labels")
REGISTRY: dict[str, type["QualityMetric"]] = {}  # name -> class, in the order they were defined


@dataclass
class MetricContext:
    """What a metric is bound to before it builds its states."""

    extractor: FeatureExtractor  # its features (``num_features``) and logits (``num_classes``, 0: none)
    num_classes: int = 0  # the model's classes (0: unconditional, or samples without classes)
    img_shape: Optional[tuple[int, ...]] = None  # of the images scored; None: not known
    no_classes: str = "the model is unconditional (`num_classes` 0)"  # why there are no classes, in words


class QualityMetric:
    """Base class of a registered metric: its options, what it needs, and how its values come out.

    Subclasses set the class attributes below; ``__init__`` takes the options (and checks them, naming each
    as ``Expected argument `x` ...``). The registry's instance is a plain object (built by ``class_path``);
    ``build`` gives the ``nn.Module`` of its states, which :class:`~lit_gan.metrics.ImageQualityMetrics`
    holds (under ``attribute``) and moves to the device.
    """

    name: ClassVar[str] = ""  # the `metrics:` entry; registered when set
    attribute: ClassVar[str] = ""  # the states' attribute in ImageQualityMetrics; "" -> name
    outputs: ClassVar[tuple[str, ...]] = ()  # the names of the values, in order
    needs: ClassVar[Mapping[str, tuple[str, ...]]] = {"real": ("features",), "generated": ("features",)}
    default: ClassVar[bool] = False  # one of the metrics chosen when none are named
    flat: ClassVar[Mapping[str, str]] = {}  # option -> its flat name of before the registry

    context: MetricContext

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            register(cls)

    # ----------------------------------------------------------------- what it says
    def value_names(self) -> list[str]:
        """The names of the values ``compute`` returns (may depend on the context, e.g. per class)."""
        return list(self.outputs)

    def argument(self, option: str) -> str:
        """How the user spelled ``option``: its flat name where the metric was configured by those."""
        return getattr(self, "_spelled", {}).get(option, option)

    def protocol(self, n_real: int, n_generated: int) -> list[str]:
        """Parts of the protocol line (``"IS 10 splits"``); a part several metrics give is said once."""
        return []

    def settings(self, n_real: int, n_generated: int) -> dict[str, Any]:
        """The options as the report's JSON gives them (``protocol.settings.<name>``)."""
        return {}

    # ----------------------------------------------------------------- checks before any extraction
    def check_samples(self, n_generated: int) -> None:
        """Refuse options that the number of samples rules out, when the metric is configured."""

    def check_counts(self, n_real: Optional[int], n_generated: int) -> None:
        """Refuse numbers of images the metric has no value for, before anything is extracted (None: not known)."""

    def warnings(self, n_real: Optional[int], n_generated: int) -> list[str]:
        """What to print beside values of too few images to quote."""
        return []

    # ----------------------------------------------------------------- states and values
    def bind(self, context: MetricContext) -> None:
        """Check the metric against the extractor and the model (one line), then keep ``context``."""
        self.context = context

    def build(self) -> nn.Module:
        """The states, moved to the device with the metrics; by default the rows it needs."""
        return Collected(self.needs)

    def update(self, state: nn.Module, side: str, rows: Mapping[str, Tensor]) -> None:
        """Accumulate one batch of ``side``: ``rows`` holds the fields of ``needs[side]``."""
        state.update(side, rows)

    def compute(self, state: nn.Module) -> dict[str, Tensor]:
        """The values (under DDP on every rank, from every rank's rows), named by ``value_names``."""
        return self.score(state.compute())

    def score(self, rows: dict[str, dict[str, Tensor]]) -> dict[str, Tensor]:
        """The values of the collected rows: ``rows[side][field]``, all ranks' rows concatenated."""
        raise NotImplementedError(f"{type(self).__name__} implements neither `score` nor `compute`")

    def named(self, out: Union[Tensor, tuple[Tensor, ...]]) -> dict[str, Tensor]:
        """A wrapped torchmetrics metric's value (or tuple of values) named by ``outputs``."""
        return dict(zip(self.outputs, out if isinstance(out, tuple) else (out,)))


class Collected(Metric):
    """The rows a metric needs, per side: list states reduced with ``"cat"`` (under DDP every rank gathers
    all rows, rank 0's first); ``reset`` forgets the generated side and keeps the real and training ones."""

    is_differentiable = False
    full_state_update = False

    def __init__(self, needs: Mapping[str, Sequence[str]]) -> None:
        super().__init__()
        self.fields = {side: tuple(fields) for side, fields in needs.items()}
        for side, fields in self.fields.items():
            for field in fields:
                self.add_state(f"{side}_{field}", [], dist_reduce_fx="cat")

    def update(self, side: str, rows: Mapping[str, Tensor]) -> None:
        for field in self.fields[side]:
            getattr(self, f"{side}_{field}").append(rows[field].detach())

    def compute(self) -> dict[str, dict[str, Tensor]]:
        def cat(rows: Any) -> Any:
            return dim_zero_cat(rows) if isinstance(rows, Tensor) or rows else None

        return {side: {field: cat(getattr(self, f"{side}_{field}")) for field in fields}
                for side, fields in self.fields.items()}

    def reset(self) -> None:
        kept = {name: self._defaults.pop(name) for name in list(self._defaults) if not name.startswith("generated_")}
        super().reset()  # resets what _defaults lists: the generated side
        self._defaults.update(kept)


M = TypeVar("M", bound=type[QualityMetric])


def register(cls: M) -> M:
    """Register ``cls`` under its ``name`` (done when a subclass with a name is defined)."""
    known = REGISTRY.get(cls.name)
    if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"Expected metric `name` {cls.name!r} of {cls.__qualname__} to be new, got the name of"
                         f" {known.__module__}.{known.__qualname__}")
    for side, fields in (cls.needs.items() if isinstance(cls.needs, Mapping) else ()):
        if side not in SIDES or not set(fields) <= set(FIELDS):
            raise ValueError(f"Expected `needs` of {cls.__qualname__} to map sides among {', '.join(SIDES)} to"
                             f" fields among {', '.join(FIELDS)}, got {dict(cls.needs)}")
    REGISTRY[cls.name] = cls
    return cls


def needs_logits(metric: Union[QualityMetric, type[QualityMetric]]) -> bool:
    needs = metric.needs
    return isinstance(needs, Mapping) and "logits" in needs.get("generated", ())


# ----------------------------------------------------------------- the flat options of before the registry
def flat_options() -> dict[str, Any]:
    """Every flat option name of the registered metrics -> the type of the option it stands for."""
    found: dict[str, Any] = {}
    for cls in REGISTRY.values():
        parameters = inspect.signature(cls).parameters
        for option, flat in cls.flat.items():
            found.setdefault(flat, parameters[option].annotation)
    return found


F = TypeVar("F", bound=Callable[..., Any])


def with_flat_options(function: F) -> F:
    """``function(..., **flat)`` with the flat options declared in its signature instead of ``**flat``: keyword-only,
    ``Optional`` of the option's type, default None (the metric's own default). jsonargparse reads the signature,
    so ``--kid_subset_size 20`` and ``kid_subset_size: 20`` in YAML keep working; each is declared once, on its
    metric."""
    signature = inspect.signature(function)
    parameters = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    for flat, annotation in flat_options().items():
        parameters.append(inspect.Parameter(flat, inspect.Parameter.KEYWORD_ONLY, default=None,
                                            annotation=Optional[annotation]))
    function.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return function


def _construct(cls: type[QualityMetric], options: dict[str, Any], spelled: dict[str, str]) -> QualityMetric:
    """``cls(**options)``, its refusals naming the options as the user spelled them (``spelled``)."""
    try:
        metric = cls(**options)
    except ValueError as err:
        message = str(err)
        for option, name in spelled.items():
            message = message.replace(f"`{option}`", f"`{name}`")
        raise type(err)(message) from None
    metric._spelled = spelled  # type: ignore[attr-defined]
    return metric


def _shown(entries: Sequence[Any]) -> list[str]:
    return [e if isinstance(e, str) else getattr(e, "name", type(e).__name__) for e in entries]


def _spelling(cls: type[QualityMetric], spelled: Mapping[str, str]) -> dict[str, str]:
    """Option -> its flat name, as the owner spells it."""
    return {option: spelled.get(name, name) for option, name in cls.flat.items()}


def _by_flat(flat: Mapping[str, Any], spelled: Mapping[str, str],
             owner: str) -> tuple[set[str], dict[type[QualityMetric], QualityMetric]]:
    """The flat options given (None: not given), and each metric class they configure, built with them: so each is
    checked, as before the registry, also when its metric is not chosen."""
    canonical = {name: flat_name for flat_name, name in spelled.items()}
    unknown = sorted(set(flat) - set(flat_options()) - set(canonical))
    if unknown:
        raise TypeError(f"{owner}.__init__() got an unexpected keyword argument {unknown[0]!r}")
    given = {canonical.get(name, name): value for name, value in flat.items() if value is not None}
    made = {cls: _construct(cls, {o: given[n] for o, n in cls.flat.items() if n in given}, _spelling(cls, spelled))
            for cls in REGISTRY.values() if any(n in given for n in cls.flat.values())}
    return set(given), made


def resolve(
    entries: Optional[Sequence[Union[str, QualityMetric]]],
    extractor: Optional[FeatureExtractor] = None,
    flat: Optional[Mapping[str, Any]] = None,
    spelled: Optional[Mapping[str, str]] = None,
    owner: str = "ImageQuality",
) -> list[QualityMetric]:
    """The metrics of ``entries`` (names or objects; None: every ``default`` one, IS where the extractor has
    logits (None: Inception, which has)), refused in one line when unknown, repeated or needing logits that
    ``extractor`` lacks. ``flat`` (flat option -> value, None: not given) configures the metrics given by name.
    ``spelled``: flat names that ``owner`` spells otherwise (``ImageQualityMetrics``' ``seed`` for ``draw_seed``)."""
    spelled = dict(spelled or {})
    given, made = _by_flat(flat or {}, spelled, owner)
    has_logits = extractor is None or extractor.num_classes > 0
    if entries is None:
        entries = [name for name, cls in REGISTRY.items() if cls.default and (has_logits or not needs_logits(cls))]
    names = _shown(entries)
    if not entries or len(set(names)) != len(names) or any(isinstance(e, str) and e not in REGISTRY for e in entries):
        raise ValueError(f"Expected argument `metrics` to be distinct names among {', '.join(REGISTRY)}, got {names}")
    metrics = []
    for entry in entries:
        if isinstance(entry, str):
            cls = REGISTRY[entry]
            metrics.append(made.get(cls) or _construct(cls, {}, _spelling(cls, spelled)))
            continue
        if not isinstance(entry, QualityMetric):
            raise ValueError(f"Expected argument `metrics` to hold names or QualityMetric objects, got {entry!r}")
        both = [n for n in type(entry).flat.values() if n in given]
        if both:
            kind = type(entry).__name__
            raise ConfigError(f"Expected `{both[0]}` or the options of the {kind} in `metrics`, not both: give {kind}'s"
                              " own options")
        metrics.append(entry)
    for metric in metrics if not has_logits else ():
        if needs_logits(metric):
            raise ValueError(f"Expected argument `metrics` to leave out {metric.name!r}: {type(extractor).__name__}"
                             " has no class logits")
    return metrics
