"""Time to accuracy: a recipe's epochs and wall time to given CIFAR-10 test accuracies, per seed and as the median.

    python benchmarks/time_to_accuracy.py [--model resnet20] [--recipe fast-cifar] [--epochs N]
        [--seeds 0 1 2] [--targets 88 90 91.25] [--data ../shared/data/cifar-10-python.tar.xz]
        [--out runs/tta] [--threads N] [--paper-run RUN]

For each seed it trains ``classicnets train MODEL --dataset cifar10 --recipe
RECIPE --seed S`` into ``OUT/MODEL-RECIPE-eEPOCHS-sS`` (a finished run there is
read, a killed one resumed), then prints, per seed, the first epoch and the
cumulative training time at which the single-crop test accuracy reaches each
target, and the final epoch's accuracy (never the best epoch's); then the
median over the seeds.  The runs hold no validation split out, so their val_*
columns are the official test batch; the recipe was chosen on a held-out split
of the training set (docs/training.md).  ``--paper-run`` names a finished
``resnet-cifar`` run on the same data, printed beside them.

Seeds can train in parallel processes (one ``--seeds S --threads 1`` each);
a last call with every seed prints the table.  Under ``torchrun`` each run
trains with DistributedDataParallel (rank 0 prints).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "cifar-10-python.tar.xz"


def curve(run: Path) -> list[tuple[int, float, float]]:
    """``(epoch, test accuracy %, cumulative training seconds)`` of every epoch of a finished run."""
    from classicnets.runfiles import RunFiles

    out, elapsed = [], 0.0
    for r in RunFiles(run).read_metrics():
        elapsed += r["epoch_s"]
        out.append((int(r["epoch"]), 100 * r["val_acc"], elapsed))
    return out


def reached(points: list[tuple[int, float, float]], target: float) -> tuple[int, float] | None:
    return next(((e, t) for e, a, t in points if a >= target), None)


def row(label: str, points: list[tuple[int, float, float]], targets: list[float]) -> str:
    cells = []
    for t in targets:
        hit = reached(points, t)
        cells.append("-" if hit is None else f"{hit[0]} ({hit[1] / 60:.0f} min)")
    final = points[-1]
    return f"| {label} | " + " | ".join(cells) + f" | {final[1]:.2f}% | {final[0]} | {final[2] / 60:.0f} min |"


def published(model: str) -> None:
    """The published figures for ``model`` on CIFAR-10 (classicnets.reference), for context."""
    from classicnets.reference import EPOCHS, PEER_TEST_ERROR_PERCENT, TEST_ERROR_PERCENT

    key = f"{model}/cifar10"
    for what, table in (("paper", TEST_ERROR_PERCENT), ("peer", PEER_TEST_ERROR_PERCENT)):
        if key in table:
            f = table[key]
            length = f", {EPOCHS[key].value:g} epochs" if what == "paper" and key in EPOCHS else ""
            print(f"published ({what}): {100 - f.value:.2f}% test accuracy ({f.value:.2f}% error{length}): {f.source}")


def train(args: argparse.Namespace, seed: int, out: Path) -> None:
    from classicnets.train import TrainConfig, fit

    if not args.data.exists():
        sys.exit(f"no CIFAR-10 data at {args.data}; pass --data")
    fit(TrainConfig(model=args.model, dataset="cifar10", data_dir=str(args.data), recipe=args.recipe,
                    epochs=args.epochs, seed=seed, threads=args.threads, out=str(out), resume="",
                    ckpt_every_steps=500, progress="lines"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnet20")
    ap.add_argument("--recipe", default="fast-cifar")
    ap.add_argument("--epochs", type=float, default=None, help="default: the recipe's")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--targets", type=float, nargs="+", default=[88.0, 90.0, 91.25])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=Path("runs/tta"))
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--paper-run", type=Path, help="a finished resnet-cifar run on the same data")
    args = ap.parse_args()
    from classicnets.runfiles import RunFiles
    from classicnets.train.recipes import get_recipe
    from classicnets.train.rundir import cpu_name

    epochs = args.epochs or get_recipe(args.recipe).values(args.model)["epochs"]
    runs = {s: args.out / f"{args.model}-{args.recipe}-e{epochs:g}-s{s}" for s in args.seeds}
    from classicnets.train import TrainingInterrupted

    for seed, out in runs.items():
        if not RunFiles(out).result.exists():
            try:
                train(args, seed, out)
            except TrainingInterrupted as e:  # SIGTERM/Ctrl-C: the checkpoint is written; rerun to continue
                sys.exit(f"{e.hint}; or rerun this benchmark with the same arguments")
    if int(os.environ.get("RANK", 0)) != 0:
        return
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, Python "
          f"{platform.python_version()}; {args.model}, recipe {args.recipe}, {epochs:g} epochs, data {args.data}")
    heads = " | ".join(f"epoch to {t:g}%" for t in args.targets)
    print(f"\n| run | {heads} | final test acc | epochs | training time |")
    print("|---" * (len(args.targets) + 4) + "|")
    curves = {s: curve(out) for s, out in runs.items()}
    for s, points in curves.items():
        print(row(f"seed {s}", points, args.targets))
    finals = [p[-1][1] for p in curves.values()]
    if len(finals) > 1:
        spread = f"{statistics.median(finals):.2f}% (min {min(finals):.2f}, max {max(finals):.2f})"
        hits = [[reached(p, t) for p in curves.values()] for t in args.targets]
        cells = ["-" if any(h is None for h in hs) else f"{statistics.median(h[0] for h in hs):g}" for hs in hits]
        print(f"| median of {len(finals)} | " + " | ".join(cells) + f" | {spread} | | |")
    published(args.model)
    if args.paper_run:
        if not RunFiles(args.paper_run).result.exists():
            print(f"\n{args.paper_run} has not finished: resume it with `classicnets train --config "
                  f"{args.paper_run}/config.toml --out {args.paper_run} --resume`, then run this again")
        else:
            print(row(f"paper recipe ({args.paper_run.name})", curve(args.paper_run), args.targets))


if __name__ == "__main__":
    main()
