"""Evaluation: top-1, top-5, per-class accuracy, confusion matrix and loss.

:func:`evaluate` runs a model over batches (the training loop uses it for the
validation split); :func:`evaluate_run` is the ``classicnets eval`` command:
it loads a run directory or a weights file, the dataset split, optionally
folds BatchNorm, and writes the confusion matrix as CSV.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import distributed
from .distributed import DistInfo


@dataclass
class EvalResult:
    """Metrics over a whole split (sums reduced over DDP ranks)."""

    n: int
    loss: float
    top1: float
    top5: float
    confusion: torch.Tensor  # int64 (true class, predicted class)
    classes: list[str] = field(default_factory=list)

    @property
    def per_class(self) -> list[float]:
        """Accuracy of each class (NaN for a class absent from the split)."""
        c = self.confusion.to(torch.float64)
        return (c.diag() / c.sum(1)).tolist()

    def summary(self) -> dict[str, Any]:
        return {"n": self.n, "loss": self.loss, "top1": self.top1, "top5": self.top5,
                "per_class": dict(zip(self.classes or range(len(self.per_class)), self.per_class, strict=True))}

    def confusion_csv(self) -> str:
        names = self.classes or [str(i) for i in range(self.confusion.shape[0])]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["true \\ predicted", *names])
        for name, row in zip(names, self.confusion.tolist(), strict=True):
            w.writerow([name, *row])
        return buf.getvalue()


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    num_classes: int,
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    info: DistInfo | None = None,
    classes: list[str] | None = None,
) -> EvalResult:
    """Evaluate ``model`` (put in eval mode) over ``batches`` of (normalized images, labels)."""
    was_training = model.training
    model.eval()
    k = min(5, num_classes)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    top1 = torch.zeros((), dtype=torch.float64, device=device)
    topk = torch.zeros((), dtype=torch.float64, device=device)
    n = 0
    confusion = torch.zeros(num_classes * num_classes, dtype=torch.int64, device=device)
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            logits = model(x)
        logits = logits.float()
        loss_sum += F.cross_entropy(logits, y, reduction="sum").double()
        pred = logits.topk(k, dim=1).indices
        top1 += (pred[:, 0] == y).sum()
        topk += (pred == y[:, None]).any(dim=1).sum()
        confusion += torch.bincount(y * num_classes + pred[:, 0], minlength=num_classes * num_classes)
        n += y.shape[0]
    model.train(was_training)
    info = info or DistInfo()
    sums = distributed.all_reduce_sums([loss_sum.item(), top1.item(), topk.item(), float(n)], device, info)
    conf = confusion.to(torch.float64)
    if info.enabled:
        torch.distributed.all_reduce(conf)
    total = max(1.0, sums[3])
    return EvalResult(n=int(sums[3]), loss=sums[0] / total, top1=sums[1] / total, top5=sums[2] / total,
                      confusion=conf.round().to(torch.int64).reshape(num_classes, num_classes).cpu(),
                      classes=list(classes or []))


def write_confusion(result: EvalResult, path: str | Path) -> Path:
    from .rundir import write_text

    return write_text(Path(path), result.confusion_csv())


def evaluate_run(
    run: str | Path,
    *,
    dataset: str | None = None,
    data_dir: str | None = None,
    split: str = "test",
    fold_bn: bool = False,
    precision: str = "fp32",
    batch_size: int = 256,
    model: str | None = None,
    device: str = "auto",
    confusion_csv: str | Path | None = None,
) -> dict[str, Any]:
    """``classicnets eval``: metrics of a run's (or weights file's) model on a dataset split.

    Returns ``{"summary": {...}, "text": "...", "result": EvalResult, "confusion_csv": path}``.
    """
    from .. import data as cndata
    from ..errors import InvalidInputError
    from ..models.fold import fold_batchnorm
    from .loop import autocast_dtype, pick_device
    from .runs import load_trained

    dev = pick_device(device)
    name = dataset
    probe = None
    if name is None:
        probe = load_trained(run, model=model)
        name = probe.dataset
        if name is None:
            raise InvalidInputError("a bare weights file needs --dataset NAME.")
    spec = cndata.get_spec(name)
    trained = probe
    if trained is None or trained.run_dir is None:
        trained = load_trained(run, model=model, num_classes=spec.num_classes,
                               in_chans=spec.image_shape[2] if spec.image_shape else None)
    root = data_dir if data_dir is not None else (trained.data_dir if name == trained.dataset else None)
    size = trained.cache_size if spec.resizable else None
    splits = cndata.load_splits(name, root, size=size)
    if split not in splits:
        raise InvalidInputError(f"{name} has no split {split!r}; available: {', '.join(splits)}.")
    ds = splits[split]
    net = trained.model
    if ds.num_classes != net.num_classes:
        raise InvalidInputError(f"{name} has {ds.num_classes} classes but the model predicts {net.num_classes}.")
    mean, std = trained.mean or ds.mean, trained.std or ds.std
    h = ds.images.shape[1]
    want = trained.input_size[1] if trained.input_size else h
    transform = cndata.augment.eval_transform(mean, std, crop=want if want != h else None)
    if fold_bn:
        net = fold_batchnorm(net)
    net.to(dev)
    amp = autocast_dtype(precision, dev)
    loader = cndata.DataLoader(ds, batch_size, shuffle=False, transform=transform, device=dev, rank=0,
                               world_size=1)
    r = evaluate(net, loader, num_classes=ds.num_classes, device=dev, amp_dtype=amp, classes=list(ds.classes))
    if confusion_csv is None:
        if trained.run_dir is not None:
            confusion_csv = trained.run_dir / "eval" / f"confusion-{split}{'-folded' if fold_bn else ''}.csv"
        else:
            confusion_csv = trained.weights.with_name(f"{trained.weights.stem}-confusion-{split}.csv")
    path = write_confusion(r, confusion_csv)
    summary = {"model": trained.model_name, "weights": str(trained.weights), "dataset": name, "split": split,
               "fold_bn": fold_bn, "precision": precision, **r.summary(), "confusion_csv": str(path)}
    lines = [f"{trained.model_name} ({trained.weights}) on {name}/{split}, {r.n} images"
             f"{', BatchNorm folded' if fold_bn else ''}, {precision}:",
             f"  top-1 {100 * r.top1:.2f}%  top-5 {100 * r.top5:.2f}%  loss {r.loss:.4f}",
             "  per class: " + ", ".join(f"{c} {100 * a:.1f}%" for c, a in zip(ds.classes, r.per_class, strict=True)),
             f"  confusion matrix: {path}"]
    return {"summary": summary, "text": "\n".join(lines), "result": r, "confusion_csv": path}
