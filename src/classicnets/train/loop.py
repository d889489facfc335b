"""The training loop: ``fit(config) -> RunResult``, the only one in the project.

It reads top to bottom: pick the device, load the data, build the model,
resolve the recipe, open (or refuse) the run directory, resume from a
checkpoint if asked, then for each epoch: train over the loader's batches,
evaluate, write a metrics row, the best weights and a checkpoint.  The loop
does not know which model it trains: models with auxiliary heads are wrapped
so that the loop always gets ``(logits, [aux logits...])``.

Exact resume.  Everything that decides the next step is in the checkpoint or
is a pure function of what is: the weights, optimizer and scaler state, the
step (the learning rate is a function of it), the loader position (the loader's
order and augmentation are functions of seed, epoch and step), every global
random state (dropout), and the running sums of the epoch in progress.  So a
run killed at any moment and resumed takes exactly the steps the uninterrupted
run takes, bit for bit on the CPU in fp32 with the same thread count.
"""

from __future__ import annotations

import math
import os
import random
import shlex
import signal
import sys
import time
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
from ..options import default_split
from . import checkpoint as ckpt
from . import distributed, recipes
from .config import TrainConfig, check_limits, config_hash, diff_keys, from_dict, result_keys, to_toml
from .distributed import DistInfo
from .evaluate import EvalResult, evaluate
from .progress import Progress
from .rundir import MetricsLog, default_run_dir, env_info, holds_run, session_env, write_json, write_text
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
                     f"Resume with: {launcher} train --config {shlex.quote(str(run_dir / 'config.toml'))} "
                     f"--out {shlex.quote(str(run_dir))} --resume")
        super().__init__(self.hint)


# -- data -------------------------------------------------------------------------------------------
Split = Any  # a cached split, (uint8 images (N, H, W, C), int64 labels), or a streamed classicnets.data.ImageFiles


@dataclass
class RunData:
    train: Split
    val: Split
    test: Split
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    image_size: int  # side of the images the model sees
    cache_size: int | None  # side kept in the cache (variable-size datasets)
    val_is_test: bool
    streaming: bool = False  # decoded and augmented from the files by loader workers (cndata.plan)
    workers: int = 0  # the streaming loader's worker processes
    in_chans: int = 3


def count(split: Split) -> int:
    return len(split[1]) if isinstance(split, tuple) else len(split)


def labels_of(split: Split) -> np.ndarray:
    return split[1] if isinstance(split, tuple) else split.labels


def subset(split: Split, idx: np.ndarray) -> Split:
    return (split[0][idx], split[1][idx]) if isinstance(split, tuple) else split.subset(idx)


def load_data(cfg: TrainConfig, *, default_size: int, progress: bool, notice: bool = False) -> RunData:
    """The dataset's splits (decoded once or streamed, as :func:`classicnets.data.plan` decides) and the
    held-out validation split; ``notice`` prints the plan's line (which path runs, at which size)."""
    spec = cndata.get_spec(cfg.dataset)
    if not spec.resizable and cfg.image_size is not None:
        raise InvalidInputError(f"--image-size applies to variable-size datasets (flowers17, imagefolder, "
                                f"imagenet); {spec.name} images have a fixed size.")
    if spec.needs_root and cfg.data_dir is None:
        raise InvalidInputError(f"{spec.name}: give the dataset files with --data-dir PATH "
                                f"(`classicnets data download {spec.name}` fetches them where available).")
    plan = cndata.plan(spec.name, cfg.data_dir, cfg.image_size, default_size=default_size)
    if notice and plan.notice:
        print(plan.notice, file=sys.stderr)
    if plan.streaming:
        splits = cndata.open_files(spec.name, plan.root, layout=plan.layout)
    else:
        extra = {"partition": cfg.partition} if cfg.partition else {}
        splits = cndata.load_splits(spec.name, cfg.data_dir, size=plan.cache_size, progress=progress, **extra)
    if "train" not in splits:
        raise InvalidInputError(f"{spec.name}: no training split found in {cfg.data_dir}.")
    tr = splits["train"]
    as_split = (lambda ds: ds) if plan.streaming else (lambda ds: (ds.images, ds.labels))
    test_name = default_split(splits)
    if test_name is None and not cfg.val_split:
        raise InvalidInputError(f"{spec.name}: no test or val split found in {cfg.data_dir}; hold out part of the "
                                "training images for validation with --val-split FRACTION (e.g. 0.1).")
    train = as_split(tr)
    if cfg.val_split:
        if not 0 < cfg.val_split < 1:
            raise InvalidInputError(f"--val-split must be in (0, 1), got {cfg.val_split}.")
        tr_idx, val_idx = cndata.stratified_split(labels_of(train), cfg.val_split, cfg.seed)
        if len(tr_idx) == 0 or len(val_idx) == 0:
            raise InvalidInputError(f"--val-split {cfg.val_split} leaves {len(tr_idx)} training and {len(val_idx)} "
                                    "validation images (it is taken per class); choose a fraction nearer 0.1.")
        train, val = subset(train, tr_idx), subset(train, val_idx)
    # without a test split, the held-out images are the only evaluation split: validation and test at once
    test = as_split(splits[test_name]) if test_name else val
    if not cfg.val_split:
        val = test
    if cfg.train_subset:
        n = count(train)
        if not 0 < cfg.train_subset <= n:
            raise InvalidInputError(f"--train-subset must be in 1..{n}, got {cfg.train_subset}.")
        if cfg.train_subset < n:
            _, keep = cndata.stratified_split(labels_of(train), cfg.train_subset / n, cfg.seed + 1)
            if len(keep) == 0:
                raise InvalidInputError(f"--train-subset {cfg.train_subset} keeps no image: it is taken per class, "
                                        f"and {len(tr.classes)} classes round it to nothing; ask for more.")
            train = subset(train, keep)
    in_chans = 3 if plan.streaming else tr.images.shape[3]
    return RunData(train, val, test, list(tr.classes), tuple(tr.mean), tuple(tr.std), plan.image_size,
                   plan.cache_size, val_is_test=not cfg.val_split or test_name is None, streaming=plan.streaming,
                   workers=plan.workers, in_chans=in_chans)


def train_transform(augment: str, d: RunData) -> Any:
    """The batched augmentation of ``--augment`` (classicnets.data.augment), then normalization."""
    A = cndata.augment
    h = d.train[0].shape[1]
    pad = max(1, round(4 * h / 32))  # He et al.'s 4 pixels at 32x32, scaled to the image size
    if augment == "none":
        steps: list[Any] = [A.CenterCrop(d.image_size)] if h != d.image_size else []
    elif augment == "flip":
        steps = [A.CenterCrop(d.image_size), A.RandomHorizontalFlip()] if h != d.image_size \
            else [A.RandomHorizontalFlip()]
    elif augment in ("crop", "crop-flip"):
        steps = [A.RandomCrop(d.image_size, padding=pad, flip=augment == "crop-flip")]
    elif augment == "resized-crop-flip":
        steps = [A.RandomResizedCrop(d.image_size, flip=True)]
    else:
        raise InvalidInputError(f"unknown --augment {augment!r}; choose none, flip, crop, crop-flip, "
                                "resized-crop-flip.")
    return A.Compose([*steps, A.Normalize(d.mean, d.std)])


def eval_transform(d: RunData) -> Any:
    crop = d.image_size if d.train[0].shape[1] != d.image_size else None
    return cndata.augment.eval_transform(d.mean, d.std, crop=crop)


# --augment -> the streaming loader's per-image preset (decoded and augmented in its worker processes)
STREAM_AUGMENT = {"resized-crop-flip": "imagenet-train", "none": "imagenet-eval"}


def train_loader(cfg: TrainConfig, d: RunData, device: torch.device, info: DistInfo) -> Any:
    """The training batches of this rank: cached arrays augmented per batch, or files streamed by workers."""
    common = {"shuffle": True, "drop_last": True, "seed": cfg.seed, "device": device, "rank": info.rank,
              "world_size": info.world_size}
    bs = cfg.batch_size // info.world_size
    if not d.streaming:
        return cndata.DataLoader(d.train, bs, transform=train_transform(cfg.augment, d), **common)
    if cfg.augment not in STREAM_AUGMENT:
        raise InvalidInputError(f"--augment {cfg.augment}: a streamed dataset is augmented per image with "
                                f"{' or '.join(STREAM_AUGMENT)} (the ImageNet presets).")
    return cndata.StreamingLoader(d.train, bs, augment=STREAM_AUGMENT[cfg.augment], image_size=d.image_size,
                                  transform=cndata.augment.Normalize(d.mean, d.std), workers=d.workers, **common)


def _eval_loader(split: Split, d: RunData, batch_size: int, device: torch.device, rank: int, world: int) -> Any:
    if d.streaming:
        return cndata.StreamingLoader(split, batch_size, augment="imagenet-eval", image_size=d.image_size,
                                      shuffle=False, transform=cndata.augment.Normalize(d.mean, d.std),
                                      device=device, rank=rank, world_size=world, workers=d.workers)
    return cndata.DataLoader(split, batch_size, shuffle=False, transform=eval_transform(d), device=device,
                             rank=rank, world_size=world)


def eval_batches(split: Split, d: RunData, batch_size: int, device: torch.device, info: DistInfo):
    """Every image of a split exactly once over all ranks: each rank its shard, rank 0 also the remainder."""
    n = count(split)
    parts = [(split, info.rank, info.world_size)]
    rest = n % info.world_size
    if rest and info.is_main:
        parts.append((subset(split, np.arange(n - rest, n)), 0, 1))
    for part, rank, world in parts:
        loader = _eval_loader(part, d, batch_size, device, rank, world)
        try:
            yield from loader
        finally:
            getattr(loader, "close", lambda: None)()  # a streaming loader's worker processes


# -- model --------------------------------------------------------------------------------------------
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
    """SGD/Nesterov/RMSProp/AdamW; weight decay on every parameter, as the papers do."""
    params = [p for p in model.parameters() if p.requires_grad]
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


# -- the run directory ----------------------------------------------------------------------------
def locate_run(cfg: TrainConfig) -> tuple[Path, Path | None]:
    """(run directory, checkpoint to resume or None), refusing to reuse a run without --resume."""
    if cfg.resume is None:
        out = Path(cfg.out) if cfg.out else default_run_dir(cfg.model, cfg.dataset)
        check_output_dir(out, "--out")
        if holds_run(out):
            raise InvalidInputError(
                f"{out} already holds a run; continue it with `--out {out} --resume` or choose another --out."
            )
        return out, None
    if cfg.resume:
        p = Path(cfg.resume)
        if p.is_dir():
            p = p / "checkpoints" / "last.pt"
        elif not p.exists():
            raise InvalidInputError(f"--resume {cfg.resume}: no such checkpoint or run directory.")
        if not cfg.out and p.parent.name != "checkpoints":
            raise InvalidInputError(f"--resume {cfg.resume} is not inside a run's checkpoints/ folder; say where "
                                    "the run goes with --out DIR.")
        out = Path(cfg.out) if cfg.out else p.parent.parent
        if cfg.out and holds_run(out) and out.resolve() != p.parent.parent.resolve():
            raise InvalidInputError(f"{out} already holds another run; resume {p} into its own run directory "
                                    f"or into an empty --out.")
        return out, p
    if not cfg.out:
        raise InvalidInputError("--resume without a PATH needs --out DIR (the run to continue).")
    out = Path(cfg.out)
    last = out / "checkpoints" / "last.pt"
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


# -- fit ----------------------------------------------------------------------------------------------
def fit(config: TrainConfig) -> RunResult:
    """Train ``config.model`` on ``config.dataset`` as configured; see the module docstring."""
    config = from_dict(config.to_dict(), source="TrainConfig")  # check and convert every value
    check_limits(config)
    device = resolve_device(config.device)
    info = distributed.setup(device.type)
    if device.type == "cuda" and info.enabled:
        device = torch.device("cuda", info.local_rank)
    saved = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark,
             torch.is_deterministic_algorithms_warn_only_enabled())
    try:
        return _fit(config, device, info)
    finally:
        distributed.teardown(info)
        torch.set_num_threads(saved[0])  # leave the process's global settings as they were
        torch.use_deterministic_algorithms(saved[1], warn_only=saved[3])
        torch.backends.cudnn.benchmark = saved[2]


def _fit(cfg: TrainConfig, device: torch.device, info: DistInfo) -> RunResult:
    t_start = time.perf_counter()
    if not cfg.model:
        raise InvalidInputError("no model given; e.g. classicnets train resnet20 --dataset cifar10.")
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
    # Rank 0 decides where the run goes (a default name has a timestamp) and refuses an existing run,
    # before anything is loaded; every rank gets its decision.
    located: tuple[Path, Path | None] | str = ""
    if info.is_main:
        try:
            located = locate_run(cfg)
        except UserError as e:
            located = str(e)
    located = distributed.broadcast(located, info)
    if isinstance(located, str):
        raise InvalidInputError(located)
    run_dir, resume_from = located

    # The model, with the same seed on every rank (DDP also broadcasts rank 0's weights).
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
    use_aux_possible = has_aux_heads(model)
    cfg, sources = recipes.resolve(cfg, has_batchnorm=has_batchnorm(model), has_aux=use_aux_possible)
    use_aux = use_aux_possible and bool(cfg.aux_weight)
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
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    loader = train_loader(cfg, data, device, info)
    steps_per_epoch = len(loader)
    if steps_per_epoch == 0:
        raise InvalidInputError(f"--batch-size {cfg.batch_size} is larger than the {count(data.train)} "
                                "training images.")
    schedule = recipes.build_schedule(cfg, steps_per_epoch)
    total_steps = schedule.total_steps
    total_epochs = math.ceil(total_steps / steps_per_epoch)
    values = cfg.to_dict()
    cfg_hash = config_hash(values)
    # Speed options that are not result keys but change the float rounding (so the bits of a resumed run).
    numerics = {"channels_last": channels_last, "compile": cfg.compile, "threads": torch.get_num_threads()}

    # Resume, or start the run directory.
    step, start_epoch, batch_in_epoch = 0, 0, 0
    totals = [0.0, 0.0, 0.0, 0.0]  # loss sum, correct, images, seconds of the epoch in progress
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"val_acc": -1.0, "epoch": 0}
    state = None
    wall_before = 0.0  # wall time of the earlier sessions of a resumed run, up to their last checkpoint
    if resume_from is not None:
        state = ckpt.load_checkpoint(resume_from)
        wall_before = float(state.get("wall_s", 0.0))
        check_resume(state, cfg, resume_from, autocast=_dtype_name(amp_dtype))
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        step, start_epoch, batch_in_epoch = state["step"], state["epoch"], state["batch"]
        history, best = list(state["history"]), dict(state["best"])
        rng = state["rng"]
        if len(rng) != info.world_size:
            raise InvalidInputError(f"{resume_from} was written by {len(rng)} process(es); resume it with as "
                                    f"many (this run has {info.world_size}).")
        ckpt.set_rng_state(rng[info.rank])
        # each rank's sums of the epoch in progress (older checkpoints hold one list: rank 0's)
        saved_totals = state["totals"]
        totals = list(saved_totals[info.rank] if saved_totals and isinstance(saved_totals[0], list)
                      else saved_totals)
    progress = Progress(cfg.progress, total_steps=total_steps, total_epochs=total_epochs, enabled=info.is_main)
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "checkpoints").mkdir(exist_ok=True)
        for folder in (run_dir / "checkpoints", run_dir / "weights"):
            ckpt.remove_stale_temporaries(folder)
        header = (f"classicnets train: resolved configuration of {run_dir.name}\n"
                  f"re-run with: classicnets train --config {run_dir / 'config.toml'} [--out NEW_DIR]\n"
                  "sources of the recipe values:\n" + "\n".join(f"  {k}: {v}" for k, v in sorted(sources.items())))
        if resume_from is None or not (run_dir / "config.toml").is_file():  # a resume keeps the sources list
            write_text(run_dir / "config.toml", to_toml(cfg, header=header))
        write_json(run_dir / "env.json", session_env(run_dir, env_info(device, info.world_size),
                                                     resumed=resume_from is not None))
        write_json(run_dir / "classes.json", data.classes)
        write_json(run_dir / "data.json", {
            "dataset": cfg.dataset, "classes": data.classes, "mean": data.mean, "std": data.std,
            "input_size": [in_chans, data.image_size, data.image_size], "cache_size": data.cache_size,
            "train": count(data.train), "val": count(data.val), "test": count(data.test),
            "streaming": data.streaming,
            "val_is_test": data.val_is_test,
        })
        if cfg.resume is not None and resume_from is None:
            progress.notice(f"no checkpoint in {run_dir} yet: starting from the beginning.")
        elif resume_from is not None:
            progress.notice(f"resuming {resume_from} at epoch {start_epoch + 1}, step {step}.")
        for line in recipes.notices(cfg, sources):
            progress.notice(line)
        changed = {k: (v, numerics.get(k)) for k, v in (state or {}).get("numerics", {}).items()
                   if numerics.get(k) != v}
        if changed:
            what = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changed.items())
            progress.notice(f"note: resumed with {what}; the results will differ in the last bits from an "
                            "uninterrupted run.")
    log = MetricsLog(run_dir)
    if info.is_main:
        log.rewrite(history)
    tb = _tensorboard(cfg, run_dir) if info.is_main else None

    # The network the loop calls: aux wrapper, then DDP, then compile.
    net: nn.Module = TrainNet(model, use_aux)
    if info.enabled:
        unused = has_aux_heads(model) and not use_aux
        net = nn.parallel.DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=unused)
    if cfg.compile:
        net = torch.compile(net)
    weights_dir = run_dir / "weights"
    ckpt_path = run_dir / "checkpoints" / "last.pt"
    sync_every = 1 if device.type == "cpu" else 50
    advice = "Lower --lr or add --grad-clip" + (", or use --precision fp32." if amp_dtype is not None else ".")

    def kept() -> str:
        return (f"The last good checkpoint is kept in {ckpt_path}." if ckpt_path.exists()
                else "No checkpoint had been written yet.")

    def save(position: tuple[int, int], sums: list[float]) -> None:
        finite = all(torch.isfinite(t).all() for t in model.state_dict().values() if t.is_floating_point())
        if info.enabled:  # BatchNorm buffers differ between ranks mid-epoch: all stop, or none
            finite = distributed.all_reduce_sums([float(not finite)], device, info)[0] == 0
        if not finite:
            raise NonFiniteLossError(f"the weights became NaN or infinite by step {step} (lr {lr:g}); stopped "
                                     f"without saving them. {kept()} {advice}")
        rng_all = distributed.all_gather(ckpt.get_rng_state(), info)
        sums_all = distributed.all_gather(list(sums), info)
        if info.is_main:
            ckpt.save_checkpoint(ckpt_path, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict() if scaler.is_enabled() else {},
                "step": step, "epoch": position[0], "batch": position[1], "rng": rng_all,
                "totals": sums_all, "history": history, "best": best, "model_name": cfg.model,
                "wall_s": wall_before + time.perf_counter() - t_start,
                "config": {"values": {k: values[k] for k in result_keys()}, "hash": cfg_hash},
                "autocast": _dtype_name(amp_dtype),
                "numerics": numerics,
            })

    def snapshot() -> None:
        if info.is_main:
            save_weights(model, weights_dir / f"step-{step:07d}.safetensors")

    if cfg.snapshot_every_steps and step == 0:
        snapshot()
    stop = StopSignals()
    lr = schedule.lr_at(min(step, total_steps - 1))
    try:
        with stop:
            for epoch in range(start_epoch, total_epochs):
                model.train()
                loader.load_state_dict({"epoch": epoch, "step": batch_in_epoch})
                sums = torch.tensor(totals[:3], dtype=torch.float64, device=device)
                seconds_before, t0 = totals[3], time.perf_counter()
                for x, y in loader:
                    if step >= total_steps:
                        break
                    lr = schedule.lr_at(step)
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                    if channels_last:
                        x = x.contiguous(memory_format=torch.channels_last)
                    with torch.autocast(device.type, dtype=amp_dtype or torch.float32,
                                        enabled=amp_dtype is not None):
                        logits, aux = net(x)
                    main_loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
                    loss = main_loss
                    for a in aux:
                        loss = loss + cfg.aux_weight * F.cross_entropy(a.float(), y,
                                                                       label_smoothing=cfg.label_smoothing)
                    optimizer.zero_grad(set_to_none=True)
                    scaler.scale(loss).backward()
                    if cfg.grad_clip:
                        scaler.unscale_(optimizer)
                        nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                    scaler.step(optimizer)
                    scaler.update()
                    step += 1
                    sums += torch.stack([main_loss.detach().double() * y.shape[0],
                                         (logits.detach().argmax(1) == y).sum().double(),
                                         torch.tensor(float(y.shape[0]), dtype=torch.float64, device=device)])

                    ckpt_now = cfg.ckpt_every_steps > 0 and step % cfg.ckpt_every_steps == 0
                    log_now = cfg.log_every_steps > 0 and step % cfg.log_every_steps == 0
                    stop_now = bool(stop.signum) and not info.enabled
                    if ckpt_now or log_now or step % sync_every == 0:
                        # Every rank takes this branch at the same steps, so it can agree with the others
                        # on stopping (a signal, or a non-finite loss on any rank) without a hang.
                        bad = not math.isfinite(loss.item())
                        if info.enabled:
                            flags = distributed.all_reduce_sums([float(bool(stop.signum)), float(bad)], device,
                                                                info)
                            stop_now, bad = flags[0] > 0, flags[1] > 0
                        if bad:
                            here = loss.item()
                            what = f"became {here}" if not math.isfinite(here) else "became non-finite on another rank"
                            raise NonFiniteLossError(f"the loss {what} at step {step} (epoch {epoch + 1}, lr "
                                                     f"{lr:g}); stopped. {kept()} {advice}")
                    elapsed = seconds_before + time.perf_counter() - t0
                    if info.is_main and (log_now or progress.mode == "bar"):
                        s = sums.tolist()
                        if log_now:
                            row = {"kind": "step", "epoch": epoch + 1, "step": step, "lr": lr,
                                   "train_loss": s[0] / s[2], "train_acc": s[1] / s[2],
                                   "img_per_s": s[2] * info.world_size / max(elapsed, 1e-9)}
                            history.append(row)
                            log.append(row)
                        progress.step(step, epoch + 1, s[0] / s[2], s[1] / s[2],
                                      s[2] * info.world_size / max(elapsed, 1e-9))
                    if cfg.snapshot_every_steps and step % cfg.snapshot_every_steps == 0:
                        snapshot()
                    if ckpt_now or stop_now:
                        save((epoch, loader.step), [*sums.tolist(), elapsed])
                    if stop_now:
                        raise TrainingInterrupted(stop.signum or signal.SIGTERM, run_dir, step, info.world_size)

                # End of the epoch: reduce the training sums, evaluate, log, save.
                epoch_s = seconds_before + time.perf_counter() - t0
                loss_sum, correct, seen = distributed.all_reduce_sums(sums.tolist(), device, info)
                _sync_buffers(model, info)
                val = evaluate(model, eval_batches(data.val, data, cfg.batch_size // info.world_size, device,
                                                   info),
                               num_classes=num_classes, device=device, amp_dtype=amp_dtype,
                               channels_last=channels_last, info=info)
                if not math.isfinite(loss_sum):
                    raise NonFiniteLossError(f"the loss became non-finite in epoch {epoch + 1}; stopped. "
                                             f"{kept()} {advice}")
                row = {"kind": "epoch", "epoch": epoch + 1, "step": step, "lr": lr,
                       "train_loss": loss_sum / seen, "train_acc": correct / seen, "val_loss": val.loss,
                       "val_acc": val.top1, "val_top5": val.top5, "epoch_s": epoch_s,
                       "img_per_s": seen / max(epoch_s, 1e-9)}
                history.append(row)
                if val.top1 > best["val_acc"]:
                    best = {"val_acc": val.top1, "epoch": epoch + 1}
                    if info.is_main:
                        save_weights(model, weights_dir / "best.safetensors")
                batch_in_epoch, totals = 0, [0.0, 0.0, 0.0, 0.0]
                save((epoch + 1, 0), totals)
                if info.is_main:
                    log.append(row)
                    progress.epoch(row)
                    if tb is not None:
                        for k in ("lr", "train_loss", "train_acc", "val_loss", "val_acc", "val_top5", "img_per_s"):
                            tb.add_scalar(k, row[k], step)
    finally:
        progress.close()
        getattr(loader, "close", lambda: None)()  # a streaming loader's worker processes
        if tb is not None:
            tb.close()

    # The end: final weights, the test split when validation was held out, result.json.
    test = None
    if not data.val_is_test:
        r = evaluate(model, eval_batches(data.test, data, cfg.batch_size // info.world_size, device, info),
                     num_classes=num_classes, device=device, amp_dtype=amp_dtype,
                     channels_last=channels_last, info=info)
        test = {"test_loss": r.loss, "test_acc": r.top1, "test_top5": r.top5}
    epoch_rows = [r for r in history if r["kind"] == "epoch"]
    final = epoch_rows[-1] if epoch_rows else {}
    best_row = next((r for r in epoch_rows if r["epoch"] == best["epoch"]), final)
    weights = {"final": weights_dir / "final.safetensors", "best": weights_dir / "best.safetensors",
               "checkpoint": ckpt_path}
    wall = wall_before + time.perf_counter() - t_start
    if info.is_main:
        save_weights(model, weights["final"])
        write_json(run_dir / "result.json", {"final": final, "best": best_row, "test": test,
                                              "epochs": total_epochs, "steps": step, "wall_s": wall})
    distributed.barrier(info)
    return RunResult(run_dir=run_dir, config=cfg, epochs=total_epochs, steps=step, final=final, best=best_row,
                     test=test, weights=weights, wall_s=wall, model=model)


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
