"""``inception``: GoogLeNet's and Inception v3's training tricks, and the 1x1 reductions of the Inception
module, measured on a network a CPU can train.

Szegedy et al. 2014 ("Going Deeper with Convolutions", Sec. 4-5) and Szegedy et al. 2015 ("Rethinking the
Inception Architecture", Sec. 7-8 and Table 3).  The data: **CIFAR-10 at its own 32x32** (``small`` and
``paper``), the embedded 8x8 digits at ``smoke`` scale.  The network: ``inception_cifar``
(:mod:`classicnets.models.cifar_variants`), a 3x3 stem and four Inception modules with 1x1 reductions
(GoogLeNet's 3a/3b/4a/4b proportions at about a quarter of the width) and one auxiliary classifier after
the second module.  Five runs, each differing from ``base`` in one thing:

==============  =========================================================================================
run             what differs from ``base``
==============  =========================================================================================
``base``        SGD (momentum 0.9, lr 0.045, gradient clipping 2.0), auxiliary loss weight 0.3, no label
                smoothing
``no-aux``      auxiliary loss weight 0 (the same network and initialization; the head is not trained)
``ls0.1``       label smoothing 0.1 (v3, Sec. 7)
``rmsprop``     RMSProp with the v3 settings (decay 0.9, epsilon 1.0, momentum 0.9, lr 0.045, clip 2.0)
``naive``       the naive Inception module (Fig. 2a: no 1x1 reductions, the pool passing its input through)
                at the same #1x1 / #3x3 / #5x5 widths
==============  =========================================================================================

Measured: test accuracy for every run; for all of them, and in the verdict for label smoothing, the
expected calibration error (15 bins, :mod:`classicnets.analysis.calibration`) and a reliability diagram:
label smoothing's effect on confidence, which the lectures do not measure; for the naive module against the
reduced one, parameters, multiply-adds, training and inference img/s (``--jobs`` shares the cores, so the
training img/s compare within one sweep only).

Every run shares one schedule (ours): a cosine decay over the budget.  v3's own schedule (x0.94 every two
epochs) barely moves in a few epochs, and a run that ends at a high learning rate has a final accuracy
that swings from epoch to epoch; the optimizer comparison keeps v3's optimizer settings.

At ``medium`` scale every run trains with 3 seeds (:func:`~.framework.seeded`); the tables show the mean and
standard deviation over the seeds, and a verdict needs a difference of the means beyond its margin and two
standard errors of the seeds' spread (:func:`~.findings.by_seeds`).  With one seed (``smoke``, ``small``) the
margin alone decides, as before.

Verdicts (pure functions): :func:`verdict_accuracy` (auxiliary heads, label smoothing, RMSProp),
:func:`verdict_calibration`, :func:`verdict_reductions`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .._io import pyplot, save_figure
from ..analysis import TextTable
from .factorization import (
    SMOKE_NOTE,
    accuracy_margin,
    inference_speed,
    percent,
    train_speed,
)
from .findings import Spread, Verdict, as_spread, by_seeds, has_learned, no_loss_by_seeds, spread, train_length
from .framework import Context, Experiment, Report, RunRecord, RunSpec, by_base, seeded

#: The settings shared by every run (on top of the engine's inception-v3 recipe).
BASE: dict[str, Any] = {"recipe": "inception-v3", "optimizer": "sgd", "lr": 0.045, "momentum": 0.9,
                        "grad_clip": 2.0, "schedule": "cosine", "batch_size": 128, "label_smoothing": 0.0,
                        "aux_weight": 0.3, "augment": "crop-flip"}
#: run key -> (label, changes to BASE, model_args)
RUNS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "naive": ("naive modules (no 1x1 reductions)", {}, {"module": "naive", "aux_logits": True}),
    "base": ("base: SGD, aux 0.3, no smoothing", {}, {"aux_logits": True}),
    "no-aux": ("no auxiliary loss", {"aux_weight": 0.0}, {"aux_logits": True}),
    "ls0.1": ("label smoothing 0.1", {"label_smoothing": 0.1}, {"aux_logits": True}),
    "rmsprop": ("RMSProp (v3 settings)", {"optimizer": "rmsprop", "rmsprop_decay": 0.9, "rmsprop_eps": 1.0}, {
        "aux_logits": True}),
}

SCALES: dict[str, dict[str, Any]] = {
    "smoke": {"dataset": "digits", "train": {"steps": 40, "batch_size": 32, "augment": "none"}},
    "small": {"dataset": "cifar10", "train": {"epochs": 5}},
    "medium": {"dataset": "cifar10", "train": {"epochs": 10}, "seeds": 3},
    "paper": {"dataset": "cifar10", "train": {"epochs": 60}},
}
BINS = 15


EXPERIMENT = Experiment(
    name="inception",
    title="Inception training tricks and 1x1 reductions: auxiliary heads, label smoothing, RMSProp, naive modules",
    reproduces="Szegedy et al. 2014 (GoogLeNet: 1x1 reductions, Sec. 4; auxiliary classifiers with weight 0.3, Sec. "
               "5) and Szegedy et al. 2015 (Inception v3: label smoothing, Sec. 7; RMSProp, Sec. 8 and Table 3), on "
               "a small Inception network on CIFAR-10; plus label smoothing's effect on calibration (ECE)",
    summary="aux heads, label smoothing (+ calibration/ECE), RMSProp vs SGD, naive vs reduced Inception modules",
    scales={
        "smoke": "digits (8x8), five runs of 40 steps: seconds; checks the pipeline, not the claims",
        "small": "CIFAR-10 at 32x32, five runs of a 0.09M-parameter Inception net (naive: 0.56M), 5 epochs each: "
                 "about 45 minutes on a 2-core CPU with --jobs 2",
        "medium": "lossless CIFAR-10 at 32x32, the same five runs with 3 seeds each (15 runs), 10 epochs each: "
                  "about 4 hours on a 2-core CPU with --jobs 2 (small, one thread per run: 177, 156, 175 and 180 s "
                  "per epoch for base, no-aux, ls0.1 and rmsprop, and 281 s for naive from its 198 img/s, its "
                  "wall time being one resumed session's; 968 s per epoch of the five x 3 seeds x 10 epochs / 2 "
                  "jobs = 14,500 s = 4.0 h); verdicts on the mean and spread over the seeds",
        "paper": "CIFAR-10 at 32x32, the same five runs, 60 epochs each: about 9 hours on a 2-core CPU, about an "
                 "hour on one GPU",
    },
    needs_data={"small": "cifar10", "medium": "cifar10", "paper": "cifar10"},
    scale_notes={"smoke": SMOKE_NOTE},
)


# -- verdicts (pure functions of the measurements) -----------------------------------------------------------------
def verdict_accuracy(claim: str, *, with_acc: float | Spread, without_acc: float | Spread, names: tuple[str, str],
                     n_test: int, chance: float) -> Verdict:
    """Does the change (``with``) give a higher test accuracy than the baseline (``without``)?

    The accuracies (0..1) are one value each or :class:`~.findings.Spread` over seeds.  Supported: higher by
    more than :func:`~classicnets.experiments.factorization.accuracy_margin` and two standard errors over
    the seeds (:func:`~.findings.by_seeds`); not supported: lower by as much; inconclusive within it, or when
    a net has not learned (at most twice chance).
    """
    w, wo = percent(with_acc), percent(without_acc)
    margin = 100 * accuracy_margin(w.mean / 100, wo.mean / 100, n_test)
    evidence = (f"test accuracy {names[0]} {w.text(unit='%')}, {names[1]} {wo.text(unit='%')} "
                f"({w.mean - wo.mean:+.2f} points; margin {margin:.2f} on {n_test:,} images).")
    if not (has_learned(w.mean / 100, chance) and has_learned(wo.mean / 100, chance)):
        return Verdict(claim, "inconclusive", evidence, f"a net is at or below twice chance ({100 * 2 * chance:.0f}%).")
    tie = ("the difference is within two standard errors at this test-set size (one seed per run)."
           if min(w.n, wo.n) == 1 else "the difference is within the test-set margin or the spread across seeds")
    return by_seeds(claim, evidence, w, wo, margin, tie=tie)


def verdict_calibration(*, plain: dict[str, float | Spread], smoothed: dict[str, float | Spread],
                        ece_se_diff: float, chance: float) -> Verdict:
    """Does label smoothing lower the confidence and the expected calibration error?

    ``plain``/``smoothed`` hold ``accuracy``, ``mean_confidence`` and ``ece`` (0..1; one value each or
    :class:`~.findings.Spread` over seeds) without and with label smoothing; ``ece_se_diff`` is the
    bootstrap standard error of the ECE difference (paired, same images).  Supported: the smoothed net's
    mean confidence is lower and its ECE lower by more than two bootstrap standard errors and, over seeds,
    two standard errors of the seeds' spread (:func:`~.findings.by_seeds`); not supported: its ECE higher by
    as much; inconclusive otherwise, or when a net has not learned (at most twice chance).
    """
    claim = ("Label smoothing (0.1) makes the network less confident and better calibrated: lower mean top-1 "
             f"probability and lower expected calibration error ({BINS} bins) than without it.")
    p = {k: percent(plain[k]) for k in ("accuracy", "mean_confidence", "ece")}
    s = {k: percent(smoothed[k]) for k in ("accuracy", "mean_confidence", "ece")}
    d = s["ece"].mean - p["ece"].mean
    margin = 2 * 100 * ece_se_diff
    evidence = (f"without smoothing: accuracy {p['accuracy'].mean:.2f}%, mean confidence "
                f"{p['mean_confidence'].mean:.2f}%, ECE {p['ece'].text(unit='%')}; with 0.1: accuracy "
                f"{s['accuracy'].mean:.2f}%, mean confidence {s['mean_confidence'].mean:.2f}%, ECE "
                f"{s['ece'].text(unit='%')} (difference {d:+.2f} points, two bootstrap standard errors "
                f"{margin:.2f}).")
    over = p["mean_confidence"].mean - p["accuracy"].mean
    evidence += (f" The unsmoothed net is {'over' if over > 0 else 'under'}confident by {abs(over):.2f} "
                 "points on average.")
    if not (has_learned(p["accuracy"].mean / 100, chance) and has_learned(s["accuracy"].mean / 100, chance)):
        return Verdict(claim, "inconclusive", evidence, f"a net is at or below twice chance ({100 * 2 * chance:.0f}%).")
    lower_conf = s["mean_confidence"].mean < p["mean_confidence"].mean
    v = by_seeds(claim, evidence, p["ece"], s["ece"], margin, tie="")
    if lower_conf and v.status == "supported":
        return Verdict(claim, "supported", evidence)
    if v.status == "not supported":
        return Verdict(claim, "not supported", evidence + (" Smoothing lowered the confidence of a net that was not "
                                                           "overconfident, which widens the gap." if over <= 0 else ""))
    seeds = "" if min(p["ece"].n, s["ece"].n) == 1 else " (of the bootstrap or of the spread across seeds)"
    return Verdict(claim, "inconclusive", evidence, f"the ECEs differ by less than two standard errors{seeds}"
                   + ("" if lower_conf else ", and smoothing did not lower the mean confidence") + ".")


def verdict_reductions(*, naive: dict[str, Any], reduced: dict[str, Any], n_test: int, chance: float) -> Verdict:
    """Do 1x1 reductions cut parameters and multiply-adds without loss of accuracy (naive vs reduced module)?

    ``naive``/``reduced`` hold ``params``, ``macs``, ``test_acc`` (0..1; one value or a
    :class:`~.findings.Spread` over seeds) and ``out_channels``.  Supported: fewer parameters and
    multiply-adds and an accuracy not lower beyond the margin; not supported: a lower accuracy beyond the
    margin and two standard errors over the seeds (:func:`~.findings.no_loss_by_seeds`), or no
    savings; inconclusive when a net has not learned (at most twice chance) or a loss beyond the margin is
    within the seeds' spread.
    """
    claim = ("1x1 reductions cut parameters, multiply-adds and feature-map channels without loss of accuracy: the "
             "Inception module with reductions against the naive module at the same #1x1/#3x3/#5x5 widths "
             "(Szegedy et al. 2014, Sec. 4).")
    a_n, a_r = percent(naive["test_acc"]), percent(reduced["test_acc"])
    margin = 100 * accuracy_margin(a_n.mean / 100, a_r.mean / 100, n_test)
    evidence = (f"naive: {naive['params']:,.0f} parameters, {naive['macs'] / 1e6:.1f}M multiply-adds, "
                f"{naive['out_channels']:.0f} channels out of the last module, test accuracy "
                f"{a_n.text(unit='%')}; with reductions: {reduced['params']:,.0f} "
                f"({naive['params'] / reduced['params']:.1f}x fewer), {reduced['macs'] / 1e6:.1f}M "
                f"({naive['macs'] / reduced['macs']:.1f}x fewer), {reduced['out_channels']:.0f} channels, "
                f"{a_r.text(unit='%')} ({a_r.mean - a_n.mean:+.2f} points; margin {margin:.2f}).")
    if not (has_learned(a_n.mean / 100, chance) and has_learned(a_r.mean / 100, chance)):
        return Verdict(claim, "inconclusive", evidence, f"a net is at or below twice chance ({100 * 2 * chance:.0f}%).")
    if reduced["params"] >= naive["params"] or reduced["macs"] >= naive["macs"]:
        return Verdict(claim, "not supported", evidence + " The reductions do not save parameters or multiply-adds.")
    return no_loss_by_seeds(claim, evidence, a_r, a_n, margin,
                            loss="The reduced net loses accuracy beyond the margin (it has far fewer parameters).")


# -- plan ---------------------------------------------------------------------------------------------------------
def plan(ctx: Context) -> list[RunSpec]:
    """The five runs, each with the scale's seeds (:func:`~.framework.seeded`: ``KEY``, ``KEY-s1``, ...)."""
    from ..train import TrainConfig

    sc = SCALES[ctx.scale]
    ds = sc["dataset"]
    specs = []
    for key, (label, changes, model_args) in RUNS.items():
        cfg = TrainConfig(model="inception_cifar", model_args=dict(model_args), dataset=ds, data_dir=ctx.data_path(ds),
                          seed=0, **{**BASE, **changes, **sc["train"]})
        specs.append(RunSpec(key, cfg, label=label, info={"run": key}))
    return seeded(specs, sc.get("seeds", 1))


# -- analysis -----------------------------------------------------------------------------------------------------
def _calibrations(ctx: Context, runs: dict[str, RunRecord], device: Any) -> dict[str, Any]:
    from ..analysis.calibration import calibration, predict_probs
    from ..train.runs import load_trained
    from .measure import batches, run_test_split

    out = {}
    for key, run in runs.items():
        if run.diverged:
            continue
        t = load_trained(run.run_dir)
        ds = run_test_split(run)
        crop = t.input_size[1] if t.input_size and t.input_size[1] != ds.images.shape[1] else None
        probs, labels = predict_probs(t.model.to(device), batches(ds, t.mean, t.std, crop=crop, device=device),
                                      device=device)
        out[key] = calibration(probs, labels, bins=BINS)
    return out


def by_net(runs: dict[str, RunRecord], cal: dict[str, Any], what: str) -> dict[str, Spread]:
    """Per net (the spec its seeds came from, :func:`~.framework.by_base`): the calibration measure ``what``
    (``accuracy``, ``confidence``, ``ece``, ``nll``) over its seeds, NaN for a seed without one (diverged)."""
    return {base: spread([getattr(cal[r.key], what) if r.key in cal else math.nan for r in group])
            for base, group in by_base(runs).items()}


def module_figures(runs: dict[str, RunRecord], acc: dict[str, float | Spread],
                   device: Any) -> dict[str, dict[str, Any]]:
    """The naive and the reduced (``base``) network: parameters, multiply-adds, channels out, accuracy, img/s.

    Sizes and inference speed from the first seed's net; the accuracy's mean and sd and the training img/s'
    mean over the seeds (``acc``: per net, one value or a :class:`~.findings.Spread`)."""
    from ..analysis import count_params, summarize
    from ..train.runs import load_trained

    groups = by_base(runs)
    nets: dict[str, dict[str, Any]] = {}
    for key in ("base", "naive"):
        t = load_trained(runs[key].run_dir)
        size = tuple(t.input_size)
        model = t.model
        # the auxiliary head is training-only: count the network as it runs at inference
        aux = getattr(model, "aux", None)
        aux_params = count_params(aux)[0] if aux is not None else 0
        a = as_spread(acc[key])
        nets[key] = {"params": count_params(model)[0] - aux_params, "aux_params": aux_params,
                     "macs": summarize(model, size).macs, "out_channels": model.num_features,
                     "test_acc": a.mean, "test_acc_sd": a.sd, "seeds": a.n,
                     "train_img_s": spread([train_speed(r) for r in groups.get(key, [runs[key]])]).mean,
                     "infer_img_s": inference_speed(model.to(device), size, device=device)}
    return nets


def _accuracy_verdicts(acc: dict[str, Spread], n_test: int, chance: float) -> list[Verdict]:
    """The three accuracy verdicts: auxiliary head, label smoothing, RMSProp."""
    return [
        verdict_accuracy("An auxiliary classifier (loss weight 0.3) raises the final test accuracy (GoogLeNet Sec. 5: "
                         "about 0.5% in the paper's ablation).", with_acc=acc["base"], without_acc=acc["no-aux"],
                         names=("with aux", "without"), n_test=n_test, chance=chance),
        verdict_accuracy("Label smoothing 0.1 raises the test accuracy (Inception v3 Table 3: 0.3 points top-1 on "
                         "ImageNet).", with_acc=acc["ls0.1"], without_acc=acc["base"],
                         names=("smoothed", "unsmoothed"), n_test=n_test, chance=chance),
        verdict_accuracy("RMSProp with the v3 settings (decay 0.9, epsilon 1.0) trains to a higher test accuracy than "
                         "SGD with momentum at the same learning rate and budget (Inception v3 Table 3: 0.3 points).",
                         with_acc=acc["rmsprop"], without_acc=acc["base"], names=("RMSProp", "SGD"), n_test=n_test,
                         chance=chance),
    ]


def analyze(ctx: Context, runs: dict[str, RunRecord]) -> Report:
    from ..analysis.calibration import ece_bootstrap
    from ..device import resolve_device
    from ..train.plot import plot_runs

    dev = resolve_device(ctx.device)
    cal = _calibrations(ctx, runs, dev)
    facts = runs["base"].files.read_data()
    n_test = int(facts.get("test") or 0)
    chance = 1.0 / max(1, len(facts.get("classes") or []))
    acc = {k: (cal[k].accuracy if k in cal else math.nan) for k in runs}
    net = {what: by_net(runs, cal, what) for what in ("accuracy", "confidence", "ece", "nll")}
    seeds = min(s.n for s in net["accuracy"].values())
    nets = module_figures(runs, net["accuracy"], dev)
    verdicts = _accuracy_verdicts(net["accuracy"], n_test, chance)
    measurements: dict[str, Any] = {
        "n_test": n_test, "bins": BINS, "seeds": seeds, "accuracy": acc,
        "calibration": {k: c.as_dict() for k, c in cal.items()}, "modules": nets,
        "by_net": {b: {w: {"mean": s[b].mean, "sd": s[b].sd, "values": list(s[b].values)} for w, s in net.items()}
                   for b in net["accuracy"]}}
    smoothing = "base" in cal and "ls0.1" in cal
    if smoothing:  # the bootstrap pairs the first seeds of both (the same test images)
        boot = ece_bootstrap(cal["base"], cal["ls0.1"], resamples=200, seed=0)
        measurements["ece_bootstrap"] = boot
        side = {k: {"accuracy": net["accuracy"][k], "mean_confidence": net["confidence"][k], "ece": net["ece"][k]}
                for k in ("base", "ls0.1")}
        verdicts.insert(2, verdict_calibration(plain=side["base"], smoothed=side["ls0.1"],
                                               ece_se_diff=boot["se_diff"], chance=chance))
    verdicts.append(verdict_reductions(naive={**nets["naive"], "test_acc": net["accuracy"]["naive"]},
                                       reduced={**nets["base"], "test_acc": net["accuracy"]["base"]},
                                       n_test=n_test, chance=chance))
    firsts = [group[0] for group in by_base(runs).values()]
    first = "" if seeds == 1 else " (first seed)"
    figures = [plot_runs([r.run_dir for r in firsts], out=ctx.figures / "training_curves.png",
                         labels=[r.label for r in firsts],
                         title=f"Inception tricks: dashed training error, bold test error{first}")]
    if smoothing:
        figures.append(_reliability(ctx.figures / "reliability_diagram.png",
                                    [(f"no label smoothing{first}", cal["base"]),
                                     (f"label smoothing 0.1{first}", cal["ls0.1"])]))
    return Report(measurements=measurements, verdicts=verdicts, tables=_tables(ctx, runs, net, nets, n_test),
                  figures=figures, notes=_notes(ctx.scale, runs["base"].config, seeds))


def _cell(s: Spread, *, scale: float = 100, digits: int = 2) -> str:
    """A table cell: the value (one seed) or the mean and sd over the seeds that have one; '' when none has."""
    values = [scale * v for v in s.values if not math.isnan(v)]
    return spread(values).text(digits) if values else ""


def _status(group: list[RunRecord]) -> str:
    """'finished' / 'diverged' for one seed; '3 finished' or '2 finished, 1 diverged' over several."""
    if len(group) == 1:
        return group[0].status
    done = sum(not r.diverged for r in group)
    return f"{done} finished" + (f", {len(group) - done} diverged" if done < len(group) else "")


def _tables(ctx: Context, runs: dict[str, RunRecord], net: dict[str, dict[str, Spread]],
            nets: dict[str, dict[str, Any]], n_test: int) -> list[Any]:
    groups = by_base(runs)
    seeds = min(len(g) for g in groups.values())
    over = "" if seeds == 1 else f"; mean (sd) over {seeds} seeds"
    runs_table = TextTable.from_records(
        f"Five runs, each differing from base in one thing ({SCALES[ctx.scale]['dataset']}, test split of "
        f"{n_test:,} images{over})",
        {"run": lambda r: runs[r["run"]].label, "test acc %": lambda r: _cell(net["accuracy"][r["run"]]),
         "mean confidence %": lambda r: _cell(net["confidence"][r["run"]]),
         f"ECE % ({BINS} bins)": lambda r: _cell(net["ece"][r["run"]]),
         "NLL": lambda r: _cell(net["nll"][r["run"]], scale=1, digits=3),
         "train img/s": lambda r: f"{spread([train_speed(x) for x in groups[r['run']]]).mean:.0f}",
         "status": lambda r: _status(groups[r["run"]])},
        [{"run": b, "seeds": len(g), "test_acc": net["accuracy"][b].mean, "test_acc_sd": net["accuracy"][b].sd,
          "mean_confidence": net["confidence"][b].mean, "ece": net["ece"][b].mean, "nll": net["nll"][b].mean}
         for b, g in groups.items()],
        right=range(1, 6))
    modules_table = TextTable.from_records(
        "Inception modules: naive (Fig. 2a) against 1x1 reductions (Fig. 2b), same #1x1/#3x3/#5x5 widths "
        f"(parameters without the training-only auxiliary head{over})",
        {"network": lambda r: runs[r["run"]].label, "params": "{params:,}", "MACs": lambda r: f"{r['macs'] / 1e6:.1f}M",
         "channels out": "{out_channels}", "train img/s": "{train_img_s:.0f}", "inference img/s": "{infer_img_s:.0f}",
         "test acc %": lambda r: _cell(net["accuracy"][r["run"]])},
        [{"run": k, **v} for k, v in nets.items()], right=range(1, 7))
    return [runs_table, modules_table]


def _notes(scale: str, bcfg: dict[str, Any], seeds: int = 1) -> list[str]:
    sc = SCALES[scale]
    aug = {"crop-flip": "pad-4 crop and flip", "none": "no augmentation"}.get(str(bcfg.get("augment")),
                                                                            str(bcfg.get("augment")))
    seed_text = "seed 0 (same initialization and data order)" if seeds == 1 else \
        f"seeds 0 to {seeds - 1} (seed i gives every run the same initialization and data order)"
    margins = "one seed per run, so a difference within the margin is a tie." if seeds == 1 else (
        f"{seeds} seeds per run: a verdict compares the means and needs their difference beyond the margin and "
        "beyond two standard errors of it over the seeds (findings.by_seeds); the ECE bootstrap pairs the first "
        "seeds.")
    return [
        f"Data: {'CIFAR-10 at 32x32 (its own size)' if sc['dataset'] == 'cifar10' else 'the embedded 8x8 digits'}; "
        "network: classicnets.models.cifar_variants.inception_cifar (3x3 stem, four Inception modules, an auxiliary "
        "classifier after the second: 4x4 average pool, 1x1 conv 64, fc 256, dropout 70%, fc).",
        f"Every run: {train_length(sc['train'])}, batch {bcfg.get('batch_size')}, {seed_text}, momentum 0.9, lr "
        f"0.045, gradient clipping 2.0, weight decay {bcfg.get('weight_decay'):g} (the engine's inception-v3 "
        f"recipe), {aug}, and a cosine schedule (ours, see the module docstring) in place of v3's x0.94 every two "
        "epochs.",
        "no-aux keeps the auxiliary head in the network (same initialization as base) but gives its loss weight 0, "
        "so only the loss differs; the head never runs at test time.",
        f"ECE: {BINS} equal-width confidence bins over the full test split (Guo et al. 2017); its uncertainty is a "
        "paired bootstrap over the test images (200 resamples).",
        f"Accuracy margins: two standard errors of the difference of two accuracies on the test set (at least 0.5 "
        f"points); {margins}",
    ]


def _reliability(path: Path, items: list[tuple[str, Any]]) -> Path:
    plt = pyplot()
    fig, axes = plt.subplots(2, len(items), figsize=(5 * len(items), 6.5), sharex=True,
                             gridspec_kw={"height_ratios": [3, 1]})
    for j, (name, c) in enumerate(items):
        ax, hist = axes[0][j], axes[1][j]
        width = 1.0 / c.bins
        centers = [(r["lower"] + r["upper"]) / 2 for r in c.rows]
        accs = [r["accuracy"] if r["count"] else 0.0 for r in c.rows]
        confs = [r["confidence"] if r["count"] else 0.0 for r in c.rows]
        ax.bar(centers, accs, width=width * 0.95, color="tab:blue", edgecolor="k", linewidth=0.5,
               label="accuracy in the bin")
        used = [(x, cf) for x, cf, r in zip(centers, confs, c.rows, strict=True) if r["count"]]
        ax.plot([x for x, _ in used], [cf for _, cf in used], "_", color="tab:red", markersize=14, mew=2.5,
                label="mean confidence in the bin")
        ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=1, label="perfect calibration")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(f"{name}\nECE {100 * c.ece:.2f}%, accuracy {100 * c.accuracy:.1f}%, mean confidence "
                     f"{100 * c.confidence:.1f}%", fontsize=9)
        ax.set_ylabel("accuracy")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
        hist.bar(centers, [r["count"] / c.n for r in c.rows], width=width * 0.95, color="tab:gray")
        hist.set_xlabel("confidence (top-1 probability)")
        hist.set_ylabel("share of images")
        hist.grid(True, alpha=0.3)
    fig.suptitle(f"reliability diagrams ({items[0][1].bins} bins; below: how the confidences are spread)",
                 fontsize=10)
    return save_figure(fig, path)
