"""``classicnets plot``: training curves of one or several runs in one figure.

For an accuracy metric (``val_acc``, the default, or ``train_acc``) the figure
follows He et al. 2015, Fig. 6: error in percent against iterations, one
colour per run, training error dashed and thin, validation (test) error solid
and bold.  Any other ``metrics.csv`` column is drawn as it is, one line per run.
"""

from __future__ import annotations

import math
from pathlib import Path

from .._io import check_output_file, pyplot, save_figure
from ..errors import InvalidInputError, UserError
from ..runfiles import CSV_COLUMNS
from .rundir import RunDir


def plot_runs(runs: list[str | Path], *, metric: str = "val_acc", out: str | Path | None = None,
              labels: list[str] | None = None, title: str | None = None) -> Path:
    plt = pyplot()
    if metric not in CSV_COLUMNS:
        raise InvalidInputError(f"unknown metric {metric!r}; metrics.csv has {', '.join(CSV_COLUMNS)}.")
    if labels and len(labels) != len(runs):
        raise InvalidInputError(f"{len(labels)} --label for {len(runs)} runs.")
    paths = [Path(r) for r in runs]
    data = [RunDir(p).read_metrics() for p in paths]
    target = check_output_file(Path(out) if out is not None else paths[0] / "curves.png", "--out")
    if target.suffix.lower() != ".png":
        raise InvalidInputError(f"--out {target}: plot writes PNG images; give a file name ending in .png.")
    for p, rows in zip(paths, data, strict=True):
        if rows and metric not in rows[0]:
            raise InvalidInputError(f"{RunDir(p).metrics_csv} has no {metric} column.")
    names = labels or [_label(p) for p in paths]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    error_style = metric.endswith("_acc")
    for i, (rows, name) in enumerate(zip(data, names, strict=True)):
        if not rows:
            continue
        color = colors[i % len(colors)]
        steps = [r["step"] for r in rows]
        if error_style:
            tr = [100 * (1 - r["train_acc"]) for r in rows]
            va = [100 * (1 - r[metric]) for r in rows]
            ax.plot(steps, tr, "--", color=color, linewidth=1.0, alpha=0.8)
            ax.plot(steps, va, "-", color=color, linewidth=2.2, label=f"{name} ({va[-1]:.2f}%)")
        else:
            ys = [r[metric] for r in rows]
            ax.plot(steps, ys, "-", color=color, linewidth=1.8, label=name)
    ax.set_xlabel("iterations")
    if error_style:
        ax.set_ylabel("error (%)")
        ax.set_title(title or "dashed: training error, bold: " +
                     ("validation/test error" if metric == "val_acc" else metric))
        tail = [100 * (1 - r[k]) for rows in data for r in rows[len(rows) // 10:] for k in ("train_acc", metric)
                if not math.isnan(r[k])]
        top = max(tail, default=100.0)
        ax.set_ylim(0, min(100, max(5.0, 1.2 * top)))
    else:
        ax.set_ylabel(metric)
        ax.set_title(title or metric)
        if metric in ("lr",):
            ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right")
    return save_figure(fig, target, dpi=100)


def _label(run: Path) -> str:
    try:
        return str(RunDir(run).read_config().get("model", run.name))
    except UserError:  # a label is cosmetic: fall back to the folder name
        return run.name
