"""DistributedDataParallel with gloo on 2 CPU processes (torchrun), on digits.

One uninterrupted run checks that both ranks end with identical weights and
that one metrics file is written; a second run, stopped by SIGTERM sent to
torchrun and resumed with ``torchrun -m classicnets train ... --resume``,
must end with the same weights.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")

OPTIONS = {"model": "resnet20", "dataset": "digits", "steps": 40, "batch_size": 64, "threads": 1,
           "precision": "fp32", "ckpt_every_steps": 2, "progress": "lines", "augment": "crop"}
DRIVER = """
import json, sys, torch
from classicnets.train import TrainConfig, distributed, fit
kw = json.loads(sys.argv[1])
r = fit(TrainConfig(**kw))
torch.save(r.model.state_dict(), f"{kw['out']}/rank{__import__('os').environ['RANK']}.pt")
distributed.exit_process(0)  # a torchrun worker's end (see classicnets.train.distributed)
"""
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]


def cli_args(out: Path) -> list[str]:
    return ["-m", "classicnets", "train", "resnet20", "--dataset", "digits", "--steps", "40", "--batch-size", "64",
            "--threads", "1", "--precision", "fp32", "--ckpt-every-steps", "2", "--progress", "lines",
            "--augment", "crop", "--out", str(out)]


def test_ddp_two_cpu_processes_identical_weights_and_exact_resume(tmp_path: Path) -> None:
    a = tmp_path / "a"
    a.mkdir()
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    r = subprocess.run([*TORCHRUN, str(driver), json.dumps({**OPTIONS, "out": str(a), "resume": ""})],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-8000:]
    w0, w1 = (torch.load(a / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    differ = [k for k in w0 if not torch.equal(w0[k], w1[k])]
    assert not differ, f"ranks disagree on {len(differ)} tensors, first {differ[0]}"
    rows = (a / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 2, rows  # header + 2 epochs (40 steps of 22 per epoch), written once
    assert r.stdout.count("epoch 2/2") == 1, "only rank 0 prints"
    assert json.loads((a / "env.json").read_text())["world_size"] == 2

    # Stop with SIGTERM once a checkpoint exists, then resume under torchrun.
    b = tmp_path / "b"
    last = b / "checkpoints" / "last.pt"
    proc = subprocess.Popen([*TORCHRUN, *cli_args(b)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    end = time.time() + 90
    while not last.exists() and proc.poll() is None and time.time() < end:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode != 0, "the run should have been stopped"
    from classicnets.train import checkpoint as ckpt

    state = ckpt.load_checkpoint(last)
    assert 0 < state["step"] < 40 and len(state["rng"]) == 2, (state["step"], err[-2000:])
    r = subprocess.run([*TORCHRUN, *cli_args(b), "--resume"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-8000:]
    fa = load_file(str(a / "weights" / "final.safetensors"))
    fb = load_file(str(b / "weights" / "final.safetensors"))
    differ = [k for k in fa if not torch.equal(fa[k], fb[k])]
    assert not differ, f"resumed DDP run differs in {len(differ)} tensors, first {differ[0]}"

    # The interrupted epoch's training loss and accuracy count every rank's images once, as without the stop.
    def metrics(run: Path) -> list[list[str]]:  # epoch, step, lr, train_*, val_* (not the timings)
        return [ln.split(",")[:8] for ln in (run / "metrics.csv").read_text().splitlines()]

    assert metrics(b) == metrics(a)


@pytest.mark.slow
def test_ddp_stop_resume_cycle_survives_both_cores_loaded(tmp_path: Path) -> None:
    """benchmarks/ddp_resume_stress.py: stop/resume cycles beside two busy loops, each ending bit-exact."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "ddp_resume_stress.py"
    spec = importlib.util.spec_from_file_location("ddp_resume_stress", path)
    stress = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stress)
    passed, _, failed = stress.stress(5, 2, tmp_path)
    logs = "".join((tmp_path / f"cycle-{i:02d}.log").read_text()[-3000:] for i in failed)
    assert passed == 5, f"cycles {failed} failed:\n{logs}"
