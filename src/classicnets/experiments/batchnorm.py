"""``batchnorm``: batch normalization makes training converge in fewer steps, allows higher learning
rates, and keeps each layer's input distribution stable.

Two parts at every scale, each a pair of networks that differ only in BatchNorm, and a third at the
medium scale:

1. **Ioffe & Szegedy 2015, Figure 1** (Sec. 4.1): ``mnist_mlp`` (three hidden layers of
   100 sigmoid units) with and without BN on MNIST, batch 60, the ``bn-mnist``
   recipe (the paper: 50,000 steps).  (a) test accuracy against training steps;
   (b, c) the 15th, 50th and 85th percentiles, over the test images, of the
   input to one sigmoid of the last hidden layer (unit 0, fixed in advance)
   against training steps, without and with BN.
2. **The lecture's exercise**: ``cnn3`` with and without BN on MNIST: the steps to
   reach 97%, 98% and 99% test accuracy, at a base learning rate and at 5x and
   30x that rate (the paper's claim that BN allows much higher rates; a plain
   net that diverges is recorded as diverged, not a crash).  A three-layer net
   trains at all three rates without BN, so this part cannot show a rate at which
   only the BN net trains.
3. **Higher learning rates where they can fail** (medium scale): ``plain20`` (the 20-layer CIFAR
   net of He et al. 2015 without shortcuts, He-normal initialization) with and without BN on
   CIFAR-10, one run per peak learning rate of the geometric grid :data:`SWEEP_LRS` (0.008 to 1.0,
   successive rates 2.2-2.25x apart, so that two steps are exactly the factor 5), 15 epochs each of
   the ``fast-cifar`` recipe at batch 128, one seed.  The design follows Ioffe & Szegedy 2015, Sec.
   4.2.1 ("Accelerating BN networks": a higher learning rate is the first of their changes; BN-x5
   and BN-x30 of Sec. 4.2.2 train at 5 and 30 times Inception's rate), Santurkar et al. 2018 ("How
   does batch normalization help optimization?", Fig. 1: VGG on CIFAR-10 with and without BN at
   learning rates 0.1 and 0.5) and Bjorck et al. 2018 ("Understanding batch normalization": a
   110-layer ResNet on CIFAR-10 at several initial rates; without BN, large updates make the loss
   diverge and the activations grow with depth, which limits the usable rates).  The no-BN net
   gets every help a net without BN usually has: the He initialization made for deep ReLU nets,
   and the recipe's one-cycle warm-up (the rate starts at 1/25 of the peak), so a rate it cannot
   take is the rate's fault, not the set-up's; no gradient clipping.  A net *trains* at a rate when
   its run did not diverge (a NaN loss is recorded by the framework as ``diverged``) and its final
   test accuracy is above twice chance (:func:`~.findings.has_learned`) and within
   :data:`TRAIN_MARGIN` of the same net's best over the grid.  :func:`verdict_lr_range` compares
   the highest rate at which each net trains.  The outcome that refutes the claim: the BN net's
   highest training rate lies inside the grid (it fails at a higher one) and is less than 5x the
   highest at which the no-BN net trains.

The measurements of parts 1 and 2 come from weight snapshots the training engine saves every N
steps (``TrainConfig.snapshot_every_steps``): each snapshot is evaluated on the
full test split, and for the MLP its last hidden layer's sigmoid inputs
(:meth:`~classicnets.models.small.MNISTMLP.hidden_preactivations`) are measured
on the test images in training-size batches with BN in training mode, as the
sigmoid sees them during training (:func:`sigmoid_inputs`).  Part 3 reads each run's
final test accuracy (the engine evaluates the test split after every epoch).

Verdicts (pure functions, tested on synthetic measurements):
:func:`verdict_convergence` (steps to each threshold with and without BN, and
their ratio), :func:`verdict_high_lr`, :func:`verdict_stability` (the measured
range of the percentiles over training, with and without BN, compared over all
units of the layer), :func:`verdict_lr_range` (part 3).
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
CHANCE = 0.1  # chance accuracy on digits, MNIST and CIFAR-10 (ten classes)

#: Part 3: the peak learning rates (batch 128), a geometric grid whose every second rate is 5x the one
#: two steps below (0.008, 0.04, 0.2, 1.0 and 0.018, 0.09, 0.45), the factor of the claim.
SWEEP_LRS = (0.008, 0.018, 0.04, 0.09, 0.2, 0.45, 1.0)
#: The claimed factor: BN-x5 of Ioffe & Szegedy 2015, Sec. 4.2.2 (5x Inception's learning rate).
HIGH_LR_FACTOR = 5.0
#: "Trains": a final test accuracy at most this far (0..1) below the same net's best over the grid.
#: Far above one run's noise (a few tenths of a point on CIFAR-10's 10,000 test images), far below the
#: gap between a net that learns and one that diverges or stays at chance.
TRAIN_MARGIN = 0.05

_MNIST_SMALL: dict[str, Any] = {"mlp": {"steps": 50_000, "every": 500, "model_args": {}},
                                "cnn": {"steps": 6_000, "every": 250}}
SCALES: dict[str, dict[str, Any]] = {
    "smoke": {"dataset": "digits", "mlp": {"steps": 40, "every": 10, "model_args": {"input_size": 8}},
              "cnn": {"steps": 30, "every": 10}},
    "small": {"dataset": "mnist", **_MNIST_SMALL},
    # the MNIST parts at the small scale's settings, and part 3
    "medium": {"dataset": "mnist", **_MNIST_SMALL,
               "sweep": {"dataset": "cifar10", "model": "plain20", "lrs": SWEEP_LRS,
                         "train": {"recipe": "fast-cifar", "epochs": 15, "batch_size": 128}}},
    "paper": {"dataset": "mnist", "mlp": {"steps": 50_000, "every": 250, "model_args": {}},
              "cnn": {"steps": 20_000, "every": 250}},
}

_SWEEP = SCALES["medium"]["sweep"]
#: Minutes per epoch of 50,000 CIFAR-10 images for plain-20 at one thread: ResNet-20's measured ~530 img/s
#: (94 s), plus the test split after each epoch and the smaller batch (128 against the recipe's 256).
PLAIN20_EPOCH_MIN = 1.7
MNIST_SMALL_MIN = 20  # the small scale's MNIST runs and their analysis with --jobs 2 (docs/results: 21 min)


def _medium_text() -> str:
    """The medium scale's description, its time estimate computed from the plan."""
    runs, epochs = 2 * len(_SWEEP["lrs"]), _SWEEP["train"]["epochs"]
    core_h = runs * epochs * PLAIN20_EPOCH_MIN / 60
    total_h = round((core_h / 2 + MNIST_SMALL_MIN / 60) * 2) / 2
    return (f"the small scale's MNIST runs (about {MNIST_SMALL_MIN} minutes with --jobs 2), and the higher-learning-"
            f"rate test on CIFAR-10: {_SWEEP['model']} with and without BN at {len(_SWEEP['lrs'])} peak learning "
            f"rates from {min(_SWEEP['lrs']):g} to {max(_SWEEP['lrs']):g}, {epochs} epochs each of the fast-cifar "
            f"recipe at batch {_SWEEP['train']['batch_size']}, one seed ({runs} runs x {epochs} epochs x about "
            f"{PLAIN20_EPOCH_MIN:g} min per epoch at one thread = about {core_h:.0f} core-hours, {core_h / 2:.0f} "
            f"hours with --jobs 2; a run whose loss becomes NaN stops at the end of that epoch): about {total_h:g} "
            f"hours on a 2-core CPU with --jobs 2. Supported when the BN net trains at a rate at least "
            f"{HIGH_LR_FACTOR:g}x the highest at which the no-BN net trains; refuted when BN's own highest training "
            "rate lies inside the grid (it fails at a higher one) and is less than that (the design of Ioffe & "
            "Szegedy 2015 Sec. 4.2.1, Santurkar et al. 2018 and Bjorck et al. 2018: the same net with and without "
            "BN over a range of learning rates)")


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
        "medium": _medium_text(),
        "paper": "MNIST; mnist_mlp 50,000 steps measured every 250, cnn3 20,000 steps: about two hours on a "
                 "2-core CPU, minutes on a GPU",
    },
    needs_data={"small": "mnist", "medium": "mnist and cifar10", "paper": "mnist"},
    scale_notes={"smoke": "Smoke scale: digits (8x8) and a few dozen steps; the numbers check the pipeline, not the "
                          "claims.",
                 "medium": f"Medium scale: the MNIST parts as at the small scale; each {_SWEEP['model']} of the "
                           f"learning-rate test trains {_SWEEP['train']['epochs']} epochs instead of the fast-cifar "
                           "recipe's 30, one seed per rate, so its accuracies are those of short runs and each "
                           "net's highest training rate is known to one step of the grid (about 2.2x)."},
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


def trains(acc: float | None, best: float | None, *, margin: float = TRAIN_MARGIN, chance: float = CHANCE) -> bool:
    """Part 3's rule for "the net trains at this rate": the run did not diverge (``acc`` is not None), its
    final test accuracy is above twice chance (:func:`~.findings.has_learned`) and at most ``margin``
    below ``best``, the same net's best over the grid."""
    return acc is not None and best is not None and has_learned(acc, chance) and acc >= best - margin


def highest_training_rate(accs: dict[float, float | None], *, margin: float = TRAIN_MARGIN,
                          chance: float = CHANCE) -> float | None:
    """The highest learning rate of ``accs`` (rate -> final test accuracy, None: diverged) at which the net
    :func:`trains`; None when it trains at none."""
    finite = [a for a in accs.values() if a is not None]
    best = max(finite) if finite else None
    ok = [lr for lr, a in accs.items() if trains(a, best, margin=margin, chance=chance)]
    return max(ok) if ok else None


def verdict_lr_range(name: str, bn: dict[float, float | None], plain: dict[float, float | None], *,
                     factor: float = HIGH_LR_FACTOR, margin: float = TRAIN_MARGIN, chance: float = CHANCE,
                     context: str = "") -> Verdict:
    """Does BN let ``name`` train at a learning rate at least ``factor`` x the highest at which it trains without?

    ``bn`` and ``plain`` map each learning rate of the grid to the final test accuracy (0..1) of the run
    at that rate, ``None`` for a run that diverged.  A net trains at a rate by :func:`trains`.
    Supported: BN's highest training rate is at least ``factor`` x the no-BN net's.  Not supported: it
    is less, and BN's own limit lies inside the grid (it fails at a higher rate of the grid), so a
    higher grid could not change the outcome.  Inconclusive: a limit the grid does not bracket: the
    BN net trains at no rate, the no-BN net trains at no rate (its limit lies below the grid) or at
    the grid's highest (above it), or BN trains at the grid's highest with a ratio under ``factor``.
    """
    claim = (f"BN allows a learning rate at least {factor:g}x higher (Ioffe & Szegedy 2015, Sec. 4.2.1): {name} with "
             f"BN trains at a rate at least {factor:g}x the highest at which it trains without BN"
             f"{(' (' + context + ')') if context else ''}.")

    def show(a: float | None) -> str:
        return "diverged" if a is None else f"{100 * a:.2f}%"

    rates = sorted(set(bn) | set(plain))
    top_bn = highest_training_rate(bn, margin=margin, chance=chance)
    top_plain = highest_training_rate(plain, margin=margin, chance=chance)

    def top(t: float | None) -> str:
        return "none" if t is None else f"{t:g}"

    evidence = ("final test accuracy by peak learning rate, with / without BN: "
                + "; ".join(f"{lr:g}: {show(bn.get(lr))} / {show(plain.get(lr))}" for lr in rates)
                + f". Highest rate that trains (not diverged, above {100 * 2 * chance:.0f}% and within "
                f"{100 * margin:g} points of the net's best over the grid): with BN {top(top_bn)}, without "
                f"{top(top_plain)}")
    if top_bn is not None and top_plain is not None:
        evidence += f" (ratio {top_bn / top_plain:.2f}x)"
    evidence += "."
    if top_bn is None:
        return Verdict(claim, "inconclusive", evidence, "the BN net trains at no rate of the grid.")
    if top_plain is None:
        return Verdict(claim, "inconclusive", evidence, f"the net without BN trains at no rate of the grid, not even "
                       f"{min(plain):g}: its limit lies below the grid.")
    if top_plain >= max(plain):
        return Verdict(claim, "inconclusive", evidence, f"the net without BN trains even at the grid's highest rate "
                       f"{top_plain:g}: its limit lies above the grid.")
    if top_bn >= top_plain * factor * (1 - 1e-9):  # the grid's rates are exact decimals, their ratios not quite
        return Verdict(claim, "supported", evidence)
    if top_bn >= max(bn):
        return Verdict(claim, "inconclusive", evidence, f"BN trains at the grid's highest rate {top_bn:g}, "
                       f"{top_bn / top_plain:.2f}x the no-BN limit; its own limit lies above the grid.")
    return Verdict(claim, "not supported", evidence, f"BN's limit ({top_bn:g}; it fails at the grid's higher "
                   f"rates) is less than {factor:g}x the rate at which the net trains without BN.")


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
    if "sweep" in sc:
        specs += sweep_specs(ctx, sc["sweep"])
    return specs


def _sweep_key(model: str, bn: bool, lr: float) -> str:
    return f"{model}{'-bn' if bn else ''}-lr{lr:g}"


def sweep_specs(ctx: Context, sw: dict[str, Any]) -> list[RunSpec]:
    """Part 3: ``sw["model"]`` with and without BN at each learning rate of ``sw["lrs"]`` (the peak of the
    recipe's schedule), He-normal initialization in both, the other settings from ``sw["train"]``."""
    from ..train import TrainConfig

    specs = []
    for bn in (False, True):
        for lr in sw["lrs"]:
            cfg = TrainConfig(model=sw["model"], dataset=sw["dataset"], data_dir=ctx.data_path(sw["dataset"]),
                              lr=lr, model_args={"batch_norm": bn, "init": "kaiming"}, seed=0, **sw["train"])
            specs.append(RunSpec(_sweep_key(sw["model"], bn, lr), cfg,
                                 label=f"{sw['model']} {'with' if bn else 'without'} BN, lr {lr:g}",
                                 info={"part": "sweep", "bn": bn, "lr": lr}))
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
        if run.info["part"] == "sweep":  # part 3 reads the runs' own test accuracies
            continue
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
    report = Report(measurements={"curves": curves, "mlp": mlp, "cnn3": cnn}, verdicts=mlp_verdicts + cnn_verdicts,
                    tables=[mlp_table, cnn_table], figures=figures, notes=notes)
    if "sweep" in sc:
        sweep_part(ctx, runs, sc["sweep"], report)
    return report


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


def _final_test_acc(run: RunRecord) -> float | None:
    """A run's final test accuracy (0..1), None for a diverged run.  Without a held-out validation split
    (``val_split`` 0, as here) the engine's per-epoch validation split is the test split."""
    if run.diverged:
        return None
    test = (run.result or {}).get("test")
    return float(test["test_acc"]) if test else float(run.final["val_acc"])


def sweep_part(ctx: Context, runs: dict[str, RunRecord], sw: dict[str, Any], report: Report) -> None:
    """Part 3: the highest learning rate at which the net trains, with and without BN; added to ``report``."""
    model, lrs = sw["model"], sw["lrs"]
    acc = {bn: {lr: _final_test_acc(runs[_sweep_key(model, bn, lr)]) for lr in lrs} for bn in (False, True)}
    tops = {bn: highest_training_rate(acc[bn]) for bn in (False, True)}
    length = ", ".join(f"{k} {v}" for k, v in sw["train"].items())
    report.verdicts.append(verdict_lr_range(model, acc[True], acc[False], context=f"{sw['dataset']}, {length}"))
    finite = {bn: [a for a in acc[bn].values() if a is not None] for bn in (False, True)}
    best = {bn: max(finite[bn]) if finite[bn] else None for bn in (False, True)}

    rows = [{"lr": lr, **{f"{side}_{k}": v for bn, side in ((True, "bn"), (False, "plain"))
                          for k, v in (("test_acc", acc[bn][lr]), ("trains", trains(acc[bn][lr], best[bn])))}}
            for lr in lrs]

    def cell(side: str) -> Any:
        return lambda r: _acc_cell(r[f"{side}_test_acc"]) + ("" if r[f"{side}_trains"] else " (does not train)")

    report.tables.append(TextTable.from_records(
        f"{model} on {sw['dataset']}: final test accuracy (%) by peak learning rate, with and without BN",
        {"lr": "{lr:g}", "with BN": cell("bn"), "without BN": cell("plain")}, rows, right=range(0, 3)))
    report.measurements["lr_sweep"] = {
        "model": model, "dataset": sw["dataset"], "train": sw["train"], "lrs": list(lrs),
        "final_test_acc": {"bn": acc[True], "plain": acc[False]},
        "diverged": {k: runs[k].diverged for k in (_sweep_key(model, bn, lr) for bn in (False, True) for lr in lrs)},
        "highest_training_lr": {"bn": tops[True], "plain": tops[False]},
        "ratio": tops[True] / tops[False] if tops[True] and tops[False] else None,
        "factor": HIGH_LR_FACTOR, "margin": TRAIN_MARGIN}
    report.figures.append(_sweep_figure(ctx.figures / f"{model}_{sw['dataset']}_lr_sweep.png", runs, sw, acc))
    report.notes.append(
        f"{model} on {sw['dataset']} ({length}; the recipe's other settings; He-normal initialization, no gradient "
        f"clipping), one run per peak learning rate {', '.join(f'{lr:g}' for lr in lrs)}, with and without BN. A net "
        f"trains at a rate when its run did not diverge and its final test accuracy is above {100 * 2 * CHANCE:.0f}% "
        f"and within {100 * TRAIN_MARGIN:g} points of the same net's best over the grid; the claim is supported "
        f"when the BN net trains at a rate at least {HIGH_LR_FACTOR:g}x the highest at which the net without BN "
        "trains.")


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


def _sweep_figure(path: Path, runs: dict[str, RunRecord], sw: dict[str, Any],
                  acc: dict[bool, dict[float, float | None]]) -> Path:
    """(a) final test accuracy against the peak learning rate (diverged runs as crosses at 0); (b) test
    accuracy against epochs, one curve per run."""
    plt = pyplot()
    model, lrs = sw["model"], sw["lrs"]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    cmap = plt.get_cmap("viridis")
    for bn, style, color in ((False, "--", "tab:blue"), (True, "-", "tab:red")):
        name = "with BN" if bn else "without BN"
        done = [(lr, 100 * a) for lr, a in acc[bn].items() if a is not None]
        ax.plot([p[0] for p in done], [p[1] for p in done], style + "o", color=color, label=name)
        gone = [lr for lr, a in acc[bn].items() if a is None]
        if gone:
            ax.plot(gone, [0.0] * len(gone), "x", color=color, markersize=9, label=f"{name}: diverged")
        for i, lr in enumerate(lrs):
            rows = [r for r in runs[_sweep_key(model, bn, lr)].history if math.isfinite(r.get("val_acc", math.nan))]
            bx.plot([r["epoch"] for r in rows], [100 * r["val_acc"] for r in rows], style, marker=".",
                    color=cmap(i / max(1, len(lrs) - 1)), label=f"lr {lr:g}" if bn else None)
    ax.axhline(100 * 2 * CHANCE, color="grey", linewidth=0.6, linestyle=":")
    ax.set_xscale("log")
    ax.set_xlabel("peak learning rate")
    ax.set_ylabel("final test accuracy (%)")
    ax.set_title(f"(a) {model} on {sw['dataset']}: final test accuracy")
    bx.set_xlabel("epoch")
    bx.set_ylabel("test accuracy (%)")
    bx.set_title("(b) test accuracy per epoch (solid: BN, dashed: no BN)")
    for a in (ax, bx):
        a.set_ylim(0, 100)
        a.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    bx.legend(fontsize=7, loc="lower right", ncol=2)
    return save_figure(fig, path)
