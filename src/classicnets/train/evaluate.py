"""Evaluation: top-1, top-5, per-class accuracy, confusion matrix and loss.

:func:`evaluate` runs a model over batches of any split (the training loop
uses it for the validation and test splits, the experiments for theirs);
:func:`classicnets.train.eval_run.evaluate_run`, behind ``classicnets eval``,
brings a trained run and a dataset split to it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
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
