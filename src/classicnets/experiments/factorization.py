"""``factorization``: factorized convolutions cut parameters without losing accuracy; the nonlinear
factorization is the better one.

Szegedy et al. 2015 ("Rethinking the Inception Architecture for Computer Vision"), Sec. 3 and Figure 2,
the lecture's factorized kernels.  Small CIFAR-10 networks that differ only in their spatial convolutions
(``factorized_cifar``, :mod:`classicnets.models.cifar_variants`: three stages of two units, each unit
followed by BatchNorm and ReLU), trained with one recipe for the same number of epochs:

=====================  =========================================  ==================================
run                    spatial unit                               compared with
=====================  =========================================  ==================================
``conv5x5``            one 5x5 conv
``conv3x3-3x3``        3x3 -> BN -> ReLU -> 3x3 (Figure 1)        ``conv5x5``: fewer parameters?
``conv3x3-3x3-linear`` 3x3 -> BN -> 3x3, no ReLU (Figure 2)       ``conv3x3-3x3``: ReLU better?
``conv3x3``            one 3x3 conv
``conv1x3-3x1``        1x3 -> BN -> ReLU -> 3x1 (Figure 3)        ``conv3x3``: fewer parameters?
=====================  =========================================  ==================================

The table gives each net's parameters and multiply-adds (:func:`classicnets.analysis.summarize`), its
training speed (images per second over the training epochs, from the run's metrics) and its inference
speed (measured after training, every net in this one process on the same batch), and its test accuracy.
The paper's Figure 2 found the ReLU between the two 3x3 convolutions better than a linear one (77.2% against
76.2% top-1 on ImageNet, a one-point difference that a CIFAR-10 test set of 10,000 images resolves only
barely: two standard errors of a difference of two accuracies near 80% are about 1.1 points).

Verdicts (pure functions): :func:`verdict_fewer_params` (for 5x5 -> 3x3+3x3 and 3x3 -> 1x3+3x1) and
:func:`verdict_nonlinear`; both use :func:`accuracy_margin`.
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path
from typing import Any

from .._io import pyplot, save_figure
from ..analysis import TextTable
from .findings import Verdict, by_difference, has_learned, train_length
from .framework import Context, Experiment, Report, RunRecord, RunSpec

#: run key -> (the ``conv`` option of factorized_cifar, a label)
RUNS: dict[str, tuple[str, str]] = {
    "conv5x5": ("5x5", "5x5"),
    "conv3x3-3x3": ("3x3+3x3", "3x3 + 3x3, ReLU between"),
    "conv3x3-3x3-linear": ("3x3+3x3-linear", "3x3 + 3x3, linear between"),
    "conv1x3-3x1": ("1x3+3x1", "1x3 + 3x1, ReLU between"),
    "conv3x3": ("3x3", "3x3"),
}

SCALES: dict[str, dict[str, Any]] = {
    "smoke": {"dataset": "digits", "train": {"steps": 40, "batch_size": 32}},
    "small": {"dataset": "cifar10", "train": {"epochs": 6}},
    "paper": {"dataset": "cifar10", "train": {"epochs": 60}},
}

#: The note of a smoke run (this experiment's and the inception experiment's).
SMOKE_NOTE = "Smoke scale: digits (8x8) and 40 steps; the numbers check the pipeline, not the claims."
#: Smallest margin (points) for an accuracy difference to count, whatever the test-set size.
MIN_MARGIN_PP = 0.5


EXPERIMENT = Experiment(
    name="factorization",
    title="Factorized convolutions: fewer parameters, same accuracy; ReLU between the factors (Szegedy et al. 2015)",
    reproduces="Szegedy et al. 2015, Rethinking the Inception Architecture, Sec. 3 and Figure 2 (5x5 -> two 3x3, "
               "3x3 -> 1x3 + 3x1, linear vs ReLU between the factors), on small CIFAR-10 networks",
    summary="5x5 vs two 3x3, 3x3 vs 1x3+3x1, ReLU vs linear between: params, MACs, img/s, accuracy",
    scales={
        "smoke": "digits (8x8), five small nets, 40 steps each: seconds; checks the pipeline, not the claims",
        "small": "CIFAR-10, five nets of 0.2-0.8M parameters, 6 epochs each (default recipe, cosine): about 45 "
                 "minutes on a 2-core CPU with --jobs 2",
        "paper": "CIFAR-10, the same five nets, 60 epochs each: about 8 hours on a 2-core CPU, well under an hour "
                 "on one GPU",
    },
    needs_data={"small": "cifar10", "paper": "cifar10"},
    scale_notes={"smoke": SMOKE_NOTE},
)


# -- verdicts (pure functions of the measurements) -----------------------------------------------------------------
def accuracy_margin(a: float, b: float, n: int, *, floor: float = MIN_MARGIN_PP / 100) -> float:
    """Two standard errors of the difference of two accuracies (0..1) on ``n`` images each, at least ``floor``."""
    p = (a + b) / 2
    return max(floor, 2 * math.sqrt(max(p * (1 - p), 1e-12) * 2 / max(n, 1)))


def _learned(*accs: float, chance: float) -> bool:
    """Have all these nets learned (:func:`~.findings.has_learned`)?"""
    return all(has_learned(a, chance) for a in accs)


def verdict_fewer_params(original: str, factorized: str, *, params: tuple[int, int], macs: tuple[int, int],
                         acc: tuple[float, float], n_test: int, chance: float) -> Verdict:
    """Does the factorized net have fewer parameters without losing accuracy?

    ``params``, ``macs`` and ``acc`` (test accuracy, 0..1) are ``(original, factorized)``.  Supported: fewer
    parameters and an accuracy not lower by more than :func:`accuracy_margin`; not supported: a lower accuracy
    beyond the margin, or no fewer parameters; inconclusive when a net has not learned (at most twice chance).
    """
    claim = (f"Factorizing {original} into {factorized} gives fewer parameters without loss of accuracy "
             "(Szegedy et al. 2015, Sec. 3).")
    (p0, p1), (m0, m1), (a0, a1) = params, macs, acc
    margin = accuracy_margin(a0, a1, n_test)
    evidence = (f"parameters {p0:,} -> {p1:,} ({100 * (1 - p1 / p0):.1f}% saved), multiply-adds {m0 / 1e6:.1f}M -> "
                f"{m1 / 1e6:.1f}M; test accuracy {100 * a0:.2f}% -> {100 * a1:.2f}% ({100 * (a1 - a0):+.2f} points; "
                f"margin {100 * margin:.2f} on {n_test:,} images).")
    if not _learned(a0, a1, chance=chance):
        return Verdict(claim, "inconclusive", evidence, f"a net is at or below twice chance ({100 * 2 * chance:.0f}%): "
                       "too little training to compare.")
    if p1 >= p0:
        return Verdict(claim, "not supported", evidence + " The factorized net has no fewer parameters.")
    if a0 - a1 > margin:
        return Verdict(claim, "not supported", evidence + " The factorized net loses accuracy beyond the margin.")
    return Verdict(claim, "supported", evidence + (" It is more accurate, beyond the margin." if a1 - a0 > margin
                                                   else ""))


def verdict_nonlinear(*, relu_acc: float, linear_acc: float, n_test: int, chance: float) -> Verdict:
    """Is the factorization with a ReLU between the two 3x3 convs better than the linear one (Figure 2)?

    Supported: ReLU better by more than :func:`accuracy_margin`; not supported: linear better by more than
    it; inconclusive within it or when a net has not learned (at most twice chance).
    """
    claim = ("Two 3x3 convolutions with a ReLU between them beat the same with a linear (identity) activation "
             "between them (Szegedy et al. 2015, Figure 2: 77.2% vs 76.2% top-1 on ImageNet).")
    margin = accuracy_margin(relu_acc, linear_acc, n_test)
    evidence = (f"test accuracy with ReLU {100 * relu_acc:.2f}%, linear {100 * linear_acc:.2f}% "
                f"({100 * (relu_acc - linear_acc):+.2f} points; margin {100 * margin:.2f} on {n_test:,} images).")
    if not _learned(relu_acc, linear_acc, chance=chance):
        return Verdict(claim, "inconclusive", evidence, f"a net is at or below twice chance ({100 * 2 * chance:.0f}%).")
    return by_difference(claim, evidence, relu_acc - linear_acc, margin, tie="the difference is within two "
                         "standard errors at this test-set size (the paper's own difference is one point).")


# -- plan ---------------------------------------------------------------------------------------------------------
def plan(ctx: Context) -> list[RunSpec]:
    from ..train import TrainConfig

    sc = SCALES[ctx.scale]
    ds = sc["dataset"]
    return [RunSpec(key, TrainConfig(model="factorized_cifar", model_args={"conv": conv}, dataset=ds,
                                     data_dir=ctx.data_path(ds), seed=0, **sc["train"]),
                    label=label, info={"conv": conv}) for key, (conv, label) in RUNS.items()]


# -- measurements -------------------------------------------------------------------------------------------------
def train_speed(run: RunRecord) -> float:
    """Training images per second: the mean over the run's epochs (the first left out when there are more)."""
    rows = [r["img_per_s"] for r in run.history if r.get("img_per_s") and math.isfinite(r["img_per_s"])]
    if len(rows) > 1:
        rows = rows[1:]
    return statistics.fmean(rows) if rows else math.nan


def inference_speed(model: Any, input_size: tuple[int, int, int], *, device: Any, batch: int = 256,
                    repeats: int = 3) -> float:
    """Images per second of ``model`` in eval mode on one random batch: the median of ``repeats`` timed passes."""
    import torch

    was = model.training
    model.eval()
    x = torch.randn(batch, *input_size, device=device)
    times = []
    sync = torch.cuda.synchronize if x.device.type == "cuda" else (lambda: None)
    with torch.no_grad():
        model(x[:8])  # warm-up
        for _ in range(repeats):
            sync()
            t0 = time.perf_counter()
            model(x)
            sync()
            times.append(time.perf_counter() - t0)
    model.train(was)
    return batch / statistics.median(times)


def net_figures(runs: dict[str, RunRecord], *, device: Any) -> dict[str, dict[str, Any]]:
    """Per run: parameters, MACs, train/inference img/s, final test accuracy, test images, chance."""
    from ..analysis import count_params, summarize
    from ..train.runs import load_trained

    out = {}
    for key, run in runs.items():
        t = load_trained(run.run_dir)
        facts = run.files.read_data()
        size = tuple(t.input_size)
        out[key] = {"params": count_params(t.model)[0], "macs": summarize(t.model, size).macs,
                    "train_img_s": train_speed(run),
                    "infer_img_s": inference_speed(t.model.to(device), size, device=device),
                    "test_acc": float(run.final.get("val_acc", math.nan)), "n_test": int(facts.get("test") or 0),
                    "chance": 1.0 / max(1, len(facts.get("classes") or [])), "input_size": list(size),
                    "diverged": run.diverged}
    return out


def analyze(ctx: Context, runs: dict[str, RunRecord]) -> Report:
    from ..analysis import factorization_table
    from ..device import resolve_device
    from ..train.plot import plot_runs

    dev = resolve_device(ctx.device)
    sc = SCALES[ctx.scale]
    f = net_figures(runs, device=dev)
    n_test = min(v["n_test"] for v in f.values())
    chance = f["conv5x5"]["chance"]

    def pair(a: str, b: str, what: str) -> tuple[Any, ...]:
        return tuple((f[a][what], f[b][what]))

    verdicts = [
        verdict_fewer_params("a 5x5 convolution", "two 3x3 convolutions",
                             params=pair("conv5x5", "conv3x3-3x3", "params"),
                             macs=pair("conv5x5", "conv3x3-3x3", "macs"),
                             acc=pair("conv5x5", "conv3x3-3x3", "test_acc"), n_test=n_test, chance=chance),
        verdict_fewer_params("a 3x3 convolution", "a 1x3 and a 3x1 convolution",
                             params=pair("conv3x3", "conv1x3-3x1", "params"),
                             macs=pair("conv3x3", "conv1x3-3x1", "macs"),
                             acc=pair("conv3x3", "conv1x3-3x1", "test_acc"), n_test=n_test, chance=chance),
        verdict_nonlinear(relu_acc=f["conv3x3-3x3"]["test_acc"], linear_acc=f["conv3x3-3x3-linear"]["test_acc"],
                          n_test=n_test, chance=chance),
    ]
    records = [{"run": key, "conv": run.info["conv"], **f[key]} for key, run in runs.items()]
    tables = [TextTable.from_records(
        f"Small {sc['dataset']} nets differing only in their spatial convolutions (same recipe and length)",
        {"spatial unit": lambda r: runs[r["run"]].label, "params": "{params:,}",
         "MACs": lambda r: f"{r['macs'] / 1e6:.1f}M", "train img/s": "{train_img_s:.0f}",
         "inference img/s": "{infer_img_s:.0f}",
         "test acc %": lambda r: "diverged" if r["diverged"] else f"{100 * r['test_acc']:.2f}"},
        records, right=range(1, 6)),
        factorization_table([(5, "3x3"), (3, "asymmetric")])]
    figures = [
        plot_runs([r.run_dir for r in runs.values()], out=ctx.figures / "training_curves.png",
                  labels=[r.label for r in runs.values()],
                  title="factorized convolutions: dashed training error, bold test error"),
        _tradeoff(ctx.figures / "accuracy_vs_cost.png", runs, f),
    ]
    h, w = f["conv5x5"]["input_size"][1:]
    notes = [
        "Networks: classicnets.models.cifar_variants.factorized_cifar (three stages of two spatial units on "
        "32x32, 16x16 and 8x8 maps with 32, 64 and 128 channels; each unit followed by BatchNorm and ReLU; the "
        "factorized units carry BatchNorm after their first conv and sqrt(in x out) channels between their two "
        "convs, Szegedy et al.'s sqrt(alpha) rule for a widening unit).",
        "Recipe for every run: the engine's default for BatchNorm nets (SGD with Nesterov momentum 0.9, lr 0.1, "
        "weight decay 5e-4, batch 128, cosine schedule, the dataset's usual augmentation; ours), "
        f"{train_length(sc['train'])}, seed 0 (the same data order for every net).",
        f"MACs at {h}x{w} (classicnets.analysis.summarize, conv and linear multiply-adds). Training img/s: mean "
        "over the run's epochs after the first (with --jobs 2 two runs share the cores, so compare within one "
        "sweep only). Inference img/s: measured after training, one net after another in this process, on one "
        "batch of 256 random images, median of 3 passes.",
        "The margin of an accuracy difference is two standard errors of the difference of two accuracies on the "
        f"test set (at least {MIN_MARGIN_PP:g} points). One seed per net: a difference within the margin is a tie.",
    ]
    return Report(measurements={"nets": records, "n_test": n_test, "margin_min_points": MIN_MARGIN_PP},
                  verdicts=verdicts, tables=tables, figures=figures, notes=notes)


def _tradeoff(path: Path, runs: dict[str, RunRecord], f: dict[str, dict[str, Any]]) -> Path:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, what, unit, scale in ((axes[0], "params", "parameters (thousands)", 1e3),
                                  (axes[1], "macs", "multiply-adds (millions)", 1e6)):
        for key, run in runs.items():
            v = f[key]
            marker = "o" if run.info["conv"] in ("5x5", "3x3") else "s"
            ax.plot(v[what] / scale, 100 * v["test_acc"], marker, markersize=8)
            ax.annotate(run.label, (v[what] / scale, 100 * v["test_acc"]), textcoords="offset points",
                        xytext=(5, 4), fontsize=7)
        for a, b in (("conv5x5", "conv3x3-3x3"), ("conv3x3", "conv1x3-3x1")):
            ax.annotate("", xy=(f[b][what] / scale, 100 * f[b]["test_acc"]),
                        xytext=(f[a][what] / scale, 100 * f[a]["test_acc"]),
                        arrowprops={"arrowstyle": "-|>", "color": "grey", "lw": 0.8, "shrinkA": 6, "shrinkB": 6})
        ax.set_xlabel(unit)
        ax.margins(x=0.2, y=0.15)
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("test accuracy (%)")
    axes[0].set_title("accuracy against parameters (arrows: original -> factorized)")
    axes[1].set_title("accuracy against multiply-adds")
    return save_figure(fig, path)
