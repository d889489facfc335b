"""Durable file writes shared by every layer (weights, checkpoints, caches, downloads), the figures'
backend (:func:`pyplot`), and the check of an output path before any work starts
(:func:`check_output_dir`, :func:`check_output_file`).

``atomic_write`` writes through a temporary file in the destination folder,
fsyncs it, then renames it onto the destination, so a crash at any moment
leaves either the old file or the new one, never half of one.  The new file
gets the permissions a plain ``open(path, "w")`` would give it (the old file's,
or 0o666 less the umask), not the owner-only mode of a temporary file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import InvalidInputError


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a rename inside ``path`` durable (best effort: not every filesystem allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


_UMASK = _umask()


def atomic_write(path: str | os.PathLike[str], write: Callable[[str], object]) -> Path:
    """Call ``write(tmp_path)``, fsync, then rename the temporary file onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o666 & ~_UMASK
        os.chmod(tmp, mode)  # after the last open: the mode may be read-only
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
    return path


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend: every figure of the project starts here."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: object, path: str | os.PathLike[str], *, dpi: int = 110) -> Path:
    """Lay out a matplotlib figure, write it as PNG atomically, close it, and return the path."""
    import matplotlib.pyplot as plt

    fig.tight_layout()  # type: ignore[attr-defined]
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))  # type: ignore[attr-defined]
    finally:
        plt.close(fig)  # type: ignore[arg-type]


# -- checking an output path before the work that ends by writing to it ------------------------------
def _probe_writable(folder: Path, flag: str, path: Path) -> None:
    """Create and remove a file in ``folder`` (permission bits alone mislead: root, read-only mounts)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".classicnets-probe-", dir=folder)
    except OSError as e:
        raise InvalidInputError(f"{flag} {path}: cannot write in {folder} ({e.strerror or e}); choose another "
                                f"{flag}.") from None
    os.close(fd)
    os.unlink(tmp)


def _check_creatable(path: Path, flag: str) -> None:
    """``path`` does not exist: its nearest existing ancestor must be a writable folder."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InvalidInputError(f"{flag} {path}: {parent} is a file, not a folder; choose another {flag}.")
    _probe_writable(parent, flag, path)


def _nonempty(path: str | os.PathLike[str], flag: str) -> Path:
    if not str(path).strip():
        raise InvalidInputError(f"{flag}: the path is empty.")
    return Path(path).expanduser()


def check_output_dir(path: str | os.PathLike[str], flag: str) -> Path:
    """``path`` is a folder the command may create or write in; else a clear error naming ``flag``."""
    p = _nonempty(path, flag)
    if p.exists() and not p.is_dir():
        raise InvalidInputError(f"{flag} {p}: is a file, not a folder; give a folder.")
    if p.is_dir():
        _probe_writable(p, flag, p)
    else:
        _check_creatable(p, flag)
    return p


def check_output_file(path: str | os.PathLike[str], flag: str) -> Path:
    """``path`` is a file the command may create or replace; else a clear error naming ``flag``."""
    p = _nonempty(path, flag)
    if p.is_dir():
        raise InvalidInputError(f"{flag} {p}: is a folder; give a file name.")
    if p.exists() and not os.access(p, os.W_OK):
        raise InvalidInputError(f"{flag} {p}: the file is read-only; choose another {flag}.")
    if p.parent.is_dir():
        _probe_writable(p.parent, flag, p)
    else:
        _check_creatable(p, flag)
    return p
