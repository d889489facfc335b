"""Data-path benchmark: CIFAR-10 import into a cold cache, and CIFAR training augmentation throughput.

    .venv/bin/python benchmarks/data_bench.py [--tarball PATH] [--workers N] [--threads N]

Prints the machine, then
  1. seconds to decode the CIFAR-10 JPEG tarball (60,000 images) into an empty
     cache in a temporary folder (target <= 30 s);
  2. images per second of the CIFAR training augmentation -- 4-pixel pad,
     random 32x32 crop, horizontal flip, normalise -- on uint8 batches of 128
     (target >= 50,000 img/s), for the transform alone and for the whole
     loader (gather from the memory-mapped cache + transform).
Without the tarball (``../shared/data`` absent) step 1 is skipped and step 2
runs on random images.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from classicnets.data import DataLoader, augment, load_splits
from classicnets.data.images import default_workers

DEFAULT_TARBALL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10-jpg.tar.gz"
IMPORT_TARGET_S = 30.0
AUG_TARGET = 50_000


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (f"{platform.node()}: {cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, "
            f"torch {torch.__version__}, numpy {np.__version__}; load average (1, 5, 15 min): {load}")


def throughput(fn, batch: int, seconds: float = 3.0) -> float:
    for _ in range(5):
        fn()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return n * batch / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tarball", type=Path, default=DEFAULT_TARBALL)
    ap.add_argument("--workers", type=int, default=None, help=f"decode processes (default {default_workers()})")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for the augmentation (default 1)")
    ap.add_argument("--batch", type=int, default=128)
    args = ap.parse_args()
    print(machine())

    with tempfile.TemporaryDirectory(prefix="classicnets-bench-") as tmp:
        if args.tarball.is_file():
            workers = args.workers or default_workers()
            t0 = time.perf_counter()
            splits = load_splits("cifar10", args.tarball, cache_dir=tmp, workers=workers)
            dt = time.perf_counter() - t0
            n = sum(len(d) for d in splits.values())
            verdict = "meets" if dt <= IMPORT_TARGET_S else "MISSES"
            print(f"import: {n:,} images from {args.tarball.name} into a cold cache in {dt:.1f} s "
                  f"({n / dt:,.0f} img/s, {workers} decode workers); {verdict} the target of <= "
                  f"{IMPORT_TARGET_S:.0f} s")
            train = splits["train"]
            images, labels, mean, std = train.images, train.labels, train.mean, train.std
        else:
            print(f"import: skipped ({args.tarball} not found); augmentation on random images")
            rng = np.random.default_rng(0)
            images = rng.integers(0, 256, (50_000, 32, 32, 3), dtype=np.uint8)
            labels = rng.integers(0, 10, 50_000)
            mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)

        torch.set_num_threads(args.threads)
        tf = augment.train_transform("crop-flip", mean, std, side=32, size=32)
        x = torch.from_numpy(np.array(images[: args.batch])).permute(0, 3, 1, 2).contiguous()
        g = torch.Generator().manual_seed(0)
        aug = throughput(lambda: tf(x, g), args.batch)
        loader = DataLoader((images, labels), args.batch, seed=0, transform=tf, drop_last=True)
        it = iter(loader)

        def next_batch() -> None:
            nonlocal it
            try:
                next(it)
            except StopIteration:
                it = iter(loader)
                next(it)

        full = throughput(next_batch, args.batch)
        for what, rate in (("augmentation (pad-crop-flip-normalize)", aug),
                           ("loader (memmap gather + augmentation)", full)):
            verdict = "meets" if rate >= AUG_TARGET else "MISSES"
            print(f"{what}: {rate:,.0f} img/s at batch {args.batch}, {args.threads} torch thread(s); "
                  f"{verdict} the target of >= {AUG_TARGET:,} img/s")
    print("after: load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))


if __name__ == "__main__":
    main()
