"""Checkpoints: everything a run needs to continue bit for bit.

A checkpoint is one ``torch.save`` dict of plain values and tensors, so it
loads with ``torch.load(weights_only=True)`` (no pickled code is run):

========== =====================================================================
key        content
========== =====================================================================
version    the layout version (:data:`VERSION`)
model      the model's state dict (the unwrapped module: no DDP/compile prefixes)
optimizer  the optimizer's state dict
scaler     the fp16 gradient scaler's state dict (``{}`` when unused)
step       optimizer steps done; the schedule is a pure function of it
epoch      the epoch in progress and ``batch``, the batches of it already done
rng        every random state: torch (CPU and CUDA), numpy, python, per rank
totals     the running sums of the epoch in progress (loss, correct, images, time)
history    the metrics rows written so far (metrics.csv and metrics.jsonl are
           rewritten from it on resume, so a crash never leaves duplicates)
best       the best validation accuracy so far and its epoch
config     the result-changing config values and their hash
model_name the registered model name, for a clear refusal of a mismatch
wall_s     the run's wall time so far, over all its sessions (older checkpoints: absent)
========== =====================================================================

``step`` to ``best`` and ``wall_s`` are a :class:`RunState`, everything of a run
that changes as it trains; the rest is fixed for the run or is the modules' own
state dicts.

It is written with :func:`classicnets.models.weights.atomic_write` (a
temporary file in the same folder, fsync, rename), so a kill at any moment,
even during the write, leaves the previous checkpoint intact.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InvalidInputError, MissingFileError
from ..models.weights import atomic_write

VERSION = 1


@dataclass
class RunState:
    """Everything of a run that changes as it trains (the training loop keeps nothing else that changes).

    Exact at every checkpoint; between two, ``batch`` and ``totals`` are those of the last one (the loop
    keeps the live running sums of the epoch on the device, to spare a synchronization per step).
    """

    step: int = 0  # optimizer steps done; the learning rate is a function of it
    epoch: int = 0  # the epoch in progress, from 0
    batch: int = 0  # the batches of it already done
    # this rank's sums over the epoch in progress: loss, correct answers, images, seconds
    totals: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])
    history: list[dict[str, Any]] = field(default_factory=list)  # the metrics rows so far
    best: dict[str, Any] = field(default_factory=lambda: {"val_acc": -1.0, "epoch": 0})
    wall_before: float = 0.0  # the wall time of the earlier sessions, up to their last checkpoint
    lr: float = 0.0  # the learning rate of the last step (not saved: a function of ``step``)

    def to_dict(self, gather: Callable[[Any], list[Any]] = lambda x: [x]) -> dict[str, Any]:
        """The checkpoint's entries ``step`` to ``best``; ``rng`` and ``totals`` hold every rank's, which
        ``gather(x)`` returns (a list in rank order; every rank must call this at once)."""
        return {"step": self.step, "epoch": self.epoch, "batch": self.batch, "rng": gather(get_rng_state()),
                "totals": gather(list(self.totals)), "history": self.history, "best": self.best}

    @classmethod
    def from_dict(cls, state: dict[str, Any], *, rank: int = 0) -> RunState:
        """Rank ``rank``'s state in a checkpoint (the random states are set by :func:`set_rng_state`)."""
        totals = state["totals"]  # older checkpoints hold one list: rank 0's
        mine = totals[rank] if totals and isinstance(totals[0], list) else totals
        return cls(step=state["step"], epoch=state["epoch"], batch=state["batch"], totals=list(mine),
                   history=list(state["history"]), best=dict(state["best"]),
                   wall_before=float(state.get("wall_s", 0.0)))


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically."""
    state = {"version": VERSION, **state}
    return atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; a corrupt or foreign file gives one clear error."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"checkpoint {str(path)!r} does not exist.")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for truncated or unsafe files
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InvalidInputError(
            f"checkpoint {str(path)!r} cannot be read ({first[:120]}); the file is corrupt or not a "
            "classicnets checkpoint. Resume from another checkpoint or start a new run with another --out."
        ) from None
    if not isinstance(state, dict) or state.get("version") != VERSION or "model" not in state:
        raise InvalidInputError(
            f"{str(path)!r} is not a classicnets training checkpoint (version {VERSION})."
        )
    return state


def remove_stale_temporaries(folder: str | Path) -> int:
    """Delete temporary files left by writes that were killed half-way; return how many."""
    n = 0
    for p in Path(folder).glob(".*.tmp"):
        p.unlink(missing_ok=True)
        n += 1
    return n


# -- random states ---------------------------------------------------------------------
def get_rng_state() -> dict[str, Any]:
    """Every global random state, as tensors and plain values."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": {"version": version, "internal": list(internal), "gauss": py_gauss},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
