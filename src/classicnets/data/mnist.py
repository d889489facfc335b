"""MNIST (LeCun et al., 1998) and Fashion-MNIST (Xiao et al., 2017): the IDX file format.

An IDX file is a 4-byte magic number -- two zero bytes, a type code
(0x08 = unsigned byte) and the number of dimensions -- then each dimension
as a big-endian 32-bit integer, then the values in row-major order.  Images
are ``0x00000803`` (N x 28 x 28), labels ``0x00000801`` (N).  Both datasets
use the same four file names, raw or gzip-compressed (``.gz``).  Every header
field and the exact data length are checked.
"""

from __future__ import annotations

import functools
import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import InvalidInputError, MissingFileError
from ._core import DatasetSpec, RawData, ReadOptions, Source, register_dataset

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST_CLASSES = tuple(str(i) for i in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
# md5 of the *uncompressed* official files (LeCun et al.'s page lists the .gz files; these are what they hold).
MNIST_RAW_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}


def read_bytes(path: Path) -> bytes:
    """A file's content, gunzipped when it is gzip-compressed (checked by its magic bytes, not its name)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MissingFileError(f"{path} does not exist") from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise InvalidInputError(f"{path}: corrupt or truncated gzip data ({e})") from None
    return data


def parse_idx(data: bytes, *, source: str, magic: int) -> np.ndarray:
    """Parse an IDX file of unsigned bytes with the given magic number; validates header and length."""
    if len(data) < 4:
        raise InvalidInputError(f"{source}: only {len(data)} bytes; an IDX file starts with a 4-byte magic number")
    found = struct.unpack(">I", data[:4])[0]
    if found != magic:
        what = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}[magic]
        raise InvalidInputError(
            f"{source}: wrong magic number 0x{found:08x}; IDX {what} files start with 0x{magic:08x}"
            + (" (this looks like the other kind of IDX file: images and labels swapped?)"
               if found in (IMAGES_MAGIC, LABELS_MAGIC) else "")
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise InvalidInputError(f"{source}: truncated header ({len(data)} of {header} bytes)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    if ndim == 3 and dims[1:] != (28, 28):
        raise InvalidInputError(f"{source}: images are {dims[1]}x{dims[2]}, expected 28x28")
    expected = int(np.prod(dims, dtype=np.int64))
    body = len(data) - header
    if body < expected:
        raise InvalidInputError(
            f"{source}: truncated: the header announces {dims[0]} items ({expected} bytes of data) but only "
            f"{body} bytes follow"
        )
    if body > expected:
        raise InvalidInputError(f"{source}: {body - expected} unexpected bytes after the {dims[0]} items")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def find_file(folder: Path, stem: str) -> Path | None:
    """The file for ``stem`` in ``folder``: raw or ``.gz``, also the ``train-images.idx3-ubyte`` spelling."""
    alt = stem.replace("-idx", ".idx")
    for name in (stem, f"{stem}.gz", alt, f"{alt}.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _locate(name: str, root: Path) -> Source:
    sub = {"mnist": ["mnist", "MNIST", "MNIST/raw"], "fashion_mnist": ["fashion_mnist", "fashion-mnist",
                                                                        "FashionMNIST/raw", "FashionMNIST"]}
    if root.is_file():
        root = root.parent
    for folder in [root, root / "raw", *(root / s for s in sub[name])]:
        found = [find_file(folder, s) for pair in FILES.values() for s in pair]
        if all(found):
            return Source("idx", tuple(found), str(folder.resolve()))  # type: ignore[arg-type]
        if any(found):
            missing = [s for pair in FILES.values() for s in pair if not find_file(folder, s)]
            raise MissingFileError(f"{name}: {folder} lacks {', '.join(m + '[.gz]' for m in missing)}")
    raise MissingFileError(
        f"{name}: no IDX files (train-images-idx3-ubyte[.gz], ...) in {root}; download them with "
        f"`classicnets data download {name} --data-dir {root}`."
    )


def _read(source: Source, opts: ReadOptions) -> RawData:
    paths = dict(zip([s for pair in FILES.values() for s in pair], source.paths, strict=True))
    arrays = {}
    for split, (img_stem, lab_stem) in FILES.items():
        ip, lp = paths[img_stem], paths[lab_stem]
        images = parse_idx(read_bytes(ip), source=str(ip), magic=IMAGES_MAGIC)
        labels = parse_idx(read_bytes(lp), source=str(lp), magic=LABELS_MAGIC)
        if images.shape[0] != labels.shape[0]:
            raise InvalidInputError(
                f"{ip} holds {images.shape[0]} images but {lp} holds {labels.shape[0]} labels; "
                "the files do not belong together"
            )
        if labels.size and labels.max() > 9:
            raise InvalidInputError(f"{lp}: labels must be 0..9, found {labels.max()}")
        arrays[split] = (images[..., None], labels.astype(np.int64))  # N x 28 x 28 x 1
    return RawData(arrays, [])


def _reader(classes: tuple[str, ...]):
    def read(source: Source, opts: ReadOptions) -> RawData:
        raw = _read(source, opts)
        raw.classes = list(classes)
        return raw

    return read


# MNIST and Fashion-MNIST share the IDX format, the split and the image shape: only names and classes differ.
for _name, _summary, _classes in (
    ("mnist", "MNIST: 70,000 28x28 grey handwritten digits (60,000 train, 10,000 test)", MNIST_CLASSES),
    ("fashion_mnist", "Fashion-MNIST: 70,000 28x28 grey images of clothing in 10 classes (60,000 train, "
     "10,000 test)", FASHION_CLASSES),
):
    register_dataset(DatasetSpec(name=_name, summary=_summary, splits=("train", "test"),
                                 locate=functools.partial(_locate, _name), read=_reader(_classes),
                                 num_classes=10, image_shape=(28, 28, 1)))
del _name, _summary, _classes
