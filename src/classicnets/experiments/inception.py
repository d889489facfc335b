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

Verdicts (pure functions): :func:`verdict_accuracy` (auxiliary heads, label smoothing, RMSProp),
:func:`verdict_calibration`, :func:`verdict_reductions`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .._io import pyplot, save_figure
from ..analysis import TextTable
from .factorization import SMOKE_NOTE, accuracy_margin, inference_speed, train_speed
from .findings import Verdict, by_difference, has_learned, train_length
from .framework import Context, Experiment, Report, RunRecord, RunSpec

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
        "paper": "CIFAR-10 at 32x32, the same five runs, 60 epochs each: about 9 hours on a 2-core CPU, about an "
                 "hour on one GPU",
    },
    needs_data={"small": "cifar10", "paper": "cifar10"},
    scale_notes={"smoke": SMOKE_NOTE},
)


# -- verdicts (pure functions of the measurements) -----------------------------------------------------------------
def verdict_accuracy(claim: str, *, with_acc: float, without_acc: float, names: tuple[str, str], n_test: int,
                     chance: float) -> Verdict:
    """Does the change (``with``) give a higher test accuracy than the baseline (``without``)?

    Supported: higher by more than :func:`~classicnets.experiments.factorization.accuracy_margin`; not
    supported: lower by more than it; inconclusive within it, or when a net has not learned (at most twice chance).
    """
    margin = accuracy_margin(with_acc, without_acc, n_test)
    evidence = (f"test accuracy {names[0]} {100 * with_acc:.2f}%, {names[1]} {100 * without_acc:.2f}% "
                f"({100 * (with_acc - without_acc):+.2f} points; margin {100 * margin:.2f} on {n_test:,} images).")
    if not (has_learned(with_acc, chance) and has_learned(without_acc, chance)):
        return Verdict(claim, "inconclusive", evidence, f"a net is at or below twice chance ({100 * 2 * chance:.0f}%).")
    return by_difference(claim, evidence, with_acc - without_acc, margin,
                         tie="the difference is within two standard errors at this test-set size (one seed per run).")


def verdict_calibration(*, plain: dict[str, float], smoothed: dict[str, float], ece_se_diff: float,
                        chance: float) -> Verdict:
    """Does label smoothing lower the confidence and the expected calibration error?

    ``plain``/``smoothed`` hold ``accuracy``, ``mean_confidence`` and ``ece`` (0..1) without and with label
    smoothing; ``ece_se_diff`` is the bootstrap standard error of the ECE difference (paired, same images).
    Supported: the smoothed net's mean confidence is lower and its ECE lower by more than two standard
    errors; not supported: its ECE higher by more than two standard errors; inconclusive otherwise, or when
    a net has not learned (at most twice chance).
    """
    claim = ("Label smoothing (0.1) makes the network less confident and better calibrated: lower mean top-1 "
             f"probability and lower expected calibration error ({BINS} bins) than without it.")
    d = smoothed["ece"] - plain["ece"]
    margin = 2 * ece_se_diff
    evidence = (f"without smoothing: accuracy {100 * plain['accuracy']:.2f}%, mean confidence "
                f"{100 * plain['mean_confidence']:.2f}%, ECE {100 * plain['ece']:.2f}%; with 0.1: accuracy "
                f"{100 * smoothed['accuracy']:.2f}%, mean confidence {100 * smoothed['mean_confidence']:.2f}%, ECE "
                f"{100 * smoothed['ece']:.2f}% (difference {100 * d:+.2f} points, two bootstrap standard errors "
                f"{100 * margin:.2f}).")
    over = plain["mean_confidence"] - plain["accuracy"]
    evidence += (f" The unsmoothed net is {'over' if over > 0 else 'under'}confident by {100 * abs(over):.2f} "
                 "points on average.")
    if not (has_learned(plain["accuracy"], chance) and has_learned(smoothed["accuracy"], chance)):
        return Verdict(claim, "inconclusive", evidence, f"a net is at or below twice chance ({100 * 2 * chance:.0f}%).")
    lower_conf = smoothed["mean_confidence"] < plain["mean_confidence"]
    if lower_conf and d < -margin:
        return Verdict(claim, "supported", evidence)
    if d > margin:
        return Verdict(claim, "not supported", evidence + (" Smoothing lowered the confidence of a net that was not "
                                                           "overconfident, which widens the gap." if over <= 0 else ""))
    return Verdict(claim, "inconclusive", evidence, "the ECEs differ by less than two standard errors"
                   + ("" if lower_conf else ", and smoothing did not lower the mean confidence") + ".")


def verdict_reductions(*, naive: dict[str, float], reduced: dict[str, float], n_test: int, chance: float) -> Verdict:
    """Do 1x1 reductions cut parameters and multiply-adds without loss of accuracy (naive vs reduced module)?

    ``naive``/``reduced`` hold ``params``, ``macs``, ``test_acc`` (0..1) and ``out_channels``.  Supported:
    fewer parameters and multiply-adds and an accuracy not lower beyond the margin; not supported: a lower
    accuracy beyond it, or no savings; inconclusive when a net has not learned (at most twice chance).
    """
    claim = ("1x1 reductions cut parameters, multiply-adds and feature-map channels without loss of accuracy: the "
             "Inception module with reductions against the naive module at the same #1x1/#3x3/#5x5 widths "
             "(Szegedy et al. 2014, Sec. 4).")
    margin = accuracy_margin(naive["test_acc"], reduced["test_acc"], n_test)
    evidence = (f"naive: {naive['params']:,.0f} parameters, {naive['macs'] / 1e6:.1f}M multiply-adds, "
                f"{naive['out_channels']:.0f} channels out of the last module, test accuracy "
                f"{100 * naive['test_acc']:.2f}%; with reductions: {reduced['params']:,.0f} "
                f"({naive['params'] / reduced['params']:.1f}x fewer), {reduced['macs'] / 1e6:.1f}M "
                f"({naive['macs'] / reduced['macs']:.1f}x fewer), {reduced['out_channels']:.0f} channels, "
                f"{100 * reduced['test_acc']:.2f}% ({100 * (reduced['test_acc'] - naive['test_acc']):+.2f} points; "
                f"margin {100 * margin:.2f}).")
    if not (has_learned(naive["test_acc"], chance) and has_learned(reduced["test_acc"], chance)):
        return Verdict(claim, "inconclusive", evidence, f"a net is at or below twice chance ({100 * 2 * chance:.0f}%).")
    if reduced["params"] >= naive["params"] or reduced["macs"] >= naive["macs"]:
        return Verdict(claim, "not supported", evidence + " The reductions do not save parameters or multiply-adds.")
    if naive["test_acc"] - reduced["test_acc"] > margin:
        return Verdict(claim, "not supported", evidence + " The reduced net loses accuracy beyond the margin (it has "
                       "far fewer parameters).")
    return Verdict(claim, "supported", evidence)


# -- plan ---------------------------------------------------------------------------------------------------------
def plan(ctx: Context) -> list[RunSpec]:
    from ..train import TrainConfig

    sc = SCALES[ctx.scale]
    ds = sc["dataset"]
    specs = []
    for key, (label, changes, model_args) in RUNS.items():
        cfg = TrainConfig(model="inception_cifar", model_args=dict(model_args), dataset=ds, data_dir=ctx.data_path(ds),
                          seed=0, **{**BASE, **changes, **sc["train"]})
        specs.append(RunSpec(key, cfg, label=label, info={"run": key}))
    return specs


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


def module_figures(runs: dict[str, RunRecord], acc: dict[str, float], device: Any) -> dict[str, dict[str, Any]]:
    """The naive and the reduced (``base``) network: parameters, multiply-adds, channels out, accuracy, img/s."""
    from ..analysis import count_params, summarize
    from ..train.runs import load_trained

    nets: dict[str, dict[str, Any]] = {}
    for key in ("base", "naive"):
        t = load_trained(runs[key].run_dir)
        size = tuple(t.input_size)
        model = t.model
        # the auxiliary head is training-only: count the network as it runs at inference
        aux = getattr(model, "aux", None)
        aux_params = count_params(aux)[0] if aux is not None else 0
        nets[key] = {"params": count_params(model)[0] - aux_params, "aux_params": aux_params,
                     "macs": summarize(model, size).macs, "out_channels": model.num_features,
                     "test_acc": acc[key], "train_img_s": train_speed(runs[key]),
                     "infer_img_s": inference_speed(model.to(device), size, device=device)}
    return nets


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
    nets = module_figures(runs, acc, dev)
    verdicts = [
        verdict_accuracy("An auxiliary classifier (loss weight 0.3) raises the final test accuracy (GoogLeNet Sec. 5: "
                         "about 0.5% in the paper's ablation).", with_acc=acc["base"], without_acc=acc["no-aux"],
                         names=("with aux", "without"), n_test=n_test, chance=chance),
        verdict_accuracy("Label smoothing 0.1 raises the test accuracy (Inception v3 Table 3: 0.3 points top-1 on "
                         "ImageNet).", with_acc=acc["ls0.1"], without_acc=acc["base"],
                         names=("smoothed", "unsmoothed"), n_test=n_test, chance=chance),
    ]
    measurements: dict[str, Any] = {"n_test": n_test, "bins": BINS, "accuracy": acc,
                                    "calibration": {k: c.as_dict() for k, c in cal.items()}, "modules": nets}
    smoothing = "base" in cal and "ls0.1" in cal
    if smoothing:
        boot = ece_bootstrap(cal["base"], cal["ls0.1"], resamples=200, seed=0)
        measurements["ece_bootstrap"] = boot
        verdicts.append(verdict_calibration(plain=cal["base"].as_dict(), smoothed=cal["ls0.1"].as_dict(),
                                            ece_se_diff=boot["se_diff"], chance=chance))
    verdicts += [
        verdict_accuracy("RMSProp with the v3 settings (decay 0.9, epsilon 1.0) trains to a higher test accuracy than "
                         "SGD with momentum at the same learning rate and budget (Inception v3 Table 3: 0.3 points).",
                         with_acc=acc["rmsprop"], without_acc=acc["base"], names=("RMSProp", "SGD"), n_test=n_test,
                         chance=chance),
        verdict_reductions(naive=nets["naive"], reduced=nets["base"], n_test=n_test, chance=chance),
    ]
    figures = [plot_runs([r.run_dir for r in runs.values()], out=ctx.figures / "training_curves.png",
                         labels=[r.label for r in runs.values()],
                         title="Inception tricks: dashed training error, bold test error")]
    if smoothing:
        figures.append(_reliability(ctx.figures / "reliability_diagram.png",
                                    [("no label smoothing", cal["base"]), ("label smoothing 0.1", cal["ls0.1"])]))
    return Report(measurements=measurements, verdicts=verdicts, tables=_tables(ctx, runs, cal, acc, nets, n_test),
                  figures=figures, notes=_notes(ctx.scale, runs["base"].config))


def _tables(ctx: Context, runs: dict[str, RunRecord], cal: dict[str, Any], acc: dict[str, float],
            nets: dict[str, dict[str, Any]], n_test: int) -> list[Any]:
    def cal_cell(k: str, what: str, fmt: Any = None) -> str:
        if k not in cal:
            return ""
        return fmt(getattr(cal[k], what)) if fmt else _p(getattr(cal[k], what))

    runs_table = TextTable.from_records(
        f"Five runs, each differing from base in one thing ({SCALES[ctx.scale]['dataset']}, test split of "
        f"{n_test:,} images)",
        {"run": lambda r: runs[r["run"]].label, "test acc %": lambda r: _p(acc[r["run"]]),
         "mean confidence %": lambda r: cal_cell(r["run"], "confidence"),
         f"ECE % ({BINS} bins)": lambda r: cal_cell(r["run"], "ece"),
         "NLL": lambda r: cal_cell(r["run"], "nll", lambda v: f"{v:.3f}"),
         "train img/s": lambda r: f"{train_speed(runs[r['run']]):.0f}", "status": lambda r: runs[r["run"]].status},
        [{"run": k, "test_acc": acc[k], **({"mean_confidence": cal[k].confidence, "ece": cal[k].ece,
                                             "nll": cal[k].nll} if k in cal else {})} for k in runs],
        right=range(1, 6))
    modules_table = TextTable.from_records(
        "Inception modules: naive (Fig. 2a) against 1x1 reductions (Fig. 2b), same #1x1/#3x3/#5x5 widths "
        "(parameters without the training-only auxiliary head)",
        {"network": lambda r: runs[r["run"]].label, "params": "{params:,}", "MACs": lambda r: f"{r['macs'] / 1e6:.1f}M",
         "channels out": "{out_channels}", "train img/s": "{train_img_s:.0f}", "inference img/s": "{infer_img_s:.0f}",
         "test acc %": lambda r: _p(r["test_acc"])},
        [{"run": k, **v} for k, v in nets.items()], right=range(1, 7))
    return [runs_table, modules_table]


def _notes(scale: str, bcfg: dict[str, Any]) -> list[str]:
    sc = SCALES[scale]
    aug = {"crop-flip": "pad-4 crop and flip", "none": "no augmentation"}.get(str(bcfg.get("augment")),
                                                                            str(bcfg.get("augment")))
    return [
        f"Data: {'CIFAR-10 at 32x32 (its own size)' if sc['dataset'] == 'cifar10' else 'the embedded 8x8 digits'}; "
        "network: classicnets.models.cifar_variants.inception_cifar (3x3 stem, four Inception modules, an auxiliary "
        "classifier after the second: 4x4 average pool, 1x1 conv 64, fc 256, dropout 70%, fc).",
        f"Every run: {train_length(sc['train'])}, batch {bcfg.get('batch_size')}, seed 0 (same initialization and "
        f"data order), momentum 0.9, lr 0.045, gradient clipping 2.0, weight decay {bcfg.get('weight_decay'):g} (the "
        f"engine's inception-v3 recipe), {aug}, and a cosine schedule (ours, see the module docstring) in place of "
        "v3's x0.94 every two epochs.",
        "no-aux keeps the auxiliary head in the network (same initialization as base) but gives its loss weight 0, "
        "so only the loss differs; the head never runs at test time.",
        f"ECE: {BINS} equal-width confidence bins over the full test split (Guo et al. 2017); its uncertainty is a "
        "paired bootstrap over the test images (200 resamples).",
        "Accuracy margins: two standard errors of the difference of two accuracies on the test set (at least 0.5 "
        "points); one seed per run, so a difference within the margin is a tie.",
    ]


def _p(v: float | None) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.2f}"


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
