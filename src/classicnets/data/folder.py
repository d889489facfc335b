"""Image folders: ``root/<class>/*.{jpg,jpeg,png}``, from a folder or straight from a tar archive.

Layouts (after stepping into a single wrapper folder such as ``cifar10/``):

* ``root/<class>/...``: one split, ``train``;
* ``root/train/<class>/...`` plus optional ``root/val/<class>/...`` and/or
  ``root/test/<class>/...``: those splits.

Class names are the folder names, sorted; label i is the i-th name.  Images in
sub-folders of a class folder belong to that class.  Hidden files, non-image
files and ``__MACOSX`` folders are ignored.  An empty class folder, an image
outside any class folder, or a class in ``val``/``test`` that ``train`` lacks
is an error naming the path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InvalidInputError
from ._core import DatasetSpec, RawData, ReadOptions, Source, register_dataset
from ._sources import FileScan, is_archive_name, list_dir
from .images import decode_many, is_image_name, take_rows

SPLIT_NAMES = ("train", "val", "test")


def _children(dirs: set[str], files: list[str], base: str) -> tuple[list[str], list[str]]:
    """Immediate sub-folders and files of ``base`` (``""`` is the top)."""
    pre = f"{base}/" if base else ""
    sub = sorted({d[len(pre):].split("/")[0] for d in dirs if d.startswith(pre) and d != base})
    direct = [f for f in files if f.startswith(pre) and "/" not in f[len(pre):]]
    return sub, direct


def organize(names: list[str], dirs: set[str], display: str) -> tuple[dict[str, list[tuple[str, str]]], list[str]]:
    """Map image names to ``{split: [(name, class), ...]}`` and the sorted class list (see the module docstring)."""
    base = ""
    while True:
        sub, direct = _children(dirs, names, base)
        if direct or len(sub) != 1 or sub[0] in SPLIT_NAMES:
            break
        inner = f"{base}/{sub[0]}" if base else sub[0]
        inner_sub, inner_direct = _children(dirs, names, inner)
        if inner_direct or not inner_sub:  # the single folder is itself a class folder
            break
        base = inner
    sub, direct = _children(dirs, names, base)
    where = f"{display}/{base}" if base else display
    if direct:
        raise InvalidInputError(f"{display}: {direct[0]} is not inside a class folder; expected "
                                f"{where}/<class>/<image> or {where}/train/<class>/<image>")
    if not sub:
        raise InvalidInputError(f"{where}: no class folders with images (.jpg, .jpeg, .png) found")
    split_dirs = [s for s in sub if s in SPLIT_NAMES]
    if split_dirs:
        if "train" not in split_dirs:
            raise InvalidInputError(f"{where}: has {', '.join(split_dirs)}/ but no train/ folder")
        others = [s for s in sub if s not in SPLIT_NAMES]
        if others:
            raise InvalidInputError(f"{where}: unexpected folder {others[0]!r} next to "
                                    f"{', '.join(s + '/' for s in split_dirs)}")
        split_roots = {s: (f"{base}/{s}" if base else s) for s in SPLIT_NAMES if s in split_dirs}
    else:
        split_roots = {"train": base}

    layout: dict[str, list[tuple[str, str]]] = {}
    classes_by_split: dict[str, list[str]] = {}
    for split, sroot in split_roots.items():
        cls_dirs, stray = _children(dirs, names, sroot)
        swhere = f"{display}/{sroot}" if sroot else display
        if stray:
            raise InvalidInputError(f"{display}: {stray[0]} is not inside a class folder of {swhere}")
        if not cls_dirs:
            raise InvalidInputError(f"{swhere}: no class folders")
        pre = f"{sroot}/" if sroot else ""
        groups: dict[str, list[str]] = {c: [] for c in cls_dirs}
        for n in names:
            if n.startswith(pre):
                head = n[len(pre):].split("/", 1)[0]
                if head in groups:
                    groups[head].append(n)
        items = []
        for c in cls_dirs:
            members = [(n, c) for n in groups[c]]
            if not members:
                raise InvalidInputError(f"{display}: class folder {pre}{c} is empty (no .jpg, .jpeg "
                                        "or .png images); remove it or add images")
            items.extend(members)
        layout[split] = items
        classes_by_split[split] = cls_dirs
    classes = classes_by_split["train"]
    for split, cls in classes_by_split.items():
        extra = sorted(set(cls) - set(classes))
        if extra:
            raise InvalidInputError(f"{display}: {split}/ has class folder {extra[0]!r} that train/ lacks")
    return layout, classes


def list_folder(path: Path) -> tuple[list[str], set[str], int]:
    """The image files under an extracted folder without reading them: ``(sorted relative names, folder
    names, total bytes)``, skipping hidden files and folders as :class:`~._sources.FileScan` does."""
    names, dirs, total = list_dir(path, is_image_name)
    return sorted(names), dirs, total


def read_imagefolder(source: Source, opts: ReadOptions) -> RawData:
    """Decode an image-folder tree or archive; images are decoded while the archive is still being read."""
    scan = FileScan(source.paths[0], is_image_name, opts.progress)
    result = decode_many(scan, size=opts.size, workers=opts.workers, on_error=opts.on_error,
                         source=source.display, workdir=opts.workdir)
    layout, classes = organize(sorted(result.names), scan.dirs, source.display)
    position = {n: i for i, n in enumerate(result.names)}
    row = np.full(len(result.names), -1, dtype=np.int64)  # input position -> row of result.images
    row[result.kept] = np.arange(len(result.kept))
    cidx = {c: i for i, c in enumerate(classes)}
    arrays = {}
    for split, items in layout.items():
        rows = row[[position[n] for n, _ in items]]
        labels = np.array([cidx[c] for _, c in items], dtype=np.int64)
        ok = rows >= 0
        if not ok.any():
            raise InvalidInputError(f"{source.display}: every image of the {split} split failed to decode")
        arrays[split] = (take_rows(result.images, rows[ok], opts.workdir, f"{split}_images.npy"), labels[ok])
    result.release()
    return RawData(arrays, classes, {"skipped": [list(s) for s in result.skipped]})


def locate_imagefolder(root: Path) -> Source:
    if root.is_file() and not is_archive_name(root):
        import tarfile

        if not tarfile.is_tarfile(root):
            raise InvalidInputError(f"imagefolder: {root} is neither a folder nor a tar archive")
    return Source("imagefolder", (root,), str(root.resolve()))


register_dataset(DatasetSpec(
    name="imagefolder",
    summary="any root/<class>/*.jpg tree (optional train/ and val/ or test/), a folder or a .tar[.gz]",
    splits=("train", "val", "test"),
    locate=locate_imagefolder,
    read=read_imagefolder,
    resizable=True,
))
