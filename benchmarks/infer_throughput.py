"""Inference throughput: fp32 against folded BatchNorm + bf16 autocast + channels_last.

    python benchmarks/infer_throughput.py [--seconds 10] [--threads N]

ResNet-50 at 224x224 (batch 16) and ResNet-20 at 32x32 (batch 256), eval mode,
random inputs (throughput does not depend on the values).  Each variant runs
for about ``--seconds`` after a warm-up; the figure is images per second.
Target: the fast variant at least 2x the fp32 one.  The folded model's outputs
are compared with the fp32 model's (bf16 rounding included) and printed.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from classicnets import create_model
from classicnets.device import cpu_has_native_bf16
from classicnets.models.fold import fold_batchnorm
from classicnets.train.rundir import cpu_name


def throughput(model: torch.nn.Module, x: torch.Tensor, *, bf16: bool, seconds: float) -> float:
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for _ in range(2):
            model(x)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            model(x)
            n += x.shape[0]
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, native bf16: {cpu_has_native_bf16()}, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), Python {platform.python_version()}")
    for name, size, batch in (("resnet50", 224, 16), ("resnet20", 32, 256)):
        torch.manual_seed(0)
        model = create_model(name).eval()
        x = torch.randn(batch, 3, size, size)
        base = throughput(model, x, bf16=False, seconds=args.seconds)
        fast_model = fold_batchnorm(model).to(memory_format=torch.channels_last)
        xc = x.contiguous(memory_format=torch.channels_last)
        fast = throughput(fast_model, xc, bf16=True, seconds=args.seconds)
        with torch.inference_mode():
            ref = model(x[:8])
            with torch.autocast("cpu", dtype=torch.bfloat16):
                got = fast_model(xc[:8]).float()
        agree = (ref.argmax(1) == got.argmax(1)).float().mean().item()
        rel = ((ref - got).abs().max() / ref.abs().max()).item()
        print(f"{name} at {size}x{size}, batch {batch}: fp32 {base:8.1f} img/s | folded BN + bf16 + channels_last "
              f"{fast:8.1f} img/s | {fast / base:.2f}x (target >= 2) | max rel. logit difference {rel:.1e}, "
              f"top-1 agreement {100 * agree:.0f}%")


if __name__ == "__main__":
    main()
