"""Downloading the official dataset files: checksums, resume, progress, atomic rename.

A file is streamed to ``<name>.part``; an interrupted transfer is resumed with
an HTTP ``Range`` request (automatically, up to ``retries`` times, and on the
next call), the finished file's md5 is compared with the checksum published by
the dataset's authors, and only then is it renamed to its final name.  On a
mismatch the partial file is removed and the error says so.

The checksums are the md5 sums published with each dataset (CIFAR: Krizhevsky's
page; MNIST: the list used by the common loaders for LeCun's files; Fashion-MNIST:
Zalando's README).  The Oxford 17 Flowers page publishes no checksum: those
files are not verified at download; the reader then checks that all 1,360
images are present and decode.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .._io import fsync_dir
from ..errors import InvalidInputError, UserError
from ._progress import DataProgress, as_progress
from .cache import resolve_cache_dir

CHUNK = 1 << 16
USER_AGENT = "classicnets-data/1"


class DownloadError(UserError, OSError):
    """A download that failed (network error, HTTP error, checksum mismatch)."""


@dataclass(frozen=True)
class RemoteFile:
    filename: str
    urls: tuple[str, ...]  # mirrors tried in order; each is the full URL of the file
    md5: str | None  # None: no published checksum


def _files(bases: Sequence[str], items: Sequence[tuple[str, str | None]]) -> tuple[RemoteFile, ...]:
    return tuple(RemoteFile(f, tuple(b + f for b in bases), md5) for f, md5 in items)


REMOTE: dict[str, tuple[RemoteFile, ...]] = {
    "cifar10": _files(["https://www.cs.toronto.edu/~kriz/"],
                      [("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a")]),
    "cifar100": _files(["https://www.cs.toronto.edu/~kriz/"],
                       [("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85")]),
    "mnist": _files(
        ["https://yann.lecun.com/exdb/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/"],
        [("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
         ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
         ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
         ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c")]),
    "fashion_mnist": _files(
        ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
        [("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
         ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
         ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
         ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310")]),
    "flowers17": _files(["https://www.robots.ox.ac.uk/~vgg/data/flowers/17/"],
                        [("17flowers.tgz", None), ("datasplits.mat", None)]),
}


def downloadable() -> list[str]:
    return sorted(REMOTE)


def md5_of(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _open(url: str, offset: int, timeout: float):
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _transfer(url: str, part: Path, progress: DataProgress, timeout: float) -> None:
    """Append the rest of ``url`` to ``part`` (resuming from its size); raises OSError on a cut transfer."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        resp = _open(url, offset, timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # nothing left to fetch: the partial file is complete
            return
        raise
    with resp:
        status = resp.status
        total = resp.headers.get("Content-Length")
        if offset and status == 206:
            m = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
            if not m or int(m.group(1)) != offset:
                offset, mode = 0, "wb"  # unexpected range: start over
            else:
                mode = "ab"
        else:
            offset, mode = 0, "wb"  # full body (server ignored the range, or a fresh start)
        size = offset + int(total) if total is not None else None
        progress.start(f"{part.name[:-5]}", size, unit="bytes")
        progress.advance(offset)
        try:
            with open(part, mode) as f:
                while True:
                    chunk = resp.read(CHUNK)
                    if not chunk:
                        break
                    f.write(chunk)
                    progress.advance(len(chunk))
                f.flush()
                os.fsync(f.fileno())
        finally:
            progress.finish()
        if size is not None and part.stat().st_size < size:
            raise http.client.IncompleteRead(b"", size - part.stat().st_size)


def download_file(
    remote: RemoteFile,
    folder: str | os.PathLike[str],
    *,
    progress: bool | DataProgress = False,
    retries: int = 3,
    timeout: float = 60.0,
) -> Path:
    """Fetch one file into ``folder`` (see the module docstring); returns its final path.

    A file already present with the right checksum is not fetched again.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / remote.filename
    part = folder / f"{remote.filename}.part"
    if final.is_file() and (remote.md5 is None or md5_of(final) == remote.md5):
        return final
    bar = as_progress(progress)
    errors: list[str] = []
    done = False
    for url in remote.urls:
        for _attempt in range(retries + 1):
            try:
                _transfer(url, part, bar, timeout)
                done = True
                break
            except urllib.error.HTTPError as e:
                errors.append(f"{url}: HTTP {e.code} {e.reason}")
                if part.exists() and e.code != 416:
                    part.unlink()  # an error page or a refused range: do not resume from it
                break  # another attempt at the same mirror would get the same answer
            except (urllib.error.URLError, http.client.HTTPException, OSError) as e:  # timeouts, resets, cuts
                errors.append(f"{url}: {type(e).__name__}: {getattr(e, 'reason', e)}")
                continue  # a cut transfer: resume from the partial file
        if done:
            break
    if not done:
        kept = f"; the partial file {part} is kept and the next attempt resumes it" if part.exists() else ""
        raise DownloadError(f"could not download {remote.filename}: {errors[-1]}{kept}")
    if remote.md5 is not None:
        got = md5_of(part)
        if got != remote.md5:
            part.unlink()
            raise DownloadError(
                f"checksum mismatch for {remote.filename}: expected md5 {remote.md5}, got {got}; the partial file "
                "was removed. Try again; if it persists the server (or a proxy) serves a different file."
            )
    os.replace(part, final)
    fsync_dir(folder)
    return final


def with_base_url(remote: RemoteFile, base_url: str) -> RemoteFile:
    """The same file fetched from ``base_url`` + filename (tests and mirrors)."""
    return RemoteFile(remote.filename, (base_url.rstrip("/") + "/" + remote.filename,), remote.md5)


def download(
    name: str,
    root: str | os.PathLike[str] | None = None,
    *,
    base_url: str | None = None,
    progress: bool | DataProgress = False,
    retries: int = 3,
    timeout: float = 60.0,
    cache_dir: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """Download the official files of dataset ``name`` into ``root``; returns their paths.

    ``root`` defaults to ``<cache dir>/downloads/<name>``, where :func:`load_dataset`
    looks when it is given no root.  ``base_url`` (or ``$CLASSICNETS_DOWNLOAD_BASE``)
    replaces the official location, e.g. a local mirror.  The archives are not
    extracted: the readers read them as they are.
    """
    from ._core import get_spec

    spec = get_spec(name)
    if spec.name not in REMOTE:
        raise InvalidInputError(
            f"{spec.name} has no official download; downloadable: {', '.join(downloadable())}"
            + (" (digits ships with scikit-learn)" if spec.name == "digits" else "")
        )
    folder = Path(root).expanduser() if root is not None else resolve_cache_dir(cache_dir) / "downloads" / spec.name
    base_url = base_url or os.environ.get("CLASSICNETS_DOWNLOAD_BASE")
    if base_url and not re.match(r"(https?|file)://", base_url):
        raise InvalidInputError(f"--base-url {base_url!r} is not a URL; give http://, https:// or file:// "
                                "(e.g. http://127.0.0.1:8000/).")
    paths = []
    for remote in REMOTE[spec.name]:
        if base_url:
            remote = with_base_url(remote, base_url)
        paths.append(download_file(remote, folder, progress=progress, retries=retries, timeout=timeout))
    return paths
