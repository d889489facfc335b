"""The decode-once cache: decoded uint8 images and int64 labels as memory-mappable ``.npy`` files.

Layout: ``<cache dir>/data/<dataset>/<key>/`` holding ``<split>_images.npy``,
``<split>_labels.npy`` and ``meta.json`` (class names, counts, per-channel
statistics, skipped files, the source).  The key is a hash of the dataset name,
the reader version, the kind of source, the cache resolution (``size``) and the
source's fingerprint: the SHA-256 of each source file's content, or, for an
extracted folder, of every file's relative name, size and mtime.  Any change
to the source gives a new key, so the next load rebuilds the entry (and
removes the stale entry of the same source path and size).

An entry is written into a temporary folder next to its final place and then
renamed onto it in one step, so a crash never leaves a half-written entry that
looks complete.  The cache folder is ``$CLASSICNETS_CACHE`` if set, else
``~/.cache/classicnets``; every function also takes an explicit folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from ._io import file_digest, publish_dir, save_npy

CACHE_ENV = "CLASSICNETS_CACHE"
FORMAT_VERSION = 1


def default_cache_dir() -> Path:
    """``$CLASSICNETS_CACHE`` if set, else ``~/.cache/classicnets``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "classicnets"


def resolve_cache_dir(cache_dir: str | os.PathLike[str] | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def fingerprint(paths: tuple[Path, ...] | list[Path]) -> str:
    """A hash that changes whenever the content of any of ``paths`` changes (see the module docstring)."""
    h = hashlib.sha256()
    for p in paths:
        p = Path(p)
        h.update(p.name.encode())
        if p.is_file():
            h.update(b"F" + file_digest(p).encode())
        elif p.is_dir():
            h.update(b"D")
            for dirpath, dirnames, filenames in os.walk(p):
                dirnames.sort()
                for fn in sorted(filenames):
                    fp = Path(dirpath) / fn
                    st = fp.stat()
                    h.update(f"{fp.relative_to(p).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        else:
            h.update(b"missing")
    return h.hexdigest()


def cache_key(fields: dict[str, Any]) -> str:
    blob = json.dumps({"cache_format": FORMAT_VERSION, **fields}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def entry_dir(cache_dir: Path, dataset: str, key: str) -> Path:
    return cache_dir / "data" / dataset / key


def read_entry(path: Path, *, mmap: bool = True) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict]:
    """Load a complete entry: ``({split: (images, labels)}, meta)``; images are read-only memory maps."""
    meta = json.loads((path / "meta.json").read_text())
    arrays = {}
    for split in meta["splits"]:
        images = np.load(path / f"{split}_images.npy", mmap_mode="r" if mmap else None, allow_pickle=False)
        labels = np.load(path / f"{split}_labels.npy", allow_pickle=False)
        arrays[split] = (images, labels)
    return arrays, meta


def lookup(cache_dir: Path, dataset: str, key: str) -> Path | None:
    path = entry_dir(cache_dir, dataset, key)
    return path if (path / "meta.json").is_file() else None


def temp_entry(cache_dir: Path, dataset: str, key: str) -> Path:
    """A new temporary folder beside the entry's final place, for :func:`write_entry` to publish."""
    final = entry_dir(cache_dir, dataset, key)
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{key}.", suffix=".tmp", dir=final.parent))


def _written_in(tmp: Path, array: np.ndarray, name: str) -> bool:
    """Whether ``array`` is a memory map of ``tmp/name`` already (a reader wrote it there while decoding)."""
    base = array
    while base is not None and not isinstance(base, np.memmap):
        base = base.base if isinstance(base.base, np.ndarray) else None
    return isinstance(base, np.memmap) and base.filename is not None \
        and Path(base.filename).resolve() == (tmp / name).resolve() and base.shape == array.shape


def _fsync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def write_entry(
    cache_dir: Path,
    dataset: str,
    key: str,
    arrays: dict[str, tuple[np.ndarray, np.ndarray]],
    meta: dict,
    *,
    tmp: Path | None = None,
) -> Path:
    """Write an entry atomically (temporary folder, then one rename); prune stale entries of the same source.

    ``tmp``: the folder from :func:`temp_entry` where a reader already wrote some ``<split>_images.npy``
    as memory maps (those are flushed and kept, not written again).
    """
    final = entry_dir(cache_dir, dataset, key)
    tmp = temp_entry(cache_dir, dataset, key) if tmp is None else tmp
    try:
        for split, (images, labels) in arrays.items():
            name = f"{split}_images.npy"
            if _written_in(tmp, images, name):
                _fsync(tmp / name)  # already on disk: the reader's memory map (flushed by take_rows)
            else:
                save_npy(tmp / name, images)
            save_npy(tmp / f"{split}_labels.npy", labels.astype(np.int64, copy=False))
        for extra in set(os.listdir(tmp)) - {f"{s}_{k}.npy" for s in arrays for k in ("images", "labels")}:
            (tmp / extra).unlink()  # scratch files a reader left
        meta = {**meta, "key": key, "splits": list(arrays), "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        publish_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _prune(final, meta)
    return final


def _prune(keep: Path, meta: dict) -> None:
    """Remove stale entries: same dataset, source path, reader kind and size, but another fingerprint."""
    if not meta.get("source"):
        return
    same = ("source", "kind", "size")
    for other in keep.parent.iterdir():
        if other == keep or other.name.startswith(".") or not other.is_dir():
            continue
        try:
            m = json.loads((other / "meta.json").read_text())
        except (OSError, ValueError):
            continue
        if all(m.get(k) == meta.get(k) for k in same):
            shutil.rmtree(other, ignore_errors=True)


def clear(cache_dir: str | os.PathLike[str] | None = None, dataset: str | None = None) -> None:
    """Delete the cached entries of one dataset, or of all datasets."""
    root = resolve_cache_dir(cache_dir) / "data"
    target = root / dataset if dataset else root
    if dataset and ("/" in dataset or dataset.startswith(".")):
        raise InvalidInputError(f"bad dataset name {dataset!r}")
    shutil.rmtree(target, ignore_errors=True)
