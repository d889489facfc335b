"""Training from image files that do not fit in memory: decode and augment one image per worker call.

The decode-once cache (:mod:`classicnets.data.cache`) keeps every image at
one resolution; that stops working when ``n_images * side**2 * 3`` bytes do not
fit (1.28M ImageNet images at 256 px: 252 GB).  Here each sample is read from
its file, cropped and resized in one Pillow call (JPEGs decoded at a reduced
DCT scale with ``Image.draft`` when the crop allows), in ``workers`` processes
of a ``torch.utils.data.DataLoader``.

* :data:`PRESETS` -- the per-image augmentations, each with its source.
* :class:`ImageFiles` -- one split as file names and labels (no pixels).
* :class:`StreamingLoader` -- the interface of :class:`~classicnets.data.DataLoader`
  (seeded order, the same shards, ``state_dict``/``load_state_dict``) over files.
* :func:`plan` -- decides, from a cheap listing, between the cache and streaming.

Determinism: sample ``i`` of epoch ``e`` is augmented with a generator seeded by
``(seed, e, i)``, so a batch depends only on the seed and its position, not on
the number of workers or on where a run was resumed.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..errors import InvalidInputError
from ._core import channel_stats, get_spec
from .images import DECODE_ERRORS, CorruptImageError, decode_error_reason, default_workers
from .loader import DataLoader, Transform, _seed


# -- per-image augmentation -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Augmentation:
    """How one image becomes an ``image_size`` x ``image_size`` sample.

    ``train``: a random crop of ``scale`` x the area and aspect ratio in ``ratio`` (log-uniform), resized
    to the output, then a left-right flip with probability 1/2 when ``flip``.  Otherwise: the shorter side
    resized to ``round(image_size * resize_ratio)``, then the central ``image_size`` square.
    """

    name: str
    train: bool
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: bool = True
    resize_ratio: float = 256 / 224


PRESETS: dict[str, Augmentation] = {
    # Szegedy et al. 2015 (GoogLeNet), sec. 6: "patches of the image whose size is distributed evenly
    # between 8% and 100% of the image area with aspect ratio constrained to [3/4, 4/3]"; the left-right
    # flip of Krizhevsky et al. 2012, sec. 4.1.  torchvision's ResNet reference training uses exactly this
    # (He et al. 2016, sec. 3.4, had scale augmentation of the shorter side in [256, 480] plus a 224 crop).
    "imagenet-train": Augmentation("imagenet-train", train=True),
    # Resize the shorter side to 256, keep the central 224 x 224: the centre view of the 10-crop testing
    # of Krizhevsky et al. 2012 / He et al. 2016 sec. 3.4, and torchvision's single-crop evaluation.
    "imagenet-eval": Augmentation("imagenet-eval", train=False),
}

Box = tuple[float, float, float, float]  # left, top, right, bottom in source pixels


def get_augmentation(augment: str | Augmentation) -> Augmentation:
    if isinstance(augment, Augmentation):
        return augment
    if augment not in PRESETS:
        raise InvalidInputError(f"unknown augmentation {augment!r}; presets: {', '.join(PRESETS)}")
    return PRESETS[augment]


def crop_box(w: int, h: int, size: int, aug: Augmentation, rng: np.random.Generator) -> Box:
    """The source region that becomes the sample (torchvision's RandomResizedCrop.get_params for training)."""
    if not aug.train:
        side = min(w, h) * size / round(size * aug.resize_ratio)
        left, top = (w - side) / 2, (h - side) / 2
        return left, top, left + side, top + side
    area = w * h
    log_lo, log_hi = math.log(aug.ratio[0]), math.log(aug.ratio[1])
    for _ in range(10):
        target = area * rng.uniform(*aug.scale)
        ar = math.exp(rng.uniform(log_lo, log_hi))
        cw, ch = round(math.sqrt(target * ar)), round(math.sqrt(target / ar))
        if 0 < cw <= w and 0 < ch <= h:
            x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            return x0, y0, x0 + cw, y0 + ch
    in_ratio = w / h  # fallback: the central crop of the nearest allowed aspect ratio
    if in_ratio < aug.ratio[0]:
        cw, ch = w, round(w / aug.ratio[0])
    elif in_ratio > aug.ratio[1]:
        cw, ch = round(h * aug.ratio[1]), h
    else:
        cw, ch = w, h
    x0, y0 = (w - cw) // 2, (h - ch) // 2
    return x0, y0, x0 + cw, y0 + ch


def load_sample(path: str | os.PathLike[str], size: int, aug: Augmentation, rng: np.random.Generator
                ) -> np.ndarray:
    """Read one image file and make its ``(size, size, 3)`` uint8 sample (one crop-and-resize).

    Raises Pillow's errors (``OSError``, ``ValueError``, ...) on a corrupt file.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as im:
            w, h = im.size
            box = crop_box(w, h, size, aug, rng)
            flip = aug.train and aug.flip and rng.random() < 0.5
            if im.format == "JPEG":  # reduced DCT scale that keeps the crop >= size on both sides
                im.draft("RGB", (math.ceil(w * size / (box[2] - box[0])), math.ceil(h * size / (box[3] - box[1]))))
            im.load()
            sx, sy = im.size[0] / w, im.size[1] / h
            rgb = im if im.mode == "RGB" else im.convert("RGB")
            out = rgb.resize((size, size), Image.Resampling.BILINEAR,
                             box=(box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy))
    if flip:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.asarray(out)


# -- a split as files ---------------------------------------------------------------------------------
@dataclass(eq=False)
class ImageFiles:
    """One split as files: ``root / files[i]`` has label ``labels[i]``.

    ``files`` is a numpy array of encoded names (fixed width, no Python object per file), so forked
    workers share it without copying.  ``mean``/``std`` are per channel in [0, 1] units, from the
    training split (``info["stats"]`` says how they were obtained).
    """

    name: str
    split: str
    root: Path
    files: np.ndarray  # dtype S: os.fsencode(relative posix name)
    labels: np.ndarray  # int64
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_items(cls, name: str, split: str, root: Path, items: Sequence[tuple[str, str]],
                   classes: Sequence[str], **kw: Any) -> ImageFiles:
        """From ``[(relative name, class name), ...]`` as :func:`~classicnets.data.folder.organize` gives."""
        cidx = {c: i for i, c in enumerate(classes)}
        files = np.array([os.fsencode(n) for n, _ in items], dtype=np.bytes_)
        labels = np.array([cidx[c] for _, c in items], dtype=np.int64)
        return cls(name, split, Path(root), files, labels, tuple(classes), **kw)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def path(self, i: int) -> Path:
        return self.root / os.fsdecode(self.files[i])

    def subset(self, indices: Sequence[int] | np.ndarray) -> ImageFiles:
        """The files at ``indices`` (for a validation split or a training subset)."""
        idx = np.asarray(indices, dtype=np.int64)
        return replace(self, files=self.files[idx], labels=self.labels[idx], info=dict(self.info))

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=self.num_classes)

    def __repr__(self) -> str:
        return f"ImageFiles({self.name!r}, split={self.split!r}, {len(self)} files, {self.num_classes} classes)"


def sample_stats(files: ImageFiles, n: int = 256, size: int = 64) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean/std estimated from ``n`` evenly spaced images (central crops at ``size``)."""
    idx = np.unique(np.linspace(0, len(files) - 1, min(n, len(files))).round().astype(np.int64))
    rng = np.random.default_rng(0)
    aug = Augmentation("stats", train=False, resize_ratio=1.0)
    imgs = np.stack([_sample_or_raise(files, int(i), size, aug, rng) for i in idx])
    return channel_stats(imgs)


def _sample_or_raise(files: ImageFiles, i: int, size: int, aug: Augmentation, rng: np.random.Generator
                     ) -> np.ndarray:
    path = files.path(i)
    try:
        return load_sample(path, size, aug, rng)
    except DECODE_ERRORS as e:
        raise CorruptImageError(_corrupt_message(path, e)) from None


def _corrupt_message(path: Path, e: BaseException) -> str:
    return (f"{path} is not a readable image ({decode_error_reason(e)}); remove or replace it "
            "(the streaming loader reads every file as it trains).")


class StreamingDataset(torch.utils.data.Dataset):
    """``dataset[(index, epoch)] -> (uint8 CHW tensor, label, error message or "")``.

    The sample is augmented with a generator seeded by ``(seed, epoch, index)``.  A corrupt file does
    not raise in the worker (where the message would drown in a traceback): the loader raises it.
    """

    def __init__(self, files: ImageFiles, image_size: int, augment: str | Augmentation, seed: int = 0) -> None:
        self.files, self.image_size = files, int(image_size)
        self.aug, self.seed = get_augmentation(augment), int(seed)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key: tuple[int, int]) -> tuple[Tensor, int, str]:
        index, epoch = key
        rng = np.random.default_rng([self.seed, epoch, index])
        path = self.files.path(index)
        label = int(self.files.labels[index])
        try:
            arr = load_sample(path, self.image_size, self.aug, rng)
        except DECODE_ERRORS as e:
            return torch.zeros(3, self.image_size, self.image_size, dtype=torch.uint8), label, \
                _corrupt_message(path, e)
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))), label, ""


def _collate(batch: list[tuple[Tensor, int, str]]) -> tuple[Tensor, Tensor, list[str]]:
    x = torch.stack([b[0] for b in batch])
    y = torch.tensor([b[1] for b in batch], dtype=torch.int64)
    return x, y, [b[2] for b in batch if b[2]]


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # the work is Pillow's; torch threads would only compete with the other workers


class _BatchKeys:
    """The batch sampler: ``[(index, epoch), ...]`` for the steps ``start..`` of one epoch of a shard."""

    def __init__(self, order: DataLoader) -> None:
        self.order, self.epoch, self.start = order, 0, 0

    def __len__(self) -> int:
        return max(0, len(self.order) - self.start)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        bs, e = self.order.batch_size, self.epoch
        idx = self.order.indices(e)
        for s in range(self.start, len(self.order)):
            yield [(int(i), e) for i in idx[s * bs : (s + 1) * bs]]


class StreamingLoader:
    """Iterate ``(x, y)`` batches decoded from files, with :class:`~classicnets.data.DataLoader`'s interface.

    Args:
        files: an :class:`ImageFiles` split.
        batch_size, shuffle, drop_last, seed, transform, device, rank, world_size, pin_memory: as for
            :class:`~classicnets.data.DataLoader` (the same seeded order and shards: it computes them).
        augment: a :data:`PRESETS` name (``"imagenet-train"``, ``"imagenet-eval"``) or an :class:`Augmentation`.
        image_size: the side of the samples.
        workers: decoding processes (default ``min(4, cores)``; 0: in this process).  They persist
            across epochs.

    Batches are uint8 (B, 3, S, S) before ``transform(x, generator)`` (default ``x.float() / 255``),
    the generator seeded by (seed, epoch, step, rank) as in DataLoader.
    """

    def __init__(self, files: ImageFiles, batch_size: int, *, augment: str | Augmentation = "imagenet-train",
                 image_size: int = 224, shuffle: bool = True, drop_last: bool = False, seed: int = 0,
                 transform: Transform | None = None, device: str | torch.device = "cpu", rank: int | None = None,
                 world_size: int | None = None, workers: int | None = None, pin_memory: bool | None = None
                 ) -> None:
        if not isinstance(files, ImageFiles):
            raise InvalidInputError(f"StreamingLoader reads an ImageFiles split, not {type(files).__name__}")
        positions = np.broadcast_to(np.zeros((1, 1, 1, 1), np.uint8), (len(files), 1, 1, 1))
        # the order, the shards and the position are DataLoader's own (over placeholder pixels)
        self._order = DataLoader((positions, files.labels), batch_size, shuffle=shuffle, drop_last=drop_last,
                                 seed=seed, device="cpu", rank=rank, world_size=world_size)
        self.files, self.image_size = files, int(image_size)
        self.augment = get_augmentation(augment)
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.seed, self.transform = int(seed), transform
        self.device = torch.device(device)
        self.rank, self.world_size = self._order.rank, self._order.world_size
        self.workers = default_workers() if workers is None else max(0, int(workers))
        self.pin_memory = (self.device.type == "cuda") if pin_memory is None else pin_memory
        self._keys = _BatchKeys(self._order)
        self._torch: torch.utils.data.DataLoader | None = None

    # -- position: DataLoader's ------------------------------------------------------------------------
    epoch = property(lambda self: self._order.epoch, lambda self, v: setattr(self._order, "epoch", int(v)))
    step = property(lambda self: self._order.step, lambda self, v: setattr(self._order, "step", int(v)))

    @property
    def num_samples(self) -> int:
        """Samples this rank sees per epoch."""
        return self._order.num_samples

    def __len__(self) -> int:
        return len(self._order)

    def indices(self, epoch: int) -> np.ndarray:
        """The sample indices this rank visits in ``epoch``, in order (exactly DataLoader's)."""
        return self._order.indices(epoch)

    def state_dict(self) -> dict[str, int]:
        return self._order.state_dict()

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Resume at ``(epoch, step)``: the next batch is that one; skipped batches are never decoded."""
        self._order.load_state_dict(state)

    def set_epoch(self, epoch: int) -> None:
        self._order.set_epoch(epoch)

    # -- batches ----------------------------------------------------------------------------------------
    def _loader(self) -> torch.utils.data.DataLoader:
        if self._torch is None:
            w = self.workers
            self._torch = torch.utils.data.DataLoader(
                StreamingDataset(self.files, self.image_size, self.augment, self.seed), batch_sampler=self._keys,
                num_workers=w, collate_fn=_collate, pin_memory=self.pin_memory and self.device.type == "cuda",
                persistent_workers=w > 0, worker_init_fn=_worker_init if w else None,
                prefetch_factor=2 if w else None)
        return self._torch

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        e = self._order.epoch
        self._keys.epoch, self._keys.start = e, self._order.step
        for x, y, errors in self._loader():
            if errors:
                raise CorruptImageError(errors[0])
            if self.device.type != "cpu":
                x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            g = torch.Generator().manual_seed(_seed(self.seed, e, self._order.step, self.rank))
            x = self.transform(x, g) if self.transform is not None else x.to(torch.float32).div_(255.0)
            self._order.step += 1
            yield x, y
        self._order.epoch, self._order.step = e + 1, 0

    def close(self) -> None:
        """Stop the worker processes (they also stop when the loader is garbage-collected)."""
        self._torch = None

    def __repr__(self) -> str:
        return (f"StreamingLoader({self.files!r}, batch_size={self.batch_size}, augment={self.augment.name!r}, "
                f"image_size={self.image_size}, workers={self.workers}, rank={self.rank}/{self.world_size})")


# -- splits as files ----------------------------------------------------------------------------------------
def _folder_layout(root: Path) -> tuple[Path, dict[str, list[tuple[str, str]]], list[str], int]:
    from .folder import list_folder, organize

    if not root.is_dir():
        raise InvalidInputError(f"imagefolder: {root} is an archive, which cannot be read in random order; "
                                "extract it to a folder to stream from the files.")
    names, dirs, total = list_folder(root)
    layout, classes = organize(names, dirs, str(root))
    return root, layout, classes, total


Layout = tuple[Path, dict[str, list[tuple[str, str]]], list[str], int]  # base, {split: [(name, class)]}, classes, bytes


def _layout(name: str, root: Path) -> Layout:
    if name == "imagenet":
        from .imagenet import imagenet_layout

        return imagenet_layout(root)
    if name == "imagefolder":
        return _folder_layout(root)
    raise InvalidInputError(f"{name} is decoded once into the cache; streaming reads imagefolder or imagenet.")


def open_files(name: str, root: str | os.PathLike[str], *, stats_sample: int = 256,
               layout: Layout | None = None) -> dict[str, ImageFiles]:
    """Every split of an ``imagefolder`` (an extracted folder) or ``imagenet`` tree as :class:`ImageFiles`.

    ``layout``: the listing of the tree :func:`plan` made (``plan.layout``), so it is not walked twice.

    ``mean``/``std``: ImageNet's published constants for ``imagenet``; for an image folder, estimated
    from ``stats_sample`` evenly spaced training images (``info["stats"]`` says which).
    """
    spec = get_spec(name)
    base, items_by_split, classes, total = layout or _layout(spec.name, Path(root).expanduser())
    splits = {s: ImageFiles.from_items(spec.name, s, base, items, classes, mean=(), std=(),
                                       info={"source": str(base), "bytes": total})
              for s, items in items_by_split.items()}
    if spec.name == "imagenet":
        from .imagenet import IMAGENET_MEAN, IMAGENET_STD

        mean, std, how = IMAGENET_MEAN, IMAGENET_STD, "torchvision's ImageNet constants"
    else:
        mean, std = sample_stats(splits["train"], stats_sample)
        how = f"estimated from {min(stats_sample, len(splits['train']))} training images"
    for f in splits.values():
        f.mean, f.std = tuple(mean), tuple(std)
        f.info["stats"] = how
    return splits


# -- cache or stream -----------------------------------------------------------------------------------
GiB = 1 << 30
CACHE_BUDGET_BYTES = 2 * GiB  # the largest decoded array the cache path may build (default)
BUDGET_ENV = "CLASSICNETS_CACHE_BUDGET"  # bytes, or with a suffix: "512M", "4G"
SMALL_SIDE = 64  # images at most this many pixels on their longer side train at their own size
HEADER_SAMPLE = 64  # images whose header is read (all of them when there are at most 1,000)


def cache_budget(budget: int | str | None = None) -> int:
    """The budget in bytes: ``budget``, else ``$CLASSICNETS_CACHE_BUDGET``, else :data:`CACHE_BUDGET_BYTES`."""
    value = budget if budget is not None else os.environ.get(BUDGET_ENV)
    if value is None or value == "":
        return CACHE_BUDGET_BYTES
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip().upper().removesuffix("B").removesuffix("I")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": GiB, "T": 1 << 40}.get(text[-1:], 1)
    try:
        return int(float(text[:-1] if scale > 1 else text) * scale)
    except ValueError:
        raise InvalidInputError(f"{BUDGET_ENV}={value!r} is not a size in bytes (e.g. 2147483648, 512M, 4G)") from None


@dataclass(frozen=True)
class Plan:
    """How a run reads its dataset: ``path`` is ``"cache"`` (decode once, :func:`load_splits` with
    ``size=cache_size``) or ``"stream"`` (:func:`open_files` + :class:`StreamingLoader`).

    ``image_size``: the side the model sees; ``cache_size``: the side kept in the cache (``None``:
    the images' own size); ``native_size``: ``(width, height)`` when every sampled image has that size;
    ``small``: every sampled image is at most :data:`SMALL_SIDE` px; ``images``: the count (``None``
    for an archive, which is not listed); ``decoded_bytes``: what the cache would hold;
    ``notice``: one line to print (empty when there is nothing to say).
    """

    dataset: str
    root: Path | None
    path: str
    image_size: int | None
    cache_size: int | None
    native_size: tuple[int, int] | None
    small: bool
    images: int | None
    decoded_bytes: int | None
    budget: int
    workers: int
    notice: str
    layout: Layout | None = field(default=None, repr=False)  # the listing plan() made, for open_files to reuse

    @property
    def streaming(self) -> bool:
        return self.path == "stream"


def _header_sizes(base: Path, names: Sequence[str], k: int = HEADER_SAMPLE) -> list[tuple[int, int]]:
    """``(width, height)`` from the headers of ``k`` evenly spaced images (all of them up to 1,000)."""
    pick = names if len(names) <= 1000 else [names[i] for i in np.linspace(0, len(names) - 1, k).round().astype(int)]
    out = []
    for n in pick:
        try:
            with Image.open(base / n) as im:
                out.append(im.size)
        except DECODE_ERRORS:
            continue  # reported by the reader, which names the file
    return out


def _archive_header_sizes(path: Path, k: int = HEADER_SAMPLE) -> list[tuple[int, int]]:
    """``(width, height)`` of the first ``k`` images of an archive (reads only the start of it)."""
    import io

    from ._sources import FileScan
    from .images import is_image_name

    out: list[tuple[int, int]] = []
    for _, data in FileScan(path, is_image_name):
        try:
            with Image.open(io.BytesIO(data)) as im:
                out.append(im.size)
        except DECODE_ERRORS:
            pass
        if len(out) >= k:
            break
    return out


def _gib(n: int) -> str:
    return f"{n / GiB:.3g} GiB"


def _sides(sizes: list[tuple[int, int]], image_size: int | None, default_size: int
           ) -> tuple[int, int | None, tuple[int, int] | None, bool]:
    """``(image_size, cache_size, native_size, small)`` from the sampled header sizes."""
    native = sizes[0] if sizes and all(s == sizes[0] for s in sizes) else None
    small = bool(sizes) and max(max(s) for s in sizes) <= SMALL_SIDE
    if image_size is None and small:
        side = min(native) if native else max(min(s) for s in sizes)
        return side, None if native else side, native, True
    side = image_size or default_size
    return side, round(side * 8 / 7), native, small  # 256 for 224: room for the crop, as ImageNet does


def plan(name: str, root: str | os.PathLike[str] | None, image_size: int | None = None, *, default_size: int = 224,
         budget: int | str | None = None, workers: int | None = None) -> Plan:
    """Decide how a run reads ``name`` at ``root``: the decode-once cache or streaming (see :class:`Plan`).

    An extracted image folder is listed (names and sizes, no pixels) and a sample of headers is read.
    The cache is used when ``images * cache_size**2 * 3`` bytes fit ``budget`` (:func:`cache_budget`),
    else the files are streamed; ``imagenet`` always streams, an archive is always cached (it cannot
    be read in random order).  Images all at most :data:`SMALL_SIDE` px train at their own size unless
    ``image_size`` is given.  ``workers``: the streaming loader's processes (default ``min(4, cores)``).
    """
    spec = get_spec(name)
    limit, nw = cache_budget(budget), default_workers() if workers is None else max(0, int(workers))
    rootp = Path(root).expanduser() if root is not None else None
    if not spec.resizable or spec.name not in ("imagefolder", "imagenet") or rootp is None:
        side = spec.image_shape[0] if spec.image_shape else (image_size or default_size)  # the model's, as before
        cache_side = round(side * 8 / 7) if spec.resizable else None
        return Plan(spec.name, rootp, "cache", side, cache_side, None, False, None, None, limit, nw, "")
    archive = spec.name == "imagefolder" and not rootp.is_dir()
    if archive:
        sizes, n = _archive_header_sizes(rootp), None
    else:
        base, layout, _, _ = listing = _layout(spec.name, rootp)
        names = [item for items in layout.values() for item, _ in items]
        sizes, n = _header_sizes(base, names), len(names)
    side, cache_side, native, small = _sides(sizes, image_size, default_size)
    cw, ch = (cache_side, cache_side) if cache_side else (native or (side, side))
    decoded = n * cw * ch * 3 if n is not None else None
    stream = spec.name == "imagenet" or (decoded is not None and decoded > limit)
    notes = []
    if small and image_size is None:
        notes.append(f"the images are at most {SMALL_SIDE} px"
                     f"{f' ({native[0]}x{native[1]})' if native else ''}: training at their own size {side} "
                     "(--image-size N resizes them)")
    if spec.name == "imagenet":
        notes.append(f"{n:,} images, always streamed from the files ({_gib(decoded)} decoded at "
                     f"{cw}x{ch}) with {nw} worker processes")
    elif archive:
        notes.append(f"{rootp.name} is an archive, read in one pass: decoding it once into the cache "
                     f"at {cw}x{ch} (extract it to a folder to let a large dataset stream from its files)")
    else:
        how = (f"streaming from the files with {nw} worker processes" if stream
               else "decoding them once into the cache")
        notes.append(f"{n:,} images at {cw}x{ch} {'would need' if stream else 'need'} "
                     f"{_gib(decoded)} decoded (budget {_gib(limit)}): {how}")
    return Plan(spec.name, rootp, "stream" if stream else "cache", side, cache_side, native, small, n, decoded,
                limit, nw, f"{spec.name}: " + "; ".join(notes), None if archive else listing)
