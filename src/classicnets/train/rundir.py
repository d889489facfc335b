"""The run directory: what a run writes, and the refusal to overwrite one.

::

    runs/resnet20-cifar10-20260101-120000/
      config.toml          the resolved configuration (re-runnable with --config)
      env.json             Python, torch, numpy, classicnets (+ git commit), CPU/GPU, threads (+ each resumed session)
      classes.json         the class names, in label order
      data.json            dataset facts: sizes, image shape, mean/std used for normalization
      metrics.csv          one row per epoch (CSV_COLUMNS)
      metrics.jsonl        the same rows ("kind": "epoch") plus one every N steps ("kind": "step")
      checkpoints/last.pt  the latest checkpoint (see checkpoint.py)
      weights/best.safetensors, weights/final.safetensors
      result.json          final and best metrics, written when the run ends
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from ..errors import InvalidInputError
from ..models.weights import atomic_write

CSV_COLUMNS = ("epoch", "step", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "val_top5",
               "epoch_s", "img_per_s")
RUN_MARKERS = ("config.toml", "metrics.csv", "checkpoints")


def default_run_dir(model: str, dataset: str) -> Path:
    return Path("runs") / f"{model}-{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"


def holds_run(path: Path) -> bool:
    return any((path / m).exists() for m in RUN_MARKERS)


def write_text(path: Path, text: str) -> Path:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write(text)

    return atomic_write(path, write)


def write_json(path: Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, default=str) + "\n")


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise InvalidInputError(f"cannot read {str(path)!r} ({e}).") from None


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


def session_env(run_dir: Path, env: dict[str, Any], *, resumed: bool) -> dict[str, Any]:
    """``env.json`` for a session: a new run's own; a resumed run keeps its first session's environment and
    lists each later session's under ``"resumed"`` (one machine's figures must not replace another's)."""
    path = Path(run_dir) / "env.json"
    if not resumed or not path.is_file():
        return env
    try:
        first = read_json(path)
    except InvalidInputError:
        return env  # unreadable: this session's is the best record left
    if not isinstance(first, dict):
        return env
    first.setdefault("resumed", []).append(env)
    return first


# -- metrics -------------------------------------------------------------------------------
def _csv_line(row: dict[str, Any]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([_fmt(row.get(c)) for c in CSV_COLUMNS])
    return buf.getvalue()


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


class MetricsLog:
    """metrics.csv (epoch rows) and metrics.jsonl (epoch and step rows), appended as the run goes.

    On resume the files are rewritten from the checkpoint's history, so rows
    written after the checkpoint by a killed process are never duplicated.
    """

    def __init__(self, run_dir: Path) -> None:
        self.csv = run_dir / "metrics.csv"
        self.jsonl = run_dir / "metrics.jsonl"

    def rewrite(self, history: list[dict[str, Any]]) -> None:
        header = ",".join(CSV_COLUMNS) + "\n"
        write_text(self.csv, header + "".join(_csv_line(r) for r in history if r["kind"] == "epoch"))
        write_text(self.jsonl, "".join(json.dumps(r) + "\n" for r in history))

    def append(self, row: dict[str, Any]) -> None:
        with open(self.jsonl, "a") as f:
            f.write(json.dumps(row) + "\n")
        if row["kind"] == "epoch":
            with open(self.csv, "a") as f:
                f.write(_csv_line(row))


def read_metrics(run_dir: str | Path) -> list[dict[str, float]]:
    """The epoch rows of a run's metrics.csv, as floats (empty cells: NaN); a malformed file (not CSV, a
    column missing, a cell that is not a number) is one error naming the file and the line."""
    path = Path(run_dir) / "metrics.csv"
    if not path.is_file():
        raise InvalidInputError(f"{str(run_dir)!r} has no metrics.csv; give a run directory.")
    rows = []
    try:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in ("step", "train_acc", "val_acc") if c not in (reader.fieldnames or [])]
            if missing:
                raise InvalidInputError(f"{path}: not a metrics.csv (no {', '.join(missing)} column).")
            for r in reader:
                rows.append({k: _cell(v, path, reader.line_num) for k, v in r.items() if k is not None})
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InvalidInputError(f"cannot read {path} ({e}).") from None
    return rows


def _cell(v: str | None, path: Path, line: int) -> float:
    if v in ("", None):
        return float("nan")
    try:
        return float(v)
    except ValueError:
        raise InvalidInputError(f"{path}, line {line}: {v!r} is not a number; the file is damaged.") from None
