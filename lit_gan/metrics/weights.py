"""Pretrained weights of the feature extractors: found by local path or in torch hub's cache, and
loaded so that no file can run code.

Cluster nodes often have no internet: every extractor takes ``weights_path`` (the file, or the
folder that holds it) and otherwise looks in torch hub's cache (``$TORCH_HOME/hub/checkpoints``),
where a machine with internet downloads the file on first use. A missing file is one line that
names the file, where it comes from and where to put it.

Files are loaded with ``torch.load(weights_only=True)``: a pickle that holds anything but tensors
and plain data (code to run) is refused, its code never run, and so is a TorchScript archive, which
holds code by design (:mod:`lit_gan.metrics.clip` accepts OpenAI's own archives by their hash).
"""

import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import torch
from torch import Tensor
from torch.hub import download_url_to_file

from lit_gan.errors import UNREADABLE, ConfigError, one_line, unsafe_pickle_reason
from lit_gan.files import file_digest

Downloader = Callable[..., None]  # (url, dst, hash_prefix=..., progress=...), as torch.hub.download_url_to_file


class WeightsNotFoundError(ConfigError, FileNotFoundError):
    """The weights of a feature extractor are neither where they were asked for nor downloadable."""


def sha256(path: Path) -> str:
    return file_digest(path, "sha256")


def is_torchscript_archive(path: Path) -> bool:
    """Whether ``path`` is a TorchScript archive (``torch.jit.save``'s zip, which holds code), told
    from its record names alone, as ``torch.load`` tells it: nothing in the file is unpickled."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:  # records are "<archive name>/<record>"
        return any(name.split("/", 1)[-1] == "constants.pkl" for name in archive.namelist())


@dataclass(frozen=True)
class WeightsFile:
    """A published weights file: what it is, the names it goes by, where it comes from.

    Args:
        kind: what the file holds, as errors name it ("Inception v3 weights").
        use: what the weights are for ("FID/IS/KID").
        names: the file names looked for in a folder and in torch hub's cache, in this order; the
            first is the name torch hub downloads it under.
        url: where it is published.
        sha256: its published sha256, or the first hex digits of it; "" where none is published.
        note: a sentence added to the message of a missing file (another form the file may take).
        error: the exception raised when the file is missing.
    """

    kind: str
    use: str
    names: tuple[str, ...]
    url: str
    sha256: str = ""
    note: str = ""
    error: type[WeightsNotFoundError] = WeightsNotFoundError

    def cache_path(self) -> Path:
        """Where torch hub keeps the downloaded file."""
        return Path(torch.hub.get_dir()) / "checkpoints" / self.names[0]

    def expected(self) -> str:
        digest = f"sha256 starting with {self.sha256}" if len(self.sha256) < 64 else f"sha256 {self.sha256}"
        return f"the file {self.names[0]}" + (f" ({digest})" if self.sha256 else "") + f", from {self.url}"

    def missing_message(self, where: str) -> str:
        return (
            f"{self.kind} for {self.use} not found: {where}. Expected {self.expected()}. On a machine with"
            f" internet download it and put it at {self.cache_path()} (torch hub's cache; set TORCH_HOME to move"
            " it), or anywhere and pass that path (or its folder) as `weights_path`."
        ) + (f" {self.note}" if self.note else "")

    def resolve(
        self, weights_path: Optional[str], download: bool, downloader: Downloader = download_url_to_file
    ) -> Path:
        """The path of the weights: ``weights_path`` (a file, or a folder holding one of ``names``),
        else torch hub's cache, downloading into it with ``downloader`` when ``download``."""
        if weights_path is not None:
            path = Path(weights_path).expanduser()
            if path.is_dir():
                found = next((path / name for name in self.names if (path / name).is_file()), None)
                if found is None:
                    where = f"`weights_path`={str(weights_path)!r} is a folder without {' or '.join(self.names)}"
                    raise self.error(self.missing_message(where))
                return found
            if not path.is_file():
                raise self.error(self.missing_message(f"`weights_path`={str(weights_path)!r} does not exist"))
            return path
        cache = self.cache_path()
        found = next((cache.parent / name for name in self.names if (cache.parent / name).is_file()), None)
        if found is not None:
            return found
        if not download:
            raise self.error(self.missing_message(f"not in {cache.parent}, and `download` is false"))
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            downloader(self.url, str(cache), hash_prefix=self.sha256 or None, progress=False)
        except Exception as err:  # no route, proxy, DNS, HTTP error, partial file, hash mismatch, read-only cache
            raise self.error(
                self.missing_message(f"not in {cache.parent}, and the download failed ({type(err).__name__}: {err})")
            ) from err
        return cache

    def load_state_dict(self, path: Path) -> dict[str, Tensor]:
        """The file as a plain state dict (names to tensors), loaded with ``weights_only=True``: a
        pickle that would run code, a TorchScript archive, or any other content is refused with a
        ConfigError naming `weights_path`."""
        expected = f"expected {self.names[0]} from {self.url}"
        if is_torchscript_archive(path):
            raise ConfigError(
                f"refusing to load `weights_path` {path}: it is a TorchScript archive, which holds code, not a state"
                f" dict of tensors; {expected}"
            )
        try:
            state_dict = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            raise ConfigError(
                f"refusing to load `weights_path` {path}: it holds more than tensors and plain data"
                f" ({unsafe_pickle_reason(err)}); {expected}"
            ) from err
        except UNREADABLE as err:  # another kind of file, a truncated one
            raise ConfigError(self.unreadable_message(path, err)) from err
        if not isinstance(state_dict, dict) or not all(
            isinstance(k, str) and isinstance(v, Tensor) for k, v in state_dict.items()
        ):
            raise ConfigError(
                f"`weights_path` {path} could not be loaded as {self.kind} (a {type(state_dict).__name__},"
                f" not a state dict of names to tensors); {expected}"
            )
        return state_dict

    def unreadable_message(self, path: Path, err: BaseException) -> str:
        """One line for a file that is not these weights: another kind of file, other keys or shapes."""
        why = one_line(err)[:300] or "no message"
        return (
            f"`weights_path` {path} could not be loaded as {self.kind} ({type(err).__name__}: {why});"
            f" expected {self.names[0]} from {self.url}"
        )
