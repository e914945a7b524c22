"""Errors for bad input found at setup time; the CLI reports them in one line."""

import pickle
import re
import zipfile


class ConfigError(ValueError):
    """A value that parses but cannot work (sizes that do not match, a batch larger than the data, ...)."""


class DatasetNotFoundError(ConfigError, FileNotFoundError):
    """Data files missing with ``download=False``, or failing their integrity check."""


class NonFiniteError(FloatingPointError):
    """A loss, a gradient or a weight turned NaN or Inf during training."""


def one_line(message: object) -> str:
    """A message (or an exception's) on one line (torchvision's download errors span several)."""
    return " ".join(str(message).split())


def worker_message(message: str) -> str:
    """The original message of an error raised in a DataLoader worker, which torch re-raises in the main
    process as "Caught ConfigError in DataLoader worker process 0.\nOriginal Traceback ... ConfigError: ..."
    (``ExceptionWrapper.reraise``); any other message as it is."""
    if not message.startswith("Caught "):
        return message
    last = re.findall(r"^[\w.]*(?:Error|Exception): (.*)$", message, re.MULTILINE)
    return last[-1] if last else message


def unsafe_pickle_reason(err: pickle.UnpicklingError) -> str:
    """What ``torch.load(weights_only=True)`` refused to unpickle ("Trying to load unsupported GLOBAL posix.system
    ..."), without its advice to retry with ``weights_only=False``, which would run the file's code."""
    return next((line.strip() for line in str(err).splitlines() if "GLOBAL" in line or "global" in line), "not plain data")


# What torch.load and load_state_dict raise on a file of another kind, a truncated one or other keys
# (an ImportError or AttributeError is a bug or a broken install, not a bad file: not in the list).
UNREADABLE = (pickle.UnpicklingError, RuntimeError, ValueError, KeyError, IndexError, EOFError, OSError, zipfile.BadZipFile)
