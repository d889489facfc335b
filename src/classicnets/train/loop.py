"""The training loop: ``fit(config) -> RunResult``, the only one in the project.

:func:`fit` reads top to bottom: check the config, pick the device and the
run directory, :func:`prepare` the session (data, model, recipe, optimizer,
loader, schedule), :func:`resume` from a checkpoint if asked,
:func:`open_run` (the run directory's files, the logs, the network as the loop
calls it), then for each epoch :func:`train_epoch` (one :func:`train_step` per
batch, then :func:`after_step`: the one place for the checkpoint, log and DDP
cadence) and :func:`end_epoch` (evaluate, a metrics row, the best weights, a
checkpoint), and :func:`finish` (the test split, the final weights,
result.json).  What stays fixed while a session trains is a :class:`Session`;
what changes is one :class:`~.checkpoint.RunState`, which is also what a
checkpoint holds.  The loop does not know which model it trains: models with
auxiliary heads are wrapped so that the loop always gets
``(logits, [aux logits...])``.

Exact resume.  Everything that decides the next step is in the checkpoint or
is a pure function of what is: the weights, optimizer and scaler state, the
step (the learning rate is a function of it), the loader position (the loader's
order and augmentation are functions of seed, epoch and step), every global
random state (dropout), and the running sums of the epoch in progress.  So a
run killed at any moment and resumed takes exactly the steps the uninterrupted
run takes, bit for bit on the CPU in fp32 with the same thread count.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import shlex
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import data as cndata
from .._io import check_output_dir
from ..device import autocast_dtype, resolve_device
from ..errors import InvalidInputError, UserError
from ..models import create_model, save_weights
from ..runfiles import MetricsLog
from . import checkpoint as ckpt
from . import distributed, recipes
from .checkpoint import RunState
from .config import TrainConfig, check_limits, config_hash, diff_keys, from_dict, result_keys, to_toml
from .distributed import DistInfo
from .evaluate import EvalResult, evaluate
from .progress import Progress
from .rundata import RunData, Split, count, eval_batches, load_data, train_loader
from .rundir import RunDir, default_run_dir
from .signals import StopSignals


# -- results and errors ----------------------------------------------------------------------
@dataclass
class RunResult:
    """What :func:`fit` returns: where the run is and how it ended."""

    run_dir: Path
    config: TrainConfig
    epochs: int
    steps: int
    final: dict[str, Any]  # the last metrics row
    best: dict[str, Any]  # the row with the best val_acc
    test: dict[str, Any] | None  # the final model on the test split (when a val split was held out)
    weights: dict[str, Path] = field(default_factory=dict)
    wall_s: float = 0.0  # over all sessions of a resumed run (each counted up to its last checkpoint)
    model: nn.Module | None = field(default=None, repr=False)  # the trained model (unwrapped), on its device


class NonFiniteLossError(UserError, FloatingPointError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class TrainingInterrupted(Exception):
    """SIGINT/SIGTERM: a checkpoint was written; ``hint`` says how to resume."""

    def __init__(self, signum: int, run_dir: Path, step: int, world_size: int = 1) -> None:
        self.signum, self.run_dir, self.step = signum, run_dir, step
        launcher = f"torchrun --nproc-per-node {world_size} -m classicnets" if world_size > 1 else "classicnets"
        self.hint = (f"stopped by {signal.Signals(signum).name} at step {step}; checkpoint written. "
                     f"Resume with: {launcher} train --config {shlex.quote(str(RunDir(run_dir).config))} "
                     f"--out {shlex.quote(str(run_dir))} --resume")
        super().__init__(self.hint)


# -- fit ----------------------------------------------------------------------------------------------
def fit(config: TrainConfig) -> RunResult:
    """Train ``config.model`` on ``config.dataset`` as configured; see the module docstring."""
    cfg = from_dict(config.to_dict(), source="TrainConfig")  # check and convert every value
    check_limits(cfg)
    device = resolve_device(cfg.device)
    info = distributed.setup(device.type)
    if device.type == "cuda" and info.enabled:
        device = torch.device("cuda", info.local_rank)
    with _process_settings(info):  # restored, and the process group left, however the run ends
        t_start = time.perf_counter()
        if not cfg.model:
            raise InvalidInputError("no model given; e.g. classicnets train resnet20 --dataset cifar10.")
        _set_numerics(cfg, device)
        run_dir, resume_from = _locate_on_rank0(cfg, info)
        s = prepare(cfg, device, info, run_dir, t_start)
        state, saved_numerics = resume(s, resume_from) if resume_from is not None else (RunState(), {})
        open_run(s, state, resume_from, saved_numerics)
        stop = StopSignals()
        try:
            with stop:
                while state.epoch < s.total_epochs:
                    sums, seconds = train_epoch(s, state, stop)
                    end_epoch(s, state, sums, seconds)
        finally:
            s.close()
        return finish(s, state)


@contextlib.contextmanager
def _process_settings(info: DistInfo) -> Iterator[None]:
    """Leave the process group, and the process's global torch settings as they were, however the run ends."""
    saved = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark,
             torch.is_deterministic_algorithms_warn_only_enabled())
    try:
        yield
    finally:
        distributed.teardown(info)
        torch.set_num_threads(saved[0])
        torch.use_deterministic_algorithms(saved[1], warn_only=saved[3])
        torch.backends.cudnn.benchmark = saved[2]


def _set_numerics(cfg: TrainConfig, device: torch.device) -> None:
    """The thread count and the deterministic algorithms of ``--threads`` and ``--deterministic``."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.deterministic:
        # cuBLAS is deterministic only with a fixed workspace (read when CUDA starts; harmless on the CPU).
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        # warn_only: an op with no deterministic CUDA kernel (adaptive average pooling's backward, which
        # every ResNet uses) runs anyway, and torch's warning names it, rather than stopping the run.
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def _locate_on_rank0(cfg: TrainConfig, info: DistInfo) -> tuple[Path, Path | None]:
    """Rank 0 decides where the run goes (a default name has a timestamp) and refuses an existing run,
    before anything is loaded; every rank gets its decision."""
    located: tuple[Path, Path | None] | str = ""
    if info.is_main:
        try:
            located = locate_run(cfg)
        except UserError as e:
            located = str(e)
    located = distributed.broadcast(located, info)
    if isinstance(located, str):
        raise InvalidInputError(located)
    return located


# -- the session: what stays fixed while it trains -----------------------------------------------------
@dataclass
class Session:
    """One session of a run (a resumed run has several): everything that stays fixed while it trains."""

    cfg: TrainConfig  # resolved with the recipe
    sources: dict[str, str]  # where each recipe value comes from
    device: torch.device
    info: DistInfo
    run_dir: Path
    data: RunData
    model: nn.Module  # the unwrapped model: what is saved and returned
    use_aux: bool  # the auxiliary heads are trained
    amp_dtype: torch.dtype | None
    channels_last: bool
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    loader: Any  # this rank's training batches (classicnets.data.DataLoader or StreamingLoader)
    schedule: recipes.Schedule
    total_epochs: int
    numerics: dict[str, Any]  # speed options that change the float rounding, so the bits of a resumed run
    t_start: float  # perf_counter at the start of this session
    # set by open_run:
    net: nn.Module = field(init=False)  # the model as the loop calls it: aux wrapper, DDP, compile
    progress: Progress = field(init=False)
    log: MetricsLog = field(init=False)
    tb: Any = field(init=False)  # a tensorboard SummaryWriter, or None

    @property
    def files(self) -> RunDir:
        return RunDir(self.run_dir)

    @property
    def sync_every(self) -> int:
        """Steps between two agreements of the ranks on stopping (each costs a device synchronization)."""
        return 1 if self.device.type == "cpu" else 50

    def wall_s(self, state: RunState) -> float:
        """The run's wall time so far, over all its sessions."""
        return state.wall_before + time.perf_counter() - self.t_start

    def close(self) -> None:
        self.progress.close()
        getattr(self.loader, "close", lambda: None)()  # a streaming loader's worker processes
        if self.tb is not None:
            self.tb.close()


def prepare(cfg: TrainConfig, device: torch.device, info: DistInfo, run_dir: Path, t_start: float) -> Session:
    """The data, the model, the recipe's values, the optimizer, the loader and the schedule."""
    model, data = _model_and_data(cfg, info)
    cfg, sources = recipes.resolve(cfg, has_batchnorm=has_batchnorm(model), has_aux=has_aux_heads(model))
    amp_dtype = autocast_dtype(cfg.precision, device)
    if cfg.batch_size % info.world_size:
        raise InvalidInputError(f"--batch-size {cfg.batch_size} is not divisible by the {info.world_size} "
                                "processes.")
    model.to(device)
    if cfg.sync_bn and info.enabled:
        if device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        elif info.is_main:
            print("--sync-bn: torch's SyncBatchNorm runs on CUDA only; the CPU run keeps per-rank BatchNorm.",
                  file=sys.stderr)
    channels_last = cfg.channels_last if cfg.channels_last is not None else amp_dtype is not None
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(cfg, model)
    loader = train_loader(cfg, data, device, info)
    if len(loader) == 0:
        raise InvalidInputError(f"--batch-size {cfg.batch_size} is larger than the {count(data.train)} "
                                "training images.")
    schedule = recipes.build_schedule(cfg, len(loader))
    return Session(
        cfg=cfg, sources=sources, device=device, info=info, run_dir=run_dir, data=data, model=model,
        use_aux=has_aux_heads(model) and bool(cfg.aux_weight), amp_dtype=amp_dtype, channels_last=channels_last,
        optimizer=optimizer, scaler=torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16),
        loader=loader, schedule=schedule, total_epochs=math.ceil(schedule.total_steps / len(loader)),
        numerics={"channels_last": channels_last, "compile": cfg.compile, "threads": torch.get_num_threads()},
        t_start=t_start)


def _model_and_data(cfg: TrainConfig, info: DistInfo) -> tuple[nn.Module, RunData]:
    """The model, with the same seed on every rank (DDP also broadcasts rank 0's weights), and its data."""
    clash = sorted({"num_classes", "in_chans"} & set(cfg.model_args))
    if clash:
        raise InvalidInputError(f"--model-arg {', '.join(clash)}: the dataset sets these (its classes and image "
                                "channels); leave them out.")
    seed_everything(cfg.seed)
    spec = cndata.get_spec(cfg.dataset)
    if spec.num_classes is not None and spec.image_shape is not None:
        num_classes, in_chans = spec.num_classes, spec.image_shape[2]
        data = None
    else:  # classes and channels known only from the files
        data = load_data(cfg, default_size=224, progress=info.is_main and sys.stdout.isatty(), notice=info.is_main)
        num_classes, in_chans = len(data.classes), data.in_chans
    model = create_model(cfg.model, num_classes=num_classes, in_chans=in_chans, **cfg.model_args)
    if data is None:
        data = load_data(cfg, default_size=model.default_input_size[1],
                         progress=info.is_main and sys.stdout.isatty(), notice=info.is_main)
    _, min_h, min_w = getattr(model, "min_input_size", (in_chans, 1, 1))
    if data.image_size < min_h or data.image_size < min_w:
        raise InvalidInputError(
            f"{cfg.model} needs images of at least {min_h}x{min_w}; {cfg.dataset} gives {data.image_size}x"
            f"{data.image_size}. Choose a model for small images (e.g. resnet20) or a larger --image-size.")
    return model, data


# -- resume, and the run directory ---------------------------------------------------------------------
def resume(s: Session, path: Path) -> tuple[RunState, dict[str, Any]]:
    """Load a checkpoint into the session's modules: ``(its RunState for this rank, its numerics)``."""
    saved = ckpt.load_checkpoint(path)
    check_resume(saved, s.cfg, path, autocast=_dtype_name(s.amp_dtype))
    s.model.load_state_dict(saved["model"])
    s.optimizer.load_state_dict(saved["optimizer"])
    if saved.get("scaler"):
        s.scaler.load_state_dict(saved["scaler"])
    rng = saved["rng"]
    if len(rng) != s.info.world_size:
        raise InvalidInputError(f"{path} was written by {len(rng)} process(es); resume it with as "
                                f"many (this run has {s.info.world_size}).")
    ckpt.set_rng_state(rng[s.info.rank])
    return RunState.from_dict(saved, rank=s.info.rank), saved.get("numerics", {})


def open_run(s: Session, state: RunState, resume_from: Path | None, saved_numerics: dict[str, Any]) -> None:
    """Start (or continue) the run directory, say what happens, open the logs, wrap the model for training."""
    s.progress = Progress(s.cfg.progress, total_steps=s.schedule.total_steps, total_epochs=s.total_epochs,
                          enabled=s.info.is_main)
    if s.info.is_main:
        _write_run_files(s, resume_from)
        _notices(s, state, resume_from, saved_numerics)
    s.log = MetricsLog(s.run_dir)
    if s.info.is_main:
        s.log.rewrite(state.history)
    s.tb = _tensorboard(s.cfg, s.run_dir) if s.info.is_main else None
    net: nn.Module = TrainNet(s.model, s.use_aux)
    if s.info.enabled:
        unused = has_aux_heads(s.model) and not s.use_aux
        net = nn.parallel.DistributedDataParallel(
            net, device_ids=[s.device.index] if s.device.type == "cuda" else None, find_unused_parameters=unused)
    s.net = torch.compile(net) if s.cfg.compile else net
    if s.cfg.snapshot_every_steps and state.step == 0:
        _snapshot(s, state)
    state.lr = recipes.lr_at(s.schedule, min(state.step, s.schedule.total_steps - 1))  # what rows show before a step


def _write_run_files(s: Session, resume_from: Path | None) -> None:
    """config.toml (kept on resume), env.json, classes.json and data.json; stale temporaries removed."""
    rd, cfg, data = s.files, s.cfg, s.data
    rd.path.mkdir(parents=True, exist_ok=True)
    rd.checkpoints.mkdir(exist_ok=True)
    for folder in (rd.checkpoints, rd.weights_dir):
        ckpt.remove_stale_temporaries(folder)
    header = (f"classicnets train: resolved configuration of {rd.path.name}\n"
              f"re-run with: classicnets train --config {rd.config} [--out NEW_DIR]\n"
              "sources of the recipe values:\n" + "\n".join(f"  {k}: {v}" for k, v in sorted(s.sources.items())))
    if resume_from is None or not rd.config.is_file():  # a resume keeps the sources list
        rd.write_config(to_toml(cfg, header=header))
    rd.write_session_env(s.device, s.info.world_size, resumed=resume_from is not None)
    rd.write_classes(data.classes)
    rd.write_data({
        "dataset": cfg.dataset, "classes": data.classes, "mean": data.mean, "std": data.std,
        "input_size": [s.model.in_chans, data.image_size, data.image_size], "cache_size": data.cache_size,
        "train": count(data.train), "val": count(data.val), "test": count(data.test),
        "streaming": data.streaming,
        "val_is_test": data.val_is_test,
    })


def _notices(s: Session, state: RunState, resume_from: Path | None, saved_numerics: dict[str, Any]) -> None:
    if s.cfg.resume is not None and resume_from is None:
        s.progress.notice(f"no checkpoint in {s.run_dir} yet: starting from the beginning.")
    elif resume_from is not None:
        s.progress.notice(f"resuming {resume_from} at epoch {state.epoch + 1}, step {state.step}.")
    for line in recipes.notices(s.cfg, s.sources):
        s.progress.notice(line)
    changed = {k: (v, s.numerics.get(k)) for k, v in saved_numerics.items() if s.numerics.get(k) != v}
    if changed:
        what = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changed.items())
        s.progress.notice(f"note: resumed with {what}; the results will differ in the last bits from an "
                          "uninterrupted run.")


# -- an epoch ------------------------------------------------------------------------------------------
def train_epoch(s: Session, state: RunState, stop: StopSignals) -> tuple[torch.Tensor, float]:
    """Train from the loader's position to the end of the epoch (or of the run); return this rank's sums
    (loss, correct answers, images) and the epoch's seconds."""
    s.model.train()
    s.loader.load_state_dict({"epoch": state.epoch, "step": state.batch})
    sums = torch.tensor(state.totals[:3], dtype=torch.float64, device=s.device)
    started = time.perf_counter() - state.totals[3]  # the seconds of the epoch before this session count
    for x, y in s.loader:
        if state.step >= s.schedule.total_steps:
            break
        loss, main_loss, logits = train_step(s, state, x, y)
        sums += torch.stack([main_loss.detach().double() * y.shape[0],
                             (logits.detach().argmax(1) == y).sum().double(),
                             torch.tensor(float(y.shape[0]), dtype=torch.float64, device=s.device)])
        after_step(s, state, stop, loss, sums, started)
    return sums, time.perf_counter() - started


def train_step(s: Session, state: RunState, x: torch.Tensor, y: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One optimizer step on the batch ``(x, y)``: ``(the loss, the main head's loss, its logits)``."""
    state.lr = recipes.lr_at(s.schedule, state.step)
    for group in s.optimizer.param_groups:
        group["lr"] = state.lr
    if s.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast(s.device.type, dtype=s.amp_dtype or torch.float32, enabled=s.amp_dtype is not None):
        logits, aux = s.net(x)
    loss, main_loss = _loss(s.cfg, logits, aux, y)
    s.optimizer.zero_grad(set_to_none=True)
    s.scaler.scale(loss).backward()
    if s.cfg.grad_clip:
        s.scaler.unscale_(s.optimizer)
        nn.utils.clip_grad_norm_(s.model.parameters(), s.cfg.grad_clip)
    s.scaler.step(s.optimizer)
    s.scaler.update()
    state.step += 1
    return loss, main_loss, logits


def _loss(cfg: TrainConfig, logits: torch.Tensor, aux: list[torch.Tensor], y: torch.Tensor
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(the loss minimized, the main head's loss)``: each auxiliary head adds ``aux_weight`` x its loss."""
    main_loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
    loss = main_loss
    for a in aux:
        loss = loss + cfg.aux_weight * F.cross_entropy(a.float(), y, label_smoothing=cfg.label_smoothing)
    return loss, main_loss


def after_step(s: Session, state: RunState, stop: StopSignals, loss: torch.Tensor, sums: torch.Tensor,
               started: float) -> None:
    """The cadence of a run, after each step: the ranks agree on stopping, then a step row and the bar, a
    weights snapshot, a checkpoint, and the stop itself when a signal came."""
    cfg, step = s.cfg, state.step
    ckpt_now = cfg.ckpt_every_steps > 0 and step % cfg.ckpt_every_steps == 0
    log_now = cfg.log_every_steps > 0 and step % cfg.log_every_steps == 0
    stop_now = bool(stop.signum) and not s.info.enabled
    if ckpt_now or log_now or step % s.sync_every == 0:
        # Every rank takes this branch at the same steps, so it can agree with the others on stopping
        # (a signal, or a non-finite loss on any rank) without a hang.
        stop_now = _agree_on_stopping(s, state, stop, loss)
    elapsed = time.perf_counter() - started
    if s.info.is_main and (log_now or s.progress.mode == "bar"):
        _show_step(s, state, sums.tolist(), elapsed, log_now)
    if cfg.snapshot_every_steps and step % cfg.snapshot_every_steps == 0:
        _snapshot(s, state)
    if ckpt_now or stop_now:
        state.batch, state.totals = s.loader.step, [*sums.tolist(), elapsed]
        write_checkpoint(s, state)
    if stop_now:
        raise TrainingInterrupted(stop.signum or signal.SIGTERM, s.run_dir, step, s.info.world_size)


def _agree_on_stopping(s: Session, state: RunState, stop: StopSignals, loss: torch.Tensor) -> bool:
    """Whether a signal came to any rank; a non-finite loss on any rank stops the run here."""
    here = loss.item()
    stopping, bad = bool(stop.signum), not math.isfinite(here)
    if s.info.enabled:
        flags = distributed.all_reduce_sums([float(stopping), float(bad)], s.device, s.info)
        stopping, bad = flags[0] > 0, flags[1] > 0
    if bad:
        what = f"became {here}" if not math.isfinite(here) else "became non-finite on another rank"
        raise _diverged(s, f"the loss {what} at step {state.step} (epoch {state.epoch + 1}, lr {state.lr:g}); "
                           "stopped.")
    return stopping


def _show_step(s: Session, state: RunState, sums: list[float], elapsed: float, log_now: bool) -> None:
    """The bar's step (rank 0), and a ``kind: step`` row in the metrics when ``log_now``."""
    loss, acc, img_per_s = sums[0] / sums[2], sums[1] / sums[2], sums[2] * s.info.world_size / max(elapsed, 1e-9)
    if log_now:
        row = {"kind": "step", "epoch": state.epoch + 1, "step": state.step, "lr": state.lr,
               "train_loss": loss, "train_acc": acc, "img_per_s": img_per_s}
        state.history.append(row)
        s.log.append(row)
    s.progress.step(state.step, state.epoch + 1, loss, acc, img_per_s)


def end_epoch(s: Session, state: RunState, sums: torch.Tensor, epoch_s: float) -> None:
    """Reduce the epoch's sums over the ranks, evaluate the validation split, then the epoch's metrics row,
    the best weights and a checkpoint."""
    loss_sum, correct, seen = distributed.all_reduce_sums(sums.tolist(), s.device, s.info)
    _sync_buffers(s.model, s.info)
    val = _evaluate(s, s.data.val)
    if not math.isfinite(loss_sum):
        raise _diverged(s, f"the loss became non-finite in epoch {state.epoch + 1}; stopped.")
    row = {"kind": "epoch", "epoch": state.epoch + 1, "step": state.step, "lr": state.lr,
           "train_loss": loss_sum / seen, "train_acc": correct / seen, "val_loss": val.loss,
           "val_acc": val.top1, "val_top5": val.top5, "epoch_s": epoch_s, "img_per_s": seen / max(epoch_s, 1e-9)}
    state.history.append(row)
    if val.top1 > state.best["val_acc"]:
        state.best = {"val_acc": val.top1, "epoch": state.epoch + 1}
        if s.info.is_main:
            save_weights(s.model, s.files.weights("best"))
    state.epoch, state.batch, state.totals = state.epoch + 1, 0, [0.0, 0.0, 0.0, 0.0]
    write_checkpoint(s, state)
    if s.info.is_main:
        s.log.append(row)
        s.progress.epoch(row)
        if s.tb is not None:
            for k in ("lr", "train_loss", "train_acc", "val_loss", "val_acc", "val_top5", "img_per_s"):
                s.tb.add_scalar(k, row[k], state.step)


def _evaluate(s: Session, split: Split) -> EvalResult:
    batches = eval_batches(split, s.data, s.cfg.batch_size // s.info.world_size, s.device, s.info)
    return evaluate(s.model, batches, num_classes=s.model.num_classes, device=s.device, amp_dtype=s.amp_dtype,
                    channels_last=s.channels_last, info=s.info)


# -- what a run writes ---------------------------------------------------------------------------------
def write_checkpoint(s: Session, state: RunState) -> None:
    """``checkpoints/last.pt`` (rank 0), unless the weights became non-finite on any rank: then the run stops
    and the last good checkpoint stays."""
    finite = all(torch.isfinite(t).all() for t in s.model.state_dict().values() if t.is_floating_point())
    if s.info.enabled:  # BatchNorm buffers differ between ranks mid-epoch: all stop, or none
        finite = distributed.all_reduce_sums([float(not finite)], s.device, s.info)[0] == 0
    if not finite:
        raise _diverged(s, f"the weights became NaN or infinite by step {state.step} (lr {state.lr:g}); stopped "
                           "without saving them.")
    entries = state.to_dict(gather=lambda x: distributed.all_gather(x, s.info))
    if s.info.is_main:
        values = s.cfg.to_dict()
        ckpt.save_checkpoint(s.files.last_checkpoint, {
            "model": s.model.state_dict(), "optimizer": s.optimizer.state_dict(),
            "scaler": s.scaler.state_dict() if s.scaler.is_enabled() else {},
            **entries, "model_name": s.cfg.model, "wall_s": s.wall_s(state),
            "config": {"values": {k: values[k] for k in result_keys()}, "hash": config_hash(values)},
            "autocast": _dtype_name(s.amp_dtype),
            "numerics": s.numerics,
        })


def _snapshot(s: Session, state: RunState) -> None:
    if s.info.is_main:
        save_weights(s.model, s.files.weights(f"step-{state.step:07d}"))


def _diverged(s: Session, what: str) -> NonFiniteLossError:
    last = s.files.last_checkpoint
    kept = (f"The last good checkpoint is kept in {last}." if last.exists()
            else "No checkpoint had been written yet.")
    advice = "Lower --lr or add --grad-clip" + (", or use --precision fp32." if s.amp_dtype is not None else ".")
    return NonFiniteLossError(f"{what} {kept} {advice}")


def finish(s: Session, state: RunState) -> RunResult:
    """The end: the test split when validation was held out, the final weights, result.json."""
    test = None
    if not s.data.val_is_test:
        r = _evaluate(s, s.data.test)
        test = {"test_loss": r.loss, "test_acc": r.top1, "test_top5": r.top5}
    epoch_rows = [r for r in state.history if r["kind"] == "epoch"]
    final = epoch_rows[-1] if epoch_rows else {}
    best_row = next((r for r in epoch_rows if r["epoch"] == state.best["epoch"]), final)
    rd = s.files
    weights = {"final": rd.weights("final"), "best": rd.weights("best"), "checkpoint": rd.last_checkpoint}
    wall = s.wall_s(state)
    if s.info.is_main:
        save_weights(s.model, weights["final"])
        rd.write_result({"final": final, "best": best_row, "test": test, "epochs": s.total_epochs,
                         "steps": state.step, "wall_s": wall})
    distributed.barrier(s.info)
    return RunResult(run_dir=s.run_dir, config=s.cfg, epochs=s.total_epochs, steps=state.step, final=final,
                     best=best_row, test=test, weights=weights, wall_s=wall, model=s.model)


# -- the pieces: the model and its optimizer ---------------------------------------------------------
class TrainNet(nn.Module):
    """``forward(x) -> (logits, [aux logits...])`` for every model, so DDP and compile see one call."""

    def __init__(self, model: nn.Module, use_aux: bool) -> None:
        super().__init__()
        self.model, self.use_aux = model, use_aux

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if self.use_aux:
            logits, aux = self.model.forward_aux(x)
            return logits, list(aux)
        return self.model(x), []


def has_batchnorm(model: nn.Module) -> bool:
    return any("BatchNorm" in type(m).__name__ for m in model.modules())


def has_aux_heads(model: nn.Module) -> bool:
    return hasattr(model, "forward_aux") and bool(getattr(model, "aux_logits", False))


def build_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """SGD/Nesterov/RMSProp/AdamW; weight decay on every parameter, as the papers do, or (``bias_decay``
    false) only on the weights of convolutions and linear layers (parameters of two or more dimensions)."""
    params: Any = [p for p in model.parameters() if p.requires_grad]
    if not cfg.bias_decay:
        params = [{"params": [p for p in params if p.ndim > 1]},
                  {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}]
    if cfg.optimizer in ("sgd", "nesterov"):
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                               nesterov=cfg.optimizer == "nesterov" and cfg.momentum > 0)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, alpha=cfg.rmsprop_decay, eps=cfg.rmsprop_eps,
                                   momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, betas=(cfg.momentum, 0.999), weight_decay=cfg.weight_decay)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# -- where a run goes, and which checkpoint continues it ---------------------------------------------
def locate_run(cfg: TrainConfig) -> tuple[Path, Path | None]:
    """(run directory, checkpoint to resume or None), refusing to reuse a run without --resume."""
    if cfg.resume is None:
        out = Path(cfg.out) if cfg.out else default_run_dir(cfg.model, cfg.dataset)
        check_output_dir(out, "--out")
        if RunDir(out).holds_run():
            raise InvalidInputError(
                f"{out} already holds a run; continue it with `--out {out} --resume` or choose another --out."
            )
        return out, None
    if cfg.resume:
        p = Path(cfg.resume)
        if p.is_dir():
            p = RunDir(p).last_checkpoint
        elif not p.exists():
            raise InvalidInputError(f"--resume {cfg.resume}: no such checkpoint or run directory.")
        if not cfg.out and p.parent.name != RunDir.checkpoints.name:
            raise InvalidInputError(f"--resume {cfg.resume} is not inside a run's checkpoints/ folder; say where "
                                    "the run goes with --out DIR.")
        out = Path(cfg.out) if cfg.out else p.parent.parent
        if cfg.out and RunDir(out).holds_run() and out.resolve() != p.parent.parent.resolve():
            raise InvalidInputError(f"{out} already holds another run; resume {p} into its own run directory "
                                    f"or into an empty --out.")
        return out, p
    if not cfg.out:
        raise InvalidInputError("--resume without a PATH needs --out DIR (the run to continue).")
    out = Path(cfg.out)
    last = RunDir(out).last_checkpoint
    return out, last if last.exists() else None


def check_resume(state: dict[str, Any], cfg: TrainConfig, path: Path, autocast: str = "") -> None:
    """Refuse a checkpoint of another model, with a result-changing config difference, or (``autocast``:
    the resolved autocast dtype, e.g. ``"bfloat16"`` or ``"none"``) trained at another precision."""
    if state.get("model_name") != cfg.model:
        raise InvalidInputError(f"{path} is a checkpoint of {state.get('model_name')!r}, not {cfg.model!r}; "
                                "resume with the same model or start a new run with another --out.")
    old = state["config"]["values"]
    differ = diff_keys(old, cfg.to_dict())
    if differ:
        what = ", ".join(f"{k} ({old.get(k)!r} -> {getattr(cfg, k)!r})" for k in differ)
        raise InvalidInputError(f"cannot resume {path}: the config differs in {what}; use the run's own "
                                "options (its config.toml) or start a new run with another --out.")
    old_autocast = state.get("autocast")
    if autocast and old_autocast and old_autocast != autocast:
        raise InvalidInputError(f"cannot resume {path}: it was trained with autocast {old_autocast}, but "
                                f"--precision {cfg.precision} gives {autocast} on this machine; resume it on "
                                "hardware like the one it started on, or start a new run with another --out.")


def _dtype_name(dtype: torch.dtype | None) -> str:
    return str(dtype).removeprefix("torch.") if dtype is not None else "none"


def _sync_buffers(model: nn.Module, info: DistInfo) -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics) so all ranks hold the same model."""
    if info.enabled:
        for b in model.buffers():
            torch.distributed.broadcast(b, src=0)


def _tensorboard(cfg: TrainConfig, run_dir: Path) -> Any:
    if not cfg.tensorboard:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise InvalidInputError("--tensorboard needs the tensorboard package (pip install tensorboard).") from None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))


def run_summary(result: RunResult) -> str:
    """One line: final and best accuracy, where the run is."""
    f, b = result.final, result.best
    line = (f"{result.config.model} on {result.config.dataset}: final val acc {100 * f.get('val_acc', 0):.2f}% "
            f"(best {100 * b.get('val_acc', 0):.2f}% at epoch {b.get('epoch')}), {result.steps} steps, "
            f"{result.wall_s:.0f} s; run: {result.run_dir}")
    if result.test:
        line += f"; test acc {100 * result.test['test_acc']:.2f}%"
    return line


__all__ = ["EvalResult", "NonFiniteLossError", "RunResult", "TrainingInterrupted", "fit"]
