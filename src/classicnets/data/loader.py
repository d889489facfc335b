"""A batch iterator over decoded uint8 arrays: seeded shuffling, resumable, shardable, device-aware.

Epoch ``e``'s order is ``torch.randperm(N)`` drawn from a generator seeded by
``(seed, e)``, so it is the same on every rank and every run.  With
``world_size > 1`` the permutation is cut to a multiple of ``world_size`` and
rank ``r`` takes every ``world_size``-th element starting at ``r``: disjoint
slices of equal length (so every rank runs the same number of steps; at most
``world_size - 1`` samples, different ones each epoch, sit out an epoch).

Batch ``(e, s)`` is augmented with a generator seeded by ``(seed, e, s, rank)``:
a batch's content depends only on those numbers, so resuming from
``state_dict()`` reproduces the interrupted run exactly.

On CUDA the uint8 batch is copied into pinned memory and sent with
``non_blocking=True`` (4x fewer bytes than float32), and the augmentation
runs on the GPU; on the CPU the same code runs in place.  The random draws are
made on the CPU either way, so both devices produce the same batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import InvalidInputError

Transform = Callable[[Tensor, torch.Generator], Tensor]


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, dtype=np.uint64)[0] >> 1)


class DataLoader:
    """Iterate ``(x, y)`` batches over uint8 images (N, H, W, C) and int64 labels.

    Args:
        dataset: a :class:`~classicnets.data.Dataset` (or anything with ``images`` and
            ``labels`` arrays), or an ``(images, labels)`` pair.
        batch_size: images per batch (per rank).
        shuffle: a new seeded order each epoch (else the stored order).
        drop_last: leave out the last, smaller batch.
        seed: seeds the order and the augmentation.
        transform: called as ``transform(x_uint8_nchw, generator)``; default: ``x.float() / 255``.
        device: where batches go (``"cpu"``, ``"cuda"``, a ``torch.device``).
        rank, world_size: this process's shard; default: from ``torch.distributed`` when it is
            initialised, else 0 and 1.
        pin_memory: pin host batches before the copy (default: when ``device`` is CUDA).

    Each ``for`` loop runs the rest of the current epoch, then moves to the next
    epoch.  ``state_dict()`` / ``load_state_dict()`` save and restore the position.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        transform: Transform | None = None,
        device: str | torch.device = "cpu",
        rank: int | None = None,
        world_size: int | None = None,
        pin_memory: bool | None = None,
    ) -> None:
        if isinstance(dataset, tuple):
            images, labels = dataset
        else:
            images, labels = dataset.images, dataset.labels
        if images.ndim != 4 or images.dtype != np.uint8:
            raise InvalidInputError(f"DataLoader expects uint8 images (N, H, W, C), got {images.dtype} "
                                    f"{tuple(images.shape)}")
        if len(images) != len(labels):
            raise InvalidInputError(f"{len(images)} images but {len(labels)} labels")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive integer, not {batch_size!r}")
        if rank is None and world_size is None and torch.distributed.is_available() \
                and torch.distributed.is_initialized():
            rank, world_size = torch.distributed.get_rank(), torch.distributed.get_world_size()
        rank = 0 if rank is None else int(rank)
        world_size = 1 if world_size is None else int(world_size)
        if world_size < 1 or not 0 <= rank < world_size:
            raise InvalidInputError(f"rank {rank} is not in [0, world_size={world_size})")
        self.images, self.labels = images, np.asarray(labels, dtype=np.int64)
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.seed, self.transform = int(seed), transform
        self.device = torch.device(device)
        self.rank, self.world_size = rank, world_size
        self.pin_memory = (self.device.type == "cuda") if pin_memory is None else pin_memory
        self.epoch = 0
        self.step = 0
        self._order: tuple[int, np.ndarray] | None = None

    # -- order ---------------------------------------------------------------
    @property
    def num_samples(self) -> int:
        """Samples this rank sees per epoch."""
        return len(self.labels) // self.world_size

    def __len__(self) -> int:
        n = self.num_samples
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def indices(self, epoch: int) -> np.ndarray:
        """The sample indices this rank visits in ``epoch``, in order."""
        if self._order is not None and self._order[0] == epoch:
            return self._order[1]
        n = len(self.labels)
        if self.shuffle:
            g = torch.Generator().manual_seed(_seed(self.seed, epoch))
            perm = torch.randperm(n, generator=g).numpy()
        else:
            perm = np.arange(n)
        if self.world_size > 1:
            perm = perm[: n - n % self.world_size][self.rank :: self.world_size]
        self._order = (epoch, perm)
        return perm

    # -- position --------------------------------------------------------------
    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "step": self.step, "seed": self.seed, "batch_size": self.batch_size,
                "world_size": self.world_size, "num_samples": len(self.labels)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        for k in ("seed", "batch_size", "world_size", "num_samples"):
            mine = self.state_dict()[k]
            if k in state and state[k] != mine:
                raise InvalidInputError(f"cannot resume: the saved loader had {k}={state[k]}, this one {mine}")
        self.epoch, self.step = int(state["epoch"]), int(state["step"])

    def set_epoch(self, epoch: int) -> None:
        """Start at the beginning of ``epoch`` (for loops that manage epochs themselves)."""
        self.epoch, self.step = int(epoch), 0

    # -- batches ---------------------------------------------------------------
    def _to_device(self, t: Tensor) -> Tensor:
        if self.device.type == "cpu":
            return t
        if self.pin_memory and self.device.type == "cuda":
            t = t.pin_memory()
        return t.to(self.device, non_blocking=True)

    def batch(self, epoch: int, step: int) -> tuple[Tensor, Tensor]:
        """Batch ``step`` of ``epoch`` (a pure function of those and the seed)."""
        order = self.indices(epoch)
        idx = order[step * self.batch_size : (step + 1) * self.batch_size]
        if len(idx) == 0:
            raise IndexError(f"epoch {epoch} has no step {step}")
        x = torch.from_numpy(np.ascontiguousarray(self.images[idx]))  # B x H x W x C uint8
        y = torch.from_numpy(self.labels[idx])
        x = self._to_device(x).permute(0, 3, 1, 2).contiguous()  # B x C x H x W
        y = self._to_device(y)
        g = torch.Generator().manual_seed(_seed(self.seed, epoch, step, self.rank))
        if self.transform is not None:
            x = self.transform(x, g)
        else:
            x = x.to(torch.float32).div_(255.0)
        return x, y

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        steps = len(self)
        while self.step < steps:
            x, y = self.batch(self.epoch, self.step)
            self.step += 1
            yield x, y
        self.epoch += 1
        self.step = 0
