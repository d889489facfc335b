"""Every training option in one place: :class:`TrainConfig`.

Each field carries its default and its help text; the command line
(``classicnets train``) is generated from these fields, a TOML file
(``--config FILE``) uses the same names, and the resolved configuration is
written to the run directory as ``config.toml``.

Precedence, lowest first: the field defaults, the recipe (``--recipe`` or the
default recipe for the model and dataset, see :mod:`.recipes`), the TOML file,
the command-line flags.  Fields whose default is ``None`` are "not set" and are
filled by the recipe when the configuration is resolved.

Fields marked ``run_control`` say how or where a run executes (output folder,
device, checkpoint cadence, progress) and may change when a run is resumed;
every other field changes the result, and a resume that changes one of them
is refused with the differing keys named (:func:`result_keys`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..data.augment import TRAIN_PRESETS
from ..errors import InvalidInputError, MissingFileError, UnknownOptionError
from ..options import IMAGE_SIDE, SEEDS, Range, parse_key_values
from .recipes import RECIPES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

OPTIMIZERS = ("sgd", "nesterov", "rmsprop", "adamw")
SCHEDULES = ("step", "multistep", "cosine", "onecycle", "exponential", "constant")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
AUGMENTS = tuple(TRAIN_PRESETS)  # the --augment values (classicnets.data.augment)
MAX_STEPS = 10**9
THREADS = Range(1, os.cpu_count() or 1)  # more threads than cores only oversubscribes the machine
#: Learning rates: up to 1e9, so that a run may still be driven to diverge on purpose (the loop stops it with
#: its message); beyond, lr x gradient overflows in the optimizer step.
LEARNING_RATES = Range(0, 1e9, lo_open=True, integer=False)


def _ints(lo: int, hi: int | None = None) -> Range:
    return Range(lo, hi)


def _floats(lo: float, hi: float | None = None, *, lo_open: bool = False, hi_open: bool = False) -> Range:
    return Range(lo, hi, lo_open=lo_open, hi_open=hi_open, integer=False)


def opt(default: Any, help: str, *, choices: tuple[str, ...] | None = None, run_control: bool = False,
        metavar: str | None = None, limits: Range | None = None) -> Any:
    """A dataclass field with its help text, choices and (numbers) documented range, for the CLI and the docs."""
    meta = {"help": help, "choices": choices, "run_control": run_control, "metavar": metavar, "limits": limits}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    """The options of one training run (``classicnets train MODEL --dataset NAME ...``)."""

    # -- what to train, on what -------------------------------------------
    model: str = opt("", "registered model name, e.g. resnet20 (`classicnets models` lists them)")
    dataset: str = opt("digits", "dataset name: digits (embedded), cifar10, cifar100, mnist, fashion_mnist, "
                       "flowers17, imagefolder")
    data_dir: str | None = opt(None, "dataset files: folder, archive or tarball (not needed for digits)",
                               metavar="PATH", run_control=True)
    model_args: dict[str, Any] = opt({}, "option passed to create_model, repeatable "
                                     "(e.g. --model-arg stem=cifar)", metavar="KEY=VALUE")
    image_size: int | None = opt(None, "train/eval resolution for variable-size datasets (flowers17, "
                                 "image folders); default: the model's default input size", metavar="N",
                                 limits=IMAGE_SIDE)
    val_split: float = opt(0.0, "fraction of the training split held out for validation (seeded, "
                           "stratified); 0: the val_* metrics are measured on the test split",
                           metavar="FRACTION", limits=_floats(0, 1, hi_open=True))
    train_subset: int | None = opt(None, "train on a seeded, stratified subset of N images of the training split "
                                   "(what --val-split leaves)", metavar="N", limits=_ints(1))
    partition: int | None = opt(None, "flowers17: which of the three train/val/test partitions (default 1)",
                                metavar="P", limits=_ints(1, 3))
    augment: str | None = opt(None, "training augmentation (crop: pad-4 random crop at 32x32); default: from "
                              "the recipe/dataset", choices=AUGMENTS)

    # -- recipe and length --------------------------------------------------
    recipe: str | None = opt(None, f"named recipe ({', '.join(RECIPES)}); default: a sensible one for the model "
                             "and dataset", metavar="NAME")
    epochs: float | None = opt(None, "training length in epochs (rescales the recipe's schedule)", metavar="N",
                               limits=_floats(0, 100_000, lo_open=True))
    steps: int | None = opt(None, "training length in optimizer steps (rescales the recipe's schedule)",
                            metavar="N", limits=_ints(1, MAX_STEPS))
    batch_size: int | None = opt(None, "global batch size (divided among DDP ranks)", metavar="N",
                                 limits=_ints(1, 65536))

    # -- optimizer ----------------------------------------------------------------
    optimizer: str | None = opt(None, "optimizer", choices=OPTIMIZERS)
    lr: float | None = opt(None, "peak learning rate", metavar="LR", limits=LEARNING_RATES)
    momentum: float | None = opt(None, "momentum (SGD, Nesterov, RMSProp); beta1 for AdamW", metavar="M",
                                 limits=_floats(0, 1, hi_open=True))
    weight_decay: float | None = opt(None, "L2 weight decay (decoupled for AdamW)", metavar="WD", limits=_floats(0, 1))
    bias_decay: bool | None = opt(None, "weight decay also on biases and BatchNorm scales and shifts (every "
                                  "parameter of one dimension); the papers decay every parameter (default "
                                  "true); false follows Jia et al. 2018 and He et al. 2019 ('no bias decay')")
    rmsprop_decay: float | None = opt(None, "RMSProp's squared-gradient average decay (torch's alpha)",
                                      metavar="RHO", limits=_floats(0, 1, hi_open=True))
    rmsprop_eps: float | None = opt(None, "RMSProp epsilon in torch's convention, added to sqrt(v); "
                                    "TensorFlow's epsilon e is inside the root: torch eps = sqrt(e)",
                                    metavar="EPS", limits=_floats(0, 1, lo_open=True))
    grad_clip: float | None = opt(None, "clip the global gradient norm to this value (0: off)", metavar="NORM",
                                  limits=_floats(0, 1e6))
    label_smoothing: float | None = opt(None, "label smoothing epsilon", metavar="EPS",
                                        limits=_floats(0, 1, hi_open=True))
    aux_weight: float | None = opt(None, "weight of each auxiliary classifier's loss (models with "
                                   "forward_aux); 0 trains without them", metavar="W", limits=_floats(0, 10))

    # -- learning-rate schedule ---------------------------------------------------
    schedule: str | None = opt(None, "learning-rate schedule", choices=SCHEDULES)
    milestones: list[float] | None = opt(None, "multistep: where lr is multiplied by gamma; step: one value, "
                                         "the period. Counted in the unit of the length (epochs with "
                                         "--epochs, steps with --steps)", metavar="M,M,...", limits=_floats(0))
    gamma: float | None = opt(None, "lr factor at each milestone/period (step, multistep) or per epoch "
                              "(exponential)", metavar="G", limits=_floats(0, 10, lo_open=True))
    warmup_steps: int | None = opt(None, "warm-up steps at the start of training", metavar="N",
                                   limits=_ints(0, MAX_STEPS))
    warmup_lr: float | None = opt(None, "constant learning rate during warm-up (He et al.'s 0.01); "
                                  "unset: a linear ramp from 0 to --lr", metavar="LR",
                                  limits=LEARNING_RATES)

    # -- numerics and speed ---------------------------------------------------------
    precision: str = opt("auto", "auto: bf16 autocast where the hardware runs bf16 natively, else fp32; "
                         "fp16 (with a gradient scaler) only on CUDA", choices=PRECISIONS)
    channels_last: bool | None = opt(None, "channels-last memory format for the model and inputs; default: on "
                                     "when bf16/fp16 autocast runs (about 10% faster for ResNet-20 on this "
                                     "CPU), off in fp32", run_control=True)
    compile: bool = opt(False, "torch.compile the model", run_control=True)
    device: str = opt("auto", "where to train: auto (cuda when available), cpu, cuda, cuda:N, gpu or mps",
                      run_control=True)
    threads: int | None = opt(None, "torch intra-op threads (default: torch's choice)", metavar="N",
                              run_control=True, limits=THREADS)
    seed: int = opt(0, "seed for initialization, data order, augmentation and the validation split",
                    metavar="N", limits=SEEDS)
    deterministic: bool = opt(False, "torch.use_deterministic_algorithms(True, warn_only=True): bitwise "
                              "repeatable GPU runs where every op has a deterministic kernel (torch warns of "
                              "those without), at a cost in speed (slower kernels, no cuDNN autotuning)",
                              run_control=True)
    sync_bn: bool = opt(False, "with DDP: convert BatchNorm to SyncBatchNorm (statistics over all ranks)")

    # -- run directory, checkpoints, logs -----------------------------------------------
    out: str | None = opt(None, "run directory (default runs/<model>-<dataset>-<timestamp>)", metavar="DIR",
                          run_control=True)
    resume: str | None = opt(None, "continue the run in --out from its last checkpoint, or from PATH",
                             metavar="PATH", run_control=True)
    ckpt_every_steps: int = opt(0, "also write a checkpoint every N steps (0: only at epoch ends and on "
                                "SIGINT/SIGTERM)", metavar="N", run_control=True, limits=_ints(0, MAX_STEPS))
    snapshot_every_steps: int = opt(0, "also save the weights before the first step and every N steps as "
                                    "weights/step-NNNNNNN.safetensors (0: off)", metavar="N", run_control=True,
                                    limits=_ints(0, MAX_STEPS))
    log_every_steps: int = opt(50, "write a row to metrics.jsonl every N steps", metavar="N",
                               run_control=True, limits=_ints(0, MAX_STEPS))
    tensorboard: bool = opt(False, "also log to TensorBoard (needs the tensorboard package)",
                            run_control=True)
    progress: str = opt("auto", "auto: a progress bar on a terminal, one line per epoch otherwise",
                        choices=("auto", "bar", "lines", "none"), run_control=True)

    # -- helpers --------------------------------------------------------------------
    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FIELDS = {f.name: f for f in fields(TrainConfig)}


def result_keys() -> list[str]:
    """Fields that change a run's result (compared when a run is resumed)."""
    return [n for n, f in FIELDS.items() if not f.metadata["run_control"]]


def config_hash(values: dict[str, Any]) -> str:
    """SHA-256 (16 hex digits) of the result-changing values."""
    data = {k: values.get(k) for k in result_keys()}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


#: Result-changing options added after runs were written, with the value that a stored config without them
#: trained with (so that those runs still resume and are still recognized).
ADDED_LATER: dict[str, Any] = {"bias_decay": True}


def diff_keys(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Result-changing keys whose values differ, e.g. ``["lr", "seed"]``; ``old`` may predate an option
    (:data:`ADDED_LATER`)."""
    def stored(k: str) -> Any:
        return old.get(k) if k in old or k not in new else ADDED_LATER.get(k)

    return [k for k in result_keys() if _norm(stored(k)) != _norm(new.get(k))]


def _norm(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in sorted(v.items())}
    return v


# -- building a config from dicts, TOML and strings ------------------------------------
def _base_type(name: str) -> str:
    ann = str(FIELDS[name].type)
    for t in ("bool", "int", "float", "str", "list", "dict"):
        if ann.startswith(t):
            return t
    raise AssertionError(ann)  # pragma: no cover


def coerce(name: str, value: Any, *, source: str = "config") -> Any:
    """Check and convert ``value`` for field ``name``; a clear error names the field and the fix."""
    if name not in FIELDS:
        import difflib

        close = difflib.get_close_matches(name, list(FIELDS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownOptionError(f"{source}: unknown option {name!r}.{hint}")
    if value is None:
        return None
    kind = _base_type(name)
    meta = FIELDS[name].metadata
    try:
        if kind == "bool":
            if isinstance(value, str):
                value = {"true": True, "false": False}[value.lower()]
            if not isinstance(value, bool):
                raise ValueError
        elif kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            value = int(value)
        elif kind == "float":
            value = float(value)
            if not math.isfinite(value):
                raise ValueError
        elif kind == "str":
            value = str(value)
        elif kind == "list":
            if isinstance(value, str):
                value = [v for v in value.replace(",", " ").split() if v]
            value = [float(v) for v in value]
        elif kind == "dict":
            if not isinstance(value, dict):
                raise ValueError
            value = dict(value)
    except (ValueError, KeyError, TypeError, OverflowError):
        raise InvalidInputError(f"{source}: option {name!r} expects a {kind}, got {value!r}.") from None
    if meta["choices"] and value not in meta["choices"]:
        raise InvalidInputError(
            f"{source}: {name} must be one of {', '.join(meta['choices'])}; got {value!r}."
        )
    return value


def check_limits(cfg: TrainConfig) -> None:
    """Refuse an option outside its documented range (``opt(limits=...)``, shown in ``--help``): checked
    when a run starts, before a value reaches torch, not when an existing run's config.toml is read."""
    for name, f in FIELDS.items():
        rng, value = f.metadata["limits"], getattr(cfg, name)
        if rng is None or value is None:
            continue
        for v in value if isinstance(value, list) else [value]:
            rng.check(v, "--" + name.replace("_", "-"))


def from_dict(values: dict[str, Any], *, base: TrainConfig | None = None, source: str = "config") -> TrainConfig:
    """``base`` (or the defaults) with ``values`` applied; unknown keys are refused."""
    cfg = base if base is not None else TrainConfig()
    changes = {}
    for k, v in values.items():
        k = k.replace("-", "_")
        changes[k] = coerce(k, v, source=source)
    if "model_args" in changes and changes["model_args"] is not None and base is not None:
        changes["model_args"] = {**base.model_args, **changes["model_args"]}
    return dataclasses.replace(cfg, **changes)


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file: top-level keys are TrainConfig fields, ``[model_args]`` a table."""
    path = Path(path)
    if path.is_dir():
        raise InvalidInputError(f"config file {path} is a folder; give a TOML file (e.g. a run's config.toml).")
    if not path.is_file():
        raise MissingFileError(f"config file {str(path)!r} does not exist.")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InvalidInputError(f"cannot read config file {path} ({e.strerror or e}).") from None
    except UnicodeDecodeError:
        raise InvalidInputError(f"{path}: not a TOML file (not UTF-8 text).") from None
    except tomllib.TOMLDecodeError as e:
        raise InvalidInputError(f"{path}: not valid TOML ({e}).") from None
    for k in data:
        coerce(k.replace("-", "_"), data[k], source=str(path))  # validate early, naming the file
    return data


#: Written as comments only: a re-run from a run's config.toml must neither resume that run nor write into it.
NOT_READ_BACK = ("out", "resume")


def to_toml(cfg: TrainConfig | dict[str, Any], *, header: str = "") -> str:
    """The config as TOML (unset options are written as comments)."""
    values = cfg.to_dict() if isinstance(cfg, TrainConfig) else cfg
    lines = [f"# {line}" for line in header.splitlines()] + ([""] if header else [])
    for name in FIELDS:
        if name == "model_args":
            continue
        v = values.get(name)
        if name in NOT_READ_BACK:
            shown = "(unset)" if v is None else _toml_value(v)
            lines.append(f"# {name} = {shown}  (this run's; give --{name} on the command line)")
        elif v is None:
            lines.append(f"# {name} = (unset)")
        else:
            lines.append(f"{name} = {_toml_value(v)}")
    lines.append("")
    lines.append("[model_args]")
    for k, v in sorted((values.get("model_args") or {}).items()):
        lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"


def _toml_key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else json.dumps(k)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise InvalidInputError(f"cannot write {v!r} to TOML")


# -- the command line, generated from the fields ----------------------------------------
def add_arguments(parser: Any) -> None:
    """Add one flag per field to an argparse parser (``--batch-size`` for ``batch_size``).

    Flags default to ``argparse.SUPPRESS`` so that :func:`from_namespace` sees
    only what the user typed (the recipe and the TOML file fill the rest).
    """
    import argparse

    for name, f in FIELDS.items():
        if name == "model":
            continue
        meta = f.metadata
        kind = _base_type(name)
        flag = "--" + name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else None
        help_text = meta["help"] + ("" if default in (None, "", {}) or kind == "bool" else f" (default {default})")
        if meta["limits"] is not None:
            help_text += f"; {meta['limits'].text}"
        help_text = help_text.replace("%", "%%")  # argparse formats help with %
        kw: dict[str, Any] = {"default": argparse.SUPPRESS, "help": help_text}
        if meta["metavar"]:
            kw["metavar"] = meta["metavar"]
        if meta["choices"]:
            kw["choices"] = meta["choices"]
        if name == "model_args":
            parser.add_argument("--model-arg", "-o", "--option", dest="model_args", action="append", **kw)
        elif name == "resume":
            parser.add_argument(flag, nargs="?", const="", **kw)
        elif kind == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        elif kind == "int":
            parser.add_argument(flag, type=int, **kw)
        elif kind == "float":
            parser.add_argument(flag, type=float, **kw)
        else:
            parser.add_argument(flag, **kw)


def from_namespace(args: Any, *, config_file: str | None = None) -> TrainConfig:
    """TrainConfig from parsed CLI args: defaults < TOML file < flags."""
    cfg = TrainConfig()
    if config_file:
        cfg = from_dict(load_toml(config_file), source=config_file)
    given = {k: v for k, v in vars(args).items() if k in FIELDS}
    if "model_args" in given:
        given["model_args"] = parse_key_values(given["model_args"], flag="--model-arg")
    if getattr(args, "model", None):
        given["model"] = args.model
    return from_dict(given, base=cfg, source="command line")
