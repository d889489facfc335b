"""Datasets, the decode-once cache, batched augmentation and a batch loader.

>>> from classicnets.data import load_dataset, DataLoader, augment
>>> train = load_dataset("digits")                       # bundled with scikit-learn, offline
>>> train.images.shape, train.num_classes
((1438, 8, 8, 1), 10)
>>> loader = DataLoader(train, 64, transform=augment.eval_transform(train.mean, train.std))
>>> x, y = next(iter(loader)); tuple(x.shape)
(64, 1, 8, 8)

Datasets: ``cifar10``, ``cifar100``, ``mnist``, ``fashion_mnist``, ``flowers17``,
``imagefolder``, ``imagenet``, ``digits`` (see :func:`list_datasets`).  Formats, the cache and
the augmentation are described in ``docs/data.md``.

Datasets too big to decode into one array stream from their files instead: :func:`plan` decides
(a budget on the decoded size), :func:`open_files` gives the splits as files and
:class:`StreamingLoader` (DataLoader's interface) decodes and augments them in worker processes.
"""

from __future__ import annotations

from . import augment
from . import cifar as _cifar  # noqa: F401  (registers cifar10, cifar100)
from . import digits as _digits  # noqa: F401  (registers digits)
from . import flowers as _flowers  # noqa: F401  (registers flowers17)
from . import folder as _folder  # noqa: F401  (registers imagefolder)
from . import imagenet as _imagenet  # noqa: F401  (registers imagenet)
from . import mnist as _mnist  # noqa: F401  (registers mnist, fashion_mnist)
from ._core import (
    CacheWriteError,
    Dataset,
    channel_stats,
    describe_splits,
    get_spec,
    list_datasets,
    load_dataset,
    load_splits,
)
from .cache import clear as clear_cache
from .cache import default_cache_dir
from .download import DownloadError, download, downloadable
from .images import CorruptImageError
from .loader import DataLoader
from .splits import stratified_split
from .streaming import CACHE_BUDGET_BYTES, PRESETS, ImageFiles, Plan, StreamingLoader, open_files, plan

__all__ = [
    "CACHE_BUDGET_BYTES",
    "PRESETS",
    "augment",
    "CacheWriteError",
    "channel_stats",
    "clear_cache",
    "CorruptImageError",
    "DataLoader",
    "Dataset",
    "default_cache_dir",
    "describe_splits",
    "download",
    "downloadable",
    "DownloadError",
    "get_spec",
    "ImageFiles",
    "list_datasets",
    "load_dataset",
    "load_splits",
    "open_files",
    "Plan",
    "plan",
    "stratified_split",
    "StreamingLoader",
]
