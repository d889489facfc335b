"""Seeded, stratified splits of a labelled set: the one sampler behind ``--val-split``,
``--train-subset`` (:func:`stratified_split`, a share of every class) and the experiments'
per-class samples (:func:`stratified_sample`, exactly ``n`` items in the classes' proportions).

Both shuffle each class's indices with one seeded generator, class by class in label order,
and take the first items of each (:func:`_shuffled_classes`); they differ only in how many.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..errors import InvalidInputError


def _shuffled_classes(labels: np.ndarray, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Each class's indices in a seeded random order, class by class in label order."""
    for c in np.unique(labels):
        yield rng.permutation(np.flatnonzero(labels == c))


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded, per-class split of indices: (kept for training, held out).

    Each class holds out ``round(fraction * its size)`` items.
    """
    keep, held = [], []
    for idx in _shuffled_classes(labels, np.random.default_rng([seed, 7])):
        k = int(round(len(idx) * fraction))
        held.append(idx[:k])
        keep.append(idx[k:])
    return np.sort(np.concatenate(keep)), np.sort(np.concatenate(held))


def stratified_sample(labels: np.ndarray, n: int, *, seed: int = 0) -> np.ndarray:
    """Sorted indices of exactly ``n`` items drawn per class in proportion to its share (seeded).

    Each class gets ``floor(n * share)`` items; the ones left over go to the
    classes with the largest remainders (ties to the first class).
    """
    labels = np.asarray(labels)
    if not 0 < n <= len(labels):
        raise InvalidInputError(f"cannot draw {n} of {len(labels)} items.")
    _, counts = np.unique(labels, return_counts=True)
    want = n * counts / len(labels)
    take = np.floor(want).astype(int)
    for i in np.argsort(-(want - take), kind="stable")[: n - int(take.sum())]:
        take[i] += 1
    rng = np.random.default_rng([seed, 11])
    picked = [idx[:k] for idx, k in zip(_shuffled_classes(labels, rng), take, strict=True)]
    return np.sort(np.concatenate(picked))
