"""Reading the files of a dataset from a folder or straight from a tar archive.

Archives are read as a stream (``tarfile`` mode ``r|*``: plain, gzip, bzip2 or
xz), never extracted: member names are only used as labels, so a hostile
archive cannot write anywhere.  Links and special members are ignored.
"""

from __future__ import annotations

import bz2
import lzma
import os
import tarfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import InvalidInputError, MissingFileError
from ._progress import DataProgress, NullProgress

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
IGNORED_DIRS = {"__MACOSX"}


def is_archive_name(path: str | os.PathLike[str]) -> bool:
    return str(path).lower().endswith(ARCHIVE_SUFFIXES)


def _norm(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.strip("/")


def _hidden(rel: str) -> bool:
    if not (rel.startswith(".") or "/." in rel or "__MACOSX" in rel):
        return False  # the common case, without splitting
    return any(p.startswith(".") or p in IGNORED_DIRS for p in rel.split("/"))


class _Decompressor:
    """Incremental decompression of a gzip (also multi-member), bzip2, xz or plain stream."""

    def __init__(self, head: bytes) -> None:
        if head[:2] == b"\x1f\x8b":
            self._new = lambda: zlib.decompressobj(wbits=31)
        elif head[:3] == b"BZh":
            self._new = bz2.BZ2Decompressor
        elif head[:6] == b"\xfd7zXZ\x00":
            self._new = lzma.LZMADecompressor
        else:
            self._new = None
        self._d = self._new() if self._new else None

    def feed(self, data: bytes) -> bytes:
        if self._d is None:
            return data
        out = []
        while data:
            out.append(self._d.decompress(data))
            if not self._d.eof:
                break
            data = self._d.unused_data  # another gzip member, or trailing padding
            if not data.strip(b"\0"):
                break
            self._d = self._new()
        return b"".join(out)

    def check_end(self) -> None:
        if self._d is not None and hasattr(self._d, "eof") and not self._d.eof:
            raise EOFError("compressed stream ended early")


def _octal(field: bytes) -> int:
    if field[:1] and field[0] & 0x80:  # GNU base-256 for large values
        return int.from_bytes(field[1:], "big")
    field = field.split(b"\0", 1)[0].strip()
    return int(field, 8) if field else 0


def _pax_path(data: bytes) -> str | None:
    path = None
    pos = 0
    while pos < len(data):
        sp = data.index(b" ", pos)
        length = int(data[pos:sp])
        key, _, value = data[sp + 1 : pos + length - 1].partition(b"=")
        if key == b"path":
            path = value.decode("utf-8", "surrogateescape")
        pos += length
    return path


def iter_tar(path: Path, progress: DataProgress) -> Iterator[tuple[str, str, bytes | None]]:
    """Stream the members of a tar archive: ``(name, kind, content)`` with kind ``"file"`` or ``"dir"``.

    A small ustar/GNU/pax reader (regular files, folders, long names; links and
    special files are skipped), several times faster than :mod:`tarfile` on
    archives of many small files.  Header checksums are verified.
    """
    with open(path, "rb") as f:
        first = f.read(1 << 20)
        dec = _Decompressor(first)
        buf = bytearray(dec.feed(first))
        progress.advance(len(first))
        pos = 0
        eof = not first
        long_name: str | None = None

        def need(n: int) -> bool:
            nonlocal buf, pos, eof
            while len(buf) - pos < n and not eof:
                chunk = f.read(1 << 20)
                progress.advance(len(chunk))
                if not chunk:
                    eof = True
                    break
                del buf[:pos]
                pos = 0
                buf += dec.feed(chunk)
            return len(buf) - pos >= n

        while need(512):
            header = bytes(buf[pos : pos + 512])
            pos += 512
            if header == b"\0" * 512:
                return  # end-of-archive marker
            stored = _octal(header[148:156])
            if stored != sum(header[:148]) + 256 + sum(header[156:]):
                raise tarfile.HeaderError("bad header checksum")
            size = _octal(header[124:136])
            kind = header[156:157]
            padded = (size + 511) & ~511
            if not need(padded):
                raise EOFError(f"archive ends inside a member ({size} bytes announced)")
            data = bytes(buf[pos : pos + size])
            pos += padded
            if kind in (b"L", b"x", b"g", b"K"):  # GNU long name / pax headers / GNU long link
                if kind == b"L":
                    long_name = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                elif kind == b"x":
                    long_name = _pax_path(data) or long_name
                continue
            if long_name is not None:
                name, long_name = long_name, None
            else:
                name = header[:100].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                if header[257:262] == b"ustar" and header[345:346] != b"\0":
                    prefix = header[345:500].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                    name = f"{prefix}/{name}"
            if kind == b"5" or (kind in (b"0", b"\0") and name.endswith("/")):
                yield name, "dir", None
            elif kind in (b"0", b"\0", b"7"):
                yield name, "file", data
            # links, devices, fifos, sparse files: skipped
        dec.check_end()
        if len(buf) > pos:
            raise EOFError(f"archive ends inside a member header ({len(buf) - pos} stray bytes)")
        raise EOFError("archive ends without its end-of-archive marker (truncated?)")


def list_dir(path: Path, want: Callable[[str], bool]) -> tuple[list[str], set[str], int]:
    """The wanted files under a folder, without reading them: ``(relative posix names in sorted walk order,
    every folder name, their total bytes)``; hidden files and folders (``.name``, ``__MACOSX``) are skipped."""
    names: list[str] = []
    dirs: set[str] = set()
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in IGNORED_DIRS)
        rel_dir = Path(dirpath).relative_to(path).as_posix()
        if rel_dir != ".":
            dirs.add(rel_dir)
        for fn in sorted(filenames):
            rel = fn if rel_dir == "." else f"{rel_dir}/{fn}"
            if not fn.startswith(".") and want(rel):
                names.append(rel)
                total += os.stat(os.path.join(dirpath, fn)).st_size
    return names, dirs, total


class FileScan:
    """Iterate ``(relative posix name, content)`` of the wanted files under a folder or in a tar archive.

    Files come in archive order (folders: sorted walk order).  ``dirs`` collects
    every folder name seen (to detect empty folders), complete once iterated.
    Hidden files and folders (``.name``, ``__MACOSX``) are skipped.
    """

    def __init__(self, path: Path, want: Callable[[str], bool], progress: DataProgress | None = None) -> None:
        self.path, self.want = path, want
        self.progress = progress or NullProgress()
        self.dirs: set[str] = set()

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        path = self.path
        if path.is_dir():
            listing, dirs, _ = list_dir(path, self.want)
            self.dirs |= dirs
            self.progress.start(f"reading {path.name}", len(listing), unit="files")
            try:
                for rel in listing:
                    yield rel, (path / rel).read_bytes()
                    self.progress.advance(1)
            finally:
                self.progress.finish()
        elif path.is_file():
            self.progress.start(f"reading {path.name}", path.stat().st_size, unit="bytes")
            try:
                for name, kind, data in iter_tar(path, self.progress):
                    rel = _norm(name)
                    if not rel or _hidden(rel):
                        continue
                    if kind == "dir":
                        self.dirs.add(rel)
                        continue
                    parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
                    while parent and parent not in self.dirs:  # archives need not list their folders
                        self.dirs.add(parent)
                        parent = parent.rsplit("/", 1)[0] if "/" in parent else ""
                    if self.want(rel):
                        yield rel, data  # type: ignore[misc]
            except (tarfile.TarError, EOFError, OSError, ValueError, zlib.error, lzma.LZMAError) as e:
                raise InvalidInputError(
                    f"{path}: cannot read it as a tar archive ({type(e).__name__}: {e}); the file is truncated, "
                    "corrupt or not an archive."
                ) from None
            finally:
                self.progress.finish()
        else:
            raise MissingFileError(f"{path} does not exist; check the path.")


def archive_head(path: Path, n: int = 8) -> list[str]:
    """The names of the first ``n`` members of a tar archive (reads only the start of it)."""
    names: list[str] = []
    try:
        with tarfile.open(path, mode="r|*") as tf:
            for m in tf:
                names.append(_norm(m.name))
                if len(names) >= n:
                    break
    except (tarfile.TarError, EOFError, OSError) as e:
        raise InvalidInputError(
            f"{path}: cannot read it as a tar archive ({type(e).__name__}: {e}); the file is truncated, "
            "corrupt or not an archive."
        ) from None
    return names
