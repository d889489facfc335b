"""A stand-in for a sweep worker's training run (imported by spawned workers of
tests/test_experiments_framework.py): it records its pid, then waits for a stop request as the training
loop does after each step (inside StopSignals, as fit), and records the signal that stopped it."""

from __future__ import annotations

import os
import time
from pathlib import Path


def wait_for_stop(folder: str, timeout: float = 60.0) -> str:
    from classicnets.train.signals import StopSignals

    out = Path(folder)
    (out / "pid").write_text(str(os.getpid()))
    end = time.time() + timeout
    with StopSignals() as stop:  # as fit() does around its epochs
        while not stop.signum and time.time() < end:
            time.sleep(0.05)
        (out / "stopped").write_text(str(stop.signum))
    return "stopped"
