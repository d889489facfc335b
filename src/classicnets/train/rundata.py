"""The data of a training run: its splits, the held-out validation split, and their loaders.

:func:`load_data` reads the dataset (decoded once into the cache, or listed for streaming, as
:func:`classicnets.data.plan` decides) and holds out ``--val-split`` and ``--train-subset`` with the
seeded, stratified sampler; :func:`train_loader` gives a rank its training batches, augmented as
``--augment`` says (:data:`classicnets.data.augment.TRAIN_PRESETS`); :func:`eval_batches` gives every
image of a split once over all ranks.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .. import data as cndata
from ..errors import InvalidInputError
from ..options import default_split
from .config import TrainConfig
from .distributed import DistInfo

Split = Any  # a cached split, (uint8 images (N, H, W, C), int64 labels), or a streamed classicnets.data.ImageFiles


@dataclass
class RunData:
    train: Split
    val: Split
    test: Split
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    image_size: int  # side of the images the model sees
    cache_size: int | None  # side kept in the cache (variable-size datasets)
    val_is_test: bool
    streaming: bool = False  # decoded and augmented from the files by loader workers (cndata.plan)
    workers: int = 0  # the streaming loader's worker processes
    in_chans: int = 3


def count(split: Split) -> int:
    return len(split[1]) if isinstance(split, tuple) else len(split)


def labels_of(split: Split) -> np.ndarray:
    return split[1] if isinstance(split, tuple) else split.labels


def subset(split: Split, idx: np.ndarray) -> Split:
    return (split[0][idx], split[1][idx]) if isinstance(split, tuple) else split.subset(idx)


def load_data(cfg: TrainConfig, *, default_size: int, progress: bool, notice: bool = False) -> RunData:
    """The dataset's splits (decoded once or streamed, as :func:`classicnets.data.plan` decides) and the
    held-out validation split; ``notice`` prints the plan's line (which path runs, at which size)."""
    spec = cndata.get_spec(cfg.dataset)
    if not spec.resizable and cfg.image_size is not None:
        raise InvalidInputError(f"--image-size applies to variable-size datasets (flowers17, imagefolder, "
                                f"imagenet); {spec.name} images have a fixed size.")
    if spec.needs_root and cfg.data_dir is None:
        raise InvalidInputError(f"{spec.name}: give the dataset files with --data-dir PATH "
                                f"(`classicnets data download {spec.name}` fetches them where available).")
    plan = cndata.plan(spec.name, cfg.data_dir, cfg.image_size, default_size=default_size)
    if notice and plan.notice:
        print(plan.notice, file=sys.stderr)
    if plan.streaming:
        splits = cndata.open_files(spec.name, plan.root, layout=plan.layout)
    else:
        extra = {"partition": cfg.partition} if cfg.partition else {}
        splits = cndata.load_splits(spec.name, cfg.data_dir, size=plan.cache_size, progress=progress, **extra)
    if "train" not in splits:
        raise InvalidInputError(f"{spec.name}: no training split found in {cfg.data_dir}.")
    tr = splits["train"]
    as_split = (lambda ds: ds) if plan.streaming else (lambda ds: (ds.images, ds.labels))
    test_name = default_split(splits)
    if test_name is None and not cfg.val_split:
        raise InvalidInputError(f"{spec.name}: no test or val split found in {cfg.data_dir}; hold out part of the "
                                "training images for validation with --val-split FRACTION (e.g. 0.1).")
    train = as_split(tr)
    if cfg.val_split:
        if not 0 < cfg.val_split < 1:
            raise InvalidInputError(f"--val-split must be in (0, 1), got {cfg.val_split}.")
        tr_idx, val_idx = cndata.stratified_split(labels_of(train), cfg.val_split, cfg.seed)
        if len(tr_idx) == 0 or len(val_idx) == 0:
            raise InvalidInputError(f"--val-split {cfg.val_split} leaves {len(tr_idx)} training and {len(val_idx)} "
                                    "validation images (it is taken per class); choose a fraction nearer 0.1.")
        train, val = subset(train, tr_idx), subset(train, val_idx)
    # without a test split, the held-out images are the only evaluation split: validation and test at once
    test = as_split(splits[test_name]) if test_name else val
    if not cfg.val_split:
        val = test
    if cfg.train_subset:
        n = count(train)
        if not 0 < cfg.train_subset <= n:
            raise InvalidInputError(f"--train-subset must be in 1..{n}, got {cfg.train_subset}.")
        if cfg.train_subset < n:
            _, keep = cndata.stratified_split(labels_of(train), cfg.train_subset / n, cfg.seed + 1)
            if len(keep) == 0:
                raise InvalidInputError(f"--train-subset {cfg.train_subset} keeps no image: it is taken per class, "
                                        f"and {len(tr.classes)} classes round it to nothing; ask for more.")
            train = subset(train, keep)
    in_chans = 3 if plan.streaming else tr.images.shape[3]
    return RunData(train, val, test, list(tr.classes), tuple(tr.mean), tuple(tr.std), plan.image_size,
                   plan.cache_size, val_is_test=not cfg.val_split or test_name is None, streaming=plan.streaming,
                   workers=plan.workers, in_chans=in_chans)


def train_loader(cfg: TrainConfig, d: RunData, device: torch.device, info: DistInfo) -> Any:
    """The training batches of this rank: cached arrays augmented per batch, or files streamed by workers."""
    common = {"shuffle": True, "drop_last": True, "seed": cfg.seed, "device": device, "rank": info.rank,
              "world_size": info.world_size}
    bs = cfg.batch_size // info.world_size
    A = cndata.augment
    if not d.streaming:
        transform = A.train_transform(cfg.augment, d.mean, d.std, side=d.train[0].shape[1], size=d.image_size)
        return cndata.DataLoader(d.train, bs, transform=transform, **common)
    preset = A.TRAIN_PRESETS.get(cfg.augment)
    if preset is None or preset.streamed is None:
        served = [a for p in cndata.PRESETS for a, t in A.TRAIN_PRESETS.items() if t.streamed == p]
        raise InvalidInputError(f"--augment {cfg.augment}: a streamed dataset is augmented per image with "
                                f"{' or '.join(served)} (the ImageNet presets).")
    return cndata.StreamingLoader(d.train, bs, augment=preset.streamed, image_size=d.image_size,
                                  transform=A.Normalize(d.mean, d.std), workers=d.workers, **common)


def _eval_loader(split: Split, d: RunData, batch_size: int, device: torch.device, rank: int, world: int) -> Any:
    if d.streaming:
        return cndata.StreamingLoader(split, batch_size, augment="imagenet-eval", image_size=d.image_size,
                                      shuffle=False, transform=cndata.augment.Normalize(d.mean, d.std),
                                      device=device, rank=rank, world_size=world, workers=d.workers)
    crop = d.image_size if d.train[0].shape[1] != d.image_size else None
    return cndata.DataLoader(split, batch_size, shuffle=False, transform=cndata.augment.eval_transform(
        d.mean, d.std, crop=crop), device=device, rank=rank, world_size=world)


def eval_batches(split: Split, d: RunData, batch_size: int, device: torch.device, info: DistInfo):
    """Every image of a split exactly once over all ranks: each rank its shard, rank 0 also the remainder."""
    n = count(split)
    parts = [(split, info.rank, info.world_size)]
    rest = n % info.world_size
    if rest and info.is_main:
        parts.append((subset(split, np.arange(n - rest, n)), 0, 1))
    for part, rank, world in parts:
        loader = _eval_loader(part, d, batch_size, device, rank, world)
        try:
            yield from loader
        finally:
            getattr(loader, "close", lambda: None)()  # a streaming loader's worker processes
