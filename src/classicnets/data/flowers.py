"""Oxford 17 Category Flowers (Nilsback & Zisserman, 2006).

Official files: ``17flowers.tgz`` holding ``jpg/image_0001.jpg`` ...
``jpg/image_1360.jpg`` and ``jpg/files.txt``; 80 images per class in class
blocks, so the label of ``image_n`` is ``(n - 1) // 80`` and the class order is
:data:`FLOWERS17_CLASSES`.  The images vary in size (shorter side 500 px); the
cache keeps them as ``size x size`` squares (default 256: shorter side resized
to 256, central square kept).

Splits.  The authors' split file ``datasplits.mat`` defines three partitions
(``trn1``/``val1``/``tst1`` ... ``trn3``/``val3``/``tst3``; 40/20/20 images per
class, 1-based image numbers).  When it is given (``splits_file=``) or lies
next to the images, it is used.  Otherwise three **non-official** partitions
are used: for partition p (1, 2, 3), each class's 80 images are shuffled by
``numpy.random.default_rng([17, p])`` and split 40 train / 20 val / 20 test.
They are seeded and stratified like the official ones but are not them, so
accuracies on them are not comparable with published figures; ``info`` says
which splits were used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInputError, MissingFileError
from ._core import Arrays, DatasetSpec, RawData, ReadOptions, Selection, Source, register_dataset
from ._sources import FileScan, is_archive_name
from .images import decode_many

FLOWERS17_CLASSES = ("daffodil", "snowdrop", "lily_valley", "bluebell", "crocus", "iris", "tigerlily", "tulip",
                     "fritillary", "sunflower", "daisy", "colts_foot", "dandelion", "cowslip", "buttercup",
                     "windflower", "pansy")
NUM_IMAGES = 1360
PER_CLASS = 80
SPLIT_SIZES = {"train": 40, "val": 20, "test": 20}
SEED = 17
DEFAULT_SIZE = 256


def image_name(n: int) -> str:
    return f"jpg/image_{n:04d}.jpg"


def _locate(root: Path) -> Source:
    mat = None
    if root.is_file():
        if not is_archive_name(root):
            raise InvalidInputError(f"flowers17: {root} is not a tar archive (expected 17flowers.tgz)")
        src = Source("archive", (root,), str(root.resolve()))
        mat = root.parent / "datasplits.mat"
    elif (root / "17flowers.tgz").is_file():
        src = Source("archive", (root / "17flowers.tgz",), str((root / "17flowers.tgz").resolve()))
        mat = root / "datasplits.mat"
    elif (root / "jpg" / "image_0001.jpg").is_file():
        src = Source("folder", (root / "jpg",), str((root / "jpg").resolve()))
        mat = root / "datasplits.mat"
    elif (root / "image_0001.jpg").is_file():
        src = Source("folder", (root,), str(root.resolve()))
        mat = root.parent / "datasplits.mat"
    else:
        raise MissingFileError(
            f"flowers17: found neither 17flowers.tgz nor jpg/image_0001.jpg in {root}; download it with "
            f"`classicnets data download flowers17 --data-dir {root}`."
        )
    if mat is not None and mat.is_file():
        src.extra["splits_file"] = mat
    return src


def _read(source: Source, opts: ReadOptions) -> RawData:
    path = source.paths[0]
    wanted = {image_name(n) for n in range(1, NUM_IMAGES + 1)}
    if source.kind == "folder":  # the jpg/ folder itself: names are relative to it
        scan = FileScan(path, lambda rel: f"jpg/{rel}" in wanted, opts.progress)
        items = ((f"jpg/{n}", b) for n, b in scan)
    else:
        scan = FileScan(path, lambda rel: rel in wanted, opts.progress)
        items = iter(scan)
    result = decode_many(items, size=opts.size, workers=opts.workers, on_error=opts.on_error,
                         source=source.display)
    missing = sorted(wanted - set(result.names))
    if missing:
        raise MissingFileError(f"flowers17: {source.display} lacks {len(missing)} of the {NUM_IMAGES} images "
                               f"(first: {missing[0]})")
    numbers = np.array([int(n[len("jpg/image_"):-4]) for n in result.names], dtype=np.int64)[result.kept]
    order = np.argsort(numbers, kind="stable")  # image_0001 first, whatever the archive order
    numbers = numbers[order]
    images = result.images[order] if not np.array_equal(order, np.arange(len(order))) else result.images
    labels = (numbers - 1) // PER_CLASS
    meta = {"skipped": [list(s) for s in result.skipped], "image_numbers": numbers.tolist()}
    return RawData({"all": (images, labels)}, list(FLOWERS17_CLASSES), meta)


def seeded_partition(partition: int) -> dict[str, np.ndarray]:
    """The non-official partition ``partition`` (1-3): sorted 1-based image numbers per split."""
    rng = np.random.default_rng([SEED, partition])
    out: dict[str, list[np.ndarray]] = {s: [] for s in SPLIT_SIZES}
    for c in range(len(FLOWERS17_CLASSES)):
        perm = rng.permutation(PER_CLASS) + c * PER_CLASS + 1
        a, b = SPLIT_SIZES["train"], SPLIT_SIZES["train"] + SPLIT_SIZES["val"]
        out["train"].append(perm[:a])
        out["val"].append(perm[a:b])
        out["test"].append(perm[b:])
    return {s: np.sort(np.concatenate(v)) for s, v in out.items()}


def official_partition(path: Path, partition: int) -> dict[str, np.ndarray]:
    """Read partition ``partition`` of the authors' ``datasplits.mat`` (needs scipy)."""
    try:
        from scipy.io import loadmat
    except ImportError:
        raise InvalidInputError(f"reading {path} needs scipy: pip install scipy") from None
    if not Path(path).is_file():
        raise MissingFileError(f"flowers17: splits file {path} does not exist")
    try:
        mat = loadmat(str(path))
    except (ValueError, OSError, TypeError) as e:
        raise InvalidInputError(f"{path}: not a readable .mat file ({e})") from None
    out = {}
    for split, key in (("train", "trn"), ("val", "val"), ("test", "tst")):
        k = f"{key}{partition}"
        if k not in mat:
            raise InvalidInputError(f"{path}: no {k!r} entry; not the 17 Flowers datasplits.mat")
        v = np.asarray(mat[k]).ravel().astype(np.int64)
        if v.size == 0 or v.min() < 1 or v.max() > NUM_IMAGES or len(np.unique(v)) != v.size:
            raise InvalidInputError(f"{path}: {k} must hold distinct image numbers in 1..{NUM_IMAGES}")
        out[split] = np.sort(v)
    if len(np.unique(np.concatenate(list(out.values())))) != sum(v.size for v in out.values()):
        raise InvalidInputError(f"{path}: partition {partition}'s train/val/test overlap")
    return out


def _select(arrays: Arrays, split: str, source: Source, options: dict[str, Any], meta: dict[str, Any]
            ) -> Selection:
    partition = options.get("partition", 1)
    if partition not in (1, 2, 3):
        raise InvalidInputError(f"flowers17: partition must be 1, 2 or 3, not {partition!r}")
    if split not in SPLIT_SIZES:
        raise InvalidInputError(f"flowers17: no split {split!r}; available: train, val, test")
    splits_file = options.get("splits_file") or source.extra.get("splits_file")
    if splits_file:
        parts = official_partition(Path(splits_file), partition)
        info = {"splits": f"official ({Path(splits_file).name}, partition {partition})"}
    else:
        parts = seeded_partition(partition)
        info = {"splits": f"NON-OFFICIAL seeded stratified 40/20/20 per class (seed [{SEED}, {partition}]); "
                          "not comparable with published results"}
    info["partition"] = partition
    # row of each image number in the cache (corrupt images skipped at import have no row)
    numbers = np.asarray(meta.get("image_numbers") or np.arange(1, NUM_IMAGES + 1), dtype=np.int64)
    row = np.full(NUM_IMAGES + 1, -1, dtype=np.int64)
    row[numbers] = np.arange(len(numbers))
    pos = {s: row[v][row[v] >= 0] for s, v in parts.items()}
    missing = sum(int((row[v] < 0).sum()) for v in parts.values())
    if missing:
        info["missing_images"] = missing
    return Selection(indices=pos[split], train_indices=pos["train"], info=info)


register_dataset(DatasetSpec(
    name="flowers17",
    summary="Oxford 17 Flowers: 1,360 photos in 17 classes, 3 partitions of 40/20/20 per class",
    splits=("train", "val", "test"),
    locate=_locate,
    read=_read,
    options=("partition", "splits_file"),
    select=_select,
    resizable=True,
    default_size=DEFAULT_SIZE,
    num_classes=17,
))
