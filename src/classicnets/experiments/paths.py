"""``paths``: short paths carry the gradient of a residual network.

Veit, Wilber, Belongie 2016, Sec. 5 and Figure 6 (the lecture's "short paths carry the gradient"): a
network of n residual blocks unrolls into 2^n paths whose lengths (the residual branches they pass through)
follow Binomial(n, 1/2), so most paths are about n/2 blocks long; yet the gradient that reaches the
network's early layers comes almost entirely from short paths (5 to 17 of ResNet-110's 54 blocks).

The three panels of Figure 6, for the trained residual network and for the same network at
initialization (rebuilt with the run's seed, which is exactly the run's starting point):

(a) the number of paths of each length, C(n, k) (:func:`classicnets.analysis.path_length_distribution`);
(b) the gradient magnitude at the input of the first block of one path of each length, by Veit's sampling
    method (:func:`classicnets.analysis.path_gradients`: k sampled blocks pass the gradient only through
    their residual branch, the others only through their shortcut);
(c) the total gradient carried by all paths of each length: (b) times the number of paths.

The network is the ``lesion`` experiment's residual network: trained by this experiment's sweep (the same
configuration, so the same weights), or taken with ``--from DIR`` from finished runs (e.g.
``experiments/lesion-small`` or ``experiments/degradation-small``: the deepest ResNet found).

Verdict (:func:`verdict_short_paths`, per state): the shortest range of lengths that carries 90% of the
total gradient, against the network's depth in blocks.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .._io import pyplot, save_figure
from ..analysis import TextTable
from .findings import Verdict, has_learned
from .framework import Context, Experiment, Report, RunRecord, RunSpec
from .lesion import EXPERIMENT as LESION
from .lesion import SCALES as LESION_SCALES
from .lesion import parse_from, pick_pair, source_dirs, train_specs

#: Per scale: the gradient sampling (the network and its training come from the lesion experiment's scale).
SCALES: dict[str, dict[str, Any]] = {
    "smoke": {"batches": 1, "batch_size": 32, "samples": 1},
    "small": {"batches": 2, "batch_size": 64, "samples": 8},
    "medium": {"batches": 4, "batch_size": 64, "samples": 8},
    "paper": {"batches": 4, "batch_size": 128, "samples": 16},
}
FRACTION = 0.9


EXPERIMENT = Experiment(
    name="paths",
    title="Short paths carry the gradient: path lengths of a residual network (Veit et al. 2016, Figure 6)",
    reproduces="Veit, Wilber, Belongie 2016, Sec. 5 and Figure 6 (ResNet-110 on CIFAR-10: path-length "
               "distribution, gradient per path length, total gradient per length)",
    summary="path lengths follow Binomial(n, 1/2) but the gradient comes from short paths (Veit et al. Fig. 6)",
    scales={
        "smoke": "digits, ResNet-20 (9 blocks) trained 60 iterations, one sample per length: seconds; checks the "
                 "pipeline, not the claim",
        "small": "CIFAR-10, ResNet-56 (27 blocks) as in the lesion and degradation experiments (3,000 iterations; "
                 "or --from experiments/lesion-small, which skips training), 8 samples per length on 2 batches of "
                 "64: about 30 minutes of training on a 2-core CPU, then about 5 minutes of measurement",
        "medium": "CIFAR-10, ResNet-56 trained to convergence with fast-cifar (30 epochs) as in the lesion and "
                  "degradation experiments' medium scale (or --from experiments/degradation-medium, or --from "
                  "pretrained: the bundled weights), 8 samples per length on 4 batches of 64: about 2.3 hours of "
                  "training at one thread, then about 10 minutes of measurement",
        "paper": "CIFAR-10, ResNet-110 (54 blocks), 64k iterations, 16 samples per length on 4 batches of 128: hours "
                 "on one GPU",
    },
    # the network is the lesion experiment's: the same training runs (or --from), on the same data
    options=LESION.options,
    needs_data=LESION.needs_data,
    scale_notes=dict.fromkeys(("smoke", "small", "medium"),
                              "Paper scale: ResNet-110 (54 blocks); this {scale} scale measures {model}."),
)


# -- verdicts (pure functions of the measurements) -----------------------------------------------------------------
def share_below_half(shares: list[float], lengths: list[int], n: int) -> float:
    """Share of the total gradient carried by paths shorter than n / 2 blocks (the mean path length)."""
    return sum(s for k, s in zip(lengths, shares, strict=True) if k < n / 2)


def verdict_short_paths(state: str, n: int, grad_range: tuple[int, int], path_range: tuple[int, int],
                        below_half: float, *, paths_share: float, trained: bool = True,
                        fraction: float = FRACTION) -> Verdict:
    """Is the gradient carried by paths much shorter than the typical path?

    ``grad_range``: the shortest range of lengths carrying ``fraction`` of the total gradient;
    ``path_range``: the range holding 95% of the paths; ``below_half``: the share of the total gradient from
    paths shorter than n/2; ``paths_share``: the share of all paths whose length lies in ``grad_range``.
    Supported when the whole gradient range is at most n/2 (half the depth in blocks); not supported when
    the gradient is spread like the paths themselves (at most 60% of it from paths shorter than n/2);
    inconclusive otherwise, or for a network that has not learned (``trained`` False,
    :func:`~.findings.has_learned`).
    """
    a, b = grad_range
    claim = (f"Short paths carry the gradient ({state}): the paths that carry {100 * fraction:.0f}% of the total "
             f"gradient are at most half as long as the network is deep in blocks (Veit et al. Fig. 6: 5-17 of "
             "ResNet-110's 54 blocks).")
    evidence = (f"{n} residual blocks, mean path length {n / 2:g}, 95% of the paths {path_range[0]}..{path_range[1]} "
                f"blocks long; {100 * fraction:.0f}% of the gradient comes from paths {a}..{b} blocks long "
                f"({100 * paths_share:.2g}% of all paths); {100 * below_half:.0f}% of it from paths shorter than "
                f"{n / 2:g}.")
    if not trained:
        return Verdict(claim, "inconclusive", evidence, "the network has barely learned (training accuracy at most "
                       "twice chance): its gradients are not those of a trained network.")
    if b <= n / 2:
        return Verdict(claim, "supported", evidence)
    if below_half <= 0.6:
        return Verdict(claim, "not supported", evidence + " The gradient is spread over the path lengths much as the "
                       "paths themselves are.")
    return Verdict(claim, "inconclusive", evidence, f"most of the gradient comes from short paths, but the "
                   f"{100 * fraction:.0f}% range reaches beyond half the depth.")


# -- plan and analysis ---------------------------------------------------------------------------------------------
def plan(ctx: Context) -> list[RunSpec]:
    if parse_from(ctx.options.get("from")):
        return []
    return train_specs(ctx, ("resnet",))


def _network(ctx: Context, runs: dict[str, RunRecord]) -> tuple[RunRecord, list[str]]:
    if parse_from(ctx.options.get("from")):
        res, _, _ = pick_pair(source_dirs(ctx))
        return res, [f"Network taken from a finished run (--from): {res.label}, {res.run_dir}."]
    d = LESION_SCALES[ctx.scale]["depth"]
    return runs[f"resnet{d}"], []


def measure(ctx: Context, run: RunRecord) -> tuple[dict[str, Any], str, float]:
    """Path gradients of ``run``'s network at initialization and trained.

    Returns ``({state: PathGradients}, the data's description, the chance accuracy)``.
    """
    import torch

    from ..analysis import dataset_batches, path_gradients
    from ..device import resolve_device
    from ..models import create_model
    from ..train.runs import load_trained

    sc = SCALES[ctx.scale]
    dev = resolve_device(ctx.device)
    trained = load_trained(run.run_dir)
    cfg = run.config
    data_dir = ctx.data_path(cfg["dataset"]) if ctx.data_dir else cfg.get("data_dir")
    batches, info = dataset_batches(cfg["dataset"], root=data_dir, split="test", batch_size=sc["batch_size"],
                                    batches=sc["batches"], seed=0, device=dev)
    c = trained.input_size[0] if trained.input_size else 3
    # fit() seeds torch with the run's seed right before it builds the model, so this is the run's own start.
    torch.manual_seed(int(cfg.get("seed", 0)))
    n_classes = len(trained.classes or []) or 10
    init = create_model(cfg["model"], num_classes=n_classes, in_chans=c, **(cfg.get("model_args") or {}))
    results = {}
    for state, model in (("initialization", init), ("trained", trained.model)):
        ctx.log(f"  path gradients of {cfg['model']} ({state}), {sc['samples']} sample(s) per length")
        results[state] = path_gradients(model.to(dev), batches, samples=sc["samples"], seed=0, name=cfg["model"],
                                        source=state, data=info["text"])
    return results, info["text"], 1 / n_classes


def analyze(ctx: Context, runs: dict[str, RunRecord]) -> Report:
    from ..errors import InvalidInputError

    sc = SCALES[ctx.scale]
    run, notes = _network(ctx, runs)
    if run.diverged:
        raise InvalidInputError(f"{run.label} diverged during training ({run.message}); no trained network.")
    model = run.config["model"]
    results, data_text, chance = measure(ctx, run)
    learned = has_learned(run.final.get("train_acc", 0.0), chance)
    verdicts, rows = [], []
    for state, r in results.items():
        a, b = r.gradient_range(FRACTION)
        below = share_below_half(r.total_share, r.lengths, r.n)
        verdicts.append(verdict_short_paths(state, r.n, (a, b), r.path_range(0.95), below,
                                            paths_share=r.paths_share(a, b),
                                            trained=learned or state == "initialization"))
        rows.append({"state": state, "blocks": r.n, "range_90": [a, b], "paths_share_of_range": r.paths_share(a, b),
                     "gradient_share_below_half": below, "path_range_95": list(r.path_range(0.95)),
                     "grad_shortest": r.magnitude[0], "grad_longest": r.magnitude[-1]})
    n = results["trained"].n
    measurements = {"model": model, "run": str(run.run_dir), "blocks": n, "fraction": FRACTION,
                    "final_train_err": 100 * (1 - run.final.get("train_acc", 0.0)), "summary": rows,
                    "paths": {s: r.as_dict() for s, r in results.items()}}
    notes += [
        f"Gradient per path length by Veit et al.'s sampling: {sc['samples']} random block subset(s) per length and "
        f"batch, {sc['batches']} batch(es) of {sc['batch_size']} {data_text.split(',')[0]} images; the norm is "
        "that of the loss gradient at the first block's input (classicnets.analysis.residual_paths explains the "
        "hooks and the ReLU after each addition, which is on every path).",
        "Total gradient of a length = gradient of one path of that length x the number of such paths, C(n, k).",
        "Initialization: the network rebuilt with the run's seed, exactly the weights the run started from.",
    ]
    return Report(measurements=measurements, verdicts=verdicts, tables=_tables(model, n, rows, results),
                  figures=[_fig6(ctx.figures / "fig6_paths.png", results, model)], notes=notes)


def _tables(model: str, n: int, rows: list[dict[str, Any]], results: dict[str, Any]) -> list[Any]:
    trained = results["trained"]
    per_length = [{"i": i, "k": k, "d": d} for i, (k, d) in enumerate(zip(trained.lengths, trained.distribution,
                                                                           strict=True))]
    return [
        TextTable.from_records(
            f"Where the gradient comes from: {model} ({n} residual blocks), {100 * FRACTION:.0f}% range of the total "
            "gradient",
            {"state": "{state}", "90% of the gradient": lambda r: f"{r['range_90'][0]}..{r['range_90'][1]}",
             "share of all paths": lambda r: f"{100 * r['paths_share_of_range']:.3g}%",
             "gradient from paths < n/2": lambda r: f"{100 * r['gradient_share_below_half']:.0f}%",
             "95% of the paths": lambda r: f"{r['path_range_95'][0]}..{r['path_range_95'][1]}",
             "grad/path at length 0": "{grad_shortest:.3e}", f"grad/path at length {n}": "{grad_longest:.3e}"},
            rows, right={2, 3, 5, 6}),
        TextTable.from_records(
            "Per path length: fraction of paths, gradient norm of one path, share of the total gradient",
            {"length": "{k}", "paths": "{d:.3e}",
             **{f"grad/path ({s})": (lambda r, s=s: f"{results[s].magnitude[r['i']]:.3e}") for s in results},
             **{f"share ({s})": (lambda r, s=s: f"{100 * results[s].total_share[r['i']]:.2f}%") for s in results}},
            per_length, right=range(6), records=[]),
    ]


def _fig6(path: Path, results: dict[str, Any], model: str) -> Path:
    from ..analysis import path_length_distribution

    plt = pyplot()
    first = next(iter(results.values()))
    n = first.n
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    axes[0].bar(range(n + 1), [math.comb(n, k) for k in range(n + 1)], color="tab:gray")
    axes[0].set_yscale("log")
    axes[0].set_title(f"(a) number of paths of each length, C({n}, k)")
    axes[0].set_ylabel("paths")
    share_ax = axes[0].twinx()
    share_ax.plot(range(n + 1), path_length_distribution(n), color="k", linewidth=0.8)
    share_ax.set_ylabel("fraction of paths")
    colors = {"initialization": "tab:green", "trained": "tab:red"}
    for state, r in results.items():
        axes[1].plot(r.lengths, [max(m, 1e-45) for m in r.magnitude], "o-", markersize=3, color=colors[state],
                     label=state)
        a, b = r.gradient_range(FRACTION)
        axes[2].plot(r.lengths, [100 * s for s in r.total_share], "o-", markersize=3, color=colors[state],
                     label=f"{state}: 90% from lengths {a}..{b}")
        axes[2].axvspan(a - 0.5, b + 0.5, color=colors[state], alpha=0.12)
    axes[1].set_yscale("log")
    axes[1].set_title("(b) gradient magnitude of one path")
    axes[1].set_ylabel("gradient norm at the first block's input")
    axes[2].axvline(n / 2, color="grey", linestyle=":", linewidth=1, label=f"mean path length {n / 2:g}")
    axes[2].set_title("(c) total gradient per path length")
    axes[2].set_ylabel("share of the total gradient (%)")
    for ax in axes:
        ax.set_xlabel("path length (residual blocks)")
        ax.grid(True, alpha=0.3)
    axes[1].legend(fontsize=8)
    axes[2].legend(fontsize=8)
    fig.suptitle(f"{model}: paths and their gradients (Veit et al. Fig. 6)", fontsize=10)
    return save_figure(fig, path)
