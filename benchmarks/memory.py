"""Peak memory (RSS) of a ResNet-56 training step at batch 128 on CIFAR-sized inputs.

    python benchmarks/memory.py [--model resnet56] [--batch 128]

Each precision runs in its own child process so the peaks do not mix; the
figure is the child's peak resident set size (``ru_maxrss``) after three
training steps, next to the same process's peak right before the first step
(Python, torch, the model and the optimizer: the baseline).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnet56")
    ap.add_argument("--batch", type=int, default=128)
    args = ap.parse_args()
    import torch

    from classicnets.train.rundir import cpu_name

    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"Python {platform.python_version()}")
    for prec, cl in (("fp32", "0"), ("bf16", "0"), ("bf16", "1")):
        r = subprocess.run([sys.executable, "-c", CHILD, args.model, str(args.batch), prec, cl], capture_output=True,
                           text=True, check=True)
        m = json.loads(r.stdout.strip().splitlines()[-1])
        print(f"{args.model}, batch {args.batch}, 3x32x32, {prec}{' channels_last' if cl == '1' else ''}: "
              f"peak RSS {m['peak_mib']:.0f} MiB (before the first step {m['base_mib']:.0f} MiB; the step adds "
              f"{m['peak_mib'] - m['base_mib']:.0f} MiB)")


if __name__ == "__main__":
    main()
