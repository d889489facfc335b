"""``lesion``: a residual network behaves like an ensemble of shallower networks; its plain twin does not.

Veit, Wilber, Belongie 2016 ("Residual Networks Behave Like Ensembles of Relatively Shallow Networks",
Sec. 4, Figures 3 and 5), the lecture's "ResNet as an ensemble".  On a *trained* residual network and its
trained plain twin (same blocks, no shortcuts), at test time only (no retraining, BatchNorm in eval mode
with its running statistics):

* **delete one block** at a time: the residual branch is removed and the shortcut kept
  (:func:`classicnets.analysis.block_lesions.deleted`); test error per deleted block, the downsampling blocks
  marked (their shortcut subsamples and zero-pads, so deleting them removes more).  The plain twin cannot
  keep a shortcut: deleting a plain block removes its pair of conv layers (conv-BN-ReLU-conv-BN-ReLU), so
  the previous block's output goes straight to the next one.  That is possible only where the block keeps
  the shape; the two blocks that halve the map and double the channels (the first of ``layer2`` and
  ``layer3``) stay.
* **delete k random blocks** (k = 1 ... the number of shape-preserving blocks), several seeded samples per
  k, the same sets for both nets: mean and spread of the error against k (Fig. 5a).
* **reorder**: swap k random pairs of same-shape blocks (same channels, stride 1;
  :func:`~classicnets.analysis.block_lesions.random_swaps`), the same orders for both nets; error against the
  Kendall tau between the original and the new order (Fig. 5b).

The networks are trained by the sweep (``plain{d}`` and ``resnet{d}``, the ``resnet-cifar`` recipe, the
same configuration as the ``degradation`` experiment's runs of that depth), or taken from finished runs with
``--from DIR[,DIR]``: run directories, or folders holding them (e.g. ``experiments/degradation-small``,
whose ResNet-56 and plain-56 are exactly this experiment's small-scale pair).  From the runs found, the
deepest residual network and the plain twin of the same depth are used.

Verdicts (pure functions, tested on synthetic numbers): :func:`verdict_single_deletion`,
:func:`verdict_plain_deletion`, :func:`verdict_smooth`, :func:`verdict_reorder`.
"""

from __future__ import annotations

import math
import random
import re
import statistics
from pathlib import Path
from typing import Any

from .._io import pyplot, save_figure
from ..analysis import TextTable
from ..errors import InvalidInputError
from ..runfiles import RunFiles
from .findings import Verdict, has_learned
from .framework import Context, Experiment, Option, Report, RunRecord, RunSpec

#: Per scale: dataset, depth, the TrainConfig values of both runs, and the lesion sampling.
SCALES: dict[str, dict[str, Any]] = {
    "smoke": {"dataset": "digits", "depth": 20,
              "train": {"recipe": "resnet-cifar", "steps": 60, "batch_size": 32},
              "eval_images": None, "samples": 2, "delete_ks": None, "plain_delete_ks": (1, 2, 4),
              "swap_ks": (1, 2, 4)},
    "small": {"dataset": "cifar10", "depth": 56,
              "train": {"recipe": "resnet-cifar", "steps": 3000},
              "eval_images": 2000, "samples": 3, "delete_ks": (*range(1, 11), 13, 16, 19, 22, 25),
              "plain_delete_ks": (1, 2, 4, 8, 16, 25), "swap_ks": (1, 2, 4, 8, 16, 24)},
    "medium": {"dataset": "cifar10", "depth": 56,
               "train": {"recipe": "fast-cifar"},
               "eval_images": 5000, "samples": 3, "delete_ks": (*range(1, 11), 13, 16, 19, 22, 25),
               "plain_delete_ks": (1, 2, 4, 8, 16, 25), "swap_ks": (1, 2, 4, 8, 16, 24)},
    "paper": {"dataset": "cifar10", "depth": 110,
              "train": {"recipe": "resnet-cifar"},
              "eval_images": None, "samples": 5, "delete_ks": None,
              "plain_delete_ks": (1, 2, 4, 8, 16, 32, 52), "swap_ks": (1, 2, 4, 8, 16, 32, 48)},
}

#: A change in test error smaller than this (percentage points) counts as "no noticeable change".
MARGIN_PP = 2.0
#: Share of the non-downsampling blocks whose single deletion must stay within the margin.
SHARE = 0.9

FROM_OPTION = Option(
    "from", "lesion, paths: use these finished runs instead of training: run directories or folders holding "
            "them (e.g. experiments/degradation-medium), or 'pretrained' for the weights bundled with classicnets "
            "(ResNet and plain twin of the scale's depth); the deepest ResNet and its plain twin are taken",
    str, None, "DIR[,DIR]|pretrained")
#: ``--from pretrained``: the bundled weights instead of run directories.
PRETRAINED = "pretrained"


EXPERIMENT = Experiment(
    name="lesion",
    title="Residual networks as ensembles: deleting and reordering blocks at test time (Veit et al. 2016)",
    reproduces="Veit, Wilber, Belongie 2016, Residual Networks Behave Like Ensembles of Relatively Shallow "
               "Networks, Sec. 4 and Figures 3 and 5 (CIFAR-10 ResNet-110 against a plain net)",
    summary="delete/reorder blocks of a trained ResNet at test time: it degrades gracefully, its plain twin does not",
    scales={
        "smoke": "digits, ResNet-20 and plain-20, 60 iterations each, lesions on all test digits: seconds; checks "
                 "the pipeline, not the claims",
        "small": "CIFAR-10, ResNet-56 and plain-56 as in the degradation experiment (3,000 iterations; or --from "
                 "experiments/degradation-small), lesions on 2,000 test images: about 40 minutes of training on a "
                 "2-core CPU with --jobs 2, then about 15 minutes of lesions",
        "medium": "CIFAR-10, ResNet-56 and plain-56 trained to convergence with fast-cifar (30 epochs), as in the "
                  "degradation experiment's medium scale (or --from experiments/degradation-medium, or --from "
                  "pretrained: the bundled weights, minutes on any machine); lesions on 5,000 test images, 3 samples "
                  "per k: about 2.3 hours of training on a 2-core CPU with --jobs 2 (a 56-layer net is 3 times "
                  "ResNet-20's 41M multiply-adds, about 4.6 minutes per epoch at one thread), then about 45 minutes "
                  "of lesions (about 180 evaluations of 5,000 images)",
        "paper": "CIFAR-10, ResNet-110 and plain-110, 64k iterations, all 10,000 test images, 5 samples per k: "
                 "several hours on one GPU",
    },
    options=(FROM_OPTION,),
    needs_data={"small": "cifar10", "medium": "cifar10", "paper": "cifar10"},
    scale_notes=dict.fromkeys(("smoke", "small", "medium"),
                              "Paper scale: ResNet-110 (54 blocks) trained for 64k iterations, all 10,000 test "
                              "images; this {scale} scale uses depth {depth} and {eval_data}."),
)


# -- verdicts (pure functions of the measurements) -----------------------------------------------------------------
def _learned(err: float, chance_err: float) -> bool:
    """Has a net with test error ``err`` (%) learned (:func:`~.findings.has_learned`)?  If not, it is near chance."""
    return has_learned(100 - err, 100 - chance_err)


def _near_chance(chance_err: float) -> float:
    """The test error (%) from which on a net counts as near chance: twice the chance accuracy."""
    return 100 - 2 * (100 - chance_err)


def verdict_single_deletion(base_err: float, deletions: dict[str, float], downsampling: dict[str, float], *,
                            chance_err: float = 90.0, margin: float = MARGIN_PP, share: float = SHARE) -> Verdict:
    """Does deleting one non-downsampling block change the residual net's test error by less than ``margin``?

    ``deletions`` maps each non-downsampling block to the test error (%) with it deleted, ``downsampling``
    the same for the downsampling blocks.  Supported when at least ``share`` of the non-downsampling
    deletions stay within ``margin`` points of ``base_err``; not supported when fewer than half do;
    inconclusive in between, or when the net has not learned (:func:`~.findings.has_learned`).
    """
    claim = (f"Deleting a single non-downsampling block of the trained residual network changes its test error by "
             f"less than {margin:g} points, for at least {100 * share:.0f}% of the blocks (Veit et al. Fig. 3); "
             "deleting a downsampling block costs more.")
    changes = {k: v - base_err for k, v in deletions.items()}
    within = [k for k, c in changes.items() if abs(c) < margin]
    worst = max(changes, key=lambda k: changes[k]) if changes else ""
    ds = {k: v - base_err for k, v in downsampling.items()}
    evidence = (f"test error {base_err:.2f}% intact; single deletions of the {len(changes)} non-downsampling blocks: "
                f"{len(within)} within {margin:g} points, median change {statistics.median(changes.values()):+.2f}, "
                f"largest {changes[worst]:+.2f} ({worst}); downsampling blocks: "
                + (", ".join(f"{k} {c:+.2f}" for k, c in ds.items()) or "none") + ".") if changes else \
        f"test error {base_err:.2f}% intact; no non-downsampling block was deleted."
    if not changes:
        return Verdict(claim, "inconclusive", evidence, "no block was deleted.")
    if ds:
        mean_ds = statistics.fmean(ds.values())
        mean_other = statistics.fmean(changes.values())
        evidence += (f" Mean change: {mean_ds:+.2f} for downsampling blocks, {mean_other:+.2f} for the others"
                     + (" (the downsampling ones cost more)." if mean_ds > mean_other else "."))
    if not _learned(base_err, chance_err):
        return Verdict(claim, "inconclusive", evidence, f"the residual net has barely learned (test error "
                       f"{_near_chance(chance_err):.0f}% or more: at most twice the chance accuracy), so its lesions "
                       "say little.")
    frac = len(within) / len(changes)
    if frac >= share:
        return Verdict(claim, "supported", evidence)
    if frac < 0.5:
        return Verdict(claim, "not supported", evidence)
    return Verdict(claim, "inconclusive", evidence, f"{100 * frac:.0f}% of the single deletions stay within the "
                   f"margin: most, but fewer than the {100 * share:.0f}% the claim needs.")


def verdict_plain_deletion(plain_base_err: float | None, plain_errs: dict[str, float], *,
                           res_changes: list[float] | None = None, chance_err: float = 90.0,
                           margin: float = MARGIN_PP) -> Verdict:
    """Does removing one block (a pair of conv layers) of the trained plain twin drop it to near chance?

    "Near chance": at most twice the chance accuracy (error >= 100 - 2 (100 - ``chance_err``); 80% for ten
    classes), where a net counts as not learned (:func:`~.findings.has_learned`).  Supported when the
    median lesioned error is near chance; not supported when the median lesion changes the plain net's
    error by less than ``margin`` (it is as robust as a residual net); inconclusive for a large drop short
    of chance, when the plain net itself never learned, or without a plain twin.
    """
    near = _near_chance(chance_err)
    claim = (f"Removing one block (a pair of conv layers) of the trained plain twin drops it to near chance "
             f"(median test error over its removable blocks >= {near:.0f}%; Veit et al. Fig. 3, the VGG-style "
             "net).")
    if plain_base_err is None or not plain_errs:
        return Verdict(claim, "inconclusive", "no plain twin was measured.", "no plain twin (give its run with "
                       "--from, or let the experiment train it).")
    errs = sorted(plain_errs.values())
    med = statistics.median(errs)
    n_near = sum(not _learned(e, chance_err) for e in errs)
    evidence = (f"plain twin {plain_base_err:.2f}% intact; with one of its {len(errs)} removable blocks removed: "
                f"median {med:.2f}%, range {errs[0]:.2f}-{errs[-1]:.2f}%, {n_near} of {len(errs)} at or above "
                f"{near:.0f}%")
    if res_changes:
        evidence += f"; the residual net's median single-deletion change: {statistics.median(res_changes):+.2f} points"
    evidence += "."
    if not _learned(plain_base_err, chance_err):
        return Verdict(claim, "inconclusive", evidence, "the plain twin is near chance before any lesion: it has "
                       "not learned (too few steps for this depth).")
    if not _learned(med, chance_err):
        return Verdict(claim, "supported", evidence)
    if med - plain_base_err < margin:
        return Verdict(claim, "not supported", evidence + f" The median removal costs less than {margin:g} points.")
    return Verdict(claim, "inconclusive", evidence, "removing a block hurts the plain twin badly, but the median "
                   "lesioned net stays above chance.")


def cliff_share(base_err: float, ks: list[int], means: list[float]) -> tuple[float, float, int]:
    """``(rise, share, k)``: the total rise in error from k = 0 to the largest k, and the largest increase per
    deleted block between neighbouring measured k as a share of that rise (at deletion count ``k``)."""
    pts = [(0, base_err), *sorted(zip(ks, means, strict=True))]
    rise = pts[-1][1] - base_err
    best, at = 0.0, 0
    for (k0, e0), (k1, e1) in zip(pts, pts[1:], strict=False):
        step = (e1 - e0) / max(1, k1 - k0)
        if step > best:
            best, at = step, k1
    return rise, (best / rise if rise > 0 else math.nan), at


def verdict_smooth(base_err: float, ks: list[int], means: list[float], *, chance_err: float = 90.0,
                   margin: float = MARGIN_PP, plain: tuple[float, list[int], list[float]] | None = None) -> Verdict:
    """Does the residual net's error grow smoothly with the number k of deleted blocks (no single cliff)?

    ``means`` is the mean test error (%) over the samples at each k.  The largest increase per deleted block
    between neighbouring k is compared with the total rise (:func:`cliff_share`): supported below a third of
    it, not supported at half or more (one deletion carries most of the damage: a cliff), inconclusive in
    between, when the total rise is within ``margin``, or when the net has not learned.
    """
    claim = ("The residual net's test error grows smoothly with the number of deleted blocks, like an ensemble "
             "losing members (Veit et al. Fig. 5a): no single deletion carries most of the rise.")
    rise, share, at = cliff_share(base_err, ks, means)
    pts = ", ".join(f"k={k}: {e:.1f}%" for k, e in sorted(zip(ks, means, strict=True)))
    evidence = (f"mean test error {base_err:.2f}% intact, {pts}; total rise {rise:+.2f} points; the steepest step "
                f"(at k={at}) adds {100 * share:.0f}% of the rise per deleted block." if rise > 0 else
                f"mean test error {base_err:.2f}% intact, {pts}; no rise.")
    if plain is not None:
        p_rise, p_share, p_at = cliff_share(*plain)
        if p_rise > 0:
            evidence += (f" Plain twin: rise {p_rise:+.2f} points, {100 * p_share:.0f}% of it in one step "
                         f"(at k={p_at}).")
    if not _learned(base_err, chance_err):
        return Verdict(claim, "inconclusive", evidence, "the residual net has barely learned (test accuracy at most "
                       "twice chance).")
    if not rise > margin:
        return Verdict(claim, "inconclusive", evidence, f"deleting up to {max(ks)} blocks raises the error by less "
                       f"than {margin:g} points: no curve to judge.")
    if share < 1 / 3:
        return Verdict(claim, "supported", evidence)
    if share >= 0.5:
        return Verdict(claim, "not supported", evidence + " One deletion carries half the rise or more: a cliff.")
    return Verdict(claim, "inconclusive", evidence, "the steepest step carries between a third and half of the "
                   "rise: neither clearly smooth nor a cliff.")


def verdict_reorder(base_err: float, rows: list[tuple[int, float, float]], *, chance_err: float = 90.0,
                    margin: float = MARGIN_PP, plain: tuple[float, list[tuple[int, float, float]]] | None = None
                    ) -> Verdict:
    """Does reordering degrade the residual net gracefully (Veit et al. Fig. 5b)?

    ``rows`` are ``(k swaps, Kendall tau, test error %)``.  Supported when one swap (the fewest measured)
    changes the mean error by less than ``margin`` and more swaps (lower tau) do not lower it by more than
    ``margin``; not supported when the fewest swaps already cost half the distance to chance; inconclusive
    otherwise, or when the net has not learned.
    """
    claim = ("Swapping same-shape blocks of the trained residual net degrades it gracefully (Veit et al. Fig. 5b): "
             f"one swap changes the error by less than {margin:g} points and the error grows as Kendall's tau "
             "falls.")

    def by_k(rs: list[tuple[int, float, float]]) -> list[tuple[int, float, float]]:
        out = []
        for k in sorted({r[0] for r in rs}):
            sel = [r for r in rs if r[0] == k]
            out.append((k, statistics.fmean(r[1] for r in sel), statistics.fmean(r[2] for r in sel)))
        return out

    if not rows:
        return Verdict(claim, "inconclusive", "no reordering was measured.", "no pairs of same-shape blocks.")
    means = by_k(rows)
    k0, _, e0 = means[0]
    k1, t1, e1 = means[-1]
    evidence = (f"test error {base_err:.2f}% intact; " + ", ".join(f"{k} swap(s) (tau {t:.2f}): {e:.2f}%"
                                                                   for k, t, e in means) + ".")
    if plain is not None and plain[1]:
        pm = by_k(plain[1])
        evidence += (f" Plain twin: {plain[0]:.2f}% intact, {pm[0][2]:.2f}% after {pm[0][0]} swap(s), "
                     f"{pm[-1][2]:.2f}% after {pm[-1][0]}.")
    if not _learned(base_err, chance_err):
        return Verdict(claim, "inconclusive", evidence, "the residual net has barely learned (test accuracy at most "
                       "twice chance).")
    if e0 - base_err >= (chance_err - base_err) / 2:
        return Verdict(claim, "not supported", evidence + f" {k0} swap(s) already cost half the distance to chance.")
    if abs(e0 - base_err) < margin and e1 >= e0 - margin:
        return Verdict(claim, "supported", evidence)
    return Verdict(claim, "inconclusive", evidence, f"{k0} swap(s) change the error by {e0 - base_err:+.2f} points "
                   f"(margin {margin:g})" + ("" if e1 >= e0 - margin else "; more swaps lower it") + ".")


# -- finding the networks ----------------------------------------------------------------------------------------
_FAMILY = re.compile(r"(resnet|plain)(\d+)")


def parse_from(text: str | list[str] | None) -> list[Path]:
    if not text:
        return []
    items = text if isinstance(text, list) else [t for t in str(text).split(",") if t.strip()]
    return [Path(t.strip()).expanduser() for t in items]


def find_run_dirs(paths: list[Path], _seen: set[Path] | None = None) -> list[Path]:
    """Run directories (``config.toml`` and ``data.json``) at or below each path, in a stable order.

    An experiment directory that trained nothing itself because it took its
    networks with ``--from`` (its ``experiment.json`` says so) stands for those
    sources: ``--from experiments/lesion-small`` finds the degradation runs the
    lesion experiment used.
    """
    import json

    seen = _seen if _seen is not None else set()
    found: list[Path] = []
    for p in paths:
        if not p.exists():
            raise InvalidInputError(f"--from {p}: no such file or folder.")
        if p.resolve() in seen:
            continue
        seen.add(p.resolve())
        if RunFiles(p).describes_model():
            found.append(p)
            continue
        here = [c.parent for c in sorted(p.rglob(RunFiles.config.name)) if RunFiles(c.parent).describes_model()]
        if not here and (p / "experiment.json").is_file():
            try:
                sources = json.loads((p / "experiment.json").read_text()).get("options", {}).get("from")
            except (OSError, ValueError, AttributeError):
                sources = None
            here = find_run_dirs(parse_from(sources), seen) if sources else []
        if not here:
            raise InvalidInputError(f"--from {p}: no run directory (config.toml and data.json) at or below it; "
                                    "give a run, an experiment or a folder of runs, "
                                    "e.g. experiments/degradation-small.")
        found.extend(d for d in here if d not in found)
    return found


def _record(run_dir: Path, family: str, depth: int) -> RunRecord:
    from ..train.config import load_toml

    rd = RunFiles(run_dir)
    return RunRecord(key=run_dir.name, label=f"{'ResNet' if family == 'resnet' else 'plain'}-{depth}",
                     info={"family": family, "depth": depth, "source": str(run_dir)}, run_dir=run_dir,
                     status="finished", config=load_toml(rd.config), result=rd.read_result(),
                     history=rd.read_metrics() if rd.metrics_csv.is_file() else [])


def pick_pair(run_dirs: list[Path]) -> tuple[RunRecord, RunRecord | None, list[str]]:
    """The deepest finished ResNet among ``run_dirs`` and the plain twin of the same depth and dataset.

    Runs on the full training set are preferred over ``train_subset`` runs.  Returns
    ``(resnet, plain or None, notes)``.
    """
    from ..train.config import load_toml

    cands: list[tuple[str, int, bool, Path, str]] = []
    for d in run_dirs:
        rd = RunFiles(d)
        if not rd.result.is_file():
            continue  # unfinished or diverged
        cfg = load_toml(rd.config)
        m = _FAMILY.fullmatch(str(cfg.get("model", "")))
        if m:
            cands.append((m.group(1), int(m.group(2)), cfg.get("train_subset") is None, d, str(cfg.get("dataset"))))
    res = [c for c in cands if c[0] == "resnet"]
    if not res:
        raise InvalidInputError("--from: no finished ResNet run (resnet20, resnet56, ...) among "
                                + ", ".join(str(d) for d in run_dirs[:5]) + (" ..." if len(run_dirs) > 5 else "")
                                + ".")
    res.sort(key=lambda c: (-c[1], not c[2], str(c[3])))
    _, depth, _, rdir, dataset = res[0]
    plain = [c for c in cands if c[0] == "plain" and c[1] == depth and c[4] == dataset]
    plain.sort(key=lambda c: (not c[2], str(c[3])))
    notes = [f"Networks taken from finished runs (--from): ResNet-{depth} {rdir}"
             + (f", plain-{depth} {plain[0][3]}." if plain else f"; no finished plain-{depth} run on {dataset} "
                                                               "was found, so the plain twin is left out.")]
    return (_record(rdir, "resnet", depth), _record(plain[0][3], "plain", depth) if plain else None, notes)


def source_dirs(ctx: Context) -> list[Path]:
    """The run directories that ``--from`` names; ``pretrained`` stands for the bundled weights of the scale's
    depth (ResNet and, where it has weights, its plain twin), written as runs under ``OUT/pretrained/``."""
    dirs: list[Path] = []
    for p in parse_from(ctx.options.get("from")):
        found = pretrained_dirs(ctx) if str(p) == PRETRAINED else find_run_dirs([p])
        dirs.extend(d for d in found if d not in dirs)
    return dirs


def pretrained_dirs(ctx: Context) -> list[Path]:
    from ..models.pretrained import pretrained_cfg, pretrained_models
    from ..train.pretrained import pretrained_run

    depth = SCALES[ctx.scale]["depth"]
    pretrained_cfg(f"resnet{depth}")  # a clear error naming the models with weights when it has none
    have = pretrained_models()
    return [pretrained_run(name, ctx.out / PRETRAINED / name) for name in (f"resnet{depth}", f"plain{depth}")
            if name in have]


def networks(ctx: Context, runs: dict[str, RunRecord]) -> tuple[RunRecord, RunRecord | None, list[str]]:
    """The residual run and its plain twin: from ``--from``, or the sweep's own runs."""
    if parse_from(ctx.options.get("from")):
        return pick_pair(source_dirs(ctx))
    d = SCALES[ctx.scale]["depth"]
    res, plain = runs[f"resnet{d}"], runs.get(f"plain{d}")
    notes = []
    if plain is not None and plain.diverged:
        notes.append(f"plain-{d} diverged during training; the plain twin is left out.")
        plain = None
    if res.diverged:
        raise InvalidInputError(f"ResNet-{d} diverged during training ({res.message}); nothing to lesion.")
    return res, plain, notes


# -- the plan ---------------------------------------------------------------------------------------------------
def train_specs(ctx: Context, families: tuple[str, ...]) -> list[RunSpec]:
    """The runs that train the networks (the degradation experiment's configuration at this depth)."""
    from ..train import TrainConfig

    sc = SCALES[ctx.scale]
    d, ds = sc["depth"], sc["dataset"]
    return [RunSpec(f"{f}{d}", TrainConfig(model=f"{f}{d}", dataset=ds, data_dir=ctx.data_path(ds), seed=0,
                                           **sc["train"]),
                    label=f"{'ResNet' if f == 'resnet' else 'plain'}-{d}", info={"family": f, "depth": d})
            for f in families]


def plan(ctx: Context) -> list[RunSpec]:
    if parse_from(ctx.options.get("from")):
        return []
    return train_specs(ctx, ("plain", "resnet"))


# -- measurements ------------------------------------------------------------------------------------------------
def eval_batches(ctx: Context, run: RunRecord, trained: Any, limit: int | None) -> tuple[list[Any], int, str]:
    """Normalized test batches of a run's dataset, kept in memory.

    With ``limit`` below the split's size, a seeded, class-stratified subset of
    ``limit`` images (:func:`classicnets.data.splits.stratified_sample`): test splits
    are often stored class by class, so their first images are not a sample.
    """
    import dataclasses

    from ..data.splits import stratified_sample
    from ..device import resolve_device
    from .measure import batches, load_split

    cfg = run.config
    data_dir = ctx.data_path(cfg["dataset"]) if ctx.data_dir else cfg.get("data_dir")
    facts = run.files.read_data()
    ds = load_split(cfg["dataset"], data_dir, "test", facts.get("cache_size"))
    total = len(ds)
    if limit and limit < total:
        keep = stratified_sample(ds.labels, limit, seed=0)
        ds = dataclasses.replace(ds, images=ds.images[keep], labels=ds.labels[keep])
    crop = trained.input_size[1] if trained.input_size and trained.input_size[1] != ds.images.shape[1] else None
    out = list(batches(ds, trained.mean, trained.std, batch_size=500, crop=crop, device=resolve_device(ctx.device)))
    text = (f"{len(ds):,} of the {total:,} {cfg['dataset']} test images (seeded, stratified by class)"
            if len(ds) < total
            else f"all {total:,} {cfg['dataset']} test images")
    return out, len(ds), text


def test_error(model: Any, batches: list[Any], device: Any) -> float:
    """Top-1 test error (%) of ``model`` over ``batches`` (:func:`classicnets.train.evaluate.evaluate`)."""
    from ..train.evaluate import evaluate

    return 100.0 * (1.0 - float(evaluate(model, batches, num_classes=model.num_classes, device=device).top1))


class Subjects:
    """The trained networks under lesion (``"resnet"`` and, when there is one, ``"plain"``) and their test data.

    ``error(fam)`` is the test error (%) of that network as it is now (inside a lesion, the lesioned one);
    ``base`` holds the intact errors.
    """

    def __init__(self, ctx: Context, runs: dict[str, RunRecord], eval_images: int | None) -> None:
        from ..device import resolve_device
        from ..train.runs import load_trained

        self.device = resolve_device(ctx.device)
        self.runs = runs
        self.nets = {fam: load_trained(r.run_dir) for fam, r in runs.items()}
        for t in self.nets.values():
            t.model.to(self.device).eval()
        n_classes = len(self.nets["resnet"].classes or []) or self.nets["resnet"].model.num_classes
        self.chance_err = 100.0 * (1 - 1 / n_classes)
        self.data: dict[str, list[Any]] = {}
        for fam, t in self.nets.items():
            self.data[fam], self.n_eval, self.eval_text = eval_batches(ctx, runs[fam], t, eval_images)
        self.base = {fam: self.error(fam) for fam in self.nets}

    def model(self, fam: str) -> Any:
        return self.nets[fam].model

    def error(self, fam: str) -> float:
        return test_error(self.model(fam), self.data[fam], self.device)


def single_deletions(nets: Subjects, table: list[Any]) -> list[dict[str, Any]]:
    """Fig. 3: each block deleted alone; the plain twin loses a block only where it keeps the shape."""
    from ..analysis.block_lesions import deletable, deleted

    plain_ok = set(deletable(nets.model("plain"))) if "plain" in nets.nets else set()
    rows: list[dict[str, Any]] = []
    for b in table:
        row: dict[str, Any] = {**b.as_dict()}
        with deleted(nets.model("resnet"), [b.index]):
            row["resnet_err"] = nets.error("resnet")
        row["plain_err"] = None
        if b.index in plain_ok:
            with deleted(nets.model("plain"), [b.index]):
                row["plain_err"] = nets.error("plain")
        rows.append(row)
    return rows


def many_deletions(nets: Subjects, cands: list[int], sc: dict[str, Any]) -> list[dict[str, Any]]:
    """Fig. 5a: k random shape-preserving blocks deleted, ``samples`` seeded sets per k, the same for both nets."""
    from ..analysis.block_lesions import deleted, random_deletions

    ks = [k for k in (sc["delete_ks"] or range(1, len(cands) + 1)) if k <= len(cands)]
    plain_ks = [k for k in sc["plain_delete_ks"] if k <= len(cands)] if "plain" in nets.nets else []
    rows: list[dict[str, Any]] = []
    for k in sorted(set(ks) | {k for k in sc["plain_delete_ks"] if k <= len(cands)}):
        for s in range(sc["samples"]):
            chosen = random_deletions(cands, k, random.Random(10_000 * k + s))
            row = {"k": k, "sample": s, "blocks": chosen, "resnet_err": None, "plain_err": None}
            for fam, fam_ks in (("resnet", ks), ("plain", plain_ks)):
                if k in fam_ks:
                    with deleted(nets.model(fam), chosen):
                        row[f"{fam}_err"] = nets.error(fam)
            rows.append(row)
    return rows


def reorderings(nets: Subjects, table: list[Any], swap_ks: list[int], samples: int) -> list[dict[str, Any]]:
    """Fig. 5b: k random swaps of same-shape blocks, the same orders for both nets, with their Kendall tau."""
    from ..analysis.block_lesions import kendall_tau, random_swaps, reordered

    rows: list[dict[str, Any]] = []
    for k in swap_ks:
        for s in range(samples):
            order = random_swaps(table, k, random.Random(20_000 * k + s))
            row = {"k": k, "sample": s, "order": order, "kendall_tau": kendall_tau(order)}
            for fam in nets.nets:
                with reordered(nets.model(fam), order):
                    row[f"{fam}_err"] = nets.error(fam)
            rows.append(row)
    return rows


def deletion_curve(multi: list[dict[str, Any]], fam: str) -> tuple[list[int], list[float], list[float]]:
    """``(ks, mean errors, their standard deviations)`` of one network over the random deletions."""
    kk = sorted({r["k"] for r in multi if r[f"{fam}_err"] is not None})
    vals = [[r[f"{fam}_err"] for r in multi if r["k"] == k and r[f"{fam}_err"] is not None] for k in kk]
    return kk, [statistics.fmean(v) for v in vals], [statistics.pstdev(v) for v in vals]


def analyze(ctx: Context, runs: dict[str, RunRecord]) -> Report:
    from ..analysis.block_lesions import block_table, deletable, swappable_pairs

    sc = SCALES[ctx.scale]
    res_run, plain_run, notes = networks(ctx, runs)
    pair = {"resnet": res_run} if plain_run is None else {"resnet": res_run, "plain": plain_run}
    nets = Subjects(ctx, pair, sc["eval_images"])
    table = block_table(nets.model("resnet"))
    depth = res_run.info["depth"]
    ctx.log(f"  lesions of ResNet-{depth}{' and plain-' + str(depth) if 'plain' in nets.nets else ''} "
            f"({len(table)} blocks) on {nets.eval_text}")
    single = single_deletions(nets, table)
    cands = deletable(nets.model("resnet"), keep_shape=True)
    multi = many_deletions(nets, cands, sc)
    n_pairs = len(swappable_pairs(table))
    swap_ks = [k for k in sc["swap_ks"] if k <= n_pairs]
    reorder = reorderings(nets, table, swap_ks, sc["samples"])
    curves = {fam: deletion_curve(multi, fam) for fam in ("resnet", "plain")}

    verdicts = _verdicts(nets, single, curves, reorder)
    tables = _tables(nets, single, multi, curves, reorder, swap_ks, sc["samples"])
    figures = [_fig3(ctx.figures / "fig3_single_deletion.png", single, nets.base, nets.chance_err, depth),
               _fig5(ctx.figures / "fig5_deletion_reordering.png", curves["resnet"], curves["plain"], reorder,
                     nets.base, nets.chance_err, depth)]
    measurements = {
        "depth": depth, "blocks": len(table), "eval_images": nets.n_eval, "eval_data": nets.eval_text,
        "chance_err": nets.chance_err, "margin_points": MARGIN_PP, "base_err": nets.base, "single_deletion": single,
        "random_deletion": multi, "reorder": reorder, "deletion_candidates": cands, "swappable_pairs": n_pairs,
        "networks": {fam: str(r.run_dir) for fam, r in nets.runs.items()},
    }
    notes += _notes([b.name for b in table if b.changes_shape], len(cands), n_pairs)
    return Report(measurements=measurements, verdicts=verdicts, tables=tables, figures=figures, notes=notes)


def _verdicts(nets: Subjects, single: list[dict[str, Any]], curves: dict[str, tuple[list, list, list]],
              reorder: list[dict[str, Any]]) -> list[Verdict]:
    base, chance_err = nets.base, nets.chance_err
    non_ds = {r["name"]: r["resnet_err"] for r in single if not r["is_downsampling"]}
    ds_rows = {r["name"]: r["resnet_err"] for r in single if r["is_downsampling"]}
    plain_errs = {r["name"]: r["plain_err"] for r in single if r["plain_err"] is not None}
    rk, rm, _ = curves["resnet"]
    pk, pm, _ = curves["plain"]
    return [
        verdict_single_deletion(base["resnet"], non_ds, ds_rows, chance_err=chance_err),
        verdict_plain_deletion(base.get("plain"), plain_errs, chance_err=chance_err,
                               res_changes=[v - base["resnet"] for v in non_ds.values()]),
        verdict_smooth(base["resnet"], rk, rm, chance_err=chance_err,
                       plain=(base["plain"], pk, pm) if pk else None),
        verdict_reorder(base["resnet"], [(r["k"], r["kendall_tau"], r["resnet_err"]) for r in reorder],
                        chance_err=chance_err,
                        plain=(base["plain"], [(r["k"], r["kendall_tau"], r["plain_err"]) for r in reorder])
                        if "plain" in nets.nets else None),
    ]


def _tables(nets: Subjects, single: list[dict[str, Any]], multi: list[dict[str, Any]],
            curves: dict[str, tuple[list, list, list]], reorder: list[dict[str, Any]], swap_ks: list[int],
            samples: int) -> list[Any]:
    base, has_plain = nets.base, "plain" in nets.nets
    networks_table = TextTable.from_records(
        f"Networks (trained; lesions measured on {nets.eval_text})",
        {"network": lambda r: r["run"].label, "run": lambda r: str(r["run"].run_dir),
         "steps": lambda r: f"{int((r['run'].result or {}).get('steps', 0)):,}",
         "final train err %": lambda r: f"{100 * (1 - r['run'].final.get('train_acc', math.nan)):.2f}",
         "final test err %": lambda r: f"{100 * (1 - r['run'].final.get('val_acc', math.nan)):.2f}",
         "test err % (lesion images)": lambda r: f"{base[r['fam']]:.2f}"},
        [{"fam": fam, "run": r} for fam, r in nets.runs.items()], right=range(2, 6), records=[])
    single_table = TextTable.from_records(
        "Deleting one block at test time (the residual net keeps the shortcut; the plain net loses the block's two "
        "conv layers)",
        [("block", "{name}"), ("shape", "{in_channels}->{out_channels}, /{stride}"),
         ("downsampling", lambda r: "yes" if r["is_downsampling"] else ""), ("ResNet err %", "{resnet_err:.2f}"),
         ("change", lambda r: f"{r['resnet_err'] - base['resnet']:+.2f}"),
         ("plain err %", lambda r: "cannot remove" if r["plain_err"] is None and has_plain else _f(r["plain_err"])),
         ("change", lambda r: "" if r["plain_err"] is None else f"{r['plain_err'] - base['plain']:+.2f}")],
        single, right=range(3, 7))
    ks = sorted(set(curves["resnet"][0]) | set(curves["plain"][0]))

    def mean_sd(fam: str, k: int) -> str:
        kk, mm, ss = curves[fam]
        return f"{mm[kk.index(k)]:.2f} +- {ss[kk.index(k)]:.2f}" if k in kk else ""

    def mean(key: str, k: int) -> float:
        return statistics.fmean(r[key] for r in reorder if r["k"] == k)

    multi_table = TextTable.from_records(
        f"Deleting k random shape-preserving blocks ({samples} seeded samples per k, the same sets for both nets): "
        "test error %, mean +- sd",
        {"k": "{k}", "ResNet": lambda r: mean_sd("resnet", r["k"]), "plain": lambda r: mean_sd("plain", r["k"])},
        [{"k": k} for k in ks], records=multi, right=range(3))
    reorder_table = TextTable.from_records(
        f"Swapping k random pairs of same-shape blocks ({samples} samples per k): Kendall tau and test error %",
        {"k swaps": "{k}", "mean tau": lambda r: f"{mean('kendall_tau', r['k']):.3f}",
         "ResNet err %": lambda r: f"{mean('resnet_err', r['k']):.2f}",
         "plain err %": lambda r: f"{mean('plain_err', r['k']):.2f}" if has_plain else ""},
        [{"k": k} for k in swap_ks], records=reorder, right=range(4))
    return [networks_table, single_table, multi_table, reorder_table]


def _notes(kept: list[str], n_cands: int, n_pairs: int) -> list[str]:
    return [
        "All lesions are at test time: the trained weights are not changed or retrained, BatchNorm uses its running "
        "statistics (eval mode), and every lesion is undone before the next (classicnets.analysis.block_lesions).",
        "ResNet: deleting a block removes its residual branch and keeps its shortcut, so the block computes "
        "relu(shortcut(x)) = x for an identity shortcut; a downsampling block keeps its option-A shortcut "
        "(stride-2 subsampling plus zero channels).",
        "Plain twin: a block has no shortcut, so deleting it removes the whole block, i.e. its two conv layers "
        "(conv-BN-ReLU-conv-BN-ReLU), and the previous block's output goes straight to the next block. That is "
        f"possible only for shape-preserving blocks; {', '.join(kept) or 'none'} change the shape and stay "
        "(marked 'cannot remove').",
        f"Random deletions draw k of the {n_cands} shape-preserving blocks (the downsampling blocks stay, in "
        f"both nets, so the two curves delete the same blocks); reordering swaps k distinct pairs of the "
        f"{n_pairs} pairs of same-shape blocks (blocks move only within their stage). Seeds are fixed.",
        f"Margin: a change below {MARGIN_PP:g} points counts as no noticeable change; the single-deletion verdict "
        f"needs {100 * SHARE:.0f}% of the non-downsampling blocks within it. Near chance: at most twice the chance "
        "accuracy.",
    ]


def _f(v: float | None) -> str:
    return "" if v is None else f"{v:.2f}"


# -- figures ----------------------------------------------------------------------------------------------------
def _fig3(path: Path, single: list[dict[str, Any]], base: dict[str, float], chance_err: float, depth: int) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(11, 4.2))
    x = [r["index"] + 1 for r in single]
    ax.plot(x, [r["resnet_err"] for r in single], "o-", color="tab:blue", markersize=4,
            label=f"ResNet-{depth}, one block deleted")
    ds = [r for r in single if r["is_downsampling"]]
    ax.plot([r["index"] + 1 for r in ds], [r["resnet_err"] for r in ds], "D", color="tab:red", markersize=8,
            markerfacecolor="none", label="downsampling block")
    for r in ds:
        ax.axvline(r["index"] + 1, color="tab:red", linestyle=":", linewidth=0.8)
    pl = [r for r in single if r["plain_err"] is not None]
    if pl:
        ax.plot([r["index"] + 1 for r in pl], [r["plain_err"] for r in pl], "s", color="tab:orange", markersize=4,
                label=f"plain-{depth}, one block (two conv layers) removed")
    ax.axhline(base["resnet"], color="tab:blue", linestyle="--", linewidth=1, label="ResNet, intact")
    if "plain" in base:
        ax.axhline(base["plain"], color="tab:orange", linestyle="--", linewidth=1, label="plain, intact")
    ax.axhline(chance_err, color="grey", linestyle=":", linewidth=1, label="chance")
    ax.set_xlabel("deleted block (forward order)")
    ax.set_ylabel("test error (%)")
    ax.set_ylim(0, 100)
    ax.set_title("deleting individual blocks at test time (Veit et al. Fig. 3)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_figure(fig, path)


def _fig5(path: Path, res: tuple[list[int], list[float], list[float]], plain: tuple[list[int], list[float],
          list[float]], reorder: list[dict[str, Any]], base: dict[str, float], chance_err: float,
          depth: int) -> Path:
    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    for (ks, ms, ss), fam, color in ((res, "resnet", "tab:blue"), (plain, "plain", "tab:orange")):
        if not ks:
            continue
        name = f"ResNet-{depth}" if fam == "resnet" else f"plain-{depth}"
        a.errorbar([0, *ks], [base[fam], *ms], yerr=[0.0, *ss], fmt="o-", color=color, markersize=4, capsize=2,
                   label=name)
    a.axhline(chance_err, color="grey", linestyle=":", linewidth=1)
    a.set_xlabel("number of deleted blocks")
    a.set_ylabel("test error (%)")
    a.set_ylim(0, 100)
    a.set_title("(a) deleting k random blocks (mean +- sd)")
    a.grid(True, alpha=0.3)
    a.legend(fontsize=8)
    for fam, color in (("resnet", "tab:blue"), ("plain", "tab:orange")):
        pts = [(r["kendall_tau"], r[f"{fam}_err"]) for r in reorder if r.get(f"{fam}_err") is not None]
        if not pts:
            continue
        pts = [(1.0, base[fam]), *pts]
        b.plot([p[0] for p in pts], [p[1] for p in pts], "o", color=color, markersize=4, alpha=0.8,
               label=f"ResNet-{depth}" if fam == "resnet" else f"plain-{depth}")
    b.axhline(chance_err, color="grey", linestyle=":", linewidth=1)
    b.invert_xaxis()
    b.set_xlabel("Kendall tau (original vs new order)")
    b.set_ylim(0, 100)
    b.set_title("(b) swapping random pairs of same-shape blocks")
    b.grid(True, alpha=0.3)
    b.legend(fontsize=8)
    return save_figure(fig, path)
