"""Loading a trained model from a run directory, a bare weights file or the bundled pretrained weights (for eval,
predict, export)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import InvalidInputError, MissingFileError
from ..models import create_model
from ..models.pretrained import pretrained_cfg
from ..models.weights import check_state_dict, read_state_dict
from .rundir import RunDir


@dataclass
class Trained:
    model: nn.Module
    model_name: str
    weights: Path
    run_dir: Path | None
    dataset: str | None = None
    data_dir: str | None = None
    classes: list[str] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    input_size: tuple[int, int, int] | None = None  # (C, H, W) the model was trained on
    cache_size: int | None = None
    val_split: float = 0.0  # the fraction of the training split the run held out for validation ...
    seed: int = 0  # ... with this seed (classicnets.data.stratified_split)


def find_run_dir(path: Path) -> Path | None:
    """``path`` itself if it is a run directory, or the run that holds a weights/checkpoint file."""
    for p in (path, path.parent.parent):
        if RunDir(p).describes_model():
            return p
    return None


def load_trained(path: str | Path, *, model: str | None = None, which: str = "final",
                 num_classes: int | None = None, in_chans: int | None = None) -> Trained:
    """The model of a run (its ``weights/<which>.safetensors``) or of a weights file.

    A bare weights file outside a run needs ``model`` (and ``num_classes``/
    ``in_chans`` when they differ from the builder's defaults).
    """
    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"{str(path)!r} does not exist; give a run directory or a weights file.")
    run = find_run_dir(path)
    if run is None:
        if path.is_dir():
            raise InvalidInputError(f"{path} is not a run directory (no config.toml and data.json).")
        if not model:
            raise InvalidInputError(f"{path} is a weights file outside a run directory; name its model with "
                                    "--model NAME.")
        kw: dict[str, Any] = {}
        if num_classes is not None:
            kw["num_classes"] = num_classes
        if in_chans is not None:
            kw["in_chans"] = in_chans
        net = create_model(model, **kw)
        state = read_state_dict(path)
        check_state_dict(net, state, source=str(path))
        net.load_state_dict(state)
        return Trained(net.eval(), model, path, None)
    files = RunDir(run)
    cfg = files.read_train_config()
    facts = files.read_model_facts()
    if path.is_dir():
        weights = files.weights(which)
        if not weights.is_file():
            other = list(files.weights_dir.glob("*.safetensors")) if files.weights_dir.is_dir() else []
            if not other:
                raise MissingFileError(f"{run} has no weights yet (weights/{which}.safetensors); the run may still "
                                       "be going or was stopped before its first epoch ended.")
            weights = sorted(other)[0]
    else:
        weights = path
    if model and model != cfg.model:
        raise InvalidInputError(f"--model {model}: the run {run} trained {cfg.model}.")
    c, h, w = facts["input_size"]
    net = create_model(cfg.model, num_classes=len(facts["classes"]), in_chans=c, **cfg.model_args)
    state = read_state_dict(weights)
    check_state_dict(net, state, source=str(weights))
    net.load_state_dict(state)
    return Trained(net.eval(), cfg.model, weights, run, cfg.dataset, cfg.data_dir, list(facts["classes"]),
                   tuple(facts["mean"]), tuple(facts["std"]), (c, h, w), facts.get("cache_size"), cfg.val_split,
                   cfg.seed)


def load_pretrained_trained(name: str) -> Trained:
    """``name`` with its bundled weights, as a :class:`Trained` that eval and predict read."""
    cfg = pretrained_cfg(name)
    net = create_model(name, pretrained=True).eval()
    return Trained(net, name, Path(f"pretrained:{name}"), None, cfg["dataset"], None, list(cfg["classes"]),
                   tuple(cfg["mean"]), tuple(cfg["std"]), tuple(cfg["input_size"]))
