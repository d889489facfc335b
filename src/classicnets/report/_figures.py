"""Training-curve figures drawn from metrics rows, as PNG bytes.

Figures are built with ``matplotlib.figure.Figure`` and the Agg canvas
directly, never through ``pyplot``: no global backend or figure state is
touched, so the report can be made inside any program.  Text from files (run
names in a legend) goes through :func:`_label`, which keeps matplotlib from
reading it as mathtext or hiding it.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from ._load import Image, Run

_TRAIN = dict(linestyle="--", linewidth=1.2)
_VAL = dict(linestyle="-", linewidth=1.8)


def _series(rows: Sequence[dict[str, float]], x: str, y: str, scale: float = 1.0) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for r in rows:
        a, b = r.get(x, math.nan), r.get(y, math.nan)
        if math.isfinite(a) and math.isfinite(b):
            xs.append(a)
            ys.append(b * scale)
    return xs, ys


def _png(fig: object) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)  # type: ignore[arg-type]
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)  # type: ignore[attr-defined]
    return buf.getvalue()


def _label(text: str) -> str:
    """A legend label that matplotlib shows as written: no mathtext, no hiding of a leading underscore."""
    text = text.replace("$", r"\$")
    return " " + text if text.startswith("_") else text


def _plot(ax: object, xs: list[float], ys: list[float], **kw: object) -> None:
    if len(xs) == 1:
        kw = {**kw, "marker": "o"}
    ax.plot(xs, ys, **kw)  # type: ignore[attr-defined]


def run_curves(run: Run) -> Image | None:
    """Loss, accuracy and learning rate against epochs: training dashed, validation solid."""
    rows = run.history
    if not rows:
        return None
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(10, 3.0), layout="constrained")
    ax_loss, ax_acc, ax_lr = fig.subplots(1, 3)
    for col, style, name in (("train_loss", _TRAIN, "train"), ("val_loss", _VAL, "val")):
        xs, ys = _series(rows, "epoch", col)
        if xs:
            _plot(ax_loss, xs, ys, label=name, **style)
    for col, style, name in (("train_acc", _TRAIN, "train top-1"), ("val_acc", _VAL, "val top-1"),
                             ("val_top5", dict(linestyle=":", linewidth=1.4), "val top-5")):
        xs, ys = _series(rows, "epoch", col, 100.0)
        if xs:
            _plot(ax_acc, xs, ys, label=name, **style)
    xs, ys = _series(rows, "epoch", "lr")
    if xs:
        _plot(ax_lr, xs, ys, color="tab:gray")
    for ax, title in ((ax_loss, "loss"), (ax_acc, "accuracy (%)"), (ax_lr, "learning rate (end of epoch)")):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch", fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=8)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return Image(name="curves", mime="image/png", data=_png(fig), caption="Training curves")


def comparison_curves(runs: Sequence[Run], labels: Sequence[str]) -> Image | None:
    """Validation accuracy of several runs in one plot, against iterations when every run logs them."""
    usable = [(r, lab) for r, lab in zip(runs, labels, strict=True) if _series(r.history, "epoch", "val_acc")[0]]
    if len(usable) < 2:
        return None
    from matplotlib.figure import Figure

    x = "step" if all(_series(r.history, "step", "val_acc")[0] for r, _ in usable) else "epoch"
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    ax = fig.subplots()
    for run, lab in usable:
        xs, ys = _series(run.history, x, "val_acc", 100.0)
        _plot(ax, xs, ys, label=_label(lab), linewidth=1.4)
    ax.set_xlabel("iterations" if x == "step" else "epoch", fontsize=9)
    ax.set_ylabel("validation accuracy (%)", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncols=2 if len(usable) > 6 else 1, loc="best")
    return Image(name="comparison", mime="image/png", data=_png(fig),
                 caption="Validation accuracy of every run")
