"""Decoding many JPEG/PNG files into one uint8 array, once.

Policy for variable-size images (``size`` given): the shorter side is resized
to ``size`` and the central ``size x size`` square is kept (one Pillow
``resize`` with a source box, bilinear with antialiasing).  JPEGs are first
decoded at a reduced DCT scale with ``Image.draft`` when that still leaves the
shorter side >= ``size`` (about 2x faster on 500-pixel photos at size 128).
With ``size=None`` every image must already have the same size.

With ``workdir`` given, decoded chunks are written to a ``.npy`` file in that
folder as they arrive (the result is a memory map of it), and at most
``2 * workers`` chunks are in flight, so decoding a dataset of any size takes
a bounded amount of memory.

Corrupt images: ``on_error="raise"`` (the default) stops at the first file
that does not decode and names it; ``on_error="skip"`` leaves such files out
and reports them (the caller records how many were skipped and which).
"""

from __future__ import annotations

import io
import multiprocessing
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import InvalidInputError, MissingFileError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
CHUNK = 1024  # at most this many images per task sent to a worker process ...
CHUNK_BYTES = 4 << 20  # ... and about this many encoded bytes (big photos: smaller tasks, better balance)

ProgressFn = Callable[[int], None]  # called with the number of images just decoded


class CorruptImageError(InvalidInputError):
    """An image file that Pillow cannot decode (truncated, not an image, ...)."""


def is_image_name(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return not base.startswith(".") and base.lower().endswith(IMAGE_SUFFIXES)


def decode_image(data: bytes, size: int | None = None) -> np.ndarray:
    """Decode one encoded image to an (H, W, 3) uint8 array (see the module docstring for ``size``).

    Raises ``OSError``/``ValueError`` (from Pillow) on a corrupt file.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        im = Image.open(io.BytesIO(data))
        if size is not None and im.format == "JPEG":
            im.draft("RGB", (size, size))  # DCT-domain downscale, still >= size on both sides
        im.load()
    if im.mode != "RGB":
        im = im.convert("RGB")
    if size is not None:
        w, h = im.size
        if (w, h) != (size, size):
            s = min(w, h)
            left, top = (w - s) / 2, (h - s) / 2
            im = im.resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + s, top + s))
    return np.asarray(im)


DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning)


def decode_error_reason(e: BaseException) -> str:
    """Why an image did not decode, in words (for a message that names the file)."""
    if isinstance(e, UnidentifiedImageError):
        return "not a JPEG or PNG image: unrecognised format"
    if isinstance(e, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return (f"larger than the {Image.MAX_IMAGE_PIXELS:,} pixels Pillow decodes safely, a possible "
                "decompression bomb; shrink it first")
    return f"{type(e).__name__}: {e}"


def read_image(path: str | Path, size: int | None = None) -> np.ndarray:
    """Decode one image file (see :func:`decode_image`); a missing, unreadable or corrupt file (a
    decompression bomb included) is one clear error naming it."""
    path = Path(path)
    if path.is_dir():
        raise InvalidInputError(f"{path} is a folder, not an image file.")
    if not path.is_file():
        raise MissingFileError(f"image {str(path)!r} does not exist.")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InvalidInputError(f"cannot read {path}: {e.strerror or e}.") from None
    try:
        return decode_image(data, size)
    except DECODE_ERRORS as e:
        raise CorruptImageError(f"{path}: not a readable image ({decode_error_reason(e)}).") from None


@dataclass
class DecodeResult:
    images: np.ndarray  # (n_ok, H, W, 3) uint8, in input order with bad files left out
    kept: np.ndarray  # int64 indices (into the input sequence) of the images in ``images``
    names: list[str] = field(default_factory=list)  # the name of every input item, in input order
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    scratch: Path | None = None  # the on-disk file behind ``images`` (decode_many with workdir)

    def release(self) -> None:
        """Delete the scratch file behind ``images`` (after its rows were copied where they belong)."""
        if self.scratch is not None:
            self.images = np.empty((0, *self.images.shape[1:]), np.uint8)
            self.scratch.unlink(missing_ok=True)
            self.scratch = None


NPY_HEADER_BYTES = 256  # reserved for the .npy header of an array whose length is known only at the end


class NpyRowWriter:
    """Append uint8 rows of one shape to a ``.npy`` file, writing the header (with the count) last."""

    def __init__(self, path: Path) -> None:
        self.path, self.count, self.shape = path, 0, None
        self._f = open(path, "wb")  # noqa: SIM115  (closed by finish/abort)
        self._f.write(b"\0" * NPY_HEADER_BYTES)

    def append(self, rows: np.ndarray) -> None:
        if self.shape is None:
            self.shape = rows.shape[1:]
        self._f.write(np.ascontiguousarray(rows, dtype=np.uint8).tobytes())
        self.count += len(rows)

    def finish(self) -> np.ndarray:
        """Write the header, close, and return a read-only memory map of the rows."""
        shape = (self.count, *(self.shape or ()))
        text = repr({"descr": "|u1", "fortran_order": False, "shape": shape})
        head = b"\x93NUMPY\x01\x00" + (NPY_HEADER_BYTES - 10).to_bytes(2, "little")
        body = text.encode("latin1").ljust(NPY_HEADER_BYTES - 11) + b"\n"
        self._f.seek(0)
        self._f.write(head + body)
        self._f.close()
        return np.load(self.path, mmap_mode="r", allow_pickle=False)

    def abort(self) -> None:
        self._f.close()
        self.path.unlink(missing_ok=True)


def take_rows(images: np.ndarray, rows: np.ndarray, workdir: Path | None, name: str,
              chunk: int = 1024) -> np.ndarray:
    """``images[rows]``: in memory without ``workdir``, else copied chunk by chunk into ``workdir/name``
    (a preallocated ``.npy`` memory map, returned), so memory stays bounded whatever the count."""
    if workdir is None:
        return images[rows]
    out = np.lib.format.open_memmap(workdir / name, mode="w+", dtype=np.uint8, shape=(len(rows), *images.shape[1:]))
    for s in range(0, len(rows), chunk):
        out[s : s + chunk] = images[rows[s : s + chunk]]
    out.flush()
    return out


def _decode_chunk(args: tuple[Sequence[tuple[str, bytes]], int | None, tuple[int, int] | None]):
    """Worker: decode a chunk; returns (array, ok flags, errors, first shape seen)."""
    items, size, shape = args
    out: np.ndarray | None = None
    ok = np.zeros(len(items), dtype=bool)
    errors: list[tuple[int, str, str]] = []  # (index in chunk, kind, message)
    for i, (_name, data) in enumerate(items):
        try:
            arr = decode_image(data, size)
        except DECODE_ERRORS as e:
            errors.append((i, "corrupt", decode_error_reason(e)))
            continue
        if shape is None:
            shape = arr.shape[:2]
        if arr.shape[:2] != tuple(shape):
            errors.append((i, "size", f"{arr.shape[1]}x{arr.shape[0]}"))
            continue
        if out is None:
            out = np.zeros((len(items), *shape, 3), dtype=np.uint8)
        out[i] = arr
        ok[i] = True
    return out, ok, errors, shape


def default_workers() -> int:
    """Decode processes to use by default: one per CPU core, at most 4."""
    return max(1, min(4, os.cpu_count() or 1))


def _pool_context():
    methods = multiprocessing.get_all_start_methods()
    # fork starts instantly; the workers only run Pillow and numpy.
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def decode_many(
    items: Iterable[tuple[str, bytes]],
    *,
    size: int | None = None,
    workers: int | None = None,
    on_error: str = "raise",
    progress: ProgressFn | None = None,
    source: str = "",
    workdir: Path | None = None,
) -> DecodeResult:
    """Decode ``items`` (``(name, encoded bytes)`` pairs, any iterable) into one uint8 array.

    Chunks of :data:`CHUNK` images go to ``workers`` processes as soon as they are
    read, so reading an archive overlaps decoding (``None``: :func:`default_workers`;
    1: everything in this process).  ``source`` prefixes names in error messages.
    ``workdir``: write the decoded rows to ``workdir/decoded.npy`` as they arrive (see the module docstring).
    """
    if on_error not in ("raise", "skip"):
        raise InvalidInputError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise InvalidInputError(f"size must be a positive integer, not {size!r}")
    workers = default_workers() if workers is None else max(1, int(workers))
    prefix = f"{source}: " if source else ""
    names: list[str] = []
    skipped: list[tuple[str, str]] = []
    arrays: list[np.ndarray | None] = []
    oks: list[np.ndarray] = []
    # the size every image must have: the requested one, else that of the first readable image
    state: dict = {"shape": (size, size) if size is not None else None, "first": None}
    writer = NpyRowWriter(Path(workdir) / "decoded.npy") if workdir is not None else None

    def absorb(start: int, result) -> None:
        arr, ok_c, errors, _ = result
        for i, kind, msg in errors:
            name = names[start + i]
            if kind == "size":
                h, w = state["shape"]
                raise InvalidInputError(
                    f"{prefix}{name} is {msg} but {state['first']} is {w}x{h}; images of different sizes need "
                    "a common size: pass size=N (--size N) to resize the shorter side to N and keep the "
                    "central N x N square."
                )
            if on_error == "raise":
                raise CorruptImageError(
                    f"{prefix}{name} is not a readable image ({msg}); remove or replace it, or pass "
                    "on_error='skip' (--on-error skip) to leave corrupt images out."
                )
            skipped.append((name, msg))
        if writer is None:
            arrays.append(arr)  # None when no image of the chunk decoded
        elif arr is not None:
            writer.append(arr[ok_c])
        oks.append(ok_c)
        if progress:
            progress(len(ok_c))

    try:
        _run_decode(chunks_of(items, names, state), absorb, size, state, workers)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    n = len(names)
    if n == 0:
        raise InvalidInputError(f"{prefix}no images to decode")
    ok = np.concatenate(oks)
    kept = np.flatnonzero(ok)
    if len(kept) == 0:
        raise CorruptImageError(f"{prefix}none of the {n} images could be decoded")
    if writer is not None:
        return DecodeResult(images=writer.finish(), kept=kept.astype(np.int64), names=names, skipped=skipped,
                            scratch=writer.path)
    shape = state["shape"]
    full = [a if a is not None else np.zeros((len(o), *shape, 3), np.uint8) for a, o in zip(arrays, oks, strict=True)]
    images = full[0] if len(full) == 1 else np.concatenate(full)
    if len(kept) < n:
        images = images[kept]
    return DecodeResult(images=images, kept=kept.astype(np.int64), names=names, skipped=skipped)



def chunks_of(items: Iterable[tuple[str, bytes]], names: list[str], state: dict):
    """Group ``items`` into tasks of :data:`CHUNK` images / :data:`CHUNK_BYTES` bytes: ``(start, items)``.

    Records every name in ``names`` and fixes ``state["shape"]`` from the first readable image."""
    buf: list[tuple[str, bytes]] = []
    nbytes = 0
    for name, data in items:
        names.append(name)
        if state["shape"] is None:  # fix the common size from the first readable image
            _, ok0, _, shape0 = _decode_chunk(([(name, data)], None, None))
            if ok0[0]:
                state["shape"], state["first"] = tuple(shape0), name
        buf.append((name, data))
        nbytes += len(data)
        if len(buf) == CHUNK or nbytes >= CHUNK_BYTES:
            yield len(names) - len(buf), buf
            buf, nbytes = [], 0
    if buf:
        yield len(names) - len(buf), buf


def _run_decode(tasks, absorb, size: int | None, state: dict, workers: int) -> None:
    """Decode the tasks (in ``workers`` processes), handing each result to ``absorb`` in input order.

    At most ``2 * workers`` tasks are in flight: reading stops while the workers catch up, so the
    encoded bytes waiting in memory do not grow with the dataset."""
    if workers <= 1:
        for start, buf in tasks:
            absorb(start, _decode_chunk((buf, size, state["shape"])))
        return
    ex = ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context())
    try:
        pending: list[tuple[int, object]] = []
        for start, buf in tasks:
            pending.append((start, ex.submit(_decode_chunk, (buf, size, state["shape"]))))
            while pending and (pending[0][1].done() or len(pending) > 2 * workers):  # type: ignore[attr-defined]
                s0, fut = pending.pop(0)
                absorb(s0, fut.result())  # type: ignore[attr-defined]
        for s0, fut in pending:
            absorb(s0, fut.result())  # type: ignore[attr-defined]
    finally:
        ex.shutdown(wait=True, cancel_futures=True)
