"""Weights trained by this project, bundled in the package: ``create_model(name, pretrained=True)``.

``pretrained_weights/`` beside this file holds one safetensors file per model
and ``index.json``, whose entry for a model is its ``pretrained_cfg`` (timm's
convention), set on the model that :func:`load_pretrained` fills:

- ``file`` and ``sha256``: the weights and their digest, checked before loading;
- ``dataset``, ``num_classes``, ``classes``, ``input_size`` (C, H, W), ``mean``
  and ``std``: what the net was trained on and how its inputs are normalized;
- ``recipe``, ``epochs``, ``seed`` and ``command``: how it was trained;
- ``test_acc``: single-crop top-1 accuracy in percent on the dataset's official
  test split, measured in fp32 when the weights were shipped (a test recomputes
  it when the data is there); ``train_acc``: the last epoch's running training
  accuracy (augmented batches), as the run logged it;
- ``commit``: the git commit of this project that trained them.

Only small CIFAR nets are bundled (a few MB each).  ``tools/ship_weights.py``
adds an entry from a finished run.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from safetensors.torch import load as load_safetensors
from torch import nn

from .._io import atomic_write
from ..errors import InvalidInputError, MissingFileError
from .weights import check_state_dict

WEIGHTS_DIR = Path(__file__).with_name("pretrained_weights")
INDEX = "index.json"
CFG_KEYS = ("file", "sha256", "dataset", "num_classes", "classes", "input_size", "mean", "std", "recipe", "epochs",
            "seed", "command", "test_acc", "train_acc", "commit")


def _index(folder: Path | None) -> dict[str, dict[str, Any]]:
    return _read_index(folder or WEIGHTS_DIR)


@cache
def _read_index(folder: Path) -> dict[str, dict[str, Any]]:
    path = folder / INDEX
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InvalidInputError(f"{path}: corrupt index of the bundled weights ({e}); reinstall classicnets.") from None


def pretrained_models(folder: Path | None = None) -> dict[str, dict[str, Any]]:
    """``{model name: pretrained_cfg}`` of every model with bundled weights (copies)."""
    return {name: dict(cfg) for name, cfg in sorted(_index(folder).items())}


def pretrained_cfg(name: str, folder: Path | None = None) -> dict[str, Any]:
    """The ``pretrained_cfg`` of ``name``; a clear error naming the models that have weights otherwise."""
    index = _index(folder)
    if name not in index:
        have = ", ".join(sorted(index)) or "none"
        raise InvalidInputError(f"{name} has no pretrained weights; models with weights: {have}.")
    return dict(index[name])


def read_pretrained_state(name: str, folder: Path | None = None) -> dict[str, Any]:
    """The state dict of ``name``'s bundled weights, after checking the file's sha256."""
    return load_safetensors(read_pretrained_bytes(name, folder))


def read_pretrained_bytes(name: str, folder: Path | None = None) -> bytes:
    """The safetensors file of ``name``'s bundled weights, after checking its sha256."""
    cfg = pretrained_cfg(name, folder)
    path = (folder or WEIGHTS_DIR) / cfg["file"]
    if not path.is_file():
        raise MissingFileError(f"{path}: the weights of {name} are missing from the installation; reinstall "
                               "classicnets.")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != cfg["sha256"]:
        raise InvalidInputError(f"{path}: sha256 {digest} is not the recorded {cfg['sha256']}; the file is corrupt "
                                "or was replaced; reinstall classicnets.")
    return data


def load_pretrained(model: nn.Module, name: str, folder: Path | None = None) -> nn.Module:
    """Fill ``model`` (built as ``name`` with the weights' ``num_classes``) in place and set its ``pretrained_cfg``."""
    state = read_pretrained_state(name, folder)
    check_state_dict(model, state, source=f"the pretrained weights of {name}")
    model.load_state_dict(state)
    model.pretrained_cfg = pretrained_cfg(name, folder)
    return model


def add_pretrained(name: str, weights: bytes, cfg: dict[str, Any], folder: Path | None = None) -> dict[str, Any]:
    """Bundle ``weights`` (safetensors bytes) as ``name``'s, with ``cfg`` (every key of :data:`CFG_KEYS` but
    ``file`` and ``sha256``, which this sets); both files are written atomically.  Returns the entry."""
    folder = folder or WEIGHTS_DIR
    missing = [k for k in CFG_KEYS if k not in ("file", "sha256") and k not in cfg]
    if missing:
        raise InvalidInputError(f"pretrained_cfg of {name} lacks {', '.join(missing)}.")
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(weights).hexdigest()
    # the digest in the name: new weights never overwrite the file the index still names, so a crash
    # between the two writes leaves the old entry whole
    entry = {"file": f"{name}-{cfg['dataset']}-{digest[:8]}.safetensors", "sha256": digest,
             **{k: cfg[k] for k in CFG_KEYS if k in cfg and k not in ("file", "sha256")}}
    old = _index(folder).get(name, {}).get("file")
    atomic_write(folder / entry["file"], lambda tmp: Path(tmp).write_bytes(weights))
    index = {**_index(folder), name: entry}
    text = json.dumps(dict(sorted(index.items())), indent=1) + "\n"
    atomic_write(folder / INDEX, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    _read_index.cache_clear()
    if old and old != entry["file"]:
        (folder / old).unlink(missing_ok=True)
    return entry
