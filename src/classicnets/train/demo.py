"""``classicnets demo``: plain against residual on the embedded digits, in under a minute on a 2-core CPU.

Trains a 56-layer plain network and its residual twin with the same recipe,
seed and data (scikit-learn's 8x8 digits, which ship with the package, so the
demo runs offline), prints their accuracies side by side and draws their error
curves in the style of He et al. 2015, Fig. 6.  At 20 layers both nets learn
digits equally well (about 97% test accuracy each); at 56 the plain net
cannot even fit its training set in the same number of steps while ResNet-56
does: the degradation problem residual learning solves.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, UserError
from ..options import Range
from .config import TrainConfig
from .loop import RunResult, fit
from .plot import plot_runs
from .rundir import RunDir

DEMO_MODELS = ("plain56", "resnet56")
DEMO_SETTINGS: dict[str, Any] = {"epochs": 10.0, "batch_size": 32, "lr": 0.05, "seed": 0}
DEMO_EPOCHS = Range(0, 1000, lo_open=True, integer=False)


def demo(*, out: str | Path = "runs/demo", epochs: float | None = None,
         models: tuple[str, ...] = DEMO_MODELS, verbose: bool = True, **overrides: Any) -> dict[str, Any]:
    """Train ``models`` on digits, return ``{"results": {model: RunResult}, "plot": path, "table": str}``.

    ``out`` holds one run directory per model (a demo run there is replaced:
    the demo always starts afresh; any other folder is refused) and ``curves.png``.
    """
    import shutil

    out = Path(out)
    settings = {**DEMO_SETTINGS, **overrides}
    if epochs is not None:
        settings["epochs"] = float(DEMO_EPOCHS.check(epochs, "--epochs"))
    results: dict[str, RunResult] = {}
    t0 = time.perf_counter()
    for name in models:  # every folder is checked before any is replaced
        if (out / name).exists() and not _is_demo_run(out / name, name):
            raise InvalidInputError(f"{out / name} exists and is not a demo run of {name} on digits; the demo "
                                    "replaces its own runs only. Choose another --out.")
    for name in models:
        run = out / name
        if run.exists():
            shutil.rmtree(run)
        if verbose:
            print(f"training {name} on digits ({settings['epochs']:g} epochs) ...", flush=True)
        cfg = TrainConfig(model=name, dataset="digits", out=str(run), progress="lines" if verbose else "none",
                          **settings)
        results[name] = fit(cfg)
    png = plot_runs([results[m].run_dir for m in models], out=out / "curves.png",
                    title="digits: dashed training error, bold test error")
    width = max(len(m) for m in models)
    lines = [f"{'model':<{width}}  test acc  train acc  time",
             *(f"{m:<{width}}  {100 * r.final['val_acc']:7.2f}%  {100 * r.final['train_acc']:8.2f}%  "
               f"{r.wall_s:4.0f} s" for m, r in results.items()),
             f"curves: {png}  (total {time.perf_counter() - t0:.0f} s)"]
    if len(models) == 2 and models[0].startswith("plain") and models[1].startswith("resnet"):
        p, r = (results[m].final["train_acc"] for m in models)
        if r - p > 0.05:
            lines.append(f"{models[0]} fits its training set worse than {models[1]} ({100 * p:.1f}% against "
                         f"{100 * r:.1f}%): the degradation of deep plain nets (He et al. 2015, Fig. 6).")
    table = "\n".join(lines)
    if verbose:
        print(table)
    return {"results": results, "plot": png, "table": table}


def _is_demo_run(run: Path, model: str) -> bool:
    """Is ``run`` a run directory the demo wrote (``model`` on digits), safe to replace?"""
    try:
        cfg = RunDir(run).read_config()
    except UserError:  # missing or unreadable: not ours
        return False
    return cfg.get("model") == model and cfg.get("dataset") == "digits"
