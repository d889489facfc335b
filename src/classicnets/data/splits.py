"""Seeded, stratified splits of a labelled set: the one sampler behind ``--val-split``,
``--train-subset`` and the experiments' per-class samples."""

from __future__ import annotations

import numpy as np


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded, per-class split of indices: (kept for training, held out)."""
    rng = np.random.default_rng([seed, 7])
    keep, held = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = int(round(len(idx) * fraction))
        held.append(idx[:k])
        keep.append(idx[k:])
    return np.sort(np.concatenate(keep)), np.sort(np.concatenate(held))
