"""Time to accuracy: the `fast-cifar` recipe with ResNet-20 on CIFAR-10 (a long run: tens of minutes to hours).

    python benchmarks/time_to_accuracy.py [--data ../shared/data/cifar10-jpg.tar.gz] [--epochs 30]
                                          [--out runs/tta-fast-cifar] [--paper-run RUN]

Trains ``classicnets train resnet20 --dataset cifar10 --recipe fast-cifar`` (or
reads the run in ``--out`` if it has finished), then prints the single-crop
test accuracy after every epoch (no test-time augmentation; the val_* columns
are the test split because the recipe holds no validation split out), the
epoch and the cumulative training time at which it first reaches 88%, 89% and
90%, and the final model's flip-averaged test accuracy beside its single-crop
one.  ``--paper-run`` names a finished ``resnet-cifar`` run on the same data:
its final accuracy is the second target (to be reached within 40 epochs).
Targets: >= 89% within 30 epochs; the paper recipe's final accuracy within 40.

``torchrun --nproc-per-node N benchmarks/time_to_accuracy.py ...`` trains with
DistributedDataParallel (the same global batch; rank 0 prints), e.g. on several
GPUs.  On this project's 2-core CPU it is not faster than one process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "cifar10-jpg.tar.gz"


def flip_averaged_accuracy(run: Path) -> tuple[float, float]:
    from classicnets import data as cndata
    from classicnets.train.runs import load_trained

    trained = load_trained(run)
    cfg = json.loads((run / "data.json").read_text())
    ds = cndata.load_dataset(cfg["dataset"], trained.data_dir, split="test")
    tf = cndata.augment.eval_transform(trained.mean, trained.std)
    loader = cndata.DataLoader(ds, 500, shuffle=False, transform=tf)
    model = trained.model.eval()
    single = both = n = 0
    with torch.inference_mode():
        for x, y in loader:
            a = model(x)
            b = model(x.flip(3))
            single += (a.argmax(1) == y).sum().item()
            both += ((a.softmax(1) + b.softmax(1)).argmax(1) == y).sum().item()
            n += y.shape[0]
    return single / n, both / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--epochs", type=float, default=None, help="default: the recipe's 30")
    ap.add_argument("--out", type=Path, default=Path("runs/tta-fast-cifar"))
    ap.add_argument("--paper-run", type=Path, help="a finished resnet-cifar run on the same data")
    args = ap.parse_args()
    from classicnets.runfiles import RunFiles
    from classicnets.train import TrainConfig, fit
    from classicnets.train.rundir import cpu_name

    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    if rank == 0:
        print(f"machine: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__} "
              f"({world} process(es) of {torch.get_num_threads()} thread(s)), Python {platform.python_version()}")
    if not (args.out / "result.json").exists():
        if not args.data.exists():
            sys.exit(f"no CIFAR-10 data at {args.data}; pass --data")
        fit(TrainConfig(model="resnet20", dataset="cifar10", data_dir=str(args.data), recipe="fast-cifar",
                        epochs=args.epochs, out=str(args.out), resume="",  # continues a killed run
                        progress="lines"))
    if rank != 0:
        return
    rows = RunFiles(args.out).read_metrics()
    elapsed = 0.0
    reached: dict[int, tuple[int, float]] = {}
    print("epoch  test acc (single crop)  cumulative training time")
    for r in rows:
        elapsed += r["epoch_s"]
        acc = 100 * r["val_acc"]
        print(f"{int(r['epoch']):5d}  {acc:21.2f}%  {elapsed / 60:8.1f} min")
        for t in (88, 89, 90):
            if acc >= t and t not in reached:
                reached[t] = (int(r["epoch"]), elapsed)
    for t in (88, 89, 90):
        if t in reached:
            print(f"reached {t}% at epoch {reached[t][0]} after {reached[t][1] / 60:.1f} min of training")
        else:
            print(f"did not reach {t}% in {len(rows)} epochs")
    single, flipped = flip_averaged_accuracy(args.out)
    print(f"final: single crop {100 * single:.2f}%, flip-averaged {100 * flipped:.2f}%")
    if args.paper_run and not (args.paper_run / "result.json").exists():
        print(f"{args.paper_run} has no result.json (the run has not finished): no comparison with it; "
              f"finish it with `classicnets train ... --out {args.paper_run} --resume`, then run this again")
    elif args.paper_run:
        paper = json.loads((args.paper_run / "result.json").read_text())["final"]["val_acc"] * 100
        hit = next((int(r["epoch"]) for r in rows if 100 * r["val_acc"] >= paper), None)
        print(f"resnet-cifar final accuracy {paper:.2f}%: " +
              (f"reached at epoch {hit} (target <= 40)" if hit else "not reached"))


if __name__ == "__main__":
    main()
