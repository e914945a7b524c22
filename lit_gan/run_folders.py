"""A run folder where a checkpoint is expected: ``lit-gan generate --checkpoint lightning_logs/version_3``
takes the run's last checkpoint, as a user who trained it means."""

from pathlib import Path

from lit_gan.errors import ConfigError


def checkpoint_in(path: str, name: str = "checkpoint") -> str:
    """``path`` itself unless it is a folder; for a folder (a run's, its ``checkpoints/``, or ``lightning_logs``)
    its ``checkpoints/last.ckpt`` or ``last.ckpt``, else the newest ``.ckpt`` anywhere under it. ``name``: the
    argument that gave ``path``, named in the error for a folder that holds none."""
    folder = Path(path)
    if not folder.is_dir():
        return path  # a file, or nothing: the checkpoint reader says which
    for last in (folder / "checkpoints" / "last.ckpt", folder / "last.ckpt"):
        if last.is_file():
            return str(last)
    found = [f for f in folder.rglob("*.ckpt") if f.is_file()]
    if not found:
        raise ConfigError(f"Expected argument `{name}` to be a checkpoint file or a run folder holding one"
                          f" (checkpoints/last.ckpt, or any .ckpt under it), got the folder {path!r}, with no .ckpt")
    return str(max(found, key=lambda f: (f.stat().st_mtime_ns, str(f))))
