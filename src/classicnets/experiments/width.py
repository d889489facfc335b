"""``width``: wider beats deeper. Thin-and-deep against wide-and-shallow residual nets of equal size.

Zagoruyko & Komodakis 2016 ("Wide Residual Networks", Sec. 4-5, Table 4, Fig. 4): WRN-40-4 (8.9M
parameters) reaches 4.53% CIFAR-10 test error against pre-activation ResNet-1001's 4.92% (10.2M) and
trains several times faster on a GPU; depth beyond a point buys little, width buys more per parameter.
The lecture's ResNet chapter ends on the same point ("not necessarily deeper networks are better
networks; hence some wider networks, which do better than ResNet").

The sweep trains, with one recipe and one budget, two series of pre-activation residual nets that start
from the same net (:data:`SCALES`): a *depth* series at width 16/32/64 (WRN-d-1 and the pre-act
ResNets) and a *width* series at the smallest depth (WRN-10-k, one unit per stage). Two pairs across
the series are matched: one in parameters and one in multiply-adds (in these nets the two go together,
so each pair is close in both; the table shows both). The claims, each a verdict:

1. at matched size the wide shallow net's test error is no worse than the thin deep one's
   (:func:`verdict_matched`);
2. it trains faster in wall-clock per epoch on the same hardware (:func:`verdict_speed`);
3. the deep series' extra parameters buy less error reduction than the wide series' at the same size
   (:func:`verdict_per_parameter`; error against parameters for both series, one figure).
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from .._io import pyplot, save_figure
from ..analysis import TextTable
from .findings import Verdict, has_learned
from .framework import Context, Experiment, Report, RunRecord, RunSpec

#: The nets: key -> registered model, the series it belongs to, label. Both series start at ``base``.
NETS: dict[str, dict[str, Any]] = {
    "base": {"model": "wrn10_1", "series": ("depth", "width"), "label": "WRN-10-1"},
    "deep20": {"model": "preact_resnet20", "series": ("depth",), "label": "pre-act ResNet-20"},
    "deep44": {"model": "preact_resnet44", "series": ("depth",), "label": "pre-act ResNet-44"},
    "wide2": {"model": "wrn10_2", "series": ("width",), "label": "WRN-10-2"},
    "wide3": {"model": "wrn10_3", "series": ("width",), "label": "WRN-10-3"},
    "deep1001": {"model": "preact_resnet1001", "series": ("depth",), "label": "pre-act ResNet-1001"},
    "wide40_4": {"model": "wrn40_4", "series": ("width",), "label": "WRN-40-4"},
}

#: Per scale: dataset, the nets trained, the matched pairs (thin deep, wide shallow), and the TrainConfig values.
SCALES: dict[str, dict[str, Any]] = {
    "smoke": {"dataset": "digits", "nets": ("base", "deep20", "wide2"),
              "pairs": {"multiply-adds": ("deep20", "wide2")},
              "train": {"recipe": "fast-cifar", "steps": 30, "batch_size": 32}},
    "small": {"dataset": "cifar10", "nets": ("base", "deep20", "deep44", "wide2", "wide3"),
              "pairs": {"parameters": ("deep44", "wide3"), "multiply-adds": ("deep20", "wide2")},
              "train": {"recipe": "fast-cifar", "epochs": 8}},
    "paper": {"dataset": "cifar10", "nets": ("deep1001", "wide40_4"),
              "pairs": {"parameters": ("deep1001", "wide40_4")},
              "train": {"recipe": "wrn-cifar"}},
}

#: A test-error difference smaller than this (points) is not read as an effect (one seed per net).
MARGIN_PP = 0.5
#: A per-epoch time ratio within 1 +- this is "the same speed".
SPEED_MARGIN = 0.10


def _length(train: dict[str, Any]) -> str:
    if "epochs" in train:
        return f"{train['epochs']} epochs"
    return f"{train['steps']} steps" if "steps" in train else "the recipe's length"


EXPERIMENT = Experiment(
    name="width",
    title="Wider beats deeper: thin-and-deep against wide-and-shallow residual nets (Zagoruyko & Komodakis 2016)",
    reproduces="Zagoruyko & Komodakis 2016, Wide Residual Networks, Sec. 4-5, Table 4 and Fig. 4 (WRN-40-4 against "
               "pre-activation ResNet-1001 on CIFAR-10)",
    summary="at equal size a wide shallow residual net is as accurate as a thin deep one, and faster (WRN)",
    scales={
        "smoke": "digits, WRN-10-1, pre-act ResNet-20 and WRN-10-2, 30 iterations: seconds; checks the pipeline",
        "small": "CIFAR-10, WRN-10-1/2/3 and pre-act ResNet-20/44 (0.08M to 0.68M parameters), fast-cifar recipe "
                 "for 8 epochs: about an hour on a 2-core CPU",
        "paper": "CIFAR-10, WRN-40-4 (8.9M) against pre-act ResNet-1001 (10.3M), wrn-cifar recipe (200 epochs): "
                 "a GPU for days (the paper: 8x faster for the WRN, 68 against 512 ms per batch of 32)",
    },
    needs_data={"small": "cifar10", "paper": "cifar10"},
    scale_notes={s: f"Paper scale: WRN-40-4 against pre-act ResNet-1001, 200 epochs; this {s} scale trains "
                    f"{', '.join(NETS[k]['label'] for k in SCALES[s]['nets'])} on {SCALES[s]['dataset']}, "
                    f"{_length(SCALES[s]['train'])}: far smaller nets and far shorter runs than the paper's, so the "
                    "errors are the nets' at this budget, not converged ones."
                 for s in ("smoke", "small")},
)


# -- verdicts (pure functions of the measurements) ------------------------------------------------------
def verdict_matched(thin: dict[str, Any], wide: dict[str, Any], *, matched: str, chance_err: float = 90.0,
                    margin: float = MARGIN_PP) -> Verdict:
    """Claim 1: at matched ``matched`` (parameters or multiply-adds) the wide shallow net's final test error
    is no worse than the thin deep one's. ``thin``/``wide``: ``label``, ``test_err`` (%), ``params``, ``macs``.

    Supported when the wide net's error is lower, or higher by at most ``margin`` points ("no worse"
    within one run's noise); not supported when it is higher by more; inconclusive when either net has
    not learned (:func:`~.findings.has_learned`)."""
    claim = (f"at matched {matched}, the wide shallow {wide['label']} reaches a test error no worse than the "
             f"thin deep {thin['label']}.")
    diff = wide["test_err"] - thin["test_err"]
    evidence = (f"test error {thin['label']} {thin['test_err']:.2f}% ({thin['params'] / 1e6:.3f}M parameters, "
                f"{thin['macs'] / 1e6:.0f}M MACs), {wide['label']} {wide['test_err']:.2f}% "
                f"({wide['params'] / 1e6:.3f}M, {wide['macs'] / 1e6:.0f}M MACs); difference {diff:+.2f} points.")
    if not all(has_learned(100 - n["test_err"], 100 - chance_err) for n in (thin, wide)):
        return Verdict(claim, "inconclusive", evidence, "a net has barely started to learn (accuracy at most twice "
                       "chance): too few steps to compare.")
    if diff <= margin:
        return Verdict(claim, "supported", evidence)
    return Verdict(claim, "not supported", evidence + " The thin deep net is better here.")


def verdict_speed(thin: dict[str, Any], wide: dict[str, Any], *, device: str,
                  margin: float = SPEED_MARGIN) -> Verdict:
    """Claim 2: the wide shallow net trains faster in wall-clock per epoch (median ``epoch_s``) on ``device``.

    Supported when the thin net's epoch takes more than ``1 + margin`` times the wide net's; not supported
    when the wide net's takes more than that times the thin net's; inconclusive in between."""
    claim = f"{wide['label']} trains faster per epoch than {thin['label']} on this {device}."
    ratio = thin["epoch_s"] / wide["epoch_s"]
    evidence = (f"median epoch {thin['label']} {thin['epoch_s']:.1f} s, {wide['label']} {wide['epoch_s']:.1f} s "
                f"(the thin deep net takes {ratio:.2f}x as long).")
    if ratio > 1 + margin:
        return Verdict(claim, "supported", evidence)
    if ratio < 1 / (1 + margin):
        return Verdict(claim, "not supported", evidence)
    return Verdict(claim, "inconclusive", evidence, f"the epoch times are within {100 * margin:.0f}% of each other.")


def verdict_per_parameter(depth: list[dict[str, Any]], width: list[dict[str, Any]], *,
                          margin: float = MARGIN_PP) -> Verdict:
    """Claim 3: the depth series' extra parameters buy less than the width series'.

    Both series start at the same net; each ends at a net of about the same size. Supported when the
    deepest net's error is higher than the widest net's by more than ``margin`` points (depth bought less
    for its parameters); not supported when it is lower by more than ``margin``; inconclusive within it."""
    d, w = depth[-1], width[-1]
    claim = "extra depth buys less error reduction per parameter than extra width (the deep series ends worse)."
    gain_d, gain_w = depth[0]["test_err"] - d["test_err"], width[0]["test_err"] - w["test_err"]
    evidence = (f"from {depth[0]['label']} ({depth[0]['test_err']:.2f}%): deeper to {d['label']} "
                f"{d['test_err']:.2f}% ({gain_d:+.2f} points for {(d['params'] - depth[0]['params']) / 1e6:.3f}M "
                f"more parameters), wider to {w['label']} {w['test_err']:.2f}% ({gain_w:+.2f} points for "
                f"{(w['params'] - width[0]['params']) / 1e6:.3f}M more).")
    gap = d["test_err"] - w["test_err"]
    if gap > margin:
        return Verdict(claim, "supported", evidence)
    if gap < -margin:
        return Verdict(claim, "not supported", evidence + " Depth bought more here.")
    return Verdict(claim, "inconclusive", evidence, f"the series end within {margin:g} points of each other.")


# -- the plan ----------------------------------------------------------------------------------------
def plan(ctx: Context) -> list[RunSpec]:
    from ..train import TrainConfig

    sc = SCALES[ctx.scale]
    specs = []
    for key in sc["nets"]:
        net = NETS[key]
        cfg = TrainConfig(model=net["model"], dataset=sc["dataset"], data_dir=ctx.data_path(sc["dataset"]), seed=0,
                          **sc["train"])
        specs.append(RunSpec(key, cfg, label=net["label"], info={"series": list(net["series"])}))
    return specs


# -- the analysis ---------------------------------------------------------------------------------------
def measure(ctx: Context, runs: dict[str, RunRecord]) -> dict[str, dict[str, Any]]:
    """Per net: final test error (%), parameters, multiply-adds at 32x32, median epoch time and images/s."""
    from ..analysis import summarize
    from ..models import build_meta

    out = {}
    for key, run in runs.items():
        s = summarize(build_meta(run.config["model"]), (3, 32, 32), depth=0)
        epochs = [h for h in run.history if h.get("epoch_s") == h.get("epoch_s")]  # drop NaN rows
        out[key] = {"label": run.label, "model": run.config["model"], "series": run.info["series"],
                    "test_err": 100 * (1 - run.final["val_acc"]), "train_err": 100 * (1 - run.final["train_acc"]),
                    "params": s.params, "macs": s.macs,
                    "epoch_s": statistics.median(h["epoch_s"] for h in epochs) if epochs else float("nan"),
                    "img_per_s": statistics.median(h["img_per_s"] for h in epochs) if epochs else float("nan"),
                    "wall_s": run.wall_s}
    return out


def _series(m: dict[str, dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return sorted((v for v in m.values() if name in v["series"]), key=lambda v: v["params"])


def analyze(ctx: Context, runs: dict[str, RunRecord]) -> Report:
    sc = SCALES[ctx.scale]
    m = measure(ctx, runs)
    device = _device(next(iter(runs.values())))
    verdicts = []
    for matched, (thin, wide) in sc["pairs"].items():
        verdicts.append(verdict_matched(m[thin], m[wide], matched=matched))
    thin, wide = next(iter(sc["pairs"].values()))
    verdicts.append(verdict_speed(m[thin], m[wide], device=device))
    depth, width = _series(m, "depth"), _series(m, "width")
    figures = []
    if len(depth) > 1 and len(width) > 1:
        verdicts.append(verdict_per_parameter(depth, width))
        figures.append(_figure(ctx.figures / "error_vs_params.png", depth, width, sc["dataset"]))
    table = TextTable.from_records(
        "Final test error, size and speed (last epoch; one seed per net)",
        {"net": "{label}", "series": lambda r: "/".join(r["series"]), "params": "{params:,}",
         "MACs": lambda r: f"{r['macs'] / 1e6:,.1f}M", "train err %": "{train_err:.2f}",
         "test err %": "{test_err:.2f}", "s / epoch": "{epoch_s:.1f}", "img/s": "{img_per_s:.0f}"},
        sorted(m.values(), key=lambda r: (r["series"], r["params"])), right=range(2, 8))
    notes = [f"Recipe: {sc['train']['recipe']} for every net, {_length(sc['train'])}, seed 0; the same data, "
             "augmentation and hardware for all. Epoch times are the median over the run's epochs (training "
             "only, evaluation excluded), measured one run at a time.",
             "Depth series: WRN-10-1 (one unit per stage) and the pre-activation ResNets at widths 16/32/64; width "
             "series: WRN-10-k, one unit per stage at widths 16k/32k/64k. All use full pre-activation units."]
    return Report(measurements={"nets": m, "pairs": sc["pairs"], "margin_points": MARGIN_PP},
                  verdicts=verdicts, tables=[table], figures=figures, notes=notes)


def _device(run: RunRecord) -> str:
    """The hardware a run trained on, from its env.json: the GPU's name, else the CPU's."""
    from ..train.rundir import RunDir

    env = RunDir(run.run_dir).read_env()
    return str(env.get("gpu") or f"CPU ({env.get('cpu', 'unknown')}, {env.get('torch_threads', '?')} threads)")


def _figure(path: Path, depth: list[dict[str, Any]], width: list[dict[str, Any]], dataset: str) -> Path:
    fig, ax = pyplot().subplots(figsize=(6, 4))
    for series, style, name in ((depth, "o-", "deeper (width 16/32/64)"), (width, "s--", "wider (depth 10)")):
        ax.plot([v["params"] / 1e6 for v in series], [v["test_err"] for v in series], style, label=name)
        for v in series:
            ax.annotate(v["label"], (v["params"] / 1e6, v["test_err"]), fontsize=7, xytext=(4, 4),
                        textcoords="offset points")
    ax.set_xlabel("parameters (M)")
    ax.set_ylabel(f"{dataset} test error (%)")
    ax.set_title("error against parameters: deeper or wider")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
