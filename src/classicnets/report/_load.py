"""Finding and reading run and experiment directories: files in, plain Python values out.

Nothing here imports the rest of classicnets (models, data, train, ...): the
report reads what the training engine and the experiments wrote, in the formats
that ``docs/training.md`` and ``docs/experiments.md`` describe, so it can render
folders copied from another machine without building a model.  Run directories
are read through :mod:`classicnets.runfiles`, the same readers the training
engine uses.

A *run directory* holds any of ``config.toml``, ``metrics.csv``, ``metrics.jsonl``
or ``checkpoints/``; an *experiment directory* holds ``results.json`` or
``experiment.json`` (and its runs under ``runs/``).  Every file problem is an
:class:`~classicnets.errors.InvalidInputError` whose one-line message starts
with the file's path.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, MissingFileError
from ..runfiles import RUN_MARKERS, RunFiles, epoch_rows, flatten, read_json, read_metrics_table, read_text

EXPERIMENT_MARKERS = ("results.json", "experiment.json")
#: Files that stand for the directory holding them when given on the command line.
KNOWN_FILES = frozenset(RUN_MARKERS + EXPERIMENT_MARKERS + ("summary.md", RunFiles.result.name, RunFiles.env.name))
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp"}
_MAGIC = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",),
          "image/gif": (b"GIF87a", b"GIF89a"), "image/webp": (b"RIFF",)}
MAX_IMAGE_BYTES = 20 * 2**20


# -- what a directory holds ----------------------------------------------------------------------
@dataclass
class Image:
    """An image to show: its bytes (embedded or written beside a Markdown file) and a caption."""

    name: str  # a file-name stem: figures/fig6_plain.png -> fig6_plain
    mime: str
    data: bytes
    caption: str = ""


@dataclass
class Run:
    """One training run directory, as read from its files."""

    path: Path
    name: str  # shown in headings and tables
    experiment: str = ""  # the experiment it belongs to ("" for a standalone run)
    status: str = "finished"  # finished, diverged, unfinished
    message: str = ""
    config: dict[str, Any] = field(default_factory=dict)  # flattened: model_args.stem
    env: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    classes: list[str] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)  # epoch rows of metrics.csv
    columns: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None
    files: list[tuple[str, int]] = field(default_factory=list)  # weights and checkpoints with sizes
    notes: list[str] = field(default_factory=list)

    @property
    def final(self) -> dict[str, Any]:
        if self.result and isinstance(self.result.get("final"), dict):
            return self.result["final"]
        return dict(self.history[-1]) if self.history else {}

    @property
    def best(self) -> dict[str, Any]:
        if self.result and isinstance(self.result.get("best"), dict):
            return self.result["best"]
        rows = [r for r in self.history if _finite(r.get("val_acc"))]
        return max(rows, key=lambda r: r["val_acc"]) if rows else {}

    @property
    def test(self) -> dict[str, Any]:
        t = (self.result or {}).get("test")
        return t if isinstance(t, dict) else {}

    @property
    def wall_s(self) -> float:
        v = (self.result or {}).get("wall_s")
        if _finite(v):
            return float(v)
        times = [r.get("epoch_s") for r in self.history]
        return float(sum(t for t in times if _finite(t))) if times else math.nan


@dataclass
class ExperimentDir:
    """One experiment directory: results.json, summary.md, figures and its runs."""

    path: Path
    name: str  # the folder as found
    results: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)  # experiment.json
    summary: str | None = None  # summary.md text
    images: dict[str, Image] = field(default_factory=dict)  # relative path (posix) -> image
    image_problems: dict[str, str] = field(default_factory=dict)  # relative path -> why it is not shown
    runs: list[Run] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return str(self.results.get("title") or self.results.get("experiment") or self.state.get("experiment")
                   or self.name)

    @property
    def short_name(self) -> str:
        """``degradation (small)``: the experiment and its scale, or the folder's name."""
        name = self.results.get("experiment") or self.state.get("experiment")
        scale = self.results.get("scale") or self.state.get("scale")
        if not name:
            return self.name
        return f"{name} ({scale})" if scale else str(name)

    @property
    def verdicts(self) -> list[dict[str, str]]:
        out = []
        for v in _as_list(self.results.get("verdicts")):
            if isinstance(v, dict):
                out.append({k: str(v.get(k) or "") for k in ("claim", "status", "evidence", "reason", "line")})
        if not out and self.summary:
            for m in VERDICT_LINE.finditer(self.summary):
                out.append({"claim": "", "status": m.group(1), "evidence": "", "reason": "", "line": m.group(0)})
        return out


VERDICT_LINE = re.compile(r"^(?:[-*] )?VERDICT \((supported|not supported|inconclusive)\):.*$", re.MULTILINE)


@dataclass
class Collection:
    """Everything found under the paths given, in the order found, plus the problems skipped."""

    runs: list[Run] = field(default_factory=list)  # standalone runs
    experiments: list[ExperimentDir] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def all_runs(self) -> list[Run]:
        return [r for e in self.experiments for r in e.runs] + self.runs


# -- finding them ---------------------------------------------------------------------------------
def is_experiment_dir(path: Path) -> bool:
    return any((path / m).is_file() for m in EXPERIMENT_MARKERS)


def is_run_dir(path: Path) -> bool:
    return RunFiles(path).holds_run()


def find_targets(paths: list[str | os.PathLike[str]]) -> list[tuple[str, Path, str]]:
    """``[(kind, path, name), ...]`` for the paths given: run or experiment directories, or folders to search.

    A folder that is neither is searched recursively (hidden folders skipped);
    an experiment's own runs are not listed separately.  The same directory
    given twice is listed once.
    """
    if not paths:
        raise InvalidInputError("give at least one run directory, experiment directory or folder holding them.")
    found: list[tuple[str, Path, str]] = []
    seen: set[Path] = set()

    def add(kind: str, path: Path, name: str) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            found.append((kind, path, name))

    for given in paths:
        path = Path(given)
        if not path.exists():
            raise MissingFileError(f"{str(path)!r}: no such file or directory.")
        if path.is_file():
            if path.name not in KNOWN_FILES:
                raise InvalidInputError(f"{str(path)!r} is a file; give a run directory, an experiment directory "
                                        "or a folder holding them.")
            path = path.parent
        name = path.resolve().name or str(path)
        if is_experiment_dir(path):
            add("experiment", path, name)
        elif is_run_dir(path):
            add("run", path, name)
        else:
            before = len(found)
            for kind, sub in _walk(path):
                add(kind, sub, sub.relative_to(path).as_posix())
            if len(found) == before:
                raise InvalidInputError(
                    f"{str(path)!r} is neither a run directory (config.toml, metrics.csv or checkpoints/) nor an "
                    "experiment directory (results.json or experiment.json), and no folder under it is one.")
    return found


def _walk(top: Path) -> list[tuple[str, Path]]:
    out = []
    for root, dirs, _files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
        here = Path(root)
        if here == top:
            continue
        if is_experiment_dir(here):
            out.append(("experiment", here))
            dirs[:] = []
        elif is_run_dir(here):
            out.append(("run", here))
            dirs[:] = []
    return out


def collect(paths: list[str | os.PathLike[str]], *, keep_going: bool = False) -> Collection:
    """Read every run and experiment directory found under ``paths``.

    A corrupt or unreadable file stops with its one-line error; with
    ``keep_going`` the directory holding it is left out and the error is kept
    in :attr:`Collection.warnings`, which the report shows at its top.
    """
    col = Collection()
    for kind, path, name in find_targets(paths):
        try:
            if kind == "experiment":
                col.experiments.append(read_experiment(path, name))
            else:
                col.runs.append(read_run(path, name))
        except InvalidInputError as e:
            if not keep_going:
                raise
            col.warnings.append(f"left out {path}: {e}")
    if not col.runs and not col.experiments:
        raise InvalidInputError("nothing to report: every directory found had an error:\n"
                                + "\n".join(col.warnings))
    return col


# -- reading files --------------------------------------------------------------------------------
def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _as_dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _config(files: RunFiles, fb: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """config.toml flattened (``model_args.stem``), else the config the experiment recorded."""
    if files.config.is_file():
        return flatten(files.read_config())
    if not fb.get("config"):
        notes.append("no config.toml")
    return flatten(_as_dict(fb.get("config")))


def _history(files: RunFiles, fb: dict[str, Any], notes: list[str]) -> tuple[list[str], list[dict[str, float]]]:
    """The epoch rows: metrics.csv, else metrics.jsonl, else the history the experiment recorded."""
    if files.metrics_csv.is_file():
        return read_metrics_table(files.metrics_csv)
    if files.metrics_jsonl.is_file():
        return files.read_metrics_jsonl()
    if not fb.get("history"):
        notes.append("no metrics.csv: no epoch has finished")
    return epoch_rows(fb.get("history"), f"{files.path} (results.json)")


def read_run(path: Path, name: str, *, experiment: str = "", fallback: dict[str, Any] | None = None) -> Run:
    """Read one run directory.  ``fallback`` is the run's entry in an experiment's results.json, used for
    what the directory lacks (a run folder left out when the experiment was copied)."""
    fb = _as_dict(fallback)
    files = RunFiles(path)
    run = Run(path=path, name=name, experiment=experiment)
    run.config = _config(files, fb, run.notes)
    run.env = files.read_env() if files.env.is_file() else {}
    run.data = files.read_data() if files.data.is_file() else {}
    run.classes = files.read_classes() if files.classes.is_file() else [str(c) for c in
                                                                         _as_list(run.data.get("classes"))]
    run.columns, run.history = _history(files, fb, run.notes)
    run.result = files.read_result() if files.result.is_file() else (
        fb["result"] if isinstance(fb.get("result"), dict) else None)
    run.files = files.saved_files()
    status = str(fb.get("status") or "")
    if status in ("finished", "diverged"):
        run.status = status
    else:
        run.status = "finished" if run.result is not None else "unfinished"
    run.message = str(fb.get("message") or "")
    if run.status == "unfinished":
        run.notes.append("no result.json: the run is still training, was stopped, or diverged")
    if not path.is_dir():
        run.notes.append("the run directory is missing; shown from the experiment's results.json")
    return run


def read_image(path: Path, root: Path) -> Image:
    """An image file inside ``root``, checked: a known image type whose bytes match it, not too big."""
    try:
        real = path.resolve(strict=True)
    except OSError:
        raise InvalidInputError(f"{path}: no such image.") from None
    if not real.is_relative_to(root.resolve()):
        raise InvalidInputError(f"{path}: outside the experiment directory; not embedded.")
    mime = IMAGE_TYPES.get(real.suffix.lower())
    if mime is None:
        raise InvalidInputError(f"{path}: not a PNG, JPEG, GIF or WebP file; not embedded.")
    if real.stat().st_size > MAX_IMAGE_BYTES:
        raise InvalidInputError(f"{path}: larger than {MAX_IMAGE_BYTES >> 20} MiB; not embedded.")
    data = real.read_bytes()
    if not data.startswith(_MAGIC[mime]):
        raise InvalidInputError(f"{path}: its bytes are not a {mime.split('/')[1].upper()} image; not embedded.")
    return Image(name=Path(path).stem, mime=mime, data=data)


_IMAGE_REF = re.compile(r"!\[[^\]]*\]\(([^)\s]+)")


def read_experiment(path: Path, name: str) -> ExperimentDir:
    """Read one experiment directory and every run directory in it."""
    exp = ExperimentDir(path=path, name=name)
    if (path / "results.json").is_file():
        exp.results = read_json(path / "results.json")
    else:
        exp.notes.append("no results.json: the experiment has not finished its analysis")
    exp.state = read_json(path / "experiment.json") if (path / "experiment.json").is_file() else {}
    exp.summary = read_text(path / "summary.md") if (path / "summary.md").is_file() else None
    # figures: those results.json lists, those summary.md shows, and any other image in figures/
    wanted = [str(f) for f in _as_list(exp.results.get("figures"))]
    if exp.summary:
        wanted += _IMAGE_REF.findall(exp.summary)
    if (path / "figures").is_dir():
        wanted += [f"figures/{f.name}" for f in sorted((path / "figures").iterdir())
                   if f.suffix.lower() in IMAGE_TYPES and not f.name.startswith(".")]
    for rel in dict.fromkeys(wanted):
        key = rel_key(rel)
        if key in exp.images or key in exp.image_problems:
            continue
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", rel):
            exp.image_problems[key] = "not a file in the experiment directory; not fetched"
            continue
        try:
            exp.images[key] = read_image(path / rel, path)
        except InvalidInputError as e:  # shown in the report where the image would be
            exp.image_problems[key] = str(e).removeprefix(f"{path / rel}: ").rstrip(".")
    # runs: in results.json's order, then any other run folder under runs/
    label = str(exp.results.get("experiment") or exp.state.get("experiment") or name)
    entries = _as_dict(exp.results.get("runs"))
    state_runs = _as_dict(exp.state.get("runs"))
    seen: set[str] = set()
    for key, entry in entries.items():
        entry = _as_dict(entry)
        rel = str(entry.get("run_dir") or f"runs/{key}")
        run_path = Path(rel) if Path(rel).is_absolute() else path / rel
        exp.runs.append(read_run(run_path, str(key), experiment=label, fallback=entry))
        seen.add(str(run_path.resolve()))
    if (path / "runs").is_dir():
        for d in sorted((path / "runs").iterdir()):
            if d.is_dir() and is_run_dir(d) and str(d.resolve()) not in seen:
                exp.runs.append(read_run(d, d.name, experiment=label, fallback=_as_dict(state_runs.get(d.name))))
    return exp


def rel_key(rel: str) -> str:
    """A figure's path as a lookup key: ``./figures/a.png`` and ``figures/a.png`` are the same figure."""
    parts = [p for p in rel.replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(parts)
