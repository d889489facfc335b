"""The experiment framework: a registry of experiments, each a sweep of training runs plus analysis.

An :class:`Experiment` is two functions and some text:

* ``plan(ctx) -> [RunSpec, ...]``: the training runs, each a :class:`~classicnets.train.TrainConfig`
  with a short key (``plain56``, ``cnn3-bn-lr30``) that names its run directory;
* ``analyze(ctx, runs) -> Report``: measurements on the finished runs (through
  :mod:`classicnets.train` and :mod:`classicnets.analysis`), tables, figures and
  :class:`Verdict` lines computed from the measurements.

:func:`run_experiment` does the rest, the same way for every experiment::

    OUT/
      experiment.json     what was asked (experiment, scale, options) and each run's outcome
      runs/<key>/         one run directory per training run, made by the training engine
      figures/*.png       the experiment's figures (matplotlib, Agg)
      results.json        every number, the resolved configs, the environment, the verdicts
      summary.md          the command, machine and wall time; tables; VERDICT lines

Re-running the same command continues: a run with ``result.json`` is finished
and is not trained again; a run directory without one was interrupted and is
resumed from its last checkpoint by the engine (exactly, see
:mod:`classicnets.train.loop`); a run that diverged (NaN loss) is recorded as
such in ``experiment.json`` and not retried.  A finished run whose stored
configuration differs from the plan (another scale or recipe written into the
same folder) is refused, never silently reused.

``jobs`` independent runs train side by side only where cores allow: at most
one job per core, and each job gets ``cores // jobs`` threads, so two jobs on
two cores run one thread each (two 2-thread processes on 2 cores run several
times slower than one).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import InvalidInputError
from ..runfiles import RunFiles, read_json, write_json, write_text
from .findings import STATUSES, Verdict, has_learned, train_length

SCALES = ("smoke", "small", "medium", "paper")


# -- what an experiment is made of ------------------------------------------------------------------
@dataclass(frozen=True)
class Option:
    """An experiment-specific option: ``--train-sizes 5000,10000`` on the command line."""

    name: str  # python name; the flag is --name-with-dashes
    help: str
    parse: Callable[[str], Any]
    default: Any = None
    metavar: str = "VALUE"

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class RunSpec:
    """One training run of a sweep: its key (the run directory's name) and its configuration.

    ``config`` leaves ``out``, ``resume``, ``progress`` and ``threads`` to the
    sweep.  ``info`` holds the experiment's own labels (family, depth, ...).
    """

    key: str
    config: Any  # classicnets.train.TrainConfig
    label: str = ""
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunRecord:
    """A run of the sweep as found on disk after training."""

    key: str
    label: str
    info: dict[str, Any]
    run_dir: Path
    status: str  # "finished" or "diverged"
    config: dict[str, Any]  # the resolved configuration (config.toml)
    result: dict[str, Any] | None  # result.json (None for a diverged run)
    history: list[dict[str, float]]  # the epoch rows of metrics.csv
    message: str = ""

    @property
    def final(self) -> dict[str, Any]:
        if self.result:
            return dict(self.result.get("final") or {})
        return dict(self.history[-1]) if self.history else {}

    @property
    def diverged(self) -> bool:
        return self.status == "diverged"

    @property
    def wall_s(self) -> float:
        return float((self.result or {}).get("wall_s", math.nan))

    @property
    def files(self) -> RunFiles:
        return RunFiles(self.run_dir)

    def weights(self, which: str = "final") -> Path:
        return self.files.weights(which)

    def snapshots(self) -> list[tuple[int, Path]]:
        """``[(step, path), ...]`` of the weights saved every N steps (``snapshot_every_steps``), by step."""
        found = []
        for p in self.files.weights_dir.glob("step-*.safetensors"):
            try:
                found.append((int(p.stem.split("-", 1)[1]), p))
            except ValueError:
                continue
        return sorted(found)

    def as_dict(self, root: Path) -> dict[str, Any]:
        try:
            rel = str(self.run_dir.relative_to(root))
        except ValueError:
            rel = str(self.run_dir)
        return {"key": self.key, "label": self.label, "info": self.info, "run_dir": rel, "status": self.status,
                "message": self.message, "config": self.config, "result": self.result, "history": self.history}


@dataclass
class Context:
    """Where and how an experiment runs; handed to ``plan`` and ``analyze``."""

    experiment: str
    scale: str
    out: Path
    data_dir: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    jobs: int = 1
    device: str = "auto"
    verbose: bool = True

    @property
    def figures(self) -> Path:
        return self.out / "figures"

    def log(self, message: str) -> None:
        if self.verbose:
            print(message, flush=True)

    def data_path(self, dataset: str) -> str | None:
        """``--data-dir`` for ``dataset``: the path itself, or the dataset's file inside it (see :func:`find_data`)."""
        return find_data(dataset, self.data_dir)


@dataclass
class Report:
    """What ``analyze`` returns."""

    measurements: dict[str, Any]
    verdicts: list[Verdict]
    tables: list[Any] = field(default_factory=list)  # classicnets.analysis.TextTable
    figures: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Experiment:
    """A registered experiment (see the module docstring)."""

    name: str
    title: str
    reproduces: str  # the paper figure or the lecture's question
    summary: str  # one line for `classicnets experiment list`
    scales: dict[str, str]  # scale -> what it runs and how long it takes
    options: tuple[Option, ...] = ()
    needs_data: dict[str, str] = field(default_factory=dict)  # scale -> dataset that needs --data-dir
    #: scale -> the note summary.md ends with at that scale (what the paper scale does instead, or that a
    #: smoke run checks the pipeline only); ``{scale}`` and the report's measurements (``{depth}``) are
    #: filled in by :func:`scale_notes`.
    scale_notes: dict[str, str] = field(default_factory=dict)
    #: The two functions (see the module docstring).  An experiment module declares its ``EXPERIMENT``
    #: at its top without them, and :meth:`bind` takes the module's own ``plan`` and ``analyze``.
    plan: Callable[[Context], list[RunSpec]] | None = None
    analyze: Callable[[Context, dict[str, RunRecord]], Report] | None = None

    def bind(self, module: ModuleType) -> Experiment:
        """This experiment with the ``plan`` and ``analyze`` functions of ``module`` where it has none."""
        return replace(self, plan=self.plan or module.plan, analyze=self.analyze or module.analyze)


_EXPERIMENTS: dict[str, Experiment] = {}


def register_experiment(exp: Experiment) -> Experiment:
    if exp.name in _EXPERIMENTS:
        raise RuntimeError(f"experiment {exp.name!r} registered twice")
    if exp.plan is None or exp.analyze is None:
        raise RuntimeError(f"experiment {exp.name!r} has no plan or analyze function (see Experiment.bind)")
    missing = set(SCALES) - set(exp.scales)
    if missing:
        raise RuntimeError(f"experiment {exp.name!r} does not describe the scale(s) {sorted(missing)}")
    _EXPERIMENTS[exp.name] = exp
    return exp


def list_experiments() -> list[str]:
    return sorted(_EXPERIMENTS)


def get_experiment(name: str) -> Experiment:
    if name not in _EXPERIMENTS:
        import difflib

        close = difflib.get_close_matches(name, list(_EXPERIMENTS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InvalidInputError(f"unknown experiment {name!r}.{hint} `classicnets experiment list` lists them: "
                                f"{', '.join(list_experiments())}.")
    return _EXPERIMENTS[name]


def all_options() -> dict[str, Option]:
    """Every experiment-specific option, by name (for the command line)."""
    out: dict[str, Option] = {}
    for exp in _EXPERIMENTS.values():
        for o in exp.options:
            out.setdefault(o.name, o)
    return out


# -- data paths --------------------------------------------------------------------------------------
#: Names under which a dataset's files are looked for inside a ``--data-dir`` folder that holds several.
DATA_NAMES: dict[str, tuple[str, ...]] = {
    # the lossless originals first: every accuracy compared with a paper is measured on them
    "cifar10": ("cifar-10-python.tar.xz", "cifar-10-python.tar.gz", "cifar-10-batches-py", "cifar10-jpg.tar.gz",
                "cifar10"),
    "mnist": ("mnist", "MNIST"),
    "flowers17": ("17flowers.tgz", "17flowers", "jpg"),
}


def find_data(dataset: str, data_dir: str | os.PathLike[str] | None) -> str | None:
    """The path to give the data layer for ``dataset``.

    ``data_dir`` may be the dataset's own file or folder, or a folder that holds
    several datasets under their usual names (e.g. ``../shared/data`` with
    ``cifar10-jpg.tar.gz``, ``mnist/`` and ``17flowers.tgz``), so one flag serves
    every experiment.
    """
    if data_dir is None or dataset == "digits":
        return None if data_dir is None else str(data_dir)
    root = Path(data_dir).expanduser()
    if root.is_dir():
        for name in DATA_NAMES.get(dataset, ()):
            if (root / name).exists():
                return str(root / name)
    return str(root)


# -- what the training engine offers ----------------------------------------------------------------
# -- the sweep ---------------------------------------------------------------------------------------
class ExperimentInterrupted(Exception):
    """A run was stopped by SIGINT/SIGTERM; its checkpoint is written.  ``hint`` says how to continue."""

    def __init__(self, out: Path, detail: str = "") -> None:
        self.out = out
        self.hint = (f"interrupted{': ' + detail if detail else ''}. Finished runs are kept and interrupted "
                     f"ones have checkpoints; run the same command again to continue ({out}).")
        super().__init__(self.hint)


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def plan_jobs(jobs: int, pending: int, cores: int | None = None) -> tuple[int, int | None]:
    """``(processes, threads per process)`` for ``jobs`` requested: never more processes than cores.

    One process keeps torch's own thread choice (``None``); several split the
    cores evenly.
    """
    if jobs < 1:
        raise InvalidInputError(f"--jobs must be >= 1, got {jobs}.")
    cores = cores or usable_cores()
    n = max(1, min(jobs, cores, max(pending, 1)))
    return (1, None) if n == 1 else (n, cores // n)


def _set_keys(cfg: Any) -> dict[str, Any]:
    """The fields a plan sets explicitly (the recipe fills the others the same way every time)."""
    from ..train.config import result_keys

    values = cfg.to_dict()
    return {k: values[k] for k in result_keys() if values[k] is not None and values[k] != {}}


def config_mismatch(stored: dict[str, Any], cfg: Any) -> list[str]:
    """Result-changing fields set in ``cfg`` whose value differs from the stored (resolved) config."""
    from ..train.config import diff_keys

    wanted = _set_keys(cfg)
    return diff_keys({k: stored.get(k) for k in wanted}, wanted)


def _read_state(path: Path) -> dict[str, Any]:
    return read_json(path) if path.is_file() else {}


def _train_one(cfg_values: dict[str, Any]) -> dict[str, Any]:
    """Train one run (in this process or a worker); report how it ended instead of raising."""
    from ..train import NonFiniteLossError, TrainConfig, TrainingInterrupted, fit
    from ..train.config import from_dict
    from ..train.signals import StopSignals

    if StopSignals.pending:  # a worker of a sweep that is stopping: do not start another run
        return {"status": "interrupted", "message": "not started: the sweep was stopped"}
    cfg = from_dict(cfg_values, base=TrainConfig(), source="experiment")
    try:
        r = fit(cfg)
    except NonFiniteLossError as e:
        return {"status": "diverged", "message": str(e)}
    except TrainingInterrupted as e:
        return {"status": "interrupted", "message": e.hint}
    return {"status": "finished", "message": "", "wall_s": r.wall_s}


def run_sweep(ctx: Context, specs: Sequence[RunSpec]) -> dict[str, RunRecord]:
    """Train every run of ``specs`` not yet finished (see the module docstring); return all of them."""
    from ..train.config import load_toml

    keys = [s.key for s in specs]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise RuntimeError(f"{ctx.experiment}: duplicate run keys {dupes}")
    runs_dir = ctx.out / "runs"
    state_path = ctx.out / "experiment.json"
    state = _read_state(state_path)
    outcomes: dict[str, dict[str, Any]] = dict(state.get("runs", {}))

    todo: list[tuple[RunSpec, dict[str, Any]]] = []
    for spec in specs:
        run_dir = runs_dir / spec.key
        rd = RunFiles(run_dir)
        done = rd.result.is_file()
        if done or rd.holds_run():
            if rd.config.is_file():
                differ = config_mismatch(load_toml(rd.config), spec.config)
                if differ:
                    raise InvalidInputError(
                        f"{run_dir} was trained with another configuration: {', '.join(differ)} "
                        f"{'differs' if len(differ) == 1 else 'differ'} from this {ctx.scale}-scale plan; give "
                        "another --out, or delete that run to train it again.")
        if done:
            outcomes[spec.key] = {"status": "finished", "message": ""}
            continue
        if outcomes.get(spec.key, {}).get("status") == "diverged" and rd.holds_run():
            continue  # deterministic: it would diverge again
        values = spec.config.replace(out=str(run_dir), resume="" if rd.holds_run() else None,
                                     device=ctx.device).to_dict()
        todo.append((spec, values))

    def record(key: str, outcome: dict[str, Any]) -> None:
        outcomes[key] = {"status": outcome["status"], "message": outcome.get("message", "")}
        write_json(state_path, {**state, "runs": outcomes})

    total = len(specs)
    skipped = total - len(todo)
    if skipped:
        ctx.log(f"{ctx.experiment}: {skipped} of {total} runs already done in {runs_dir}")
    processes, threads = plan_jobs(ctx.jobs, len(todo))
    if todo and processes > 1:
        ctx.log(f"{ctx.experiment}: training {len(todo)} runs, {processes} at a time with {threads} thread(s) each")
    interrupted = ""
    if processes == 1:
        for i, (spec, values) in enumerate(todo, 1):
            resuming = values["resume"] is not None
            ctx.log(f"[{skipped + i}/{total}] {'resuming' if resuming else 'training'} {spec.key} "
                    f"({spec.label or spec.config.model})")
            values["progress"] = "auto" if ctx.verbose else "none"
            outcome = _train_one(values)
            record(spec.key, outcome)
            _log_outcome(ctx, spec.key, outcome)
            if outcome["status"] == "interrupted":
                interrupted = spec.key
                break
    elif todo:
        interrupted = _run_pool(ctx, todo, processes, threads, record)
    if interrupted:
        raise ExperimentInterrupted(ctx.out, f"run {interrupted} stopped by a signal")

    records: dict[str, RunRecord] = {}
    for spec in specs:
        records[spec.key] = _load_record(spec, runs_dir / spec.key, outcomes.get(spec.key, {}))
    return records


_RELAY = os.name == "posix"  # a worker can catch SIGTERM (elsewhere it is a hard kill)


def _worker_init() -> None:
    """Set up a sweep worker: Ctrl-C ignored, SIGTERM a request to stop that outlives the run in progress.

    See :func:`classicnets.train.signals.defer_stop_signals` and :func:`_run_pool`.
    """
    if _RELAY:
        from ..train.signals import defer_stop_signals

        defer_stop_signals()


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _run_pool(ctx: Context, todo: list[tuple[RunSpec, dict[str, Any]]], processes: int, threads: int,
              record: Callable[[str, dict[str, Any]], None]) -> str:
    """Train ``todo`` in ``processes`` worker processes; return the key of a run stopped by a signal, or ''.

    SIGINT (Ctrl-C) or SIGTERM to this process stops the sweep.  On POSIX it sends each worker
    one SIGTERM (the workers ignore SIGINT, so a Ctrl-C that reaches the whole process group
    is answered exactly once): a running run writes its checkpoint and returns, and a run
    already handed to a worker returns without starting; runs not yet handed out are
    cancelled.  A second signal while it waits sends another SIGTERM, on which the runs stop
    at once (their last checkpoint stays).  Then :class:`ExperimentInterrupted` is raised.
    Elsewhere the console's Ctrl-C reaches the workers directly.
    """
    import multiprocessing as mp
    import signal
    import threading
    from concurrent.futures import ProcessPoolExecutor, as_completed

    interrupted = ""
    relay = _RELAY and threading.current_thread() is threading.main_thread()
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)} if relay else {}
    if relay:
        signal.signal(signal.SIGTERM, _raise_interrupt)
    others = set(mp.active_children())  # children that are not this pool's workers
    futures: dict[Any, RunSpec] = {}
    reported: set[Any] = set()
    try:
        with ProcessPoolExecutor(max_workers=processes, mp_context=mp.get_context("spawn"),
                                 initializer=_worker_init) as pool:
            try:
                for spec, values in todo:
                    values = {**values, "threads": threads, "progress": "none"}
                    futures[pool.submit(_train_one, values)] = spec
                for fut in as_completed(futures):
                    spec = futures[fut]
                    outcome = fut.result()
                    reported.add(fut)
                    record(spec.key, outcome)
                    _log_outcome(ctx, spec.key, outcome)
                    if outcome["status"] == "interrupted":
                        interrupted = spec.key
            except KeyboardInterrupt:
                ctx.log(f"{ctx.experiment}: stopping; each running run writes its checkpoint first")
                workers = [p for p in mp.active_children() if p not in others]

                def ask_workers(signum: int = 0, frame: Any = None) -> None:
                    for proc in workers:
                        if proc.is_alive():
                            proc.terminate()  # SIGTERM

                if relay:
                    for s in old:
                        signal.signal(s, ask_workers)
                    ask_workers()
                for fut in futures:
                    fut.cancel()
                pool.shutdown(wait=True, cancel_futures=True)
                for fut, spec in futures.items():
                    if fut not in reported and fut.done() and not fut.cancelled() and fut.exception() is None:
                        record(spec.key, fut.result())
                        _log_outcome(ctx, spec.key, fut.result())
                raise ExperimentInterrupted(ctx.out) from None
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return interrupted


def _log_outcome(ctx: Context, key: str, outcome: dict[str, Any]) -> None:
    if outcome["status"] == "finished":
        ctx.log(f"  {key}: finished in {outcome.get('wall_s', 0):.0f} s")
    elif outcome["status"] == "diverged":
        ctx.log(f"  {key}: DIVERGED ({outcome['message'].split(';')[0]}); recorded, not retried")
    else:
        detail = outcome.get("message", "").split(";")[0]
        ctx.log(f"  {key}: {outcome['status']}" + (f" ({detail})" if detail else ""))


def _load_record(spec: RunSpec, run_dir: Path, outcome: dict[str, Any]) -> RunRecord:
    from ..train.config import load_toml

    rd = RunFiles(run_dir)
    cfg = load_toml(rd.config) if rd.config.is_file() else spec.config.to_dict()
    result = rd.read_result() if rd.result.is_file() else None
    history = rd.read_metrics() if rd.metrics_csv.is_file() else []
    status = "finished" if result is not None else outcome.get("status", "missing")
    if status not in ("finished", "diverged"):
        raise InvalidInputError(f"{run_dir}: the run has not finished ({status}); run the experiment again.")
    return RunRecord(key=spec.key, label=spec.label or spec.key, info=dict(spec.info), run_dir=run_dir,
                     status=status, config=cfg, result=result, history=history,
                     message=outcome.get("message", ""))


# -- seeds ----------------------------------------------------------------------------------------------
def seeded(specs: Sequence[RunSpec], seeds: int) -> list[RunSpec]:
    """Every run of ``specs`` trained with ``seeds`` seeds: the spec's own seed ``s0`` and ``s0 + 1``, ....

    The first seed keeps the run's key (a one-seed plan, and the run directories it made, stay as they
    were); seed ``s0 + i`` is the key ``KEY-s{i}``.  ``info["base"]`` names the spec they came from and
    ``info["seed"]`` the seed; :func:`by_base` groups them back.
    """
    if seeds < 1:
        raise InvalidInputError(f"seeds must be >= 1, got {seeds}.")
    out = []
    for spec in specs:
        s0 = spec.config.seed
        for i in range(seeds):
            out.append(replace(spec, key=spec.key if i == 0 else f"{spec.key}-s{i}",
                               config=spec.config.replace(seed=s0 + i),
                               info={**spec.info, "base": spec.key, "seed": s0 + i}))
    return out


def by_base(runs: dict[str, RunRecord]) -> dict[str, list[RunRecord]]:
    """The runs of a :func:`seeded` plan grouped by the spec they came from, in plan order (seeds in order)."""
    out: dict[str, list[RunRecord]] = {}
    for key, rec in runs.items():
        out.setdefault(rec.info.get("base", key), []).append(rec)
    return out


# -- running an experiment -------------------------------------------------------------------------------
def default_out(name: str, scale: str) -> Path:
    return Path("experiments") / f"{name}-{scale}"


def run_experiment(
    name: str,
    *,
    scale: str = "small",
    data_dir: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    jobs: int = 1,
    device: str = "auto",
    verbose: bool = True,
    **options: Any,
) -> dict[str, Any]:
    """Run experiment ``name`` at ``scale``: train its sweep, analyze, write the outputs.

    Returns the content of ``results.json`` (plus ``"summary_path"``).  See the
    module docstring for the folder layout and for what a rerun does; ``resume``
    only insists that ``out`` already holds this experiment (a rerun continues
    with or without it).
    """
    from ..device import resolve_device

    resolve_device(device)  # an unavailable device is refused before the sweep starts
    exp = get_experiment(name)
    opts = _check_request(exp, scale, options, data_dir)
    out_dir = Path(out) if out is not None else default_out(name, scale)
    state_path = out_dir / "experiment.json"
    state = _read_state(state_path)
    _check_out(name, scale, out_dir, state, resume=resume)
    ctx = Context(experiment=name, scale=scale, out=out_dir, data_dir=None if data_dir is None else str(data_dir),
                  options=opts, jobs=jobs, device=device, verbose=verbose)
    started = time.time()
    t0 = time.perf_counter()
    specs = exp.plan(ctx)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(state_path, {"experiment": name, "scale": scale, "options": _jsonable(opts),
                            "runs": state.get("runs", {})})
    ctx.log(f"{name} ({scale}): {len(specs)} training run(s) in {out_dir}")
    records = run_sweep(ctx, specs)
    t_train = time.perf_counter() - t0
    ctx.log(f"{name}: analysing ...")
    ctx.figures.mkdir(parents=True, exist_ok=True)
    report = exp.analyze(ctx, records)
    report.notes += scale_notes(exp, scale, report.measurements)
    wall = time.perf_counter() - t0
    results = _results(exp, ctx, specs, records, report, started=started, wall_s=wall, train_s=t_train)
    write_json(out_dir / "results.json", results)
    summary = render_summary(exp, ctx, records, report, results)
    summary_path = write_text(out_dir / "summary.md", summary)
    for v in report.verdicts:
        ctx.log(v.line())
    ctx.log(f"{name}: wrote {out_dir / 'summary.md'}, results.json and {len(report.figures)} figure(s) "
            f"in {wall:.0f} s")
    return {**results, "summary_path": str(summary_path)}


def _check_request(exp: Experiment, scale: str, options: dict[str, Any], data_dir: Any) -> dict[str, Any]:
    """Refuse an unknown scale, a foreign option or missing data; return every option with its value."""
    if scale not in SCALES:
        raise InvalidInputError(f"--scale must be one of {', '.join(SCALES)}, got {scale!r}.")
    if scale not in exp.scales:
        raise InvalidInputError(f"the {exp.name} experiment has no {scale} scale; its scales: "
                                f"{', '.join(s for s in SCALES if s in exp.scales)}.")
    known = {o.name: o for o in exp.options}
    unknown = sorted(set(options) - set(known))
    if unknown:
        flags = ", ".join("--" + u.replace("_", "-") for u in unknown)
        raise InvalidInputError(f"{flags} does not apply to the {exp.name} experiment"
                                + (f"; its options: {', '.join(o.flag for o in exp.options)}." if exp.options
                                   else " (it has no options of its own)."))
    dataset = exp.needs_data.get(scale)
    if dataset and data_dir is None:
        raise InvalidInputError(f"the {exp.name} experiment at scale {scale} trains on {dataset}: give its files "
                                f"with --data-dir PATH (the dataset's file or folder, or a folder holding it, e.g. "
                                f"../shared/data).")
    opts = {o.name: o.default for o in exp.options}
    opts.update({k: v for k, v in options.items() if v is not None})
    return opts


def _check_out(name: str, scale: str, out_dir: Path, state: dict[str, Any], *, resume: bool) -> None:
    """Refuse an output folder that holds another experiment, or none where ``--resume`` wants one."""
    if state:
        if state.get("experiment") != name or state.get("scale") != scale:
            raise InvalidInputError(f"{out_dir} holds the {state.get('experiment')} experiment at scale "
                                    f"{state.get('scale')}; give another --out for {name} at scale {scale}.")
    elif resume:
        raise InvalidInputError(f"--resume: {out_dir} holds no {name} experiment to continue; leave out --resume "
                                "to start it, or give the --out of the earlier run.")


def scale_notes(exp: Experiment, scale: str, measurements: dict[str, Any]) -> list[str]:
    """The experiment's note for ``scale`` (:attr:`Experiment.scale_notes`), its fields filled in."""
    template = exp.scale_notes.get(scale)
    return [template.format_map({"scale": scale, **measurements})] if template else []


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def environment(device: str) -> dict[str, Any]:
    from ..device import resolve_device
    from ..train.rundir import env_info

    info = env_info(resolve_device(device))
    try:
        info["load_average"] = list(os.getloadavg())
    except OSError:  # pragma: no cover
        pass
    return info


def _results(exp: Experiment, ctx: Context, specs: Sequence[RunSpec], records: dict[str, RunRecord],
             report: Report, *, started: float, wall_s: float, train_s: float) -> dict[str, Any]:
    runs_wall = [r.wall_s for r in records.values() if math.isfinite(r.wall_s)]
    return _jsonable({
        "experiment": exp.name,
        "title": exp.title,
        "reproduces": exp.reproduces,
        "scale": ctx.scale,
        "scale_description": exp.scales[ctx.scale],
        "options": ctx.options,
        "command": command_line(exp.name, ctx),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "wall_s": wall_s,
        "wall_s_this_invocation_training": train_s,
        "runs_wall_s_total": sum(runs_wall),
        "environment": environment(ctx.device),
        "runs": {k: r.as_dict(ctx.out) for k, r in records.items()},
        "measurements": report.measurements,
        "tables": [json.loads(t.to_json()) for t in report.tables],
        "verdicts": [v.as_dict() for v in report.verdicts],
        "figures": [_rel(p, ctx.out) for p in report.figures],
        "notes": report.notes,
    })


def _rel(p: Path, root: Path) -> str:
    try:
        return str(Path(p).relative_to(root))
    except ValueError:
        return str(p)


def command_line(name: str, ctx: Context) -> str:
    """The command that reproduces this experiment."""
    parts = ["classicnets", "experiment", "run", name, "--scale", ctx.scale]
    if ctx.data_dir:
        parts += ["--data-dir", ctx.data_dir]
    parts += ["--out", str(ctx.out)]
    exp = get_experiment(name)
    for o in exp.options:
        v = ctx.options.get(o.name)
        if v is not None and v != o.default:
            parts += [o.flag, ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)]
    if ctx.jobs != 1:
        parts += ["--jobs", str(ctx.jobs)]
    return " ".join(parts)


def render_summary(exp: Experiment, ctx: Context, records: dict[str, RunRecord], report: Report,
                   results: dict[str, Any]) -> str:
    """summary.md: what ran, where, how long; the tables; the verdict lines; the figures."""
    env = results["environment"]
    lines = [f"# {exp.title}", "", f"Reproduces: {exp.reproduces}", "",
             f"- command: `{results['command']}`",
             f"- scale: {ctx.scale} ({exp.scales[ctx.scale]})",
             f"- date: {results['started']}",
             f"- machine: {env.get('cpu')} ({env.get('cpu_count')} cores), {env.get('device')}"
             + (f", {env['gpu']}" if env.get("gpu") else "")
             + f"; torch {env.get('torch')}, classicnets {env.get('classicnets')}"
             + (f" (git {str(env['git_commit'])[:10]})" if env.get("git_commit") else ""),
             f"- wall time: {results['wall_s']:.0f} s for this invocation; the training runs took "
             f"{results['runs_wall_s_total']:.0f} s in total (per run in the runs table)",
             "", "## Verdicts", ""]
    lines += [f"- {v.line()}" for v in report.verdicts] or ["- (no verdicts)"]
    lines += ["", "## Measurements", ""]
    for t in report.tables:
        lines += [t.to_markdown(), ""]
    lines += ["## Runs", "", "| run | model | status | steps | final train err % | final test err % | wall s |",
              "|---|---|---|---:|---:|---:|---:|"]
    for r in records.values():
        f = r.final
        tr = 100 * (1 - f["train_acc"]) if "train_acc" in f else math.nan
        te = 100 * (1 - f["val_acc"]) if "val_acc" in f else math.nan
        steps = (r.result or {}).get("steps", f.get("step", ""))
        lines.append(f"| {r.key} | {r.config.get('model', '')} | {r.status} | {_num(steps)} | {tr:.2f} | "
                     f"{te:.2f} | {r.wall_s:.0f} |")
    if report.figures:
        lines += ["", "## Figures", ""]
        lines += [f"![{Path(p).stem}]({_rel(p, ctx.out)})" for p in report.figures]
    if report.notes:
        lines += ["", "## Notes", ""]
        lines += [f"- {n}" for n in report.notes]
    return "\n".join(lines) + "\n"


def _num(v: Any) -> str:
    try:
        return f"{int(v):,}"
    except (TypeError, ValueError):
        return str(v)


def parse_int_list(text: str) -> list[int]:
    """``"5000,10000"`` -> ``[5000, 10000]`` with a clear error."""
    try:
        values = [int(v) for v in str(text).replace(" ", "").split(",") if v]
    except ValueError:
        raise InvalidInputError(f"expected comma-separated whole numbers, got {text!r}.") from None
    if not values or any(v <= 0 for v in values):
        raise InvalidInputError(f"expected positive whole numbers, got {text!r}.")
    return values


__all__ = [
    "SCALES",
    "STATUSES",
    "Context",
    "Experiment",
    "ExperimentInterrupted",
    "Option",
    "Report",
    "RunRecord",
    "RunSpec",
    "Verdict",
    "command_line",
    "find_data",
    "get_experiment",
    "has_learned",
    "list_experiments",
    "plan_jobs",
    "register_experiment",
    "train_length",
    "run_experiment",
    "run_sweep",
]
