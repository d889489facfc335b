"""The files of a run directory: their names, and the one reader and writer of each (no torch, no layer).

::

    runs/resnet20-cifar10-20260101-120000/
      config.toml          the resolved configuration (re-runnable with --config)
      env.json             Python, torch, numpy, classicnets (+ git commit), CPU/GPU, threads (+ each resumed session)
      classes.json         the class names, in label order
      data.json            dataset facts: sizes, image shape, mean/std used for normalization
      metrics.csv          one row per epoch (CSV_COLUMNS)
      metrics.jsonl        the same rows ("kind": "epoch") plus one every N steps ("kind": "step")
      checkpoints/last.pt  the latest checkpoint (see train/checkpoint.py)
      weights/best.safetensors, weights/final.safetensors
      result.json          final and best metrics, written when the run ends

The training engine writes these files through :class:`RunFiles` (or its
``train.rundir.RunDir``, which adds what needs torch) and the report reads them
through it, so the layout and the formats are known in this one module.  Every
file problem is one :class:`~classicnets.errors.InvalidInputError` line naming
the file.  Writes are atomic (:func:`classicnets._io.atomic_write`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from ._io import atomic_write
from .errors import InvalidInputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CSV_COLUMNS = ("epoch", "step", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "val_top5",
               "epoch_s", "img_per_s")
#: What :meth:`RunFiles.read_metrics` needs to draw curves.
CURVE_COLUMNS = ("step", "train_acc", "val_acc")


# -- text and JSON files -------------------------------------------------------------------------
def read_text(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise InvalidInputError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}).") from None
    except OSError as e:
        raise InvalidInputError(f"{path}: cannot read it ({e.strerror or e}).") from None


def read_json(path: Path, kind: type = dict) -> Any:
    """A JSON file holding a ``kind`` (an object, or ``list`` for an array)."""
    text = read_text(path)
    try:
        value = json.loads(text)
    except ValueError as e:
        raise InvalidInputError(f"{path}: corrupt JSON ({e}).") from None
    if not isinstance(value, kind):
        raise InvalidInputError(f"{path}: expected a JSON {'object' if kind is dict else 'array'}, "
                                f"found {type(value).__name__}.")
    return value


def write_text(path: Path, text: str) -> Path:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write(text)

    return atomic_write(path, write)


def write_json(path: Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, default=str) + "\n")


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested dict made flat: ``{"model_args": {"stem": "cifar"}}`` -> ``{"model_args.stem": "cifar"}``."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


# -- metrics -------------------------------------------------------------------------------------
def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


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


def read_metrics_table(path: Path) -> tuple[list[str], list[dict[str, float]]]:
    """Every column and row of a ``metrics.csv`` as floats (empty cells: NaN), checked cell by cell: a
    short row is refused (the report shows the file as it is)."""
    rows = list(csv.reader(read_text(path).splitlines()))
    if not rows:
        raise InvalidInputError(f"{path}: empty file (expected a header line starting with 'epoch').")
    header = [h.strip() for h in rows[0]]
    if "epoch" not in header or len(set(header)) != len(header) or any(not h for h in header):
        raise InvalidInputError(f"{path}: line 1 is not a metrics header (expected columns such as epoch, step, "
                                f"train_loss, val_acc; found {','.join(header)[:120]!r}).")
    out = []
    for n, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise InvalidInputError(f"{path}: line {n} has {len(row)} fields, the header {len(header)} "
                                    "(a truncated or corrupt file).")
        values: dict[str, float] = {}
        for col, cell in zip(header, row, strict=True):
            cell = cell.strip()
            try:
                values[col] = float(cell) if cell else math.nan
            except ValueError:
                raise InvalidInputError(f"{path}: line {n}: {col} is {cell[:40]!r}, not a number.") from None
        out.append(values)
    return header, out


def _curve_cell(v: str | None, path: Path, line: int) -> float:
    if v in ("", None):
        return float("nan")
    try:
        return float(v)
    except ValueError:
        raise InvalidInputError(f"{path}, line {line}: {v!r} is not a number; the file is damaged.") from None


def epoch_rows(records: Any, where: str) -> tuple[list[str], list[dict[str, float]]]:
    """The columns and rows of history records (``metrics.jsonl`` lines, a results.json history) as floats."""
    cols: list[str] = []
    rows = []
    for i, row in enumerate(records if isinstance(records, list) else []):
        if not isinstance(row, dict):
            raise InvalidInputError(f"{where}: history row {i} is not an object.")
        values = {k: float(v) if _finite(v) else math.nan for k, v in row.items() if k != "kind"}
        cols += [k for k in values if k not in cols]
        rows.append(values)
    return cols, rows


class MetricsLog:
    """metrics.csv (epoch rows) and metrics.jsonl (epoch and step rows), appended as the run goes.

    On resume the files are rewritten from the checkpoint's history, so rows
    written after the checkpoint by a killed process are never duplicated.
    """

    def __init__(self, run_dir: Path) -> None:
        files = RunFiles(run_dir)
        self.csv = files.metrics_csv
        self.jsonl = files.metrics_jsonl

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


# -- the run directory ---------------------------------------------------------------------------
class _File:
    """A file of the run directory as an attribute: ``RunFiles(p).config`` is ``p / "config.toml"``, and
    ``RunFiles.config`` the path inside any run directory, ``Path("config.toml")``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, files: RunFiles | None, owner: type | None = None) -> Path:
        return Path(self.name) if files is None else files.path / self.name


class RunFiles:
    """The files of one run directory (see the module docstring): their paths, readers and writers."""

    config = _File("config.toml")
    env = _File("env.json")
    classes = _File("classes.json")
    data = _File("data.json")
    metrics_csv = _File("metrics.csv")
    metrics_jsonl = _File("metrics.jsonl")
    result = _File("result.json")
    checkpoints = _File("checkpoints")
    last_checkpoint = _File("checkpoints/last.pt")
    weights_dir = _File("weights")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    def weights(self, which: str) -> Path:
        """``weights/<which>.safetensors``: ``final``, ``best`` or ``step-0001000``."""
        return self.weights_dir / f"{which}.safetensors"

    def holds_run(self) -> bool:
        """Does the folder hold a run (any of :data:`RUN_MARKERS`)?"""
        return any((self.path / m).exists() for m in RUN_MARKERS)

    def describes_model(self) -> bool:
        """Are config.toml and data.json there, what rebuilding the run's model needs?"""
        return self.config.is_file() and self.data.is_file()

    def saved_files(self) -> list[tuple[str, int]]:
        """``[("weights/final.safetensors", bytes), ...]``: the weights and checkpoints, with their sizes."""
        out = []
        for d in (self.weights_dir, self.checkpoints):
            if d.is_dir():
                for f in sorted(d.iterdir()):
                    if f.is_file() and not f.name.startswith("."):
                        out.append((f"{d.name}/{f.name}", f.stat().st_size))
        return out

    # -- readers
    def read_config(self) -> dict[str, Any]:
        """config.toml as TOML values (``[model_args]`` a nested dict), unchecked: ``train.config`` checks them."""
        try:
            return tomllib.loads(read_text(self.config))
        except tomllib.TOMLDecodeError as e:
            raise InvalidInputError(f"{self.config}: corrupt TOML ({e}).") from None

    def read_env(self) -> dict[str, Any]:
        return read_json(self.env)

    def read_data(self) -> dict[str, Any]:
        return read_json(self.data)

    def read_classes(self) -> list[str]:
        return [str(c) for c in read_json(self.classes, list)]

    def read_result(self) -> dict[str, Any]:
        return read_json(self.result)

    def read_metrics(self) -> list[dict[str, float]]:
        """The epoch rows of metrics.csv as floats (empty cells and short rows: NaN), for curves: a file
        without :data:`CURVE_COLUMNS` or with a cell that is not a number is one error naming the file and
        the line.  (:func:`read_metrics_table` is the report's: every column, no short row.)"""
        path = self.metrics_csv
        if not path.is_file():
            raise InvalidInputError(f"{str(self.path)!r} has no metrics.csv; give a run directory.")
        rows = []
        try:
            with open(path, encoding="utf-8", newline="") as f:
                reader = csv.DictReader(f)
                missing = [c for c in CURVE_COLUMNS if c not in (reader.fieldnames or [])]
                if missing:
                    raise InvalidInputError(f"{path}: not a metrics.csv (no {', '.join(missing)} column).")
                for r in reader:
                    rows.append({k: _curve_cell(v, path, reader.line_num) for k, v in r.items() if k is not None})
        except (OSError, UnicodeDecodeError, csv.Error) as e:
            raise InvalidInputError(f"cannot read {path} ({e}).") from None
        return rows

    def read_metrics_jsonl(self) -> tuple[list[str], list[dict[str, float]]]:
        """The columns and epoch rows of metrics.jsonl (the report's, for a run without metrics.csv)."""
        records = []
        for n, line in enumerate(read_text(self.metrics_jsonl).splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as e:
                raise InvalidInputError(f"{self.metrics_jsonl}: line {n} is not JSON ({e}).") from None
            if not isinstance(row, dict):
                raise InvalidInputError(f"{self.metrics_jsonl}: line {n} is not a JSON object.")
            if row.get("kind", "epoch") == "epoch":
                records.append(row)
        return epoch_rows(records, str(self.metrics_jsonl))

    # -- writers
    def write_config(self, toml: str) -> Path:
        return write_text(self.config, toml)

    def write_env(self, env: dict[str, Any]) -> Path:
        return write_json(self.env, env)

    def write_classes(self, classes: list[str]) -> Path:
        return write_json(self.classes, classes)

    def write_data(self, facts: dict[str, Any]) -> Path:
        return write_json(self.data, facts)

    def write_result(self, result: dict[str, Any]) -> Path:
        return write_json(self.result, result)


#: Any of these makes a folder a run directory (one a new run must not overwrite).
RUN_MARKERS = tuple(str(p) for p in (RunFiles.config, RunFiles.metrics_csv, RunFiles.metrics_jsonl,
                                     RunFiles.checkpoints))
