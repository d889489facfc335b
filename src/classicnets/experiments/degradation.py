"""``degradation``: deep plain networks train worse than shallow ones; residual networks do not.

He, Zhang, Ren, Sun 2015 ("Deep Residual Learning", Sec. 4.2, Figure 6): on
CIFAR-10 the 56-layer plain net has *higher training error* than the 20-layer
one (so the gap is an optimization difficulty, not overfitting), while
ResNet-56 trains to lower error than ResNet-20.

The sweep trains ``plain{d}`` and ``resnet{d}`` for each depth of the scale with
one recipe: ``resnet-cifar`` at smoke, small and paper scale (shortened below
``paper`` by ``--steps``, which rescales its learning-rate milestones to the same
fractions of the run), and at medium scale ``fast-cifar``, which trains the nets
to convergence in 30 epochs (docs/training.md).  The
analysis reads each run's metrics, draws He et al.'s Figure 6 (training error
dashed, test error bold, against iterations) for each family, measures the
gradient norms per layer (:func:`classicnets.analysis.gradient_flow`) of the
deepest plain and residual nets at initialization and after training, and
judges the two claims with :func:`verdict_plain` and :func:`verdict_residual`.

``--train-sizes N,N,...`` adds the explainer's open question: the same pairs
trained on seeded, stratified subsets of N training images (same number of
steps), and the deep-minus-shallow gap against N (:func:`verdict_size_trend`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .._io import pyplot, save_figure
from ..analysis import TextTable
from ..errors import InvalidInputError
from .findings import Verdict, has_learned
from .framework import Context, Experiment, Option, Report, RunRecord, RunSpec, parse_int_list

#: Training-split sizes of the datasets this experiment uses.
TRAIN_IMAGES = {"cifar10": 50_000, "digits": 1_438}

#: Per scale: dataset, depths, and the TrainConfig values shared by every run.
SCALES: dict[str, dict[str, Any]] = {
    "smoke": {"dataset": "digits", "depths": (20, 32),
              "train": {"recipe": "resnet-cifar", "steps": 60, "batch_size": 32},
              "gradflow": {"batches": 1, "batch_size": 32}},
    "small": {"dataset": "cifar10", "depths": (20, 56),
              "train": {"recipe": "resnet-cifar", "steps": 3000},
              "gradflow": {"batches": 2, "batch_size": 128}},
    "medium": {"dataset": "cifar10", "depths": (20, 56),
               "train": {"recipe": "fast-cifar"},
               "gradflow": {"batches": 4, "batch_size": 128}},
    "paper": {"dataset": "cifar10", "depths": (20, 32, 44, 56, 110),
              "train": {"recipe": "resnet-cifar"},
              "gradflow": {"batches": 4, "batch_size": 128}},
}

#: He et al.'s CIFAR-10 schedule length (Sec. 4.2): the reference for a shortened run.
PAPER_ITERS = 64_000

#: A difference in training error smaller than this (percentage points) is not read as an effect.
MARGIN_PP = 0.5
#: The chance-level error (%) of both datasets (ten classes).
CHANCE_ERR = 90.0


EXPERIMENT = Experiment(
    name="degradation",
    title="Degradation: plain vs residual networks of increasing depth (He et al. 2015, Figure 6)",
    reproduces="He et al. 2015, Deep Residual Learning, Sec. 4.2 and Figure 6 (CIFAR-10 plain-20/32/44/56/110 "
               "against ResNet-20/32/44/56/110)",
    summary="deep plain nets train worse than shallow ones, residual nets do not (He et al. Fig. 6)",
    scales={
        "smoke": "digits, plain/ResNet-20 and -32, 60 iterations: seconds; checks the pipeline, not the claim",
        "small": "CIFAR-10, plain/ResNet-20 and -56, resnet-cifar recipe shortened to 3,000 iterations "
                 "(about 8 epochs): about an hour on a 2-core CPU with --jobs 2; --train-sizes adds about 45 "
                 "minutes per size below 50,000",
        "medium": "CIFAR-10, plain/ResNet-20 and -56 trained to convergence with fast-cifar (30 epochs, 11,700 "
                  "iterations): about 3.1 hours on a 2-core CPU with --jobs 2 (at one thread a 20-layer net takes "
                  "about 47 minutes, a 56-layer one, with 3 times the multiply-adds, about 2.3 hours); "
                  "--train-sizes trains the four nets again on each subset for the same 11,700 iterations, about "
                  "3.1 hours more per size",
        "paper": "CIFAR-10, depths 20/32/44/56/110 of both families, 64k iterations each: about 6 hours on one "
                 "GPU, about three days on a 2-core CPU",
    },
    options=(Option("train_sizes", "degradation: also train the shallowest and deepest pair on seeded, stratified "
                    "subsets of these sizes (e.g. 5000,10000,25000,50000)", parse_int_list, None, "N,N,..."),),
    needs_data={"small": "cifar10", "medium": "cifar10", "paper": "cifar10"},
    scale_notes={s: f"Paper scale: depths 20/32/44/56/110, 64k iterations; this {s} scale trains depths "
                    f"{' and '.join(map(str, SCALES[s]['depths']))} on {SCALES[s]['dataset']} "
                    + ("for fewer iterations." if s != "medium" else "with the fast recipe (30 epochs), to "
                       "convergence in far fewer iterations.")
                 for s in ("smoke", "small", "medium")},
)


# -- verdicts (pure functions of the measurements) ------------------------------------------------------
def _trained(err: float, chance_err: float) -> bool:
    """Has a net with training error ``err`` (%) learned (:func:`~.findings.has_learned`)?"""
    return has_learned(100 - err, 100 - chance_err)


def _too_early(chance_err: float, which: str = "a net") -> str:
    return (f"{which} has barely started to learn (training accuracy at most twice chance, an error of "
            f"{100 - 2 * (100 - chance_err):.0f}% or more); too few steps to compare.")


def verdict_plain(shallow: dict[str, float], deep: dict[str, float], *, depths: tuple[int, int],
                  chance_pct: float = CHANCE_ERR, margin: float = MARGIN_PP) -> Verdict:
    """Degradation: does the deeper plain net end with higher *training* error than the shallower one?

    ``shallow`` and ``deep`` hold ``train_err`` and ``test_err`` in percent (final epoch).
    Supported when the deep net's training error is higher by more than ``margin``
    points (and then, if its test error is higher too, the deficit is not
    overfitting); not supported when it is lower by more than ``margin`` (and if it
    still tests worse, that is overfitting, not degradation); inconclusive within
    the margin or when the *shallow* net has not learned (:func:`~.findings.has_learned`:
    nothing to compare against yet).  A deep net stuck near chance
    while the shallow one has learned is the degradation itself, not a reason
    to withhold the verdict.
    """
    d0, d1 = depths
    claim = (f"plain-{d1} ends with higher training error than plain-{d0} (degradation: an optimization "
             "difficulty, not overfitting).")
    tr = deep["train_err"] - shallow["train_err"]
    te = deep["test_err"] - shallow["test_err"]
    evidence = (f"training error plain-{d0} {shallow['train_err']:.2f}%, plain-{d1} {deep['train_err']:.2f}% "
                f"(difference {tr:+.2f} points); test error {shallow['test_err']:.2f}% vs {deep['test_err']:.2f}% "
                f"({te:+.2f}).")
    if not _trained(shallow["train_err"], chance_pct):
        return Verdict(claim, "inconclusive", evidence, _too_early(chance_pct, f"plain-{d0}"))
    if tr > margin:
        note = (" The deeper net's test error is higher as well, with its training error: not overfitting."
                if te > 0 else " Its test error is not higher, though.")
        return Verdict(claim, "supported", evidence + note)
    if tr < -margin:
        why = (" The deep net fits the training set better; its higher test error would be overfitting."
               if te > margin else "")
        return Verdict(claim, "not supported", evidence + why)
    return Verdict(claim, "inconclusive", evidence,
                   f"the training errors differ by less than the {margin:g}-point margin (the effect grows with "
                   "training; too few steps, or noise).")


def verdict_residual(shallow: dict[str, float], deep: dict[str, float], *, depths: tuple[int, int],
                     chance_pct: float = CHANCE_ERR, margin: float = MARGIN_PP,
                     schedule_fraction: float = 1.0) -> Verdict:
    """Does the deeper residual net end with *lower* training error than the shallower one?

    Supported when its training error is lower by more than ``margin`` points.
    When it is higher, the verdict depends on the run's length:
    ``schedule_fraction`` is the share of the paper's 64k iterations trained.
    With the full schedule it is ``not supported``; with a shortened one it is
    ``inconclusive`` (the issue's rule for the small scale: the effect should
    show early, and if it does not, the shortened run cannot refute a claim about
    where training ends).  Inconclusive too within the margin, or when either net
    has not learned (:func:`~.findings.has_learned`).
    """
    d0, d1 = depths
    claim = f"ResNet-{d1} ends with lower training error than ResNet-{d0} (no degradation with shortcuts)."
    tr = deep["train_err"] - shallow["train_err"]
    te = deep["test_err"] - shallow["test_err"]
    evidence = (f"training error ResNet-{d0} {shallow['train_err']:.2f}%, ResNet-{d1} {deep['train_err']:.2f}% "
                f"(difference {tr:+.2f} points); test error {shallow['test_err']:.2f}% vs "
                f"{deep['test_err']:.2f}% ({te:+.2f}).")
    if not (_trained(shallow["train_err"], chance_pct) and _trained(deep["train_err"], chance_pct)):
        return Verdict(claim, "inconclusive", evidence, _too_early(chance_pct))
    if tr < -margin:
        return Verdict(claim, "supported", evidence)
    if tr > margin:
        if schedule_fraction < 1.0:
            return Verdict(claim, "inconclusive", evidence + " The deeper residual net trains worse here.",
                           f"the runs are {100 * schedule_fraction:.1f}% of the paper's 64k iterations, and the "
                           "deeper net, slower to start, has not caught up by their end; the paper-scale run "
                           "decides this claim.")
        return Verdict(claim, "not supported", evidence + " The deeper residual net trains worse here.")
    return Verdict(claim, "inconclusive", evidence,
                   f"the training errors differ by less than the {margin:g}-point margin (in He et al.'s Fig. 6 the "
                   "deeper ResNet pulls ahead late in training; too few steps, or noise).")


def verdict_size_trend(family: str, sizes: list[int], gaps: list[float], *, what: str = "training",
                       margin: float = MARGIN_PP, trained: bool = True) -> Verdict:
    """How the deep-minus-shallow gap (points) of ``family`` changes with the number of training images.

    Supported ("the gap depends on the training-set size", with its direction)
    when the gap moves by more than ``margin`` from the smallest to the largest
    set and every step between neighbouring sizes goes the same way or stays
    within the margin; not supported when all gaps lie within ``margin`` of each
    other (no dependence measured); inconclusive when the gaps move up and down
    by more than the margin (no trend), or when a net has not ``trained``
    (:func:`~.findings.has_learned`).
    """
    claim = f"{family}: the deep-minus-shallow {what}-error gap depends on the number of training images."
    pairs = sorted(zip(sizes, gaps, strict=True))
    evidence = ", ".join(f"{g:+.2f} points at {n:,}" for n, g in pairs) + "."
    if len(pairs) < 2:
        return Verdict(claim, "inconclusive", evidence, "one training-set size only.")
    if not trained:
        return Verdict(claim, "inconclusive", evidence, _too_early(CHANCE_ERR))
    values = [g for _, g in pairs]
    if max(values) - min(values) <= margin:
        return Verdict(claim, "not supported", evidence + f" All within {margin:g} points of each other.")
    steps = [b - a for a, b in zip(values, values[1:], strict=False)]
    up = all(s >= -margin for s in steps) and values[-1] - values[0] > margin
    down = all(s <= margin for s in steps) and values[0] - values[-1] > margin
    if up or down:
        direction = "grows" if up else "shrinks"
        return Verdict(claim, "supported", evidence + f" The gap {direction} with the number of images (one seed per "
                       "size: a trend in this range, not a law).")
    return Verdict(claim, "inconclusive", evidence,
                   f"the gap moves up and down by more than {margin:g} points: no monotone trend at these sizes.")


# -- the plan ------------------------------------------------------------------------------------------
def same_steps(train: dict[str, Any], images: int) -> dict[str, Any]:
    """The training length of a subset run: the full run's number of steps (``{"steps": N}``), so that a
    smaller training set is seen more often rather than trained less.  A scale that gives steps keeps them."""
    if "steps" in train:
        return {}
    from ..train.recipes import get_recipe

    values = get_recipe(train["recipe"]).values()
    epochs, batch = train.get("epochs", values["epochs"]), train.get("batch_size", values["batch_size"])
    return {"steps": int(images // batch * epochs)}


def _key(family: str, depth: int, n: int | None) -> str:
    return f"{family}{depth}" + (f"-n{n}" if n else "")


def plan(ctx: Context) -> list[RunSpec]:
    from ..train import TrainConfig

    sc = SCALES[ctx.scale]
    dataset = sc["dataset"]
    full = TRAIN_IMAGES[dataset]
    sizes = list(ctx.options.get("train_sizes") or [])
    too_big = [n for n in sizes if n > full]
    if too_big:
        raise InvalidInputError(f"--train-sizes {too_big}: {dataset} has {full:,} training images.")
    subsets = sorted({n for n in sizes if n < full})
    depths = sc["depths"]
    shallow, deep = min(depths), max(depths)
    specs = []
    # Deepest first: with --jobs the long runs start first and the short ones fill in (less idle time at the end).
    for n in [None, *subsets]:
        for d in sorted(depths if n is None else (shallow, deep), reverse=True):
            for family in ("plain", "resnet"):
                extra = {"train_subset": n, **same_steps(sc["train"], full)} if n else {}
                cfg = TrainConfig(model=f"{family}{d}", dataset=dataset, data_dir=ctx.data_path(dataset), seed=0,
                                  **{**sc["train"], **extra})
                specs.append(RunSpec(_key(family, d, n), cfg,
                                     label=f"{'ResNet' if family == 'resnet' else 'plain'}-{d}"
                                     + (f", {n:,} images" if n else ""),
                                     info={"family": family, "depth": d, "train_images": n or full}))
    return specs


# -- the analysis ----------------------------------------------------------------------------------------
def errors(run: RunRecord) -> dict[str, float]:
    """Final training and test error (%) of a run: the last epoch's running training error and its test error."""
    f = run.final
    return {"train_err": 100 * (1 - f["train_acc"]), "test_err": 100 * (1 - f["val_acc"]),
            "steps": float(f.get("step", math.nan))}


def _gradflow(ctx: Context, runs: dict[str, RunRecord], depth: int) -> tuple[list[Any], list[dict[str, Any]]]:
    import torch

    from ..analysis import dataset_batches, gradient_flow
    from ..models import create_model
    from ..train.runs import load_trained

    sc = SCALES[ctx.scale]
    gf = sc["gradflow"]
    first = runs[_key("plain", depth, None)]
    batches, info = dataset_batches(first.config["dataset"], root=first.config.get("data_dir"), split="test",
                                    batch_size=gf["batch_size"], batches=gf["batches"], seed=0)
    results, rows = [], []
    for family in ("plain", "resnet"):
        run = runs[_key(family, depth, None)]
        trained = load_trained(run.run_dir)
        c = trained.input_size[0] if trained.input_size else 3
        # fit() seeds torch with the run's seed right before it builds the model, so this is the run's own start.
        torch.manual_seed(int(run.config.get("seed", 0)))
        init = create_model(run.config["model"], num_classes=len(trained.classes or []) or 10, in_chans=c,
                            **(run.config.get("model_args") or {}))
        for state, model in (("initialization", init), ("trained", trained.model)):
            g = gradient_flow(model, batches, name=run.config["model"], source=state, data=info["text"])
            results.append(g)
            rows.append({"model": run.config["model"], "state": state, "loss": g.loss, "first_conv": g.first_conv,
                         "last_conv": g.last_conv, "first_last_ratio": g.ratio, **g.as_dict()})
    return results, rows


def analyze(ctx: Context, runs: dict[str, RunRecord]) -> Report:
    from ..analysis import plot_gradflow

    sc = SCALES[ctx.scale]
    shallow, deep = min(sc["depths"]), max(sc["depths"])
    err = {k: errors(r) for k, r in runs.items()}
    figures = _fig6(ctx, runs)
    runs = dict(sorted(runs.items(), key=lambda kv: (-kv[1].info["train_images"], kv[1].info["family"],
                                                     kv[1].info["depth"])))
    verdicts = [
        verdict_plain(err[_key("plain", shallow, None)], err[_key("plain", deep, None)], depths=(shallow, deep)),
        verdict_residual(err[_key("resnet", shallow, None)], err[_key("resnet", deep, None)],
                         depths=(shallow, deep), schedule_fraction=min(1.0, sc["train"].get("steps", PAPER_ITERS)
                                                                       / PAPER_ITERS)),
    ]
    measurements: dict[str, Any] = {"errors": err, "depths": list(sc["depths"]), "margin_points": MARGIN_PP}
    tables = [TextTable.from_records(
        "Final errors (last epoch; training error is the running error over that epoch)",
        {"run": lambda r: runs[r["run"]].label, "train images": "{train_images:,}", "steps": "{steps:,.0f}",
         "train err %": "{train_err:.2f}", "test err %": "{test_err:.2f}", "wall s": "{wall_s:.0f}"},
        [{"run": k, **r.info, **err[k], "wall_s": r.wall_s} for k, r in runs.items()], right=range(1, 6))]

    # Gradient flow of the deepest pair, at initialization and trained.
    flows, measurements["gradflow"] = _gradflow(ctx, runs, deep)
    for state in ("initialization", "trained"):
        figures.append(plot_gradflow([g for g in flows if g.source == state], ctx.figures / f"gradflow_{state}.png"))
    tables.append(TextTable.from_records(
        f"Gradient norms of plain-{deep} and ResNet-{deep} (cross-entropy on test batches, BN in train mode)",
        {"model": "{model}", "state": "{state}", "loss": "{loss:.3f}", "first conv grad norm": "{first_conv:.3e}",
         "last conv grad norm": "{last_conv:.3e}", "first / last": "{first_last_ratio:.3g}"},
        [{k: r[k] for k in ("model", "state", "loss", "first_conv", "last_conv", "first_last_ratio")}
         for r in measurements["gradflow"]], right=range(2, 6)))

    # The open question: the gap against the training-set size.
    if len({r.info["train_images"] for r in runs.values()}) > 1:
        gaps, size_verdicts, table = size_question(ctx, runs, err)
        measurements["size_gaps"] = gaps
        verdicts += size_verdicts
        tables.append(table)
        figures.append(_size_figure(ctx.figures / "gap_vs_train_size.png", gaps, shallow, deep))
    notes = [
        _recipe_note(sc),
        "Training error is the running error over each epoch's batches with augmentation (as logged during "
        "training, like the paper's curves); test error is measured on the full test split after each epoch.",
        "Initial weights for the gradient flow are rebuilt with the run's seed: fit() seeds torch right before it "
        "builds the model, so they are the run's own starting weights.",
    ]
    return Report(measurements=measurements, verdicts=verdicts, tables=tables, figures=figures, notes=notes)


def _fig6(ctx: Context, runs: dict[str, RunRecord]) -> list[Path]:
    """He et al.'s Figure 6, one panel per family: training error dashed, test error bold."""
    from ..train.plot import plot_runs

    sc = SCALES[ctx.scale]
    figures = []
    for family, title in (("plain", "plain networks"), ("resnet", "residual networks")):
        keys = [_key(family, d, None) for d in sc["depths"]]
        path = ctx.figures / f"fig6_{family}.png"
        plot_runs([runs[k].run_dir for k in keys], out=path, labels=[runs[k].label for k in keys],
                  title=f"{title} on {sc['dataset']}: dashed training error, bold test error")
        figures.append(path)
    return figures


def size_question(ctx: Context, runs: dict[str, RunRecord], err: dict[str, dict[str, float]]
                  ) -> tuple[dict[str, Any], list[Verdict], Any]:
    """The deep-minus-shallow gaps against the training-set size: ``(gaps, verdicts, table)``."""
    sc = SCALES[ctx.scale]
    shallow, deep = min(sc["depths"]), max(sc["depths"])
    sizes = sorted({r.info["train_images"] for r in runs.values()})
    gaps: dict[str, Any] = {"sizes": sizes}
    for family in ("plain", "resnet"):
        gaps[family] = {"train": [], "test": []}
        for n in sizes:
            n_key = None if n == TRAIN_IMAGES[sc["dataset"]] else n
            a, b = err[_key(family, shallow, n_key)], err[_key(family, deep, n_key)]
            gaps[family]["train"].append(b["train_err"] - a["train_err"])
            gaps[family]["test"].append(b["test_err"] - a["test_err"])
    verdicts = []
    for family, name in (("plain", "plain nets"), ("resnet", "residual nets")):
        trained = all(_trained(err[k]["train_err"], CHANCE_ERR) for k, r in runs.items()
                      if r.info["family"] == family and r.info["depth"] in (shallow, deep))
        for what in ("train", "test"):
            verdicts.append(verdict_size_trend(f"{name} ({deep} vs {shallow} layers)", sizes, gaps[family][what],
                                               what="training" if what == "train" else "test", trained=trained))
    columns = {"train images": "{n:,}"}
    for f, name in (("plain", "plain"), ("resnet", "ResNet")):
        for w in ("train", "test"):
            columns[f"{name} {w} gap"] = f"{{{f}_{w}:+.2f}}"
    table = TextTable.from_records(
        f"Deep-minus-shallow gap ({deep} vs {shallow} layers, points) against training images", columns,
        [{"n": n, **{f"{f}_{w}": gaps[f][w][i] for f in ("plain", "resnet") for w in ("train", "test")}}
         for i, n in enumerate(sizes)], right=range(5), records=[])
    return gaps, verdicts, table


def _recipe_note(sc: dict[str, Any]) -> str:
    if sc["train"]["recipe"] == "resnet-cifar":
        return (f"Recipe: resnet-cifar (He et al. Sec. 4.2) for every run, {_length(sc)}; learning-rate milestones "
                "at 50% and 75% of the run, as the paper's 32k and 48k of 64k.")
    steps = same_steps(sc["train"], TRAIN_IMAGES[sc["dataset"]]).get("steps")
    return (f"Recipe: {sc['train']['recipe']} for every run ({steps:,} iterations on the full training set; a "
            "subset run of --train-sizes trains the same number of iterations).")


def _length(sc: dict[str, Any]) -> str:
    t = sc["train"]
    if "steps" in t:
        return f"{t['steps']:,} iterations" + (f" at batch {t['batch_size']}" if "batch_size" in t else " at batch 128")
    return "64,000 iterations at batch 128 (the paper's length)"


def _size_figure(path: Path, gaps: dict[str, Any], shallow: int, deep: int) -> Path:
    sizes = gaps["sizes"]
    fig, axes = pyplot().subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, what in zip(axes, ("train", "test"), strict=True):
        for family, style, name in (("plain", "o-", "plain"), ("resnet", "s--", "ResNet")):
            ax.plot(sizes, gaps[family][what], style, label=f"{name}-{deep} minus {name}-{shallow}")
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("training images")
        ax.set_title(f"{'training' if what == 'train' else 'test'} error gap (points)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, path)
