"""Test-time lesions of residual networks and their plain twins (Veit, Wilber, Belongie 2016).

Veit et al. ask whether a residual network behaves like one deep network or like an ensemble of many
shallower ones, by changing a *trained* network at test time:

* **delete one block**: its residual branch is removed and the shortcut kept, ``y = relu(shortcut(x))``.
  For a block with an identity shortcut that is exactly ``x`` (its input is the output of a ReLU, so
  non-negative): the block vanishes from the network.  For a downsampling block only the shortcut is left
  (option A: subsample and append zero channels; option B/C: the 1x1 projection), so deleting it removes
  more than a block.
* **delete k blocks** at once, and **reorder** blocks: exchange blocks of the same shape.

A plain network (the same blocks without shortcuts) has nothing to fall back on.  "Deleting" a plain block
here removes the whole block, i.e. its pair of conv layers (conv-BN-ReLU-conv-BN-ReLU), so the previous
block's output goes straight to the next block: the only deletion that means the same thing in both nets.
It is possible only where the block keeps the shape (stride 1, as many output channels as input channels);
the blocks that halve the map and widen it (the first of ``layer2``/``layer3`` on CIFAR) cannot be removed
from a plain net, and :func:`deleted` refuses them.

Every operation leaves the model as it was:

* :func:`deleted` and :func:`reordered` are context managers that change the model in place and restore
  it on exit (also on an exception): the ``residual_enabled`` flags, and the same block objects in the
  same stage slots, so the ``state_dict`` and every parameter tensor are exactly the original ones;
* :func:`delete_blocks` and :func:`reorder_blocks` return a changed deep copy.

Blocks are numbered in forward order over the whole network (:func:`block_table`); an order for
:func:`reordered` lists, for each position, the number of the block that goes there.  Only blocks of the
same shape (same input and output channels, stride 1) may exchange places.  :func:`random_swaps` draws k
distinct pairs of such blocks and applies them one after another; :func:`kendall_tau` compares the new order
with the original (1: unchanged, -1: reversed).
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

from ..errors import InvalidInputError

__all__ = [
    "BlockInfo",
    "block_table",
    "delete_blocks",
    "deletable",
    "deleted",
    "kendall_tau",
    "random_deletions",
    "random_swaps",
    "reorder_blocks",
    "reordered",
    "swappable_pairs",
]


@dataclass(frozen=True)
class BlockInfo:
    """One block of a residual or plain network, in forward order."""

    index: int  # position over the whole network (0-based)
    name: str  # e.g. "layer2.0"
    stage: str  # the nn.Sequential holding it, e.g. "layer2"
    position: int  # index inside the stage
    in_channels: int
    out_channels: int
    stride: int
    has_shortcut: bool
    identity_shortcut: bool  # the shortcut is exactly the identity (so a deleted block is the identity)
    changes_shape: bool
    is_downsampling: bool

    @property
    def shape_key(self) -> tuple[int, int, int]:
        """Blocks with equal keys, and stride 1, may exchange places."""
        return (self.in_channels, self.out_channels, self.stride)

    @property
    def deletable(self) -> bool:
        """Residual blocks always (the shortcut remains); plain blocks only where they keep the shape."""
        return self.has_shortcut or not self.changes_shape

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "deletable": self.deletable}


def _blocks(model: nn.Module) -> list[tuple[str, nn.Sequential, int, nn.Module]]:
    """``(stage name, stage, position, block)`` of every ResidualBlock sitting directly in an nn.Sequential."""
    from ..models.resnet import ResidualBlock

    out = []
    for sname, stage in model.named_modules():
        if not isinstance(stage, nn.Sequential):
            continue
        for pos, child in enumerate(stage):
            if isinstance(child, ResidualBlock):
                out.append((sname, stage, pos, child))
    if not out:
        raise InvalidInputError(
            f"{type(model).__name__} has no residual or plain blocks in nn.Sequential stages; the lesion "
            "operations work on the ResNets and their plain twins (resnet20 ... resnet1202, plain20 ..., "
            "resnet18 ... resnet152, plain18/34)."
        )
    return out


def block_table(model: nn.Module) -> list[BlockInfo]:
    """Every block of a ResNet or plain twin, in forward order, with its shape facts."""
    rows = []
    for i, (sname, _, pos, b) in enumerate(_blocks(model)):
        ds = b.downsample
        rows.append(BlockInfo(
            index=i, name=f"{sname}.{pos}" if sname else str(pos), stage=sname, position=pos,
            in_channels=int(b.in_channels), out_channels=int(b.out_channels), stride=int(b.stride),
            has_shortcut=bool(b.has_shortcut), identity_shortcut=isinstance(ds, nn.Identity),
            changes_shape=bool(b.changes_shape), is_downsampling=bool(b.is_downsampling)))
    return rows


def deletable(model: nn.Module, *, keep_shape: bool = False) -> list[int]:
    """Numbers of the blocks :func:`deleted` accepts (``keep_shape``: only shape-preserving ones)."""
    return [b.index for b in block_table(model) if b.deletable and (not keep_shape or not b.changes_shape)]


def _check_indices(indices: Iterable[int], n: int) -> list[int]:
    out = sorted({int(i) for i in indices})
    bad = [i for i in out if not 0 <= i < n]
    if bad:
        raise InvalidInputError(f"block numbers must be within 0..{n - 1}; got {bad}")
    return out


def _checked_deletions(blocks: list[tuple[str, nn.Sequential, int, nn.Module]], indices: Iterable[int]) -> list[int]:
    chosen = _check_indices(indices, len(blocks))
    for i in chosen:
        sname, _, pos, b = blocks[i]
        if not b.has_shortcut and b.changes_shape:
            raise InvalidInputError(
                f"block {i} ({sname}.{pos}) of this plain network changes the shape ({b.in_channels} -> "
                f"{b.out_channels} channels, stride {b.stride}); without a shortcut nothing could take its place. "
                "Only shape-preserving plain blocks can be deleted (analysis.block_lesions.deletable)."
            )
    return chosen


def _apply_deletions(blocks: list[tuple[str, nn.Sequential, int, nn.Module]], chosen: list[int]) -> None:
    for i in chosen:
        _, stage, pos, b = blocks[i]
        if b.has_shortcut:
            b.residual_enabled = False
        else:
            stage[pos] = nn.Identity()


@contextmanager
def _restored(blocks: list[tuple[str, nn.Sequential, int, nn.Module]]) -> Iterator[None]:
    """On exit (also on an exception), every block back in its slot with its ``residual_enabled`` flag."""
    flags = [b.residual_enabled for _, _, _, b in blocks]
    try:
        yield
    finally:
        for (_, stage, pos, b), flag in zip(blocks, flags, strict=True):
            if stage[pos] is not b:
                stage[pos] = b
            b.residual_enabled = flag


@contextmanager
def deleted(model: nn.Module, indices: Iterable[int]) -> Iterator[nn.Module]:
    """Delete the blocks ``indices`` (numbers of :func:`block_table`) inside the ``with``; restore after.

    A residual block keeps its shortcut (``residual_enabled = False``); a plain block is replaced in its
    stage by ``nn.Identity`` (refused where it changes the shape).  Yields the model itself.
    """
    blocks = _blocks(model)
    chosen = _checked_deletions(blocks, indices)
    with _restored(blocks):
        _apply_deletions(blocks, chosen)
        yield model


def _check_order(blocks: list[tuple[str, nn.Sequential, int, nn.Module]], order: Sequence[int]) -> list[int]:
    n = len(blocks)
    order = [int(i) for i in order]
    if sorted(order) != list(range(n)):
        raise InvalidInputError(f"an order must be a permutation of the {n} block numbers 0..{n - 1}; got {order}")
    for pos, src in enumerate(order):
        if src == pos:
            continue
        a, b = blocks[pos][3], blocks[src][3]
        ka = (a.in_channels, a.out_channels, a.stride)
        kb = (b.in_channels, b.out_channels, b.stride)
        if ka != kb or a.changes_shape or b.changes_shape:
            raise InvalidInputError(
                f"block {src} ({blocks[src][0]}.{blocks[src][2]}, {kb[0]} -> {kb[1]} channels, stride {kb[2]}) "
                f"cannot take the place of block {pos} ({blocks[pos][0]}.{blocks[pos][2]}, {ka[0]} -> {ka[1]}, "
                f"stride {ka[2]}): only blocks of the same shape, with stride 1, may exchange places."
            )
    return order


def _apply_order(blocks: list[tuple[str, nn.Sequential, int, nn.Module]], order: list[int]) -> None:
    originals = [b for _, _, _, b in blocks]
    for p, src in enumerate(order):
        if src != p:
            _, stage, pos, _ = blocks[p]
            stage[pos] = originals[src]


@contextmanager
def reordered(model: nn.Module, order: Sequence[int]) -> Iterator[nn.Module]:
    """Put block ``order[p]`` at position ``p`` inside the ``with``; restore the original order after.

    Yields the model itself.  Only same-shape, stride-1 blocks may move (see the module docstring).
    """
    blocks = _blocks(model)
    order = _check_order(blocks, order)
    with _restored(blocks):
        _apply_order(blocks, order)
        yield model


def delete_blocks(model: nn.Module, indices: Iterable[int]) -> nn.Module:
    """A deep copy of ``model`` with the blocks ``indices`` deleted (as :func:`deleted`); the original is untouched."""
    out = copy.deepcopy(model)
    blocks = _blocks(out)
    _apply_deletions(blocks, _checked_deletions(blocks, indices))
    return out


def reorder_blocks(model: nn.Module, order: Sequence[int]) -> nn.Module:
    """A deep copy of ``model`` with its blocks in ``order`` (as :func:`reordered`); the original is untouched."""
    out = copy.deepcopy(model)
    blocks = _blocks(out)
    _apply_order(blocks, _check_order(blocks, order))
    return out


# -- sampling ---------------------------------------------------------------------------------------------------
def random_deletions(candidates: Sequence[int], k: int, rng: random.Random) -> list[int]:
    """``k`` distinct block numbers drawn uniformly from ``candidates``, sorted."""
    if not 0 <= k <= len(candidates):
        raise InvalidInputError(f"cannot draw {k} of {len(candidates)} blocks")
    return sorted(rng.sample(list(candidates), k))


def swappable_pairs(model_or_blocks: nn.Module | Sequence[BlockInfo]) -> list[tuple[int, int]]:
    """Every pair ``(i, j)``, i < j, of blocks that may exchange places (same shape, stride 1)."""
    rows = block_table(model_or_blocks) if isinstance(model_or_blocks, nn.Module) else list(model_or_blocks)
    ok = [b for b in rows if not b.changes_shape]
    return [(a.index, b.index) for x, a in enumerate(ok) for b in ok[x + 1:] if a.shape_key == b.shape_key]


def random_swaps(model_or_blocks: nn.Module | Sequence[BlockInfo], k: int, rng: random.Random) -> list[int]:
    """The order after swapping ``k`` distinct random pairs of same-shape blocks, one after another.

    Starts from the original order ``[0, 1, ..., n-1]``; returns the new order (the block at each position).
    """
    rows = block_table(model_or_blocks) if isinstance(model_or_blocks, nn.Module) else list(model_or_blocks)
    pairs = swappable_pairs(rows)
    if not 0 <= k <= len(pairs):
        raise InvalidInputError(f"cannot draw {k} distinct pairs: this network has {len(pairs)} pairs of "
                                "same-shape blocks")
    order = list(range(len(rows)))
    for i, j in rng.sample(pairs, k):
        order[i], order[j] = order[j], order[i]
    return order


def kendall_tau(a: Sequence[float], b: Sequence[float] | None = None) -> float:
    """Kendall's tau between two rankings without ties (tau-a): (concordant - discordant) / (n (n-1) / 2).

    ``kendall_tau(order)`` compares an order with ``[0, 1, ..., n-1]``: 1 for the identity, -1 reversed.
    """
    x = list(a)
    y = list(range(len(x))) if b is None else list(b)
    if len(x) != len(y):
        raise InvalidInputError(f"rankings of different lengths: {len(x)} and {len(y)}")
    n = len(x)
    if n < 2:
        raise InvalidInputError("Kendall's tau needs at least two items")
    if len(set(x)) != n or len(set(y)) != n:
        raise InvalidInputError("kendall_tau (tau-a) is for rankings without ties")
    s = 0
    for i in range(n):
        for j in range(i + 1, n):
            s += (1 if (x[i] - x[j]) * (y[i] - y[j]) > 0 else -1)
    return s / math.comb(n, 2)
