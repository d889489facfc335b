"""``batchnorm``: batch normalization makes training converge in fewer steps, allows higher learning
rates, and keeps each layer's input distribution stable.

Two parts, each a pair of networks that differ only in BatchNorm:

1. **Ioffe & Szegedy 2015, Figure 1** (Sec. 4.1): ``mnist_mlp`` (three hidden layers of
   100 sigmoid units) with and without BN on MNIST, batch 60, the ``bn-mnist``
   recipe (the paper: 50,000 steps).  (a) test accuracy against training steps;
   (b, c) the 15th, 50th and 85th percentiles, over the test images, of the
   input to one sigmoid of the last hidden layer (unit 0, fixed in advance)
   against training steps, without and with BN.
2. **The lecture's exercise**: ``cnn3`` with and without BN on MNIST: the steps to
   reach 97%, 98% and 99% test accuracy, at a base learning rate and at 5x and
   30x that rate (the paper's claim that BN allows much higher rates; a plain
   net that diverges is recorded as diverged, not a crash).

The measurements come from weight snapshots the training engine saves every N
steps (``TrainConfig.snapshot_every_steps``): each snapshot is evaluated on the
full test split, and for the MLP its last hidden layer's sigmoid inputs
(:meth:`~classicnets.models.small.MNISTMLP.hidden_preactivations`) are measured
on the test images in training-size batches with BN in training mode, as the
sigmoid sees them during training (:func:`sigmoid_inputs`).

Verdicts (pure functions, tested on synthetic measurements):
:func:`verdict_convergence` (steps to each threshold with and without BN, and
their ratio), :func:`verdict_high_lr`, :func:`verdict_stability` (the measured
range of the percentiles over training, with and without BN, compared over all
units of the layer).
"""

from __future__ import annotations

import math
import statistics
from functools import partial
from pathlib import Path
from typing import Any

from .._io import pyplot, save_figure
from ..analysis import TextTable
from .findings import Verdict, has_learned
from .framework import Context, Experiment, Report, RunRecord, RunSpec
from .measure import snapshot_curve, steps_to

THRESHOLDS = (0.97, 0.98, 0.99)  # the lecture's exercise
MLP_THRESHOLDS = (0.90, 0.95, 0.97)
LR_FACTORS = (1, 5, 30)
CNN_BASE_LR = 0.01  # SGD with momentum 0.9: a rate at which cnn3 trains well without BN
PERCENTILES = (15, 50, 85)
UNIT = 0  # the sigmoid of the last hidden layer whose input is plotted (Figure 1b, c)
CHANCE = 0.1  # chance accuracy on digits and MNIST (ten classes)

SCALES: dict[str, dict[str, Any]] = {
    "smoke": {"dataset": "digits", "mlp": {"steps": 40, "every": 10, "model_args": {"input_size": 8}},
              "cnn": {"steps": 30, "every": 10}},
    "small": {"dataset": "mnist", "mlp": {"steps": 50_000, "every": 500, "model_args": {}},
              "cnn": {"steps": 6_000, "every": 250}},
    "paper": {"dataset": "mnist", "mlp": {"steps": 50_000, "every": 250, "model_args": {}},
              "cnn": {"steps": 20_000, "every": 250}},
}


EXPERIMENT = Experiment(
    name="batchnorm",
    title="Batch normalization: faster convergence, higher learning rates, stable inputs (Ioffe & Szegedy 2015)",
    reproduces="Ioffe & Szegedy 2015, Batch Normalization, Sec. 4.1 and Figure 1 (MNIST MLP), and the lecture's "
               "exercise (a small CNN with and without BN: steps to 97/98/99%, at 1x, 5x and 30x the learning rate)",
    summary="BN: fewer steps to each accuracy, higher learning rates, stable sigmoid inputs (Ioffe & Szegedy Fig. 1)",
    scales={
        "smoke": "digits (8x8), a few dozen steps per run: seconds; checks the pipeline, not the claims",
        "small": "MNIST; mnist_mlp 50,000 steps as in the paper (minutes), cnn3 6,000 steps at three learning "
                 "rates: about half an hour on a 2-core CPU with --jobs 2",
        "paper": "MNIST; mnist_mlp 50,000 steps measured every 250, cnn3 20,000 steps: about two hours on a "
                 "2-core CPU, minutes on a GPU",
    },
    needs_data={"small": "mnist", "paper": "mnist"},
    scale_notes={"smoke": "Smoke scale: digits (8x8) and a few dozen steps; the numbers check the pipeline, not the "
                          "claims."},
)


# -- verdicts (pure functions of the measurements) --------------------------------------------------------
def _fmt_steps(s: int | None, total: int) -> str:
    return f"{s:,} steps" if s is not None else f"not reached in {total:,} steps"


def verdict_convergence(name: str, bn: dict[float, int | None], plain: dict[float, int | None], *, total_steps: int,
                        resolution: int, context: str = "") -> Verdict:
    """Does the BN net reach each test-accuracy threshold in fewer steps than the plain net?

    ``bn`` and ``plain`` map a threshold (0..1) to the first measured step at
    which it was reached (None: never within ``total_steps``).  A difference of
    less than ``resolution`` steps (the measurement interval) is a tie.
    Supported: BN is faster at one threshold at least and slower at none;
    not supported: the plain net is faster at some threshold; inconclusive:
    neither net reached any threshold, or every difference is a tie.
    """
    levels = sorted(set(bn) | set(plain))
    claim = (f"{name} with BN reaches " + "/".join(f"{100 * t:g}%" for t in levels)
             + f" test accuracy in fewer steps than without{(' (' + context + ')') if context else ''}.")
    parts, faster, slower = [], 0, 0
    for t in levels:
        b, p = bn.get(t), plain.get(t)
        if b is not None and p is not None:
            ratio = p / b if b else math.inf
            parts.append(f"{100 * t:g}%: BN {b:,}, plain {p:,} steps (ratio {ratio:.2f}x)")
        else:
            parts.append(f"{100 * t:g}%: BN {_fmt_steps(b, total_steps)}, plain {_fmt_steps(p, total_steps)}")
        if b is None and p is None:
            continue
        if p is None or (b is not None and p - b >= resolution):
            faster += 1
        elif b is None or b - p >= resolution:
            slower += 1
    evidence = "; ".join(parts) + f" (measured every {resolution:,} steps)."
    if all(bn.get(t) is None and plain.get(t) is None for t in levels):
        return Verdict(claim, "inconclusive", evidence, f"neither net reached any threshold in {total_steps:,} steps.")
    if slower:
        return Verdict(claim, "not supported", evidence)
    if faster:
        return Verdict(claim, "supported", evidence)
    return Verdict(claim, "inconclusive", evidence,
                   f"the differences are within the measurement interval of {resolution:,} steps.")


def verdict_high_lr(name: str, factor: int, *, bn_acc: float | None, plain_acc: float | None,
                    bn_base_acc: float | None, plain_base_acc: float | None, lr: float,
                    margin: float = 0.01, chance: float = CHANCE) -> Verdict:
    """At ``factor`` x the base rate, does the BN net still train while the plain net diverges or trains worse?

    Accuracies are final test accuracies (0..1); ``None`` means the run
    diverged.  "Trains" means within ``margin`` of the same net at the base rate.
    Supported: BN trains and the plain net does not.  Not supported: BN fails
    too, or the plain net trains as well (no need for BN at this rate).
    Inconclusive: a net did not learn at the base rate itself (diverged, or a
    test accuracy at most twice ``chance``, :func:`~.findings.has_learned`).
    """
    claim = (f"BN allows a {factor}x higher learning rate: at lr {lr:g} {name} with BN still trains, without BN it "
             "diverges or trains worse.")

    def show(a: float | None) -> str:
        return "diverged" if a is None else f"{100 * a:.2f}%"

    evidence = (f"final test accuracy at lr {lr:g}: BN {show(bn_acc)}, plain {show(plain_acc)}; at the base rate: BN "
                f"{show(bn_base_acc)}, plain {show(plain_base_acc)}.")
    if bn_base_acc is None or plain_base_acc is None:
        return Verdict(claim, "inconclusive", evidence, "a net diverged at the base rate already.")
    if not has_learned(min(bn_base_acc, plain_base_acc), chance):
        return Verdict(claim, "inconclusive", evidence, f"a net is at or below twice chance ({100 * 2 * chance:.0f}% "
                       "test accuracy) at the base rate: it has barely started to learn; too few steps to compare.")
    bn_ok = bn_acc is not None and bn_acc >= bn_base_acc - margin
    plain_ok = plain_acc is not None and plain_acc >= plain_base_acc - margin
    if bn_ok and not plain_ok:
        return Verdict(claim, "supported", evidence)
    if not bn_ok:
        return Verdict(claim, "not supported", evidence + " The BN net itself trains worse at this rate.")
    return Verdict(claim, "not supported", evidence + " The plain net trains as well at this rate.")


def percentile_range(track: list[list[float]]) -> float:
    """Mean over the percentiles of (max - min) over time; ``track`` is ``[[p15, p50, p85] per snapshot]``."""
    if not track:
        return math.nan
    cols = list(zip(*track, strict=True))
    return sum(max(c) - min(c) for c in cols) / len(cols)


def prob_smaller(a: list[float], b: list[float]) -> float:
    """P(x < y) for x drawn from ``a`` and y from ``b`` (ties count half): the common-language effect size."""
    if not a or not b:
        return math.nan
    return sum((x < y) + 0.5 * (x == y) for x in a for y in b) / (len(a) * len(b))


#: Cohen's "large" effect (d = 0.8) as a common-language effect size.
LARGE_EFFECT = 0.71


def verdict_stability(bn_ranges: list[float], plain_ranges: list[float], *, unit_bn: float, unit_plain: float,
                      steps: int, trained: bool = True) -> Verdict:
    """Are the last hidden layer's sigmoid-input percentiles more stable over training with BN?

    ``*_ranges`` hold, for every unit of the layer, :func:`percentile_range` over
    the training (the mean of the 15th/50th/85th percentiles' ranges).  The
    measure of "more stable" is the probability that a BN unit's range is
    smaller than a plain unit's (:func:`prob_smaller`).  Supported: at least
    :data:`LARGE_EFFECT` (Cohen's "large" effect); not supported: at most 0.5
    (BN's units move as much or more); inconclusive in between, or when the nets
    have not ``trained`` (the distributions of a net that has barely moved say
    nothing about training).
    """
    claim = ("BN keeps the distribution of a sigmoid's input more stable over training (Ioffe & Szegedy "
             "Fig. 1b, c).")
    mb, mp = statistics.median(bn_ranges), statistics.median(plain_ranges)
    p = prob_smaller(bn_ranges, plain_ranges)
    evidence = (f"over {steps:,} steps the 15th/50th/85th percentiles of a last-layer sigmoid's input move over a "
                f"range of {mp:.3f} without BN and {mb:.3f} with BN (median over the {len(bn_ranges)} units; ratio "
                f"{mb / mp if mp > 0 else math.inf:.2f}); a BN unit's range is the smaller one in "
                f"{100 * p:.0f}% of (BN unit, plain unit) pairs; for the plotted unit {UNIT}: {unit_plain:.3f} "
                f"without, {unit_bn:.3f} with BN.")
    if not trained:
        return Verdict(claim, "inconclusive", evidence, "the nets have barely started to learn (test accuracy at most "
                       "twice chance): too few steps for the distributions to drift.")
    if p >= LARGE_EFFECT:
        return Verdict(claim, "supported", evidence)
    if p <= 0.5:
        return Verdict(claim, "not supported", evidence)
    return Verdict(claim, "inconclusive", evidence, f"BN's ranges tend to be smaller, but in fewer than "
                   f"{100 * LARGE_EFFECT:.0f}% of pairs (Cohen's 'large' effect).")


# -- the plan -------------------------------------------------------------------------------------------
def _mlp_key(bn: bool) -> str:
    return "mlp-bn" if bn else "mlp"


def _cnn_key(bn: bool, factor: int) -> str:
    return f"cnn3{'-bn' if bn else ''}-lr{factor}x"


def plan(ctx: Context) -> list[RunSpec]:
    from ..train import TrainConfig

    sc = SCALES[ctx.scale]
    ds = sc["dataset"]
    data = ctx.data_path(ds)
    specs = []
    m = sc["mlp"]
    for bn in (False, True):
        cfg = TrainConfig(model="mnist_mlp", dataset=ds, data_dir=data, recipe="bn-mnist", steps=m["steps"],
                          model_args={**m["model_args"], "batch_norm": bn}, seed=0,
                          snapshot_every_steps=m["every"])
        specs.append(RunSpec(_mlp_key(bn), cfg, label=f"mnist_mlp {'with' if bn else 'without'} BN",
                             info={"part": "mlp", "bn": bn}))
    c = sc["cnn"]
    for factor in LR_FACTORS:
        for bn in (False, True):
            cfg = TrainConfig(model="cnn3", dataset=ds, data_dir=data, recipe="bn-mnist", steps=c["steps"],
                              optimizer="sgd", momentum=0.9, lr=CNN_BASE_LR * factor, model_args={"batch_norm": bn},
                              seed=0, snapshot_every_steps=c["every"])
            specs.append(RunSpec(_cnn_key(bn, factor), cfg,
                                 label=f"cnn3 {'with' if bn else 'without'} BN, lr {CNN_BASE_LR * factor:g}",
                                 info={"part": "cnn3", "bn": bn, "lr_factor": factor,
                                       "lr": CNN_BASE_LR * factor}))
    return specs


# -- the analysis ------------------------------------------------------------------------------------------
def sigmoid_inputs(model: Any, ds: Any, mean: Any, std: Any, device: Any, *, batch_size: int) -> dict[str, Any]:
    """15th/50th/85th percentiles over ``ds`` of every last-hidden-layer sigmoid input.

    Measured as in training: BN normalizes each batch of ``batch_size`` images with
    that batch's statistics (train mode, on a copy of the model, so its running
    statistics are untouched).  In eval mode the running statistics, which start
    at 0 and 1 and take a few hundred steps to settle, would add a jump of their
    own at the start of training that is no part of the claim.
    """
    import copy

    import torch

    from .measure import batches

    net = copy.deepcopy(model).train()
    chunks = []
    with torch.no_grad():
        for x, _ in batches(ds, mean, std, batch_size=batch_size, device=device):
            chunks.append(net.hidden_preactivations(x)[-1].float().cpu())
    z = torch.cat(chunks)  # N x units
    q = torch.quantile(z, torch.tensor([p / 100 for p in PERCENTILES]), dim=0)  # 3 x units
    return {"percentiles": q.T.tolist()}  # units x 3


def _curve_pairs(rows: list[dict[str, Any]]) -> list[tuple[int, float]]:
    return [(r["step"], r["test_acc"]) for r in rows]


def analyze(ctx: Context, runs: dict[str, RunRecord]) -> Report:
    curves: dict[str, list[dict[str, Any]]] = {}
    for key, run in runs.items():
        ctx.log(f"  measuring {key} at its {len(run.snapshots())} snapshots")
        bs = int(run.config.get("batch_size") or 60)
        measure = partial(sigmoid_inputs, batch_size=bs) if run.info["part"] == "mlp" else None
        curves[key] = snapshot_curve(run, device=ctx.device, measure=measure)
    mlp_verdicts, mlp_table, mlp = mlp_part(ctx, runs, curves)
    cnn_verdicts, cnn_table, cnn = cnn_part(ctx, runs, curves)
    figures = [_fig1a(ctx.figures / "fig1a_mlp_test_accuracy.png", curves[_mlp_key(False)], curves[_mlp_key(True)]),
               _fig1bc(ctx.figures / "fig1bc_sigmoid_input_percentiles.png", curves[_mlp_key(False)],
                       curves[_mlp_key(True)]),
               _cnn_figure(ctx.figures / "cnn3_test_accuracy.png", curves, runs)]
    sc = SCALES[ctx.scale]
    notes = [
        f"mnist_mlp: the engine's bn-mnist recipe (batch 60, SGD lr 0.1, constant; the paper gives no optimizer "
        f"settings), {sc['mlp']['steps']:,} steps, measured every {sc['mlp']['every']:,} steps on the full test "
        "split.",
        f"cnn3: the same recipe with SGD momentum 0.9 at base lr {CNN_BASE_LR:g} and at 5x and 30x, "
        f"{sc['cnn']['steps']:,} steps, measured every {sc['cnn']['every']:,} steps on the full test split. A run "
        "whose loss became NaN is reported as diverged (its curve ends there).",
        f"The percentiles are over the test images fed in batches of 60 with BN in training mode (each batch "
        f"normalized by its own statistics, as during training). Unit {UNIT} is plotted (chosen before training); the "
        "verdict compares the ranges of all units of the last hidden layer, BN unit against plain unit.",
    ]
    return Report(measurements={"curves": curves, "mlp": mlp, "cnn3": cnn}, verdicts=mlp_verdicts + cnn_verdicts,
                  tables=[mlp_table, cnn_table], figures=figures, notes=notes)


def mlp_part(ctx: Context, runs: dict[str, RunRecord], curves: dict[str, list[dict[str, Any]]]
             ) -> tuple[list[Verdict], Any, dict[str, Any]]:
    """Figure 1: steps to each accuracy and the sigmoid inputs' percentiles, with and without BN."""
    total, every = SCALES[ctx.scale]["mlp"]["steps"], SCALES[ctx.scale]["mlp"]["every"]
    m_bn, m_plain = curves[_mlp_key(True)], curves[_mlp_key(False)]
    tracks = {bn: [[row["percentiles"][u] for row in curves[_mlp_key(bn)]] for u in
                   range(len(curves[_mlp_key(bn)][0]["percentiles"]))] for bn in (False, True)}
    ranges = {bn: [percentile_range(t) for t in tracks[bn]] for bn in (False, True)}
    reach = {bn: {t: steps_to(_curve_pairs(curves[_mlp_key(bn)]), t) for t in MLP_THRESHOLDS} for bn in (False, True)}
    verdicts = [
        verdict_convergence("mnist_mlp", reach[True], reach[False], total_steps=total, resolution=every,
                            context="Fig. 1a"),
        verdict_stability(ranges[True], ranges[False], unit_bn=ranges[True][UNIT], unit_plain=ranges[False][UNIT],
                          steps=total, trained=has_learned(min(m_bn[-1]["test_acc"], m_plain[-1]["test_acc"]), CHANCE)),
    ]
    table = TextTable.from_records(
        "mnist_mlp (Fig. 1a): final test accuracy and steps to each accuracy",
        {"run": lambda r: runs[_mlp_key(r["bn"])].label,
         "final test acc %": lambda r: f"{100 * curves[_mlp_key(r['bn'])][-1]['test_acc']:.2f}",
         **{f"steps to {100 * t:g}%": (lambda r, t=t: _cell(reach[r["bn"]][t])) for t in MLP_THRESHOLDS},
         f"percentile range, unit {UNIT}": lambda r: f"{ranges[r['bn']][UNIT]:.3f}",
         "percentile range, median unit": lambda r: f"{statistics.median(ranges[r['bn']]):.3f}"},
        [{"bn": False}, {"bn": True}], right=range(1, 7), records=[])
    measurements = {"thresholds": MLP_THRESHOLDS, "unit": UNIT, "percentiles": PERCENTILES,
                    "percentile_range_per_unit": {"plain": ranges[False], "bn": ranges[True]},
                    "unit_track": {"plain": tracks[False][UNIT], "bn": tracks[True][UNIT]}}
    return verdicts, table, measurements


def cnn_part(ctx: Context, runs: dict[str, RunRecord], curves: dict[str, list[dict[str, Any]]]
             ) -> tuple[list[Verdict], Any, dict[str, Any]]:
    """The lecture's exercise: cnn3's steps to 97/98/99% and final accuracy at three learning rates."""
    total, every = SCALES[ctx.scale]["cnn"]["steps"], SCALES[ctx.scale]["cnn"]["every"]
    keys = [_cnn_key(bn, f) for f in LR_FACTORS for bn in (False, True)]
    final = {k: None if runs[k].diverged else (curves[k][-1]["test_acc"] if curves[k] else None) for k in keys}
    reach = {k: {t: steps_to(_curve_pairs(curves[k]), t) for t in THRESHOLDS} for k in keys}
    verdicts = [verdict_convergence("cnn3", reach[_cnn_key(True, f)], reach[_cnn_key(False, f)], total_steps=total,
                                    resolution=every, context=f"lr {CNN_BASE_LR * f:g}") for f in LR_FACTORS]
    verdicts += [verdict_high_lr("cnn3", f, bn_acc=final[_cnn_key(True, f)], plain_acc=final[_cnn_key(False, f)],
                                 bn_base_acc=final[_cnn_key(True, 1)], plain_base_acc=final[_cnn_key(False, 1)],
                                 lr=CNN_BASE_LR * f) for f in LR_FACTORS[1:]]
    rows = [{"run": k, "lr": runs[k].info["lr"], "bn": runs[k].info["bn"], "final_test_acc": final[k],
             "diverged": runs[k].diverged, **{f"steps_to_{t}": reach[k][t] for t in THRESHOLDS}} for k in keys]

    def speed_up(r: dict[str, Any]) -> str:
        plain = _cnn_key(False, runs[r["run"]].info["lr_factor"])
        return _speedups(reach[r["run"]], reach[plain], total) if r["bn"] else ""

    table = TextTable.from_records(
        "cnn3: steps to 97/98/99% test accuracy, with and without BN, at three learning rates",
        {"run": lambda r: runs[r["run"]].label, "lr": "{lr:g}",
         "final test acc %": lambda r: _acc_cell(r["final_test_acc"]),
         **{f"steps to {100 * t:g}%": (lambda r, t=t: _cell(reach[r["run"]][t])) for t in THRESHOLDS},
         "BN speed-up": speed_up},
        rows, right=range(1, 7))
    measurements = {"thresholds": THRESHOLDS, "base_lr": CNN_BASE_LR, "lr_factors": LR_FACTORS, "final_test_acc": final,
                    "steps_to": {k: {str(t): v for t, v in r.items()} for k, r in reach.items()},
                    "diverged": {k: runs[k].diverged for k in reach}}
    return verdicts, table, measurements


def _acc_cell(a: float | None) -> str:
    return "diverged" if a is None else f"{100 * a:.2f}"


def _cell(s: int | None) -> str:
    return "-" if s is None else f"{s:,}"


def _speedups(bn: dict[float, int | None], plain: dict[float, int | None], total: int) -> str:
    """Plain steps / BN steps per threshold (">N x" when only BN reached it within ``total`` steps)."""
    out = []
    for t in THRESHOLDS:
        b, p = bn.get(t), plain.get(t)
        if b and p:
            out.append(f"{p / b:.1f}x")
        elif b and p is None:
            out.append(f">{total / b:.1f}x")
        else:
            out.append("-")
    return " / ".join(out)


# -- figures -----------------------------------------------------------------------------------------------
def _fig1a(path: Path, plain: list[dict[str, Any]], bn: list[dict[str, Any]]) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.plot([r["step"] for r in plain], [r["test_acc"] for r in plain], "--", color="tab:blue", label="Without BN")
    ax.plot([r["step"] for r in bn], [r["test_acc"] for r in bn], "-", color="tab:red", label="With BN")
    lo = min([r["test_acc"] for r in plain + bn if r["step"] > 0] or [0.0])
    ax.set_ylim(max(0.0, min(0.7, lo - 0.02)), 1.0)
    ax.set_xlabel("training steps")
    ax.set_ylabel("test accuracy")
    ax.set_title("(a) mnist_mlp test accuracy")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    return save_figure(fig, path)


def _fig1bc(path: Path, plain: list[dict[str, Any]], bn: list[dict[str, Any]]) -> Path:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, rows, title in ((axes[0], plain, "(b) without BN"), (axes[1], bn, "(c) with BN")):
        steps = [r["step"] for r in rows]
        for i, (p, style) in enumerate(zip(PERCENTILES, (":", "-", ":"), strict=True)):
            ax.plot(steps, [r["percentiles"][UNIT][i] for r in rows], style, color="k", label=f"{p}th percentile")
        ax.set_title(f"{title}: input to sigmoid {UNIT} of the last hidden layer", fontsize=9)
        ax.set_xlabel("training steps")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("sigmoid input")
    axes[0].legend(fontsize=8)
    return save_figure(fig, path)


def _cnn_figure(path: Path, curves: dict[str, list[dict[str, Any]]], runs: dict[str, RunRecord]) -> Path:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(LR_FACTORS), figsize=(4.2 * len(LR_FACTORS), 3.8), sharey=True)
    finals = [100 * c[-1]["test_acc"] for k, c in curves.items() if k.startswith("cnn3") and c]
    low = 90.0 if finals and min(finals) >= 90 else max(0.0, min(finals or [90.0]) - 5)
    for ax, factor in zip(axes, LR_FACTORS, strict=True):
        for bn, style, color in ((False, "--", "tab:blue"), (True, "-", "tab:red")):
            key = _cnn_key(bn, factor)
            rows = curves[key]
            end = f"final {100 * rows[-1]['test_acc']:.2f}%" if rows else "no measurement"
            label = ("with BN" if bn else "without BN") + (" (diverged)" if runs[key].diverged else f" ({end})")
            ax.plot([r["step"] for r in rows], [100 * r["test_acc"] for r in rows], style, color=color, label=label)
        for t in THRESHOLDS:
            ax.axhline(100 * t, color="grey", linewidth=0.6, linestyle=":")
        ax.set_ylim(low, 100)
        ax.set_title(f"cnn3, lr {CNN_BASE_LR * factor:g} ({factor}x)")
        ax.set_xlabel("training steps")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    axes[0].set_ylabel("test accuracy (%)")
    return save_figure(fig, path)
