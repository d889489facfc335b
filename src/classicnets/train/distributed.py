"""Data-parallel training with PyTorch's own stack (torchrun + DistributedDataParallel).

``torchrun --nproc-per-node N -m classicnets train ...`` sets ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous variables; :func:`setup`
reads them and joins the process group with ``gloo`` on CPU and ``nccl`` on
CUDA (each process on GPU ``LOCAL_RANK``).  Without those variables the run is
a single process and nothing here does anything.

The rules the training loop follows: the loader gives each rank its own shard
of every batch; sums (loss, correct answers, images) are added across ranks
before metrics are computed; only rank 0 writes files and prints.

Ending a worker process.  Once a ``DistributedDataParallel`` wrapper has been
built, torch (2.13, gloo) never releases the process group: after
``destroy_process_group`` its threads (``pt_gloo_runloop`` x2 and
``gloo_tcp_loop``) keep running, whatever is deleted and collected (measured:
without DDP they are joined at once).  A ``pt_gloo_runloop`` thread drops a
finished collective's work object (with its tensors) some time after the
collective returned.  When that falls inside the interpreter's shutdown (a
loaded machine delays the thread), freeing a tensor that has a Python object
needs the GIL, the finalizing interpreter ends the thread with
``pthread_exit``, and its forced unwind through torch's ``noexcept`` loop calls
``std::terminate``: "terminate called without an active exception", SIGABRT,
after the run's work is done and its files written.  (Seen in a core dump of
an aborted rank: ``~AsyncAllgatherWork -> decref_pyobject -> take_gil ->
PyThread_exit_thread`` in ``ProcessGroupGloo::runLoop`` while the main thread
was in ``Py_FinalizeEx``.)  So a process that joined a process group ends with
:func:`exit_process`: it flushes its streams and leaves with ``os._exit``,
without an interpreter shutdown for that thread to race.  ``classicnets``
under torchrun does this itself; a script of your own that calls
:func:`~classicnets.train.fit` under torchrun should end with
``exit_process(0)``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


_joined = False  # this process joined a process group (see "Ending a worker process")


def joined_process_group() -> bool:
    """True once :func:`setup` has joined a process group in this process."""
    return _joined


def exit_process(code: int) -> None:
    """End this process now with status ``code``: flush stdout/stderr, then ``os._exit`` (module docstring)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed, or a broken pipe
            pass
    os._exit(code)


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def setup(device_type: str) -> DistInfo:
    """Join the process group when launched by torchrun (idempotent); else a one-process DistInfo."""
    if not launched_by_torchrun():
        return DistInfo()
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
        global _joined
        _joined = True
    return DistInfo(rank=rank, world_size=world, local_rank=local)


def teardown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sums(values: list[float], device: torch.device, info: DistInfo) -> list[float]:
    """Element-wise sum of ``values`` over all ranks (float64, so sums are exact for counts)."""
    if not info.enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def all_gather(obj: Any, info: DistInfo) -> list[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast(obj: Any, info: DistInfo) -> Any:
    """Rank 0's ``obj`` on every rank (for an error or a decision only rank 0 can make)."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()
