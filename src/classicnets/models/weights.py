"""Saving and loading model weights.

``save_weights`` writes safetensors (no code can hide in it), atomically: a
temporary file in the same folder, fsync, then rename, so a crash never leaves
a half-written file in place of a good one.  ``load_weights`` reads
safetensors, or a PyTorch ``.pt``/``.pth`` state dict through
``torch.load(..., weights_only=True)`` (which refuses pickled code).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .._io import atomic_write
from ..errors import InvalidInputError, MissingFileError

__all__ = ["atomic_write", "check_state_dict", "load_weights", "read_state_dict", "save_weights"]

TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")


def save_weights(model: nn.Module, path: str | os.PathLike[str]) -> Path:
    """Write ``model.state_dict()`` to ``path`` as safetensors, atomically."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {"format": "pt", "model_class": type(model).__name__}
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a state dict from a safetensors or a (weights-only) PyTorch file.

    A PyTorch file may hold the state dict itself or a checkpoint dict with it
    under ``"model"`` or ``"state_dict"``.
    """
    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"weights file {str(path)!r} does not exist; check the path.")
    if path.is_dir():
        raise InvalidInputError(f"{str(path)!r} is a folder; give the weights file inside it.")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as e:
            raise InvalidInputError(
                f"cannot read {str(path)!r} as safetensors ({e}); the file is corrupt or not safetensors."
            ) from None
    if path.suffix not in TORCH_SUFFIXES:
        raise InvalidInputError(
            f"{str(path)!r}: unknown weights format {path.suffix!r}; use .safetensors or a PyTorch "
            f"state dict ({', '.join(TORCH_SUFFIXES)})."
        )
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for corrupt or unsafe files
        raise InvalidInputError(
            f"cannot read {str(path)!r} as a PyTorch state dict with weights_only=True "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
            "the file is corrupt or contains pickled code, which is refused."
        ) from None
    for key in ("model", "state_dict"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise InvalidInputError(f"{str(path)!r} does not hold a state dict of tensors.")
    return dict(obj)


def check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], *, source: str = "state dict",
                     strict: bool = True) -> None:
    """Raise a clear ``ValueError`` if ``state`` does not fit ``model``.

    The first tensor whose shape differs is named with both shapes; with
    ``strict`` also missing and unexpected keys.
    """
    own = model.state_dict()
    name = type(model).__name__
    for k, ref in own.items():  # the model's order, so "first" means first in the network
        if k in state and tuple(ref.shape) != tuple(state[k].shape):
            raise InvalidInputError(
                f"{source}: tensor {k!r} has shape {tuple(state[k].shape)} but {name} expects "
                f"{tuple(ref.shape)}; the weights belong to another model or configuration "
                "(e.g. a different num_classes: build the model to match, or reset_classifier after loading)."
            )
    if strict:
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if missing or unexpected:
            parts = []
            if missing:
                parts.append(f"missing {len(missing)} key(s), first {missing[0]!r}")
            if unexpected:
                parts.append(f"{len(unexpected)} unexpected key(s), first {unexpected[0]!r}")
            raise InvalidInputError(
                f"{source} does not match {name}: {'; '.join(parts)}. "
                "The weights belong to another model or variant."
            )


def load_weights(model: nn.Module, path: str | os.PathLike[str], *, strict: bool = True) -> nn.Module:
    """Load weights from ``path`` into ``model`` (in place) and return it."""
    state = read_state_dict(path)
    check_state_dict(model, state, source=str(path), strict=strict)
    model.load_state_dict(state, strict=strict)
    return model
