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

At ``medium`` scale every net trains with 3 seeds (:func:`~.framework.seeded`); the table shows the mean and
standard deviation of the errors over the seeds, and the error verdicts need a difference of the means beyond
the margin and two standard errors of the seeds' spread (:func:`~.findings.by_seeds`).  With one seed
(``smoke``, ``small``) the margin alone decides, as before.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from .._io import pyplot, save_figure
from ..analysis import TextTable
from .findings import Spread, Verdict, as_spread, by_seeds, has_learned, no_loss_by_seeds, spread
from .framework import Context, Experiment, Report, RunRecord, RunSpec, by_base, seeded

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
    "medium": {"dataset": "cifar10", "nets": ("base", "deep20", "deep44", "wide2", "wide3"),
               "pairs": {"parameters": ("deep44", "wide3"), "multiply-adds": ("deep20", "wide2")},
               "train": {"recipe": "fast-cifar", "epochs": 15}, "seeds": 3},
    "paper": {"dataset": "cifar10", "nets": ("deep1001", "wide40_4"),
              "pairs": {"parameters": ("deep1001", "wide40_4")},
              "train": {"recipe": "wrn-cifar"}},
}

#: A test-error difference smaller than this (points) is not read as an effect (with several seeds, nor one
#: within two standard errors of the seeds' spread).
MARGIN_PP = 0.5
#: A per-epoch time ratio within 1 +- this is "the same speed".
SPEED_MARGIN = 0.10


def _length(train: dict[str, Any], seeds: int = 1) -> str:
    """``"15 epochs"`` (``", 3 seeds each"`` with several seeds): how long each net of a scale trains."""
    each = "" if seeds == 1 else f", {seeds} seeds each"
    if "epochs" in train:
        return f"{train['epochs']} epochs{each}"
    return (f"{train['steps']} steps" if "steps" in train else "the recipe's length") + each


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
        "medium": "lossless CIFAR-10, the same five nets with 3 seeds each (15 runs), fast-cifar recipe for 15 "
                  "epochs: about 4 hours on a 2-core CPU with --jobs 2 (small, one run at a time on 2 threads: "
                  "3,347 s for 5 nets x 8 epochs = 418 s per epoch of the five; one thread per run is 790/530 = "
                  "1.49x slower (pre-act ResNet-20 at 2 threads against ResNet-20 at one), 623 s; x 3 seeds x 15 "
                  "epochs / 2 jobs = 14,000 s = 3.9 h; the recipe's own 30 epochs would take 7.8 h); verdicts on "
                  "the mean and spread over the seeds",
        "paper": "CIFAR-10, WRN-40-4 (8.9M) against pre-act ResNet-1001 (10.3M), wrn-cifar recipe (200 epochs): "
                 "a GPU for days (the paper: 8x faster for the WRN, 68 against 512 ms per batch of 32)",
    },
    needs_data={"small": "cifar10", "medium": "cifar10", "paper": "cifar10"},
    scale_notes={s: f"Paper scale: WRN-40-4 against pre-act ResNet-1001, 200 epochs; this {s} scale trains "
                    f"{', '.join(NETS[k]['label'] for k in SCALES[s]['nets'])} on {SCALES[s]['dataset']}, "
                    f"{_length(SCALES[s]['train'], SCALES[s].get('seeds', 1))}: far smaller nets and far shorter "
                    "runs than the paper's, so the errors are the nets' at this budget, not converged ones."
                 for s in ("smoke", "small", "medium")},
)


# -- verdicts (pure functions of the measurements) ------------------------------------------------------
def _err(net: dict[str, Any]) -> Spread:
    """A net's test error (%): one value, or a :class:`~.findings.Spread` over its seeds."""
    return as_spread(net["test_err"])


def _acc(err: Spread) -> Spread:
    return spread([100 - v for v in err.values])


def verdict_matched(thin: dict[str, Any], wide: dict[str, Any], *, matched: str, chance_err: float = 90.0,
                    margin: float = MARGIN_PP) -> Verdict:
    """Claim 1: at matched ``matched`` (parameters or multiply-adds) the wide shallow net's final test error
    is no worse than the thin deep one's. ``thin``/``wide``: ``label``, ``test_err`` (%, one value or a
    :class:`~.findings.Spread` over seeds), ``params``, ``macs``.

    Supported when the wide net's error is lower, or higher by at most ``margin`` points ("no worse"
    within one run's noise); not supported when it is higher by more than ``margin`` and two standard
    errors over the seeds; inconclusive when it is higher by more than ``margin`` but within two standard
    errors (:func:`~.findings.no_loss_by_seeds`), or when either net has not learned
    (:func:`~.findings.has_learned`)."""
    claim = (f"at matched {matched}, the wide shallow {wide['label']} reaches a test error no worse than the "
             f"thin deep {thin['label']}.")
    e_thin, e_wide = _err(thin), _err(wide)
    diff = e_wide.mean - e_thin.mean
    evidence = (f"test error {thin['label']} {e_thin.text(unit='%')} ({thin['params'] / 1e6:.3f}M parameters, "
                f"{thin['macs'] / 1e6:.0f}M MACs), {wide['label']} {e_wide.text(unit='%')} "
                f"({wide['params'] / 1e6:.3f}M, {wide['macs'] / 1e6:.0f}M MACs); difference {diff:+.2f} points.")
    if not all(has_learned(100 - e.mean, 100 - chance_err) for e in (e_thin, e_wide)):
        return Verdict(claim, "inconclusive", evidence, "a net has barely started to learn (accuracy at most twice "
                       "chance): too few steps to compare.")
    return no_loss_by_seeds(claim, evidence, _acc(e_wide), _acc(e_thin), margin,
                            loss="The thin deep net is better here.")


def verdict_speed(thin: dict[str, Any], wide: dict[str, Any], *, device: str,
                  margin: float = SPEED_MARGIN) -> Verdict:
    """Claim 2: the wide shallow net trains faster in wall-clock per epoch (median ``epoch_s``; with several
    seeds the mean of the seeds' medians) on ``device``.

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

    Both series start at the same net; each ends at a net of about the same size (``test_err``: one value
    or a :class:`~.findings.Spread` over seeds). Supported when the deepest net's error is higher than the
    widest net's by more than ``margin`` points and two standard errors over the seeds
    (:func:`~.findings.by_seeds`: depth bought less for its parameters); not supported when it is lower by
    as much; inconclusive within it."""
    d, w = depth[-1], width[-1]
    e_d, e_w, e_d0, e_w0 = _err(d), _err(w), _err(depth[0]), _err(width[0])
    claim = "extra depth buys less error reduction per parameter than extra width (the deep series ends worse)."
    gain_d, gain_w = e_d0.mean - e_d.mean, e_w0.mean - e_w.mean
    evidence = (f"from {depth[0]['label']} ({e_d0.text(unit='%')}): deeper to {d['label']} "
                f"{e_d.text(unit='%')} ({gain_d:+.2f} points for {(d['params'] - depth[0]['params']) / 1e6:.3f}M "
                f"more parameters), wider to {w['label']} {e_w.text(unit='%')} ({gain_w:+.2f} points for "
                f"{(w['params'] - width[0]['params']) / 1e6:.3f}M more).")
    tie = (f"the series end within {margin:g} points of each other." if min(e_d.n, e_w.n) == 1 else
           f"the series end within {margin:g} points or the spread across seeds of each other")
    v = by_seeds(claim, evidence, e_d, e_w, margin, tie=tie)
    if v.status == "not supported":
        return Verdict(claim, "not supported", evidence + " Depth bought more here.")
    return v


# -- the plan ----------------------------------------------------------------------------------------
def plan(ctx: Context) -> list[RunSpec]:
    """One run per net of the scale, each with the scale's seeds (:func:`~.framework.seeded`)."""
    from ..train import TrainConfig

    sc = SCALES[ctx.scale]
    specs = []
    for key in sc["nets"]:
        net = NETS[key]
        cfg = TrainConfig(model=net["model"], dataset=sc["dataset"], data_dir=ctx.data_path(sc["dataset"]), seed=0,
                          **sc["train"])
        specs.append(RunSpec(key, cfg, label=net["label"], info={"series": list(net["series"])}))
    return seeded(specs, sc.get("seeds", 1))


# -- the analysis ---------------------------------------------------------------------------------------
def measure(ctx: Context, runs: dict[str, RunRecord]) -> dict[str, dict[str, Any]]:
    """Per run: final test error (%), parameters, multiply-adds at 32x32, median epoch time and images/s."""
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


def by_net(runs: dict[str, RunRecord], m: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per net (the spec its seeds came from, :func:`~.framework.by_base`): the first seed's facts, the errors'
    mean, sd and per-seed values, and the means of the times over the seeds."""
    out = {}
    for base, group in by_base(runs).items():
        rows = [m[r.key] for r in group]
        te, tr = spread([v["test_err"] for v in rows]), spread([v["train_err"] for v in rows])
        out[base] = {**rows[0], "seeds": te.n, "test_err": te.mean, "test_err_sd": te.sd,
                     "test_err_seeds": list(te.values), "train_err": tr.mean, "train_err_sd": tr.sd,
                     "train_err_seeds": list(tr.values),
                     **{k: statistics.fmean(v[k] for v in rows) for k in ("epoch_s", "img_per_s", "wall_s")}}
    return out


def _series(m: dict[str, dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return sorted((v for v in m.values() if name in v["series"]), key=lambda v: v["params"])


def _with_spread(net: dict[str, Any]) -> dict[str, Any]:
    """``net`` with its test error as the :class:`~.findings.Spread` over its seeds (for the verdicts)."""
    return {**net, "test_err": spread(net["test_err_seeds"])}


def analyze(ctx: Context, runs: dict[str, RunRecord]) -> Report:
    sc = SCALES[ctx.scale]
    per_run = measure(ctx, runs)
    m = by_net(runs, per_run)
    seeds = min(v["seeds"] for v in m.values())
    device = _device(next(iter(runs.values())))
    verdicts = []
    for matched, (thin, wide) in sc["pairs"].items():
        verdicts.append(verdict_matched(_with_spread(m[thin]), _with_spread(m[wide]), matched=matched))
    thin, wide = next(iter(sc["pairs"].values()))
    verdicts.append(verdict_speed(m[thin], m[wide], device=device))
    depth, width = _series(m, "depth"), _series(m, "width")
    figures = []
    if len(depth) > 1 and len(width) > 1:
        verdicts.append(verdict_per_parameter([_with_spread(v) for v in depth], [_with_spread(v) for v in width]))
        figures.append(_figure(ctx.figures / "error_vs_params.png", depth, width, sc["dataset"]))

    def err(what: str) -> Any:
        return lambda r: spread(r[f"{what}_seeds"]).text()

    table = TextTable.from_records(
        "Final test error, size and speed (last epoch; "
        + ("one seed per net)" if seeds == 1 else f"mean (sd) over {seeds} seeds per net)"),
        {"net": "{label}", "series": lambda r: "/".join(r["series"]), "params": "{params:,}",
         "MACs": lambda r: f"{r['macs'] / 1e6:,.1f}M", "train err %": err("train_err"),
         "test err %": err("test_err"), "s / epoch": "{epoch_s:.1f}", "img/s": "{img_per_s:.0f}"},
        sorted(m.values(), key=lambda r: (r["series"], r["params"])), right=range(2, 8))
    timing = "measured one run at a time" if ctx.jobs == 1 else \
        f"measured with --jobs {ctx.jobs} (runs side by side, each on its share of the cores)"
    seed_text = "seed 0" if seeds == 1 else f"seeds 0 to {seeds - 1} (times: the mean over the seeds)"
    notes = [f"Recipe: {sc['train']['recipe']} for every net, {_length(sc['train'])}, {seed_text}; the same data, "
             "augmentation and hardware for all. Epoch times are the median over the run's epochs (training "
             f"only, evaluation excluded), {timing}.",
             "Depth series: WRN-10-1 (one unit per stage) and the pre-activation ResNets at widths 16/32/64; width "
             "series: WRN-10-k, one unit per stage at widths 16k/32k/64k. All use full pre-activation units."]
    if seeds > 1:
        notes.append(f"{seeds} seeds per net: an error verdict compares the means and needs their difference beyond "
                     f"{MARGIN_PP:g} points and beyond two standard errors of it over the seeds (findings.by_seeds).")
    return Report(measurements={"nets": m, "runs": per_run, "seeds": seeds, "pairs": sc["pairs"],
                                "margin_points": MARGIN_PP},
                  verdicts=verdicts, tables=[table], figures=figures, notes=notes)


def _device(run: RunRecord) -> str:
    """The hardware a run trained on, from its env.json: the GPU's name, else the CPU's."""
    from ..train.rundir import RunDir

    env = RunDir(run.run_dir).read_env()
    return str(env.get("gpu") or f"CPU ({env.get('cpu', 'unknown')}, {env.get('torch_threads', '?')} threads)")


def _figure(path: Path, depth: list[dict[str, Any]], width: list[dict[str, Any]], dataset: str) -> Path:
    fig, ax = pyplot().subplots(figsize=(6, 4))
    several = any(v["seeds"] > 1 for v in depth + width)
    for series, style, name in ((depth, "o-", "deeper (width 16/32/64)"), (width, "s--", "wider (depth 10)")):
        ax.errorbar([v["params"] / 1e6 for v in series], [v["test_err"] for v in series],
                    yerr=[v["test_err_sd"] for v in series] if several else None, fmt=style, capsize=3, label=name)
        for v in series:
            ax.annotate(v["label"], (v["params"] / 1e6, v["test_err"]), fontsize=7, xytext=(4, 4),
                        textcoords="offset points")
    ax.set_xlabel("parameters (M)")
    ax.set_ylabel(f"{dataset} test error (%)" + (", mean and sd over seeds" if several else ""))
    ax.set_title("error against parameters: deeper or wider")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
