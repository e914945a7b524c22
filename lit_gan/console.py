"""Lightning's start-up lines held back until the run starts, so that a refusal is the only line printed;
and what Lightning prints on every run that says nothing about it (adverts, a deprecation inside Lightning).

Between parsing and the first batch Lightning logs "Seed set to 0", "GPU available: ...", "TPU available:
..."; a run refused in that time (missing data, a folder in use, a checkpoint that does not
fit) printed them before its one line of error. They are kept in memory until the run starts (its sanity
check, training, validation, test or predict loop), then printed as they would have been; a refusal drops them.
"""

import logging
import warnings
from logging.handlers import MemoryHandler
from typing import Any

from lightning.pytorch import Callback

LOGGERS = ("lightning.fabric", "lightning.pytorch")  # each has its own StreamHandler, and does not propagate


class HeldLines:
    """Swap the handlers of Lightning's loggers for a buffer (``hold``); ``release`` restores them and prints
    the buffered records through them, or drops them (``show=False``)."""

    def __init__(self) -> None:
        self._held: list[tuple[logging.Logger, list[logging.Handler], MemoryHandler]] = []

    def hold(self) -> None:
        for name in LOGGERS:
            logger = logging.getLogger(name)
            if any(isinstance(h, MemoryHandler) for h in logger.handlers):  # held by a run that never released it
                logger.handlers = [h for h in logger.handlers if not isinstance(h, MemoryHandler)]
            if logger.handlers and not any(logger is held for held, _, _ in self._held):
                buffer = MemoryHandler(capacity=1 << 16, flushLevel=logging.CRITICAL + 1)  # no target: never flushes
                self._held.append((logger, list(logger.handlers), buffer))
                logger.handlers = [buffer]
        _ACTIVE.append(self)

    def release(self, show: bool = True) -> None:
        for logger, handlers, buffer in self._held:
            logger.handlers = handlers
            for record in buffer.buffer if show else ():
                for handler in handlers:
                    if record.levelno >= handler.level:
                        handler.handle(record)
            buffer.buffer.clear()
        self._held.clear()
        if self in _ACTIVE:
            _ACTIVE.remove(self)


_ACTIVE: list[HeldLines] = []  # held and not yet released


def release_all() -> None:
    """Release whatever a run holds still (one that ended before its loops, or with an error of Lightning's
    own parser): Lightning's logging is never left silenced for the rest of the process."""
    for lines in list(_ACTIVE):
        lines.release(show=True)


class ShowHeldLines(Callback):
    """Prints the held lines as the run starts (the first of its loops to start)."""

    def __init__(self, lines: HeldLines) -> None:
        self.lines = lines

    def _show(self, *args: Any) -> None:
        self.lines.release(show=True)

    on_sanity_check_start = on_train_start = on_validation_start = on_test_start = on_predict_start = _show


# Printed on every run, about the run in none: two adverts (for litlogger and litmodels, when they are not
# installed) and a deprecation inside Lightning's own code (its _pytree.py on torch 2.14).
ADVERTS = "💡 Tip:"
NOISE = r".*isinstance\(treespec, LeafSpec\)` is deprecated.*"
# Lightning's warning when an epoch has fewer batches than log_every_n_steps: it is not so here, where
# the log steps count generator iterations across epochs (compat.is_log_step), so the logs are written
LOG_INTERVAL = r"The number of training batches \(\d+\) is smaller than the logging interval"


def _no_advert(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(ADVERTS)


def quiet_lightning() -> None:
    """Drop Lightning's adverts (at their loggers, so every handler is spared them) and its own deprecation."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if _no_advert not in logger.filters:
            logger.addFilter(_no_advert)
    warnings.filterwarnings("ignore", message=NOISE)
    warnings.filterwarnings("ignore", message=LOG_INTERVAL)
