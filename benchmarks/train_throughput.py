"""Training throughput: `classicnets train` against a textbook PyTorch loop, ResNet-20 on CIFAR-10.

    python benchmarks/train_throughput.py [--data ../shared/data/cifar10-jpg.tar.gz] [--images 50000]

Ours: ``classicnets.train.fit`` with the defaults of ``classicnets train resnet20
--dataset cifar10`` for one epoch (decode-once cache, batched uint8
augmentation, precision auto = bf16 autocast where the CPU runs bf16).  The
cache is built before the timing starts (a one-time cost, printed).

Textbook: a ``Dataset`` that opens each JPEG with PIL and applies per-image
pad-4 random crop, flip, to-tensor and normalize; ``DataLoader(num_workers=2)``;
fp32; the same model, batch 128 and SGD.  Both see the same images.

It prints both img/s (training images over the epoch's wall time, data loading
included), their ratio (target >= 2.0), and where ours spends its time (data,
forward, backward, optimizer), measured on separate timed steps.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "cifar10-jpg.tar.gz"


def machine() -> str:
    from classicnets.train.rundir import cpu_name

    return (f"{cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"Python {platform.python_version()}")


def busy_cpu_s() -> float | None:
    """CPU seconds all processes have used since boot (Linux /proc/stat), or None elsewhere."""
    try:
        v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


def own_cpu_s() -> float:
    """CPU seconds of this process and of its finished children (the DataLoader's workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def ours(data: Path, images: int, workdir: Path) -> tuple[float, dict[str, float]]:
    from classicnets import data as cndata
    from classicnets.device import autocast_dtype
    from classicnets.train import TrainConfig, fit

    t = time.perf_counter()
    cndata.load_splits("cifar10", str(data))  # build the decode-once cache (not timed below)
    print(f"  cache ready in {time.perf_counter() - t:.1f} s (one-time import of the archive)")
    epochs = images / 50_000
    r = fit(TrainConfig(model="resnet20", dataset="cifar10", data_dir=str(data), epochs=epochs,
                        out=str(workdir / "ours"), progress="lines"))
    ips = r.final["img_per_s"]

    # where the time goes: the same pieces, timed one by one
    ds = cndata.load_dataset("cifar10", str(data), split="train")
    tf = cndata.augment.train_transform("crop-flip", ds.mean, ds.std, side=32, size=32)
    loader = cndata.DataLoader(ds, 128, drop_last=True, transform=tf)
    model = r.model
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    amp = autocast_dtype("auto", torch.device("cpu"))
    parts = {"data": 0.0, "forward": 0.0, "backward": 0.0, "optimizer": 0.0}
    n = 20
    for i in range(n + 2):
        t0 = time.perf_counter()
        x, y = loader.batch(0, i)
        t1 = time.perf_counter()
        with torch.autocast("cpu", dtype=amp or torch.float32, enabled=amp is not None):
            loss = F.cross_entropy(model(x).float(), y)
        t2 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t3 = time.perf_counter()
        opt.step()
        t4 = time.perf_counter()
        if i >= 2:
            for k, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                parts[k] += dt / n
    return ips, parts


class JpegFolder(torch.utils.data.Dataset):
    """The textbook dataset: one PIL decode and per-image transforms per sample."""

    def __init__(self, files: list[tuple[str, int]], mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        self.files, self.mean, self.std = files, torch.tensor(mean).view(3, 1, 1), torch.tensor(std).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        from PIL import Image, ImageOps

        path, label = self.files[i]
        im = Image.open(path).convert("RGB")
        im = ImageOps.expand(im, border=4, fill=0)
        x0, y0 = random.randint(0, 8), random.randint(0, 8)
        im = im.crop((x0, y0, x0 + 32, y0 + 32))
        if random.random() < 0.5:
            im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        t = torch.from_numpy(np.asarray(im, dtype=np.uint8).copy()).permute(2, 0, 1).float().div(255)
        return (t - self.mean) / self.std, label


def textbook(data: Path, images: int, workdir: Path) -> float:
    from classicnets import create_model

    root = workdir / "extracted"
    if not root.exists():
        with tarfile.open(data) as tar:
            tar.extractall(root, filter="data")
    train = next(p for p in root.rglob("train") if p.is_dir())
    classes = sorted(d.name for d in train.iterdir() if d.is_dir())
    files = [(str(f), c) for c, name in enumerate(classes) for f in sorted((train / name).glob("*.jpg"))]
    random.Random(0).shuffle(files)
    files = files[:images]
    ds = JpegFolder(files, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
    loader = torch.utils.data.DataLoader(ds, batch_size=128, shuffle=True, num_workers=2, drop_last=True)
    model = create_model("resnet20")
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    model.train()
    seen, t0 = 0, time.perf_counter()
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        seen += y.shape[0]
    return seen / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--images", type=int, default=50_000, help="training images per epoch (a subset for a quick run)")
    args = ap.parse_args()
    if not args.data.exists():
        sys.exit(f"no CIFAR-10 data at {args.data}; pass --data")
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    busy0, own0, wall0 = busy_cpu_s(), own_cpu_s(), time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print(f"ours (classicnets train resnet20 --dataset cifar10, defaults), {args.images} images:")
        ips_ours, parts = ours(args.data, args.images, work)
        print(f"textbook loop (PIL decode + per-image transforms, DataLoader 2 workers, fp32), {args.images} images:")
        ips_book = textbook(args.data, args.images, work)
    busy1 = busy_cpu_s()
    if busy0 is not None and busy1 is not None:
        others = (busy1 - busy0) - (own_cpu_s() - own0)  # CPU time of processes not ours (nor our workers)
        cores = others / (time.perf_counter() - wall0)
        print(f"other processes used {max(others, 0):.0f} CPU-seconds during the measurement "
              f"({max(cores, 0):.2f} cores on average)")
        if cores > 0.1:
            print("warning: other processes shared the CPU; the figures below are not this code's alone")
    print(f"ours:     {ips_ours:8.0f} img/s")
    print(f"textbook: {ips_book:8.0f} img/s")
    print(f"ratio:    {ips_ours / ips_book:8.2f}x (target >= 2.0)")
    total = sum(parts.values())
    print("ours, time per step of 128 images: " + ", ".join(
        f"{k} {1000 * v:.1f} ms ({100 * v / total:.0f}%)" for k, v in parts.items()))


if __name__ == "__main__":
    main()
