"""``degradation``: deep plain networks train worse than shallow ones; residual networks do not.

He, Zhang, Ren, Sun 2015 ("Deep Residual Learning", Sec. 4.2, Figure 6): on
CIFAR-10 the 56-layer plain net has *higher training error* than the 20-layer
one (so the gap is an optimization difficulty, not overfitting), while
ResNet-56 trains to lower error than ResNet-20.

The sweep trains ``plain{d}`` and ``resnet{d}`` for each depth of the scale with
one recipe (``resnet-cifar``, shortened below ``paper`` scale by ``--steps``, which
rescales its learning-rate milestones to the same fractions of the run).  The
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

from .._io import save_figure
from .framework import (
    Context,
    Experiment,
    Option,
    Report,
    RunRecord,
    RunSpec,
    Verdict,
    parse_int_list,
    register_experiment,
    require_engine,
)

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
    "paper": {"dataset": "cifar10", "depths": (20, 32, 44, 56, 110),
              "train": {"recipe": "resnet-cifar"},
              "gradflow": {"batches": 4, "batch_size": 128}},
}

#: He et al.'s CIFAR-10 schedule length (Sec. 4.2): the reference for a shortened run.
PAPER_ITERS = 64_000

#: A difference in training error smaller than this (percentage points) is not read as an effect.
MARGIN_PP = 0.5


# -- verdicts (pure functions of the measurements) ------------------------------------------------------
def _trained(err: float, chance: float) -> bool:
    """Has a net learned enough for its error to mean something?  Below half the chance-level error."""
    return err < 0.5 * chance


def _too_early(chance_pct: float, which: str = "a net") -> str:
    return (f"{which}'s training error is above half the chance level ({chance_pct:.0f}%): it has barely started "
            "to learn; too few steps to compare.")


def verdict_plain(shallow: dict[str, float], deep: dict[str, float], *, depths: tuple[int, int],
                  chance_pct: float = 90.0, margin: float = MARGIN_PP) -> Verdict:
    """Degradation: does the deeper plain net end with higher *training* error than the shallower one?

    ``shallow`` and ``deep`` hold ``train_err`` and ``test_err`` in percent (final epoch).
    Supported when the deep net's training error is higher by more than ``margin``
    points (and then, if its test error is higher too, the deficit is not
    overfitting); not supported when it is lower by more than ``margin`` (and if it
    still tests worse, that is overfitting, not degradation); inconclusive within
    the margin or when the *shallow* net's training error is still above half the
    chance level (nothing to compare against yet).  A deep net stuck near chance
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
                     chance_pct: float = 90.0, margin: float = MARGIN_PP, schedule_fraction: float = 1.0) -> Verdict:
    """Does the deeper residual net end with *lower* training error than the shallower one?

    Supported when its training error is lower by more than ``margin`` points.
    When it is higher, the verdict depends on the run's length:
    ``schedule_fraction`` is the share of the paper's 64k iterations trained.
    With the full schedule it is ``not supported``; with a shortened one it is
    ``inconclusive`` (the issue's rule for the small scale: the effect should
    show early, and if it does not, the shortened run cannot refute a claim about
    where training ends).  Inconclusive too within the margin, or when either net
    is still above half the chance level.
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
    by more than the margin (no trend), or when a net has not ``trained`` (its
    training error above half the chance level).
    """
    claim = f"{family}: the deep-minus-shallow {what}-error gap depends on the number of training images."
    pairs = sorted(zip(sizes, gaps, strict=True))
    evidence = ", ".join(f"{g:+.2f} points at {n:,}" for n, g in pairs) + "."
    if len(pairs) < 2:
        return Verdict(claim, "inconclusive", evidence, "one training-set size only.")
    if not trained:
        return Verdict(claim, "inconclusive", evidence, _too_early(90.0))
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
        raise _invalid(f"--train-sizes {too_big}: {dataset} has {full:,} training images.")
    subsets = sorted({n for n in sizes if n < full})
    if subsets:
        require_engine("train_subset", "--train-sizes (training on seeded, stratified subsets)")
    depths = sc["depths"]
    shallow, deep = min(depths), max(depths)
    specs = []
    # Deepest first: with --jobs the long runs start first and the short ones fill in (less idle time at the end).
    for n in [None, *subsets]:
        for d in sorted(depths if n is None else (shallow, deep), reverse=True):
            for family in ("plain", "resnet"):
                extra = {"train_subset": n} if n else {}
                cfg = TrainConfig(model=f"{family}{d}", dataset=dataset, data_dir=ctx.data_path(dataset), seed=0,
                                  **sc["train"], **extra)
                specs.append(RunSpec(_key(family, d, n), cfg,
                                     label=f"{'ResNet' if family == 'resnet' else 'plain'}-{d}"
                                     + (f", {n:,} images" if n else ""),
                                     info={"family": family, "depth": d, "train_images": n or full}))
    return specs


def _invalid(msg: str) -> Exception:
    from ..errors import InvalidInputError

    return InvalidInputError(msg)


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
    from ..analysis import TextTable, plot_gradflow
    from ..train.plot import plot_runs

    sc = SCALES[ctx.scale]
    depths = sc["depths"]
    shallow, deep = min(depths), max(depths)
    base = {k: r for k, r in runs.items() if "-n" not in k}
    err = {k: errors(r) for k, r in runs.items()}

    # Figure 6: one panel per family.
    figures = []
    for family, title in (("plain", "plain networks"), ("resnet", "residual networks")):
        keys = [_key(family, d, None) for d in depths]
        path = ctx.figures / f"fig6_{family}.png"
        plot_runs([base[k].run_dir for k in keys], out=path, labels=[base[k].label for k in keys],
                  title=f"{title} on {sc['dataset']}: dashed training error, bold test error")
        figures.append(path)

    order = sorted(runs, key=lambda k: (-runs[k].info["train_images"], runs[k].info["family"], runs[k].info["depth"]))
    runs = {k: runs[k] for k in order}
    table = TextTable(
        title="Final errors (last epoch; training error is the running error over that epoch)",
        columns=["run", "train images", "steps", "train err %", "test err %", "wall s"],
        cells=[[r.label, f"{r.info['train_images']:,}", f"{err[k]['steps']:,.0f}", f"{err[k]['train_err']:.2f}",
                f"{err[k]['test_err']:.2f}", f"{r.wall_s:.0f}"] for k, r in runs.items()],
        records=[{"run": k, **r.info, **err[k], "wall_s": r.wall_s} for k, r in runs.items()],
        right={1, 2, 3, 4, 5})
    verdicts = [
        verdict_plain(err[_key("plain", shallow, None)], err[_key("plain", deep, None)], depths=(shallow, deep)),
        verdict_residual(err[_key("resnet", shallow, None)], err[_key("resnet", deep, None)],
                         depths=(shallow, deep), schedule_fraction=min(1.0, sc["train"].get("steps", PAPER_ITERS)
                                                                       / PAPER_ITERS)),
    ]
    measurements: dict[str, Any] = {"errors": err, "depths": list(depths), "margin_points": MARGIN_PP}
    tables = [table]

    # Gradient flow of the deepest pair, at initialization and trained.
    flows, flow_rows = _gradflow(ctx, runs, deep)
    for state in ("initialization", "trained"):
        figures.append(plot_gradflow([g for g in flows if g.source == state], ctx.figures / f"gradflow_{state}.png"))
    measurements["gradflow"] = flow_rows
    tables.append(TextTable(
        title=f"Gradient norms of plain-{deep} and ResNet-{deep} (cross-entropy on test batches, BN in train mode)",
        columns=["model", "state", "loss", "first conv grad norm", "last conv grad norm", "first / last"],
        cells=[[r["model"], r["state"], f"{r['loss']:.3f}", f"{r['first_conv']:.3e}", f"{r['last_conv']:.3e}",
                f"{r['first_last_ratio']:.3g}"] for r in flow_rows],
        records=[{k: r[k] for k in ("model", "state", "loss", "first_conv", "last_conv", "first_last_ratio")}
                 for r in flow_rows], right={2, 3, 4, 5}))

    # The open question: the gap against the training-set size.
    sizes = sorted({r.info["train_images"] for r in runs.values()})
    if len(sizes) > 1:
        gaps: dict[str, dict[str, list[float]]] = {}
        for family in ("plain", "resnet"):
            gaps[family] = {"train": [], "test": []}
            for n in sizes:
                n_key = None if n == TRAIN_IMAGES[sc["dataset"]] else n
                a, b = err[_key(family, shallow, n_key)], err[_key(family, deep, n_key)]
                gaps[family]["train"].append(b["train_err"] - a["train_err"])
                gaps[family]["test"].append(b["test_err"] - a["test_err"])
        measurements["size_gaps"] = {"sizes": sizes, **gaps}
        figures.append(_size_figure(ctx.figures / "gap_vs_train_size.png", sizes, gaps, shallow, deep))
        for family, name in (("plain", "plain nets"), ("resnet", "residual nets")):
            trained = all(_trained(err[k]["train_err"], 90.0) for k, r in runs.items()
                          if r.info["family"] == family and r.info["depth"] in (shallow, deep))
            for what in ("train", "test"):
                verdicts.append(verdict_size_trend(f"{name} ({deep} vs {shallow} layers)", sizes,
                                                   gaps[family][what], what="training" if what == "train" else "test",
                                                   trained=trained))
        tables.append(TextTable(
            title=f"Deep-minus-shallow gap ({deep} vs {shallow} layers, points) against training images",
            columns=["train images", "plain train gap", "plain test gap", "ResNet train gap", "ResNet test gap"],
            cells=[[f"{n:,}", *(f"{gaps[f][w][i]:+.2f}" for f in ("plain", "resnet") for w in ("train", "test"))]
                   for i, n in enumerate(sizes)],
            right={0, 1, 2, 3, 4}))

    notes = [
        f"Recipe: resnet-cifar (He et al. Sec. 4.2) for every run, {_length(sc)}; learning-rate milestones at "
        "50% and 75% of the run, as the paper's 32k and 48k of 64k.",
        "Training error is the running error over each epoch's batches with augmentation (as logged during "
        "training, like the paper's curves); test error is measured on the full test split after each epoch.",
        "Initial weights for the gradient flow are rebuilt with the run's seed: fit() seeds torch right before it "
        "builds the model, so they are the run's own starting weights.",
    ]
    if ctx.scale != "paper":
        notes.append(f"Paper scale: depths 20/32/44/56/110, 64k iterations; this {ctx.scale} scale trains depths "
                     f"{' and '.join(map(str, depths))} on {sc['dataset']} for fewer iterations.")
    return Report(measurements=measurements, verdicts=verdicts, tables=tables, figures=figures, notes=notes)


def _length(sc: dict[str, Any]) -> str:
    t = sc["train"]
    if "steps" in t:
        return f"{t['steps']:,} iterations" + (f" at batch {t['batch_size']}" if "batch_size" in t else " at batch 128")
    return "64,000 iterations at batch 128 (the paper's length)"


def _size_figure(path: Path, sizes: list[int], gaps: dict[str, dict[str, list[float]]], shallow: int,
                 deep: int) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
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


EXPERIMENT = register_experiment(Experiment(
    name="degradation",
    title="Degradation: plain vs residual networks of increasing depth (He et al. 2015, Figure 6)",
    reproduces="He et al. 2015, Deep Residual Learning, Sec. 4.2 and Figure 6 (CIFAR-10 plain-20/32/44/56/110 "
               "against ResNet-20/32/44/56/110)",
    summary="deep plain nets train worse than shallow ones, residual nets do not (He et al. Fig. 6)",
    plan=plan,
    analyze=analyze,
    scales={
        "smoke": "digits, plain/ResNet-20 and -32, 60 iterations: seconds; checks the pipeline, not the claim",
        "small": "CIFAR-10, plain/ResNet-20 and -56, resnet-cifar recipe shortened to 3,000 iterations "
                 "(about 8 epochs): about an hour on a 2-core CPU with --jobs 2; --train-sizes adds about 45 "
                 "minutes per size below 50,000",
        "paper": "CIFAR-10, depths 20/32/44/56/110 of both families, 64k iterations each: about 6 hours on one "
                 "GPU, about three days on a 2-core CPU",
    },
    options=(Option("train_sizes", "degradation: also train the shallowest and deepest pair on seeded, stratified "
                    "subsets of these sizes (e.g. 5000,10000,25000,50000)", parse_int_list, None, "N,N,..."),),
    needs_data={"small": "cifar10", "paper": "cifar10"},
))
