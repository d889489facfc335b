"""CIFAR-10 and CIFAR-100 (Krizhevsky, 2009), "python version".

Official files: ``cifar-10-python.tar.gz`` holding ``cifar-10-batches-py/``
(``data_batch_1`` ... ``data_batch_5``, ``test_batch``, ``batches.meta``) and
``cifar-100-python.tar.gz`` holding ``cifar-100-python/`` (``train``, ``test``,
``meta``).  Each batch is a Python 2 pickle of a dict whose ``data`` is a
(N, 3072) uint8 array (1024 red, then 1024 green, then 1024 blue values, row by
row) and whose ``labels`` (CIFAR-10) or ``fine_labels`` (CIFAR-100) is a list of
ints.  They are read through :mod:`._unpickle`'s restricted unpickler, from the
archive or the extracted folder.

``cifar10`` also accepts an image-folder tree or archive of the ten classes
(``train/<class>/*.jpg``, ``test/<class>/*.jpg``), such as a JPEG re-encoding
of the dataset, so users type the same name whatever form they have.
"""

from __future__ import annotations

import functools
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInputError, MissingFileError
from ._core import DatasetSpec, RawData, ReadOptions, Source, register_dataset
from ._sources import archive_head, is_archive_name
from ._unpickle import restricted_loads

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

_LAYOUT = {
    "cifar10": {
        "folder": "cifar-10-batches-py",
        "archive": "cifar-10-python.tar.gz",
        "splits": {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
        "meta": "batches.meta",
        "names_key": "label_names",
        "labels_key": "labels",
        "num_classes": 10,
        "counts": {"train": 50000, "test": 10000},
    },
    "cifar100": {
        "folder": "cifar-100-python",
        "archive": "cifar-100-python.tar.gz",
        "splits": {"train": ["train"], "test": ["test"]},
        "meta": "meta",
        "names_key": "fine_label_names",
        "labels_key": "fine_labels",
        "num_classes": 100,
        "counts": {"train": 50000, "test": 10000},
    },
}


def _str_keys(d: Any, source: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise InvalidInputError(f"{source}: expected a pickled dict, found {type(d).__name__}")
    return {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in d.items()}


def _parse_batch(data: bytes, source: str, labels_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    d = _str_keys(restricted_loads(data, source=source), source)
    for k in ("data", labels_key):
        if k not in d:
            raise InvalidInputError(f"{source}: no {k!r} entry (found {', '.join(sorted(d))}); not a CIFAR batch")
    x = d["data"]
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        desc = f"{x.dtype} {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        raise InvalidInputError(f"{source}: 'data' must be a uint8 array of shape (N, 3072), found {desc}")
    y = d[labels_key]
    if not isinstance(y, (list, np.ndarray)) or not all(isinstance(v, (int, np.integer)) for v in y):
        raise InvalidInputError(f"{source}: {labels_key!r} must be a list of ints")
    labels = np.asarray(y, dtype=np.int64)
    if labels.shape[0] != x.shape[0]:
        raise InvalidInputError(
            f"{source}: {x.shape[0]} images but {labels.shape[0]} labels; the file is corrupt"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise InvalidInputError(
            f"{source}: labels must be in [0, {num_classes - 1}], found {labels.min()}..{labels.max()}"
        )
    images = x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # N x 32 x 32 x 3
    return np.ascontiguousarray(images), labels


def _class_names(data: bytes | None, source: str, key: str, num_classes: int, fallback: tuple[str, ...]
                 ) -> list[str]:
    if data is None:
        if fallback:
            return list(fallback)
        raise MissingFileError(f"{source}: the meta file with the class names is missing")
    d = _str_keys(restricted_loads(data, source=source), source)
    names = d.get(key)
    if not isinstance(names, list) or len(names) != num_classes:
        raise InvalidInputError(f"{source}: {key!r} must list {num_classes} class names")
    return [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names]


def _read_pickled(name: str, source: Source, opts: ReadOptions) -> RawData:
    lay = _LAYOUT[name]
    wanted = {f for files in lay["splits"].values() for f in files} | {lay["meta"]}
    blobs: dict[str, bytes] = {}
    path = source.paths[0]
    if path.is_dir():
        for f in wanted:
            p = path / f
            if p.is_file():
                blobs[f] = p.read_bytes()
    else:
        try:
            with tarfile.open(path, mode="r|*") as tf:
                for m in tf:
                    base = m.name.rsplit("/", 1)[-1]
                    if m.isfile() and base in wanted and m.name.strip("./").split("/")[0] == lay["folder"]:
                        f = tf.extractfile(m)
                        assert f is not None
                        blobs[base] = f.read()
        except (tarfile.TarError, EOFError, OSError) as e:
            raise InvalidInputError(f"{path}: cannot read the archive ({type(e).__name__}: {e}); "
                                    "it is truncated or corrupt.") from None
    arrays = {}
    for split, files in lay["splits"].items():
        xs, ys = [], []
        for f in files:
            if f not in blobs:
                raise MissingFileError(f"{source.display}: {lay['folder']}/{f} is missing")
            x, y = _parse_batch(blobs[f], f"{source.display}: {f}", lay["labels_key"], lay["num_classes"])
            xs.append(x)
            ys.append(y)
        arrays[split] = (np.concatenate(xs), np.concatenate(ys))
    fallback = CIFAR10_CLASSES if name == "cifar10" else ()
    classes = _class_names(blobs.get(lay["meta"]), f"{source.display}: {lay['meta']}", lay["names_key"],
                           lay["num_classes"], fallback)
    return RawData(arrays, classes)


def _locate(name: str, root: Path) -> Source:
    lay = _LAYOUT[name]
    if root.is_file():
        if not is_archive_name(root) and not tarfile.is_tarfile(root):
            raise InvalidInputError(f"{name}: {root} is neither a tar archive nor a folder")
        head = archive_head(root)
        if any(n.split("/")[0] == lay["folder"] for n in head):
            return Source("pickle", (root,), str(root.resolve()))
        if name == "cifar10":
            return Source("imagefolder", (root,), str(root.resolve()))
        raise InvalidInputError(f"{name}: {root} does not hold {lay['folder']}/; expected {lay['archive']}")
    # a folder: the batches themselves, the extracted folder, the archive, or (cifar10) an image tree
    first = lay["splits"]["train"][0]
    if (root / first).is_file():
        return Source("pickle", (root,), str(root.resolve()))
    if (root / lay["folder"] / first).is_file():
        return Source("pickle", (root / lay["folder"],), str((root / lay["folder"]).resolve()))
    if (root / lay["archive"]).is_file():
        return Source("pickle", (root / lay["archive"],), str((root / lay["archive"]).resolve()))
    if name == "cifar10":
        if (root / "train").is_dir() or all((root / c).is_dir() for c in CIFAR10_CLASSES):
            return Source("imagefolder", (root,), str(root.resolve()))
        archives = sorted(p for p in root.glob("cifar10*") if p.is_file() and is_archive_name(p))
        if len(archives) == 1:
            return _locate(name, archives[0])
    raise MissingFileError(
        f"{name}: found neither {lay['archive']} nor {lay['folder']}/ in {root}"
        + (" (nor an image-folder tree or cifar10*.tar.gz archive of the ten classes)" if name == "cifar10"
           else "")
        + f"; download it with `classicnets data download {name} --data-dir {root}`."
    )


def _read_cifar10(source: Source, opts: ReadOptions) -> RawData:
    if source.kind == "pickle":
        return _read_pickled("cifar10", source, opts)
    from .folder import read_imagefolder

    raw = read_imagefolder(source, opts)
    if sorted(raw.classes) != sorted(CIFAR10_CLASSES):
        raise InvalidInputError(
            f"cifar10: the class folders of {source.display} are {', '.join(raw.classes)}; expected the ten "
            f"CIFAR-10 classes {', '.join(CIFAR10_CLASSES)} (use the 'imagefolder' dataset for other trees)"
        )
    for split, (images, _) in raw.arrays.items():
        if images.shape[1:3] != (32, 32):
            raise InvalidInputError(f"cifar10: the {split} images of {source.display} are "
                                    f"{images.shape[2]}x{images.shape[1]}, not 32x32")
    remap = np.array([CIFAR10_CLASSES.index(c) for c in raw.classes], dtype=np.int64)
    arrays = {s: (x, remap[y]) for s, (x, y) in raw.arrays.items()}
    return RawData(arrays, list(CIFAR10_CLASSES), raw.meta)


# CIFAR-10 and CIFAR-100 share the pickled batch format, the split and the image shape.
for _name, _summary, _read_fn, _classes in (
    ("cifar10", "CIFAR-10: 60,000 32x32 colour images in 10 classes (50,000 train, 10,000 test)",
     _read_cifar10, 10),
    ("cifar100", "CIFAR-100: 60,000 32x32 colour images in 100 fine classes (50,000 train, 10,000 test)",
     functools.partial(_read_pickled, "cifar100"), 100),
):
    register_dataset(DatasetSpec(name=_name, summary=_summary, splits=("train", "test"),
                                 locate=functools.partial(_locate, _name), read=_read_fn, num_classes=_classes,
                                 image_shape=(32, 32, 3)))
del _name, _summary, _read_fn, _classes
