"""Exact resume: runs killed with SIGKILL (even during a checkpoint write) end bit-identical.

Each run is a subprocess of ``python -m classicnets train`` with one thread,
fp32, on the embedded digits data.  The model is NIN (dropout: the global
torch RNG matters) with crop + flip augmentation (the loader's per-batch
generators matter) and SGD momentum (the optimizer state matters).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from classicnets.train import checkpoint as ckpt

ARGS = ["train", "nin_cifar10", "--dataset", "digits", "--epochs", "2", "--batch-size", "64", "--augment",
        "crop-flip", "--lr", "0.05", "--precision", "fp32", "--threads", "1", "--ckpt-every-steps", "3",
        "--progress", "lines", "--seed", "3"]
TIMING = ("epoch_s", "img_per_s")


def run_cli(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "classicnets", *ARGS, "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=120)


def start_cli(out: Path, prelude: str = "") -> subprocess.Popen[str]:
    code = (f"{prelude}\nimport sys\nfrom classicnets.cli import main\n"
            f"sys.exit(main({[*ARGS, '--out', str(out), '--resume']!r}))")
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_for_new_checkpoint(path: Path, after: float, proc: subprocess.Popen[str], timeout: float = 60) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if path.exists() and path.stat().st_mtime > after:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False


def metrics_without_timing(run: Path) -> list[list[str]]:
    lines = (run / "metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    keep = [i for i, h in enumerate(header) if h not in TIMING]
    return [[row.split(",")[i] for i in keep] for row in lines]


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = load_file(str(a)), load_file(str(b))
    assert wa.keys() == wb.keys()
    differ = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not differ, f"{len(differ)} tensors differ, first {differ[0]}: max abs diff " \
                       f"{(wa[differ[0]] - wb[differ[0]]).abs().max().item()}"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "run"
    r = run_cli(out)
    assert r.returncode == 0, r.stderr
    return out


def test_killed_twice_at_random_moments_resumes_bit_identical(reference: Path, tmp_path: Path) -> None:
    seed = int(os.environ.get("KILL_SEED", random.randrange(10**6)))
    rnd = random.Random(seed)
    out = tmp_path / "run"
    last = out / "checkpoints" / "last.pt"
    kills = 0
    for _ in range(2):
        t = time.time()
        proc = start_cli(out)
        if wait_for_new_checkpoint(last, t, proc):
            time.sleep(rnd.uniform(0.0, 0.6))  # somewhere between checkpoints, or inside a write
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
        proc.communicate(timeout=60)
    assert kills == 2, f"the run finished before it could be killed twice (KILL_SEED={seed})"
    wall_before = torch.load(last, weights_only=True)["wall_s"]  # the killed sessions, up to the checkpoint
    assert wall_before > 0
    r = subprocess.run([sys.executable, "-m", "classicnets", *ARGS, "--out", str(out), "--resume"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "resuming" in r.stdout
    assert_same_weights(reference / "weights" / "final.safetensors", out / "weights" / "final.safetensors")
    assert_same_weights(reference / "weights" / "best.safetensors", out / "weights" / "best.safetensors")
    assert metrics_without_timing(reference) == metrics_without_timing(out), f"KILL_SEED={seed}"
    assert json.loads((out / "result.json").read_text())["wall_s"] > wall_before  # all sessions counted


def test_kill_during_checkpoint_write_keeps_previous_checkpoint(reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    last = out / "checkpoints" / "last.pt"
    # The third checkpoint write dies half-way: half a file in the temporary, then SIGKILL.
    prelude = (
        "import os, signal, torch\n"
        "_save, _n = torch.save, [0]\n"
        "def save(obj, f, *a, **k):\n"
        "    _n[0] += 1\n"
        "    _save(obj, f, *a, **k)\n"
        "    if _n[0] == 3:\n"
        "        os.truncate(f, os.path.getsize(f) // 2)\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "torch.save = save\n"
    )
    proc = start_cli(out, prelude)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    stale = list(last.parent.glob(".last.pt.*.tmp"))
    assert len(stale) == 1, "the killed write should leave its half-written temporary file"
    state = ckpt.load_checkpoint(last)  # the previous checkpoint is intact
    assert state["step"] == 6, state["step"]
    r = run_cli(out, "--resume")
    assert r.returncode == 0, r.stderr
    assert not list(last.parent.glob(".last.pt.*.tmp")), "stale temporaries are removed on resume"
    assert_same_weights(reference / "weights" / "final.safetensors", out / "weights" / "final.safetensors")


def test_refusals_are_one_line_and_touch_nothing(reference: Path, tmp_path: Path, capsys) -> None:
    import shutil

    from classicnets.cli import main

    run = tmp_path / "run"
    shutil.copytree(reference, run)

    def snapshot() -> dict[str, bytes]:
        return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}

    def refused(args: list[str], expect: str) -> None:
        before = snapshot()
        assert main([*args, "--out", str(run)]) == 2
        err = capsys.readouterr().err
        assert expect in err and err.strip().count("\n") == 0, err
        assert snapshot() == before, f"{args}: the run directory changed"

    refused(ARGS, "already holds a run")
    refused([*ARGS, "--lr", "0.1", "--resume"], "differs in lr (0.05 -> 0.1)")
    refused([*ARGS[:1], "resnet20", *ARGS[2:], "--resume"], "checkpoint of 'nin_cifar10'")
    last = run / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])  # a corrupted checkpoint
    refused([*ARGS, "--resume"], "cannot be read")
