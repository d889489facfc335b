"""Measurements on trained runs shared by the experiments: test accuracy of a run's weights, curves over
its weight snapshots, steps to an accuracy.

Everything goes through the library: splits come from :func:`classicnets.data.load_splits`
(decoded once, cached), batches from :class:`classicnets.data.DataLoader` with the
run's own normalization, accuracies from :func:`classicnets.train.evaluate.evaluate`,
models from :func:`classicnets.train.runs.load_trained`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..device import resolve_device
from .framework import RunRecord


@lru_cache(maxsize=8)
def load_split(dataset: str, data_dir: str | None, split: str = "test", size: int | None = None) -> Any:
    """One split of a dataset (cached per process); ``size`` for resizable datasets (flowers17)."""
    from ..data import load_splits

    kwargs = {"size": size} if size else {}
    splits = load_splits(dataset, data_dir, **kwargs)
    if split not in splits:
        from ..errors import InvalidInputError

        raise InvalidInputError(f"{dataset} has no {split!r} split (it has {', '.join(splits)}).")
    return splits[split]


def batches(ds: Any, mean: Sequence[float], std: Sequence[float], *, batch_size: int = 500, crop: int | None = None,
            device: str | torch.device = "cpu") -> Any:
    """Normalized batches of ``ds`` in order (center-cropped to ``crop`` when given)."""
    from ..data import DataLoader, augment

    return DataLoader(ds, batch_size, shuffle=False, transform=augment.eval_transform(mean, std, crop=crop),
                      device=device, rank=0, world_size=1)


def accuracy(model: nn.Module, ds: Any, mean: Sequence[float], std: Sequence[float], *,
             device: str | torch.device = "cpu", crop: int | None = None) -> float:
    """Top-1 accuracy (0..1) of ``model`` on ``ds``."""
    from ..train.evaluate import evaluate

    dev = resolve_device(device)
    model.to(dev)
    r = evaluate(model, batches(ds, mean, std, crop=crop, device=dev), num_classes=model.num_classes, device=dev)
    return float(r.top1)


def run_test_split(run: RunRecord) -> Any:
    """The test split of the dataset a run was trained on, at the run's resolution."""
    facts = run.files.read_data()
    cfg = run.config
    return load_split(cfg["dataset"], cfg.get("data_dir"), "test", facts.get("cache_size"))


def snapshot_curve(run: RunRecord, *, device: str = "cpu", every: int = 1,
                   measure: Any = None) -> list[dict[str, Any]]:
    """Test accuracy (and ``measure(model, x)`` extras) at each of a run's weight snapshots.

    Returns ``[{"step": s, "test_acc": a, ...}, ...]``, one row per ``every``-th snapshot
    (the last one always included).
    """
    from ..train.runs import load_trained

    snaps = run.snapshots()
    if not snaps:
        return []
    chosen = snaps[::every]
    if chosen[-1] != snaps[-1]:
        chosen.append(snaps[-1])
    ds = run_test_split(run)
    dev = resolve_device(device)
    rows = []
    for step, path in chosen:
        t = load_trained(path)
        crop = t.input_size[1] if t.input_size and t.input_size[1] != ds.images.shape[1] else None
        row: dict[str, Any] = {"step": step, "test_acc": accuracy(t.model, ds, t.mean, t.std, device=dev, crop=crop)}
        if measure is not None:
            row.update(measure(t.model, ds, t.mean, t.std, dev))
        rows.append(row)
    return rows


def steps_to(curve: Sequence[tuple[int, float]], threshold: float) -> int | None:
    """The first step whose accuracy is at least ``threshold`` (None: never reached)."""
    for step, acc in sorted(curve):
        if acc >= threshold:
            return int(step)
    return None


def rel(path: Path, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)
