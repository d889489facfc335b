"""scikit-learn's bundled 8x8 handwritten digits: 1,797 real images, available offline.

The images (values 0..16) are scaled to uint8 (``round(v * 255 / 16)``).  The
train/test split is fixed: within each class the images are shuffled by
``numpy.random.default_rng(0)`` and the first fifth goes to ``test`` (359
images), the rest to ``train`` (1,438).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._core import DatasetSpec, RawData, ReadOptions, Source, register_dataset

SEED = 0
TEST_FRACTION = 0.2


def split_indices(labels: np.ndarray, seed: int = SEED) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = int(round(len(idx) * TEST_FRACTION))
        test.append(idx[:k])
        train.append(idx[k:])
    return {"train": np.sort(np.concatenate(train)), "test": np.sort(np.concatenate(test))}


def _read(source: Source, opts: ReadOptions) -> RawData:
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.rint(d.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)[..., None]  # N x 8 x 8 x 1
    labels = d.target.astype(np.int64)
    parts = split_indices(labels)
    arrays = {s: (images[i], labels[i]) for s, i in parts.items()}
    return RawData(arrays, [str(i) for i in range(10)])


def _locate(root: Path) -> Source:
    import sklearn

    return Source("sklearn", (), f"scikit-learn {sklearn.__version__} load_digits()")


register_dataset(DatasetSpec(
    name="digits",
    summary="scikit-learn's 1,797 8x8 grey handwritten digits (bundled, offline); fixed seeded 80/20 split",
    splits=("train", "test"),
    locate=_locate,
    read=_read,
    cacheable=False,
    needs_root=False,
    num_classes=10,
    image_shape=(8, 8, 1),
))
