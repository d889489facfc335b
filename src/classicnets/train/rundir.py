"""The run directory of a training run: :class:`RunDir`, its files (:mod:`classicnets.runfiles`) and what
needs torch or the training configuration (the environment record, the configuration as a TrainConfig).

The layout and the formats are in :mod:`classicnets.runfiles`, shared with the report.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from ..errors import InvalidInputError
from ..runfiles import RunFiles
from .config import TrainConfig, from_dict, load_toml

__all__ = ["MODEL_FACTS", "RunDir", "cpu_name", "default_run_dir", "env_info"]


#: What data.json must hold for the run's model to be rebuilt (and its inputs normalized).
MODEL_FACTS = ("classes", "mean", "std", "input_size")


def default_run_dir(model: str, dataset: str) -> Path:
    return Path("runs") / f"{model}-{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"


class RunDir(RunFiles):
    """A run directory (:class:`~classicnets.runfiles.RunFiles`) with the training engine's own readers."""

    def read_train_config(self) -> TrainConfig:
        """config.toml as a checked :class:`TrainConfig` (a wrong value is refused naming the file)."""
        return from_dict(load_toml(self.config), source=str(self.config))

    def read_model_facts(self) -> dict[str, Any]:
        """data.json, refused with the file named when it lacks what the model needs to be rebuilt."""
        facts = self.read_data()
        ok = all(isinstance(facts.get(k), list) for k in MODEL_FACTS)
        if not ok or len(facts["input_size"]) != 3 or not facts["classes"]:
            raise InvalidInputError(f"{self.data} is damaged: it needs the lists {', '.join(MODEL_FACTS)} (the run "
                                    "writes them when it starts); rerun it or restore the file.")
        return facts

    def session_env(self, env: dict[str, Any], *, resumed: bool) -> dict[str, Any]:
        """``env.json`` for a session: a new run's own; a resumed run keeps its first session's environment
        and lists each later session's under ``"resumed"`` (one machine's figures must not replace
        another's)."""
        if not resumed or not self.env.is_file():
            return env
        try:
            first = self.read_env()
        except InvalidInputError:
            return env  # unreadable: this session's is the best record left
        first.setdefault("resumed", []).append(env)
        return first

    def write_session_env(self, device: torch.device, world_size: int = 1, *, resumed: bool) -> Path:
        """Write ``env.json`` for this session (:func:`env_info`, kept beside the first session's on resume)."""
        return self.write_env(self.session_env(env_info(device, world_size), resumed=resumed))


# -- env.json ------------------------------------------------------------------------------
def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        r = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                           timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() or None if r.returncode == 0 else None


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def env_info(device: torch.device, world_size: int = 1) -> dict[str, Any]:
    import numpy

    from .. import __version__

    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "classicnets": __version__,
        "git_commit": _git_commit(),
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "world_size": world_size,
        "argv": sys.argv,
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info
