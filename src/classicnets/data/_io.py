"""Small file helpers for the data package: memory-mappable arrays, published folders, checksums.

Durable single-file writes (``atomic_write``, ``fsync_dir``) live in :mod:`classicnets._io`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np

from .._io import fsync_dir

CHUNK = 1 << 20


def save_npy(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write ``array`` as a ``.npy`` file (memory-mappable) and fsync it."""
    with open(path, "wb") as f:
        np.save(f, np.ascontiguousarray(array), allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())


def publish_dir(tmp_dir: Path, final_dir: Path) -> bool:
    """Rename a fully written ``tmp_dir`` onto ``final_dir`` (atomic on POSIX).

    Returns False (and removes ``tmp_dir``) when another process published the
    same folder first: its content is equivalent, so ours is not needed.
    """
    try:
        os.rename(tmp_dir, final_dir)
    except OSError:
        if final_dir.is_dir():
            shutil.rmtree(tmp_dir, ignore_errors=True)
            return False
        raise
    fsync_dir(final_dir.parent)
    return True


def file_digest(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """Hex digest of a file's content, read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()
