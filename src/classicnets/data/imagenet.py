"""ImageNet (ILSVRC-2012) from its extracted folders, always streamed from the files.

Layout: ``ROOT/train/<wnid>/*.JPEG`` and ``ROOT/val/<wnid>/*.JPEG`` (a single wrapper folder such as
``ILSVRC2012/`` is stepped into; an unlabelled ``test/`` is ignored).  Class ``i`` is the ``i``-th wnid
in sorted order, as torchvision's ``ImageFolder`` numbers them, so the logits of torchvision's
ImageNet checkpoints index the same classes.  The validation images as distributed lie flat in one
folder with a separate ground-truth file: that layout is refused with a message saying they must be
sorted into ``val/<wnid>/`` folders first.

1.28M images at 256 px would need 252 GB decoded, so :func:`~classicnets.data.load_dataset` refuses
this dataset; :func:`classicnets.data.streaming.open_files` gives its splits as files and
:class:`~classicnets.data.streaming.StreamingLoader` reads them.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InvalidInputError, MissingFileError
from ._core import DatasetSpec, RawData, ReadOptions, Source, register_dataset
from .folder import list_folder, organize
from .images import is_image_name

# torchvision's normalization constants, the per-channel mean/std of the ILSVRC-2012 training images.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LAYOUT = "ROOT/train/<wnid>/*.JPEG and ROOT/val/<wnid>/*.JPEG"


def find_root(root: Path) -> Path:
    """The folder holding ``train/`` (``root`` itself or its single wrapper folder), or an error naming it."""
    if not root.exists():
        raise MissingFileError(f"imagenet: {root} does not exist; check --data-dir.")
    if not root.is_dir():
        raise InvalidInputError(f"imagenet: {root} is not a folder; ImageNet is read from its extracted folders "
                                f"({LAYOUT}): an archive cannot be read in random order, extract it first.")
    if (root / "train").is_dir():
        return root
    subs = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if len(subs) == 1 and (subs[0] / "train").is_dir():
        return subs[0]
    raise InvalidInputError(f"imagenet: {root} has no train/ folder; expected the ILSVRC-2012 layout {LAYOUT}.")


def imagenet_layout(root: Path) -> tuple[Path, dict[str, list[tuple[str, str]]], list[str], int]:
    """``(base folder, {split: [(relative name, wnid), ...]}, sorted wnids, total bytes)`` of an ImageNet tree."""
    base = find_root(Path(root).expanduser())
    val = base / "val"
    if val.is_dir():
        flat = [p.name for p in val.iterdir() if p.is_file() and is_image_name(p.name)]
        if flat:
            raise InvalidInputError(
                f"imagenet: {val} holds {len(flat)} images directly (e.g. {sorted(flat)[0]}); they must be sorted "
                "into wnid folders val/<wnid>/*.JPEG first, using the ground-truth file (LOC_val_solution.csv, "
                "or ILSVRC2012_validation_ground_truth.txt with the devkit's meta.mat)."
            )
    names, dirs, total = list_folder(base)
    keep = ("train/", "val/")
    names = [n for n in names if n.startswith(keep)]  # test/ has no labels
    dirs = {d for d in dirs if d in ("train", "val") or d.startswith(keep)}
    layout, classes = organize(names, dirs, str(base))
    unexpected = sorted(set(layout) - {"train", "val"})
    if unexpected or "train" not in layout:
        raise InvalidInputError(f"imagenet: {base} is not in the ILSVRC-2012 layout {LAYOUT}.")
    return base, layout, classes, total


def _locate(root: Path) -> Source:
    base = find_root(root)
    return Source("imagenet", (base,), str(base.resolve()))


def _read(source: Source, opts: ReadOptions) -> RawData:
    raise InvalidInputError(
        f"imagenet: {source.display} is read from its files while training, never decoded into one array "
        "(1.28M images at 256 px would need 252 GB); use classicnets.data.streaming.open_files('imagenet', root) "
        "and StreamingLoader, or `classicnets train ... --dataset imagenet`."
    )


register_dataset(DatasetSpec(
    name="imagenet",
    summary="ILSVRC-2012 from ROOT/train/<wnid>/*.JPEG and ROOT/val/<wnid>/*.JPEG, streamed from the files",
    splits=("train", "val"),
    locate=_locate,
    read=_read,
    resizable=True,
    default_size=224,
    cacheable=False,
))
