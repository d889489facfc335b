"""The DDP stop/resume cycle, repeated with both cores loaded: how many consecutive cycles pass.

    python benchmarks/ddp_resume_stress.py [--cycles 30] [--load 2] [--out DIR]

One cycle: ``torchrun --nproc-per-node 2 -m classicnets train resnet20 --dataset digits ...``
is stopped with SIGTERM once its first checkpoint exists, then resumed with
``--resume``; the cycle passes when the stopped run exits with its stop status
(not a crash), the resumed run exits 0, neither printed a C++ abort nor (``--cores``)
left a core file, and the
resumed run's final weights equal those of one uninterrupted reference run
bit for bit.  ``--load N`` keeps N busy-looping processes running beside it
(the condition under which a resumed rank once died of SIGABRT).  Every child
runs with ``PYTHONFAULTHANDLER=1``, so an abort prints the Python stack of
every thread; a failed cycle's output is kept in ``DIR/cycle-NN.log``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
CRASH_MARKS = ("terminate called", "Fatal Python error", "SIGABRT", "Signals.SIGABRT", "core dumped")


def train_args(out: Path, steps: int = 40) -> list[str]:
    return ["-m", "classicnets", "train", "resnet20", "--dataset", "digits", "--steps", str(steps),
            "--batch-size", "64", "--threads", "1", "--precision", "fp32", "--ckpt-every-steps", "2",
            "--progress", "lines", "--augment", "crop", "--out", str(out)]


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONFAULTHANDLER": "1", "OMP_NUM_THREADS": "1"}


def allow_core_dumps() -> None:
    """In the children: write a core file on an abort (``--cores``), for ``gdb python core`` afterwards."""
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


CORES = {"preexec_fn": None}


def run_reference(out: Path) -> Path:
    r = subprocess.run([*TORCHRUN, *train_args(out)], capture_output=True, text=True, timeout=300, env=child_env())
    if r.returncode != 0:
        raise RuntimeError(f"the reference run failed ({r.returncode}):\n{r.stderr[-4000:]}")
    return out / "weights" / "final.safetensors"


def one_cycle(out: Path, reference: Path) -> tuple[bool, str]:
    """Stop a run at its first checkpoint, resume it; ``(passed, log)``."""
    import torch
    from safetensors.torch import load_file

    last = out / "checkpoints" / "last.pt"
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([*TORCHRUN, *train_args(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=child_env(), cwd=out, **CORES)
    end = time.time() + 240
    while not last.exists() and proc.poll() is None and time.time() < end:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out1, err1 = proc.communicate(timeout=240)
    log = f"== stopped run: exit {proc.returncode}\n{out1[-3000:]}\n{err1[-6000:]}\n"
    if proc.returncode == 0 or any(m in err1 for m in CRASH_MARKS) or not last.exists():
        return False, log
    r = subprocess.run([*TORCHRUN, *train_args(out), "--resume"], capture_output=True, text=True, timeout=300,
                       env=child_env(), cwd=out, **CORES)
    log += f"== resumed run: exit {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-8000:]}\n"
    if r.returncode != 0 or any(m in r.stderr for m in CRASH_MARKS):
        return False, log
    cores = sorted(p.name for p in out.glob("core*"))
    if cores:  # an abort that a launcher's exit status or output did not show
        return False, log + f"== a process aborted and wrote {', '.join(cores)} (gdb {sys.executable} CORE)\n"
    a, b = load_file(str(reference)), load_file(str(out / "weights" / "final.safetensors"))
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    if differ:
        return False, log + f"== the resumed weights differ from the reference in {len(differ)} tensors\n"
    return True, log


def stress(cycles: int, load: int, out: Path, stop_at_failure: bool = False) -> tuple[int, int, list[int]]:
    """Run ``cycles`` cycles beside ``load`` busy loops: ``(passed, longest run of passes, failed cycles)``."""
    out.mkdir(parents=True, exist_ok=True)
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(load)]
    passed, streak, longest, failed = 0, 0, 0, []
    try:
        reference = run_reference(out / "reference")
        for i in range(1, cycles + 1):
            t0 = time.time()
            ok, log = one_cycle(out / f"cycle-{i:02d}", reference)
            passed += ok
            streak = streak + 1 if ok else 0
            longest = max(longest, streak)
            print(f"cycle {i}/{cycles}: {'pass' if ok else 'FAIL'} ({time.time() - t0:.0f} s)", flush=True)
            if not ok:
                failed.append(i)
                (out / f"cycle-{i:02d}.log").write_text(log)
                if stop_at_failure:
                    break
    finally:
        for p in busy:
            p.kill()
            p.wait()
    return passed, longest, failed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=30)
    ap.add_argument("--load", type=int, default=2, help="busy-looping processes beside the runs")
    ap.add_argument("--cores", action="store_true", help="let a crashing child write a core file in its run folder")
    ap.add_argument("--out", type=Path, default=None, help="where the runs go (default: a temporary folder)")
    args = ap.parse_args()
    if args.cores:
        CORES["preexec_fn"] = allow_core_dumps
    out = args.out or Path(tempfile.mkdtemp(prefix="ddp-stress-"))
    passed, longest, failed = stress(args.cycles, args.load, out)
    print(f"{passed} of {args.cycles} cycles passed ({longest} consecutive) with {args.load} busy processes beside "
          f"them; failed: {failed or 'none'}; logs in {out}")
    sys.exit(0 if passed == args.cycles else 1)


if __name__ == "__main__":
    main()
