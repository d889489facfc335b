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

At ``medium`` scale every net trains with 3 seeds (:func:`~.framework.seeded`); the table shows the mean and
standard deviation over the seeds, and a verdict needs a difference of the means beyond the margin and two
standard errors of the seeds' spread (:func:`~.findings.by_seeds`).  With one seed (``smoke``, ``small``) the
margin alone decides, as before.

Verdicts (pure functions): :func:`verdict_fewer_params` (for 5x5 -> 3x3+3x3 and 3x3 -> 1x3+3x1) and
:func:`verdict_nonlinear`; both use :func:`accuracy_margin`, and "no loss of accuracy" is
:func:`no_loss_by_seeds`.
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path
from typing import Any

from .._io import pyplot, save_figure
from ..analysis import TextTable
from .findings import Spread, Verdict, as_spread, by_seeds, has_learned, no_loss_by_seeds, spread, train_length
from .framework import Context, Experiment, Report, RunRecord, RunSpec, by_base, seeded

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
    "medium": {"dataset": "cifar10", "train": {"epochs": 12}, "seeds": 3},
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
        "medium": "lossless CIFAR-10, the same five nets with 3 seeds each (15 runs), 12 epochs each (default "
                  "recipe, cosine): about 4 hours on a 2-core CPU with --jobs 2 (small: 4,822 s of training for 5 "
                  "nets x 6 epochs = 161 s per net-epoch at one thread per run; 15 runs x 12 epochs x 161 s / 2 "
                  "jobs = 14,500 s = 4.0 h); verdicts on the mean and spread over the seeds",
        "paper": "CIFAR-10, the same five nets, 60 epochs each: about 8 hours on a 2-core CPU, well under an hour "
                 "on one GPU",
    },
    needs_data={"small": "cifar10", "medium": "cifar10", "paper": "cifar10"},
    scale_notes={"smoke": SMOKE_NOTE},
)


# -- verdicts (pure functions of the measurements) -----------------------------------------------------------------
def accuracy_margin(a: float, b: float, n: int, *, floor: float = MIN_MARGIN_PP / 100) -> float:
    """Two standard errors of the difference of two accuracies (0..1) on ``n`` images each, at least ``floor``."""
    p = (a + b) / 2
    return max(floor, 2 * math.sqrt(max(p * (1 - p), 1e-12) * 2 / max(n, 1)))


def percent(acc: float | Spread) -> Spread:
    """An accuracy (0..1, one value or over seeds) in percent."""
    return spread([100 * v for v in as_spread(acc).values])


def seeds_note(*spreads: Spread) -> str:
    """How the margin reads: one seed per net, or the seeds each side has."""
    n = min(s.n for s in spreads)
    return "one seed per run" if n == 1 else f"{n} seeds per run, mean and spread"


def _learned(*accs: float, chance: float) -> bool:
    """Have all these nets learned (:func:`~.findings.has_learned`)?"""
    return all(has_learned(a, chance) for a in accs)


def verdict_fewer_params(original: str, factorized: str, *, params: tuple[int, int], macs: tuple[int, int],
                         acc: tuple[float | Spread, float | Spread], n_test: int, chance: float) -> Verdict:
    """Does the factorized net have fewer parameters without losing accuracy?

    ``params``, ``macs`` and ``acc`` (test accuracy, 0..1, one value or a :class:`~.findings.Spread` over
    seeds) are ``(original, factorized)``.  Supported: fewer parameters and an accuracy not lower by more
    than :func:`accuracy_margin` (:func:`no_loss_by_seeds`); not supported: a lower accuracy beyond the
    margin and two standard errors over the seeds, or no fewer parameters; inconclusive when a net has not
    learned (at most twice chance) or a loss beyond the margin is within the seeds' spread.
    """
    claim = (f"Factorizing {original} into {factorized} gives fewer parameters without loss of accuracy "
             "(Szegedy et al. 2015, Sec. 3).")
    (p0, p1), (m0, m1) = params, macs
    a0, a1 = percent(acc[0]), percent(acc[1])
    margin = 100 * accuracy_margin(a0.mean / 100, a1.mean / 100, n_test)
    evidence = (f"parameters {p0:,} -> {p1:,} ({100 * (1 - p1 / p0):.1f}% saved), multiply-adds {m0 / 1e6:.1f}M -> "
                f"{m1 / 1e6:.1f}M; test accuracy {a0.text(unit='%')} -> {a1.text(unit='%')} "
                f"({a1.mean - a0.mean:+.2f} points; margin {margin:.2f} on {n_test:,} images).")
    if not _learned(a0.mean / 100, a1.mean / 100, chance=chance):
        return Verdict(claim, "inconclusive", evidence, f"a net is at or below twice chance ({100 * 2 * chance:.0f}%): "
                       "too little training to compare.")
    if p1 >= p0:
        return Verdict(claim, "not supported", evidence + " The factorized net has no fewer parameters.")
    return no_loss_by_seeds(claim, evidence, a1, a0, margin,
                            loss="The factorized net loses accuracy beyond the margin.",
                            better="It is more accurate, beyond the margin.")


def verdict_nonlinear(*, relu_acc: float | Spread, linear_acc: float | Spread, n_test: int, chance: float) -> Verdict:
    """Is the factorization with a ReLU between the two 3x3 convs better than the linear one (Figure 2)?

    The accuracies (0..1) are one value each or :class:`~.findings.Spread` over seeds.  Supported: ReLU
    better by more than :func:`accuracy_margin` and two standard errors over the seeds
    (:func:`~.findings.by_seeds`); not supported: linear better by as much; inconclusive within it or when
    a net has not learned (at most twice chance).
    """
    claim = ("Two 3x3 convolutions with a ReLU between them beat the same with a linear (identity) activation "
             "between them (Szegedy et al. 2015, Figure 2: 77.2% vs 76.2% top-1 on ImageNet).")
    relu, linear = percent(relu_acc), percent(linear_acc)
    margin = 100 * accuracy_margin(relu.mean / 100, linear.mean / 100, n_test)
    evidence = (f"test accuracy with ReLU {relu.text(unit='%')}, linear {linear.text(unit='%')} "
                f"({relu.mean - linear.mean:+.2f} points; margin {margin:.2f} on {n_test:,} images).")
    if not _learned(relu.mean / 100, linear.mean / 100, chance=chance):
        return Verdict(claim, "inconclusive", evidence, f"a net is at or below twice chance ({100 * 2 * chance:.0f}%).")
    tie = ("the difference is within two standard errors at this test-set size (the paper's own difference is one "
           "point)." if min(relu.n, linear.n) == 1 else "the difference is within the test-set margin or the spread "
           "across seeds; the paper's own difference is one point")
    return by_seeds(claim, evidence, relu, linear, margin, tie=tie)


# -- plan ---------------------------------------------------------------------------------------------------------
def plan(ctx: Context) -> list[RunSpec]:
    """One run per spatial unit, each with the scale's seeds (:func:`~.framework.seeded`: ``KEY``, ``KEY-s1``, ...)."""
    from ..train import TrainConfig

    sc = SCALES[ctx.scale]
    ds = sc["dataset"]
    specs = [RunSpec(key, TrainConfig(model="factorized_cifar", model_args={"conv": conv}, dataset=ds,
                                      data_dir=ctx.data_path(ds), seed=0, **sc["train"]),
                     label=label, info={"conv": conv}) for key, (conv, label) in RUNS.items()]
    return seeded(specs, sc.get("seeds", 1))


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


def by_net(runs: dict[str, RunRecord], f: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per net (the spec its seeds came from, :func:`~.framework.by_base`): the first seed's sizes and test
    facts, the speeds' means over the seeds, and the test accuracy's mean, sd and per-seed values."""
    out = {}
    for base, group in by_base(runs).items():
        rows = [f[r.key] for r in group]
        acc = spread([v["test_acc"] for v in rows])
        out[base] = {**rows[0], "run": base, "conv": group[0].info["conv"], "label": group[0].label,
                     "seeds": acc.n, "test_acc": acc.mean, "test_acc_sd": acc.sd, "test_acc_seeds": list(acc.values),
                     "train_img_s": statistics.fmean(v["train_img_s"] for v in rows),
                     "infer_img_s": statistics.fmean(v["infer_img_s"] for v in rows),
                     "diverged": any(v["diverged"] for v in rows),
                     "diverged_seeds": sum(bool(v["diverged"]) for v in rows)}
    return out


def _verdicts(nets: dict[str, dict[str, Any]], n_test: int, chance: float) -> list[Verdict]:
    acc = {k: spread(v["test_acc_seeds"]) for k, v in nets.items()}

    def pair(a: str, b: str, what: str) -> tuple[Any, ...]:
        return tuple((nets[a][what], nets[b][what]))

    return [
        verdict_fewer_params("a 5x5 convolution", "two 3x3 convolutions",
                             params=pair("conv5x5", "conv3x3-3x3", "params"),
                             macs=pair("conv5x5", "conv3x3-3x3", "macs"),
                             acc=(acc["conv5x5"], acc["conv3x3-3x3"]), n_test=n_test, chance=chance),
        verdict_fewer_params("a 3x3 convolution", "a 1x3 and a 3x1 convolution",
                             params=pair("conv3x3", "conv1x3-3x1", "params"),
                             macs=pair("conv3x3", "conv1x3-3x1", "macs"),
                             acc=(acc["conv3x3"], acc["conv1x3-3x1"]), n_test=n_test, chance=chance),
        verdict_nonlinear(relu_acc=acc["conv3x3-3x3"], linear_acc=acc["conv3x3-3x3-linear"], n_test=n_test,
                          chance=chance),
    ]


def _acc_cell(r: dict[str, Any]) -> str:
    """Test accuracy in percent: the value (one seed) or the mean and sd over the seeds; 'diverged'."""
    if r["diverged_seeds"] == r["seeds"]:
        return "diverged"
    text = percent(spread(r["test_acc_seeds"])).text()
    return text + (f" ({r['diverged_seeds']} diverged)" if r["diverged_seeds"] else "")


def analyze(ctx: Context, runs: dict[str, RunRecord]) -> Report:
    from ..analysis import factorization_table
    from ..device import resolve_device
    from ..train.plot import plot_runs

    sc = SCALES[ctx.scale]
    nets = by_net(runs, net_figures(runs, device=resolve_device(ctx.device)))
    n_test = min(v["n_test"] for v in nets.values())
    seeds = min(v["seeds"] for v in nets.values())
    verdicts = _verdicts(nets, n_test, nets["conv5x5"]["chance"])
    records = list(nets.values())
    over = "" if seeds == 1 else f"; test accuracy: mean (sd) over {seeds} seeds"
    tables = [TextTable.from_records(
        f"Small {sc['dataset']} nets differing only in their spatial convolutions (same recipe and length{over})",
        {"spatial unit": "{label}", "params": "{params:,}",
         "MACs": lambda r: f"{r['macs'] / 1e6:.1f}M", "train img/s": "{train_img_s:.0f}",
         "inference img/s": "{infer_img_s:.0f}", "test acc %": _acc_cell},
        records, right=range(1, 6)),
        factorization_table([(5, "3x3"), (3, "asymmetric")])]
    firsts = [group[0] for group in by_base(runs).values()]
    figures = [
        plot_runs([r.run_dir for r in firsts], out=ctx.figures / "training_curves.png",
                  labels=[r.label for r in firsts],
                  title="factorized convolutions: dashed training error, bold test error"
                        + ("" if seeds == 1 else " (first seed of each)")),
        _tradeoff(ctx.figures / "accuracy_vs_cost.png", nets),
    ]
    return Report(measurements={"nets": records, "n_test": n_test, "seeds": seeds, "margin_min_points": MIN_MARGIN_PP},
                  verdicts=verdicts, tables=tables, figures=figures, notes=_notes(sc, nets["conv5x5"], seeds))


def _notes(sc: dict[str, Any], net: dict[str, Any], seeds: int) -> list[str]:
    h, w = net["input_size"][1:]
    seed_text = "seed 0 (the same data order for every net)" if seeds == 1 else \
        f"seeds 0 to {seeds - 1} (seed i gives every net the same data order)"
    margin_text = "One seed per net: a difference within the margin is a tie." if seeds == 1 else (
        f"{seeds} seeds per net: a verdict compares the means and needs their difference beyond the margin and "
        "beyond two standard errors of it over the seeds (findings.by_seeds); a loss beyond the margin that the "
        "seeds' spread cannot tell from noise is inconclusive.")
    return [
        "Networks: classicnets.models.cifar_variants.factorized_cifar (three stages of two spatial units on "
        "32x32, 16x16 and 8x8 maps with 32, 64 and 128 channels; each unit followed by BatchNorm and ReLU; the "
        "factorized units carry BatchNorm after their first conv and sqrt(in x out) channels between their two "
        "convs, Szegedy et al.'s sqrt(alpha) rule for a widening unit).",
        "Recipe for every run: the engine's default for BatchNorm nets (SGD with Nesterov momentum 0.9, lr 0.1, "
        "weight decay 5e-4, batch 128, cosine schedule, the dataset's usual augmentation; ours), "
        f"{train_length(sc['train'])}, {seed_text}.",
        f"MACs at {h}x{w} (classicnets.analysis.summarize, conv and linear multiply-adds). Training img/s: mean "
        "over the run's epochs after the first (with --jobs 2 two runs share the cores, so compare within one "
        "sweep only). Inference img/s: measured after training, one net after another in this process, on one "
        "batch of 256 random images, median of 3 passes" + ("" if seeds == 1 else ", mean over the seeds") + ".",
        "The margin of an accuracy difference is two standard errors of the difference of two accuracies on the "
        f"test set (at least {MIN_MARGIN_PP:g} points). {margin_text}",
    ]


def _tradeoff(path: Path, nets: dict[str, dict[str, Any]]) -> Path:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, what, unit, scale in ((axes[0], "params", "parameters (thousands)", 1e3),
                                  (axes[1], "macs", "multiply-adds (millions)", 1e6)):
        for v in nets.values():
            marker = "o" if v["conv"] in ("5x5", "3x3") else "s"
            sd = v["test_acc_sd"]
            ax.errorbar(v[what] / scale, 100 * v["test_acc"], yerr=None if math.isnan(sd) else 100 * sd,
                        fmt=marker, markersize=8, capsize=3)
            ax.annotate(v["label"], (v[what] / scale, 100 * v["test_acc"]), textcoords="offset points",
                        xytext=(5, 4), fontsize=7)
        for a, b in (("conv5x5", "conv3x3-3x3"), ("conv3x3", "conv1x3-3x1")):
            ax.annotate("", xy=(nets[b][what] / scale, 100 * nets[b]["test_acc"]),
                        xytext=(nets[a][what] / scale, 100 * nets[a]["test_acc"]),
                        arrowprops={"arrowstyle": "-|>", "color": "grey", "lw": 0.8, "shrinkA": 6, "shrinkB": 6})
        ax.set_xlabel(unit)
        ax.margins(x=0.2, y=0.15)
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("test accuracy (%)" + ("" if all(v["seeds"] == 1 for v in nets.values())
                                              else ", mean and sd over seeds"))
    axes[0].set_title("accuracy against parameters (arrows: original -> factorized)")
    axes[1].set_title("accuracy against multiply-adds")
    return save_figure(fig, path)
