"""Calibration: expected calibration error and reliability diagrams (Guo, Pleiss, Sun, Weinberger 2017).

A classifier is *calibrated* when, among the images it labels with confidence p (its top softmax
probability), a fraction p is right.  Split the confidences into ``bins`` equal-width intervals of [0, 1]
(15 by default, Guo et al.'s choice; bin m holds the confidences in ((m-1)/M, m/M], and the first bin also
holds 0):

    ECE = sum_m (|B_m| / n) * |acc(B_m) - conf(B_m)|

with ``acc`` the fraction of correct top-1 predictions in the bin and ``conf`` their mean confidence.  The
reliability diagram plots ``acc(B_m)`` against the bin; a calibrated net lies on the diagonal, an
overconfident one below it.  Label smoothing (Szegedy et al. 2015, Sec. 7) trains towards a target of
``1 - eps + eps / K`` on the true class, which caps the confidence the loss rewards: Muller, Kornblith and
Hinton 2019 ("When does label smoothing help?") find it lowers the ECE of overconfident nets.

:func:`calibration` takes softmax probabilities (N x K) and labels; :func:`expected_calibration_error`
and :func:`reliability_bins` take the top-1 confidences and whether each prediction was right.
:func:`predict_probs` collects a model's softmax probabilities over batches (eval mode, no gradients;
the model's flags are restored).  :func:`ece_bootstrap` gives the standard errors of two nets' ECEs and of
their difference by resampling the same test images (paired).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..device import resolve_device
from ..errors import InvalidInputError

__all__ = ["BINS", "Calibration", "calibration", "ece_bootstrap", "expected_calibration_error", "predict_probs",
           "reliability_bins"]

#: Guo et al. 2017's number of equal-width confidence bins.
BINS = 15


def _as_1d(x: Any, name: str, dtype: torch.dtype) -> torch.Tensor:
    t = x.detach().to("cpu") if isinstance(x, torch.Tensor) else torch.as_tensor(x, dtype=dtype)
    if t.dim() != 1:
        raise InvalidInputError(f"{name} must be one-dimensional (one value per prediction), got shape "
                                f"{tuple(t.shape)}")
    return t.to(dtype)


def _inputs(confidences: Any, correct: Any, bins: int) -> tuple[torch.Tensor, torch.Tensor]:
    conf = _as_1d(confidences, "confidences", torch.float64)
    ok = _as_1d(correct, "correct", torch.float64)
    if conf.shape != ok.shape:
        raise InvalidInputError(f"{conf.numel()} confidences for {ok.numel()} predictions")
    if conf.numel() == 0:
        raise InvalidInputError("no predictions to calibrate")
    if not isinstance(bins, int) or bins < 1:
        raise InvalidInputError(f"bins must be a positive integer, got {bins!r}")
    if bool(((conf < 0) | (conf > 1) | torch.isnan(conf)).any()):
        raise InvalidInputError("confidences must lie in [0, 1]")
    return conf, ok


def _bin_index(conf: torch.Tensor, bins: int) -> torch.Tensor:
    """Bin m (0-based) holds (m/M, (m+1)/M]; a confidence of exactly 0 goes to the first bin."""
    edges = torch.linspace(0.0, 1.0, bins + 1, dtype=torch.float64)
    return (torch.searchsorted(edges, conf.to(torch.float64), right=False) - 1).clamp(0, bins - 1)


def reliability_bins(confidences: Any, correct: Any, *, bins: int = BINS) -> list[dict[str, float]]:
    """One row per bin: ``lower``, ``upper``, ``count``, ``accuracy``, ``confidence`` and ``gap`` (NaN when empty)."""
    conf, ok = _inputs(confidences, correct, bins)
    idx = _bin_index(conf, bins)
    count = torch.bincount(idx, minlength=bins).to(torch.float64)
    acc_sum = torch.bincount(idx, weights=ok, minlength=bins)
    conf_sum = torch.bincount(idx, weights=conf, minlength=bins)
    rows = []
    for m in range(bins):
        c = float(count[m])
        acc = float(acc_sum[m] / c) if c else float("nan")
        cf = float(conf_sum[m] / c) if c else float("nan")
        rows.append({"lower": m / bins, "upper": (m + 1) / bins, "count": int(c), "accuracy": acc, "confidence": cf,
                     "gap": acc - cf if c else float("nan")})
    return rows


def expected_calibration_error(confidences: Any, correct: Any, *, bins: int = BINS) -> float:
    """ECE with ``bins`` equal-width bins (module docstring), in [0, 1]."""
    conf, ok = _inputs(confidences, correct, bins)
    idx = _bin_index(conf, bins)
    acc_sum = torch.bincount(idx, weights=ok, minlength=bins)
    conf_sum = torch.bincount(idx, weights=conf, minlength=bins)
    return float((acc_sum - conf_sum).abs().sum() / conf.numel())


@dataclass
class Calibration:
    """Top-1 accuracy, mean confidence, ECE and the reliability-diagram rows of one set of predictions."""

    n: int
    bins: int
    accuracy: float
    confidence: float  # mean top-1 probability
    ece: float
    nll: float  # mean negative log-likelihood of the true class
    rows: list[dict[str, float]] = field(default_factory=list)
    confidences: torch.Tensor | None = None  # per prediction (kept for bootstrap and histograms)
    correct: torch.Tensor | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "bins": self.bins, "accuracy": self.accuracy, "mean_confidence": self.confidence,
                "ece": self.ece, "nll": self.nll, "reliability": self.rows}


def calibration(probs: Any, labels: Any, *, bins: int = BINS) -> Calibration:
    """Calibration of softmax probabilities ``probs`` (N x K, rows summing to 1) against ``labels`` (N)."""
    p = torch.as_tensor(probs).detach().to("cpu", torch.float64)
    y = torch.as_tensor(labels).detach().to("cpu").long()
    if p.dim() != 2 or y.dim() != 1 or p.shape[0] != y.shape[0]:
        raise InvalidInputError(f"probs must be N x K and labels N; got {tuple(p.shape)} and {tuple(y.shape)}")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= p.shape[1]):
        raise InvalidInputError(f"labels must lie in 0..{p.shape[1] - 1}")
    if not torch.allclose(p.sum(1), torch.ones(p.shape[0], dtype=p.dtype), atol=1e-3):
        raise InvalidInputError("each row of probs must sum to 1 (softmax probabilities, not logits)")
    conf, pred = p.max(1)
    ok = (pred == y).to(torch.float64)
    nll = float(-(p.gather(1, y[:, None]).clamp_min(1e-12).log()).mean()) if y.numel() else float("nan")
    return Calibration(n=int(y.numel()), bins=bins, accuracy=float(ok.mean()), confidence=float(conf.mean()),
                       ece=expected_calibration_error(conf, ok, bins=bins), nll=nll,
                       rows=reliability_bins(conf, ok, bins=bins), confidences=conf, correct=ok)


@torch.no_grad()
def predict_probs(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], *,
                  device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """``(probs N x K, labels N)`` of ``model`` (in eval mode) over ``batches``; its train flag is restored."""
    dev = resolve_device(device)
    was = model.training
    model.eval()
    ps, ys = [], []
    try:
        for x, y in batches:
            ps.append(torch.softmax(model(x.to(dev)).float(), dim=1).cpu())
            ys.append(y.cpu())
    finally:
        model.train(was)
    if not ps:
        raise InvalidInputError("no batches to predict")
    return torch.cat(ps), torch.cat(ys)


def ece_bootstrap(a: Calibration, b: Calibration, *, resamples: int = 200, seed: int = 0) -> dict[str, float]:
    """Standard errors of ``a.ece``, ``b.ece`` and ``b.ece - a.ece`` over paired resamples of the images.

    ``a`` and ``b`` must be two nets' calibrations on the same images in the same order.
    """
    if a.confidences is None or b.confidences is None or a.correct is None or b.correct is None:
        raise InvalidInputError("ece_bootstrap needs calibrations made by calibration() (per-image values)")
    if a.n != b.n:
        raise InvalidInputError(f"paired bootstrap needs the same images: {a.n} and {b.n} predictions")
    if resamples < 2:
        raise InvalidInputError(f"resamples must be >= 2, got {resamples}")
    g = torch.Generator().manual_seed(seed)
    ea, eb, d = [], [], []
    for _ in range(resamples):
        i = torch.randint(0, a.n, (a.n,), generator=g)
        x = expected_calibration_error(a.confidences[i], a.correct[i], bins=a.bins)
        y = expected_calibration_error(b.confidences[i], b.correct[i], bins=b.bins)
        ea.append(x)
        eb.append(y)
        d.append(y - x)

    def sd(v: Sequence[float]) -> float:
        return float(torch.tensor(v, dtype=torch.float64).std())

    return {"se_a": sd(ea), "se_b": sd(eb), "se_diff": sd(d), "resamples": float(resamples)}
