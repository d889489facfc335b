"""Peak memory (RSS) of a ResNet-56 training step at batch 128 on CIFAR-sized inputs; with
``--streaming``, the peak memory of training from a folder of ImageNet-sized JPEGs.

    python benchmarks/memory.py [--model resnet56] [--batch 128]
    python benchmarks/memory.py --streaming [--sizes 2000,20000] [--folder DIR] [--steps 4] [--workers 2]

Each precision runs in its own child process so the peaks do not mix; the
figure is the child's peak resident set size (``ru_maxrss``) after three
training steps, next to the same process's peak right before the first step
(Python, torch, the model and the optimizer: the baseline).

``--streaming`` writes N synthetic 500x375 JPEGs (smooth noise, quality 90, 10 classes) into
``--folder`` once (kept for later runs), then for each N trains ``--steps`` steps of resnet18 at 224
in a child process through :class:`classicnets.data.StreamingLoader` (``imagenet-train`` preset,
``--workers`` processes) and reports the peak PSS of the child and its loader workers together
(``/proc/<pid>/smaps_rollup`` of the process tree, sampled every 0.1 s; PSS counts pages shared
between the forked workers once), and the loader's images per second with 0, 1 and 2 workers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

CHILD = """
import json, resource, sys, torch, torch.nn.functional as F
from classicnets import create_model
name, batch, prec, cl = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
model = create_model(name)
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
if cl:
    model = model.to(memory_format=torch.channels_last)
    x = x.contiguous(memory_format=torch.channels_last)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for _ in range(3):
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=prec == "bf16"):
        loss = F.cross_entropy(model(x).float(), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"base_mib": base / 1024, "peak_mib": peak / 1024}))
"""


STREAM_CHILD = """
import json, sys, time, torch, torch.nn.functional as F
from classicnets import create_model
from classicnets.data import StreamingLoader, augment, open_files
root, batch, steps, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
train = open_files("imagefolder", root)["train"]
loader = StreamingLoader(train, batch, image_size=224, seed=0, drop_last=True, workers=workers,
                         transform=augment.Normalize(train.mean, train.std))
model = create_model("resnet18", num_classes=train.num_classes)
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
t0 = time.perf_counter()
for step, (x, y) in enumerate(loader):
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if step + 1 == steps:
        break
print(json.dumps({"images": len(train), "seconds": time.perf_counter() - t0}))
"""

RATE_CHILD = """
import json, sys, time
from classicnets.data import StreamingLoader, open_files
root, batch, batches, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
loader = StreamingLoader(open_files("imagefolder", root)["train"], batch, image_size=224, workers=workers)
it = iter(loader)
next(it)  # workers started, first batch in
t0 = time.perf_counter()
for _ in range(batches):
    next(it)
print(json.dumps({"img_per_s": batch * batches / (time.perf_counter() - t0)}))
"""


def _jpeg_pool(folder: Path, n: int) -> list[Path]:
    """``n`` synthetic 500x375 JPEGs in ``folder/pool`` (written once, reused by later runs)."""
    import numpy as np
    from PIL import Image

    pool = folder / "pool"
    pool.mkdir(parents=True, exist_ok=True)
    paths = [pool / f"{i:06d}.jpg" for i in range(n)]
    todo = [p for p in paths if not p.exists()]
    for k, p in enumerate(todo):
        rng = np.random.default_rng(int(p.stem))
        small = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)  # smooth noise: does not compress to nothing
        im = Image.fromarray(small).resize((500, 375), Image.Resampling.BICUBIC)
        im.save(p.with_suffix(".tmp.jpg"), quality=90)
        os.replace(p.with_suffix(".tmp.jpg"), p)
        if k % 2000 == 1999:
            print(f"  wrote {k + 1:,} of {len(todo):,} JPEGs", flush=True)
    return paths


def _tree(folder: Path, n: int) -> Path:
    """An image-folder tree of the first ``n`` pool images in 10 classes (hard links, no copies)."""
    root = folder / f"n{n}"
    if (root / ".complete").exists():
        return root
    for i, src in enumerate(_jpeg_pool(folder, n)):
        dst = root / f"class{i % 10}" / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.exists():
            os.link(src, dst)
    (root / ".complete").touch()
    return root


def _tree_pss_kib(pid: int) -> int:
    """PSS of ``pid`` and all its descendants, in KiB (0 for processes that are gone)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


def _run_sampled(args: list[str]) -> tuple[dict, float]:
    """Run a child, sampling its process tree's PSS every 0.1 s: (its JSON line, peak GiB)."""
    proc = subprocess.Popen([sys.executable, "-c", *args], stdout=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_pss_kib(proc.pid))
        time.sleep(0.1)
    out = proc.stdout.read() if proc.stdout else ""
    if proc.returncode:
        raise SystemExit(f"child failed with status {proc.returncode}")
    return json.loads(out.strip().splitlines()[-1]), peak / (1 << 20)


def streaming(args: argparse.Namespace) -> None:
    folder = Path(args.folder)
    sizes = [int(s) for s in args.sizes.split(",")]
    for n in sizes:
        root = _tree(folder, n)
        m, peak = _run_sampled([STREAM_CHILD, str(root), str(args.stream_batch), str(args.steps), str(args.workers)])
        print(f"streaming {m['images']:,} JPEGs 500x375, resnet18 at 224, batch {args.stream_batch}, "
              f"{args.steps} steps, {args.workers} workers: peak PSS {peak:.2f} GiB (process tree), "
              f"{m['seconds']:.1f} s", flush=True)
    root = _tree(folder, sizes[0])
    for w in (0, 1, 2):
        r, _ = _run_sampled([RATE_CHILD, str(root), str(args.stream_batch), "8", str(w)])
        print(f"StreamingLoader, imagenet-train at 224, batch {args.stream_batch}, {w} workers: "
              f"{r['img_per_s']:.0f} img/s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnet56")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--streaming", action="store_true", help="the streaming-loader case (see above)")
    ap.add_argument("--sizes", default="2000,20000", help="--streaming: image counts, comma-separated")
    ap.add_argument("--folder", default=str(Path(os.environ.get("TMPDIR", "/tmp")) / "classicnets-bench-jpegs"),
                    help="--streaming: where the synthetic JPEGs are kept between runs")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--stream-batch", type=int, default=64)
    args = ap.parse_args()
    import torch

    from classicnets.train.rundir import cpu_name

    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"Python {platform.python_version()}")
    if args.streaming:
        streaming(args)
        return
    for prec, cl in (("fp32", "0"), ("bf16", "0"), ("bf16", "1")):
        r = subprocess.run([sys.executable, "-c", CHILD, args.model, str(args.batch), prec, cl], capture_output=True,
                           text=True, check=True)
        m = json.loads(r.stdout.strip().splitlines()[-1])
        print(f"{args.model}, batch {args.batch}, 3x32x32, {prec}{' channels_last' if cl == '1' else ''}: "
              f"peak RSS {m['peak_mib']:.0f} MiB (before the first step {m['base_mib']:.0f} MiB; the step adds "
              f"{m['peak_mib'] - m['base_mib']:.0f} MiB)")


if __name__ == "__main__":
    main()
