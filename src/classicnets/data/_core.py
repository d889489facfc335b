"""The dataset registry, the :class:`Dataset` result and :func:`load_dataset`."""

from __future__ import annotations

import difflib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInputError, MissingFileError, UnknownOptionError, UserError
from . import cache as _cache
from ._progress import DataProgress, as_progress

Arrays = dict[str, tuple[np.ndarray, np.ndarray]]


class CacheWriteError(UserError, OSError):
    """The cache folder cannot be written (read-only, full, ...)."""


@dataclass
class Source:
    """Where a dataset's files are: what to fingerprint and how to read them."""

    kind: str  # which reader, e.g. "pickle", "idx", "imagefolder"
    paths: tuple[Path, ...]  # the files/folders whose content defines the data
    display: str  # shown in messages and recorded in the cache
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReadOptions:
    size: int | None = None
    workers: int | None = None
    on_error: str = "raise"
    progress: DataProgress | None = None
    workdir: Path | None = None  # where a reader may write big decoded arrays as .npy (the temporary cache entry)


@dataclass
class RawData:
    arrays: Arrays  # {split: (images (N,H,W,C) uint8, labels (N,) int64)}
    classes: list[str]
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. {"skipped": [[name, reason], ...]}


@dataclass
class Selection:
    """What a dataset with computed splits (flowers17) returns from its ``select`` hook."""

    indices: np.ndarray  # into the cached "all" arrays
    train_indices: np.ndarray  # the training split of the same partition (for mean/std)
    info: dict[str, Any]


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    summary: str
    splits: tuple[str, ...]
    locate: Callable[[Path], Source]
    read: Callable[[Source, ReadOptions], RawData]
    options: tuple[str, ...] = ()  # dataset-specific keyword options of load_dataset
    select: Callable[[Arrays, str, Source, dict[str, Any], dict[str, Any]], Selection] | None = None
    resizable: bool = False  # accepts size=
    default_size: int | None = None
    cacheable: bool = True
    needs_root: bool = True
    version: int = 1  # bump when the reader's output changes, to invalidate old caches
    num_classes: int | None = None
    image_shape: tuple[int, int, int] | None = None  # (H, W, C) when fixed


_REGISTRY: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"dataset {spec.name!r} registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`, sorted."""
    return sorted(_REGISTRY)


def get_spec(name: str) -> DatasetSpec:
    key = str(name).strip().lower().replace("-", "_")
    if key in _REGISTRY:
        return _REGISTRY[key]
    close = difflib.get_close_matches(key, list(_REGISTRY), n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise InvalidInputError(f"unknown dataset {name!r}.{hint} Known datasets: {', '.join(list_datasets())}.")


@dataclass(eq=False)
class Dataset:
    """One split of a dataset, decoded: uint8 images (N, H, W, C) and int64 labels (N,).

    ``mean`` and ``std`` are per channel, in [0, 1] units, computed from the
    *training* split whatever ``split`` this is.  ``images`` is a read-only
    memory map when it comes from the cache.
    """

    name: str
    split: str
    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return self.images[i], int(self.labels[i])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=self.num_classes)

    def __repr__(self) -> str:
        h, w, c = self.image_shape
        return (f"Dataset({self.name!r}, split={self.split!r}, {len(self)} images {h}x{w}x{c}, "
                f"{self.num_classes} classes)")


def channel_stats(images: np.ndarray, indices: np.ndarray | None = None, chunk: int = 2048
                  ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact per-channel mean and (population) std of uint8 images, in [0, 1] units.

    Works from 256-bin histograms per channel, so it is exact and reads the
    images once, chunk by chunk (memory maps stay cheap).
    """
    n = images.shape[0] if indices is None else len(indices)
    c = images.shape[-1]
    hist = np.zeros((c, 256), dtype=np.int64)
    for s in range(0, n, chunk):
        x = images[s : s + chunk] if indices is None else images[np.sort(indices[s : s + chunk])]
        for ch in range(c):
            hist[ch] += np.bincount(x[..., ch].ravel(), minlength=256)
    v = np.arange(256, dtype=np.float64) / 255.0
    total = hist.sum(axis=1)
    if (total == 0).any():
        raise InvalidInputError("cannot compute statistics of an empty split")
    mean = (hist * v).sum(axis=1) / total
    var = (hist * (v - mean[:, None]) ** 2).sum(axis=1) / total
    return tuple(float(m) for m in mean), tuple(float(s) for s in np.sqrt(var))


def _check_split(split: str, available: list[str], name: str, source: str) -> None:
    if split not in available:
        raise InvalidInputError(
            f"{name}: no split {split!r} in {source}; available: {', '.join(available)}."
        )


def _default_root(spec: DatasetSpec, cache_dir: Path) -> Path:
    root = cache_dir / "downloads" / spec.name
    if not root.exists():
        raise MissingFileError(
            f"{spec.name}: no root given and nothing downloaded at {root}; pass root=PATH (--data-dir PATH) "
            f"or run `classicnets data download {spec.name}`."
        )
    return root


def _write_error(cache_dir: Path, e: OSError) -> CacheWriteError:
    return CacheWriteError(
        f"cannot write the cache entry under {cache_dir} ({e}); choose another folder with "
        "cache_dir= (--cache-dir) or $CLASSICNETS_CACHE, or pass cache=False"
    )


def _build_meta(spec: DatasetSpec, source: Source, opts: ReadOptions, raw: RawData) -> dict[str, Any]:
    """What ``meta.json`` records of a fresh decode: source, classes, counts, training statistics."""
    meta: dict[str, Any] = {
        "dataset": spec.name, "source": source.display, "kind": source.kind, "size": opts.size,
        "classes": list(raw.classes), **raw.meta,
    }
    meta.setdefault("skipped", [])
    meta["counts"] = {s: int(lab.shape[0]) for s, (_, lab) in raw.arrays.items()}
    if "train" in raw.arrays:
        mean, std = channel_stats(raw.arrays["train"][0])
        meta["stats"] = {"train": {"mean": mean, "std": std}}
    return meta


def materialize(
    spec: DatasetSpec,
    source: Source,
    opts: ReadOptions,
    *,
    cache: bool,
    cache_dir: Path,
) -> tuple[Arrays, dict[str, Any]]:
    """Decode the source once (or reuse the cache entry): ``({split: (images, labels)}, meta)``."""
    key = None
    if cache and spec.cacheable:
        fields = {"dataset": spec.name, "reader": spec.version, "kind": source.kind, "size": opts.size,
                  "fingerprint": _cache.fingerprint(source.paths)}
        key = _cache.cache_key(fields)
        hit = _cache.lookup(cache_dir, spec.name, key)
        if hit is not None:
            arrays, meta = _cache.read_entry(hit)
            if opts.on_error == "raise" and meta.get("skipped"):
                from .images import CorruptImageError

                name, reason = meta["skipped"][0]
                raise CorruptImageError(
                    f"{source.display}: {name} is not a readable image ({reason}); this cache entry was built "
                    f"with on_error='skip' ({len(meta['skipped'])} skipped); pass on_error='skip' to use it."
                )
            meta["cache_path"] = str(hit)
            meta["cache_hit"] = True
            return arrays, meta
    if key is None:
        raw = spec.read(source, opts)
        meta = _build_meta(spec, source, opts, raw)
        meta["cache_path"] = None
        meta["cache_hit"] = False
        return raw.arrays, meta
    try:
        tmp = _cache.temp_entry(cache_dir, spec.name, key)
    except OSError as e:
        raise _write_error(cache_dir, e) from e
    try:
        raw = spec.read(source, replace(opts, workdir=tmp))  # big arrays go straight to files in tmp
        meta = _build_meta(spec, source, opts, raw)
        try:
            path = _cache.write_entry(cache_dir, spec.name, key, raw.arrays, meta, tmp=tmp)
        except OSError as e:
            raise _write_error(cache_dir, e) from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already when published
    arrays, meta = _cache.read_entry(path)
    meta["cache_path"] = str(path)
    meta["cache_hit"] = False
    return arrays, meta


def prepare(
    name: str,
    root: str | os.PathLike[str] | None = None,
    *,
    size: int | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    on_error: str = "raise",
    progress: bool | DataProgress = False,
    options: dict[str, Any] | None = None,
) -> tuple[DatasetSpec, Source, Arrays, dict[str, Any]]:
    """Find, decode (or reuse from the cache) every split of a dataset."""
    spec = get_spec(name)
    options = dict(options or {})
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        accepted = ", ".join(spec.options) or "none"
        raise UnknownOptionError(f"{spec.name}: unknown option(s) {', '.join(unknown)}; accepted: {accepted}.")
    if on_error not in ("raise", "skip"):
        raise InvalidInputError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    if size is not None:
        if not spec.resizable:
            raise InvalidInputError(f"{spec.name} has a fixed image size; size= applies to variable-size "
                                    "datasets (flowers17, imagefolder).")
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InvalidInputError(f"size must be a positive integer, not {size!r}")
    cdir = _cache.resolve_cache_dir(cache_dir)
    if spec.needs_root:
        root_path = Path(root).expanduser() if root is not None else _default_root(spec, cdir)
        if not root_path.exists():
            raise MissingFileError(f"{spec.name}: {root_path} does not exist; check --data-dir.")
    else:
        root_path = Path(root) if root is not None else Path(".")
    source = spec.locate(root_path)
    opts = ReadOptions(size=size if size is not None else spec.default_size, workers=workers,
                       on_error=on_error, progress=as_progress(progress))
    arrays, meta = materialize(spec, source, opts, cache=cache, cache_dir=cdir)
    return spec, source, arrays, meta


def make_split(spec: DatasetSpec, source: Source, arrays: Arrays, meta: dict[str, Any], split: str,
               options: dict[str, Any]) -> Dataset:
    info = {k: meta.get(k) for k in ("cache_path", "cache_hit", "size", "kind")}
    info["skipped"] = list(meta.get("skipped", []))
    classes = tuple(meta["classes"])
    if spec.select is not None:
        sel = spec.select(arrays, split, source, options, meta)
        images_all, labels_all = arrays["all"]
        mean, std = channel_stats(images_all, sel.train_indices)
        idx = np.asarray(sel.indices, dtype=np.int64)
        info.update(sel.info)
        return Dataset(spec.name, split, images_all[idx], labels_all[idx], classes, mean, std,
                       source.display, info)
    _check_split(split, list(arrays), spec.name, source.display)
    if "stats" not in meta:
        raise InvalidInputError(f"{spec.name}: {source.display} has no training split to compute mean/std from")
    stats = meta["stats"]["train"]
    images, labels = arrays[split]
    return Dataset(spec.name, split, images, labels, classes, tuple(stats["mean"]), tuple(stats["std"]),
                   source.display, info)


def load_dataset(
    name: str,
    root: str | os.PathLike[str] | None = None,
    split: str = "train",
    *,
    size: int | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    on_error: str = "raise",
    progress: bool | DataProgress = False,
    **options: Any,
) -> Dataset:
    """Load one split of a dataset as uint8 arrays, decoding the source at most once.

    Args:
        name: one of :func:`list_datasets` (``cifar10``, ``mnist``, ``flowers17``, ...).
        root: the dataset's file or folder (an archive, an extracted folder, or a folder
            holding either); default: where ``download`` put it (``<cache>/downloads/<name>``).
            ``digits`` needs none.
        split: ``"train"``, ``"test"`` or ``"val"`` (what the dataset has).
        size: for variable-size datasets, the side of the square images kept in the cache
            (shorter side resized to ``size``, then the central square).
        cache: keep the decoded arrays in the cache folder and reuse them.
        cache_dir: the cache folder (default ``$CLASSICNETS_CACHE`` or ``~/.cache/classicnets``).
        workers: image-decoding processes (default: one per core, at most 4).
        on_error: ``"raise"`` on a corrupt image (default) or ``"skip"`` it and record it
            in ``dataset.info["skipped"]``.
        progress: show a progress bar while decoding.
        options: dataset-specific options (flowers17: ``partition``, ``splits_file``).
    """
    options = dict(options)
    spec, source, arrays, meta = prepare(name, root, size=size, cache=cache, cache_dir=cache_dir,
                                         workers=workers, on_error=on_error, progress=progress,
                                         options=options)
    return make_split(spec, source, arrays, meta, split, options)


def load_splits(name: str, root: str | os.PathLike[str] | None = None, **kwargs: Any) -> dict[str, Dataset]:
    """Every split of a dataset, ``{split: Dataset}``, decoding the source once (same options as load_dataset)."""
    options = {k: kwargs.pop(k) for k in list(kwargs) if k not in
               ("size", "cache", "cache_dir", "workers", "on_error", "progress")}
    spec, source, arrays, meta = prepare(name, root, options=options, **kwargs)
    splits = spec.splits if spec.select is not None else tuple(arrays)
    return {s: make_split(spec, source, arrays, meta, s, options) for s in splits}


def describe_splits(splits: dict[str, Dataset]) -> dict[str, Any]:
    """A plain description of loaded splits (sizes, class counts, statistics) for reports and the CLI."""
    first = next(iter(splits.values()))
    rows = []
    for name, ds in splits.items():
        counts = ds.class_counts()
        rows.append({"split": name, "images": len(ds), "shape": list(ds.image_shape),
                     "per_class_min": int(counts.min()), "per_class_max": int(counts.max())})
    info = first.info
    return {
        "dataset": first.name, "source": first.source, "classes": list(first.classes), "splits": rows,
        "mean": list(first.mean), "std": list(first.std), "cache_path": info.get("cache_path"),
        "cache_hit": info.get("cache_hit"), "skipped": info.get("skipped", []),
        "note": info.get("splits"),
    }
