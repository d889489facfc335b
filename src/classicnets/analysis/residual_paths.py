"""Path lengths of residual networks (Veit, Wilber, Belongie 2016).

A network of ``n`` residual blocks ``y = x + F(x)`` unrolls into ``2^n`` paths:
each block is either entered (its residual branch) or skipped (its shortcut).
The number of paths that pass through exactly ``k`` residual branches is
``C(n, k)``, so path lengths follow Binomial(n, 1/2) (ResNet-110 on CIFAR: 54
blocks, lengths 19 to 35 hold more than 95% of the paths).

**Gradient per path length, Veit's sampling method (Sec. 5.1).**  One batch
goes forward through the whole network; in the backward pass ``k`` randomly
sampled blocks propagate the gradient only through their residual branch and the
other ``n - k`` only through their shortcut, so the gradient that reaches the
input of the first block is the gradient of one path of length ``k``.  Its norm,
averaged over samples, is the magnitude of a path of length ``k``; multiplied by
the number of such paths it gives the total gradient that paths of length ``k``
carry.  Veit et al. find that almost all of it comes from short paths (5 to 17
blocks of ResNet-110's 54), although those are only 0.45% of all paths.

How the sampling is done without touching the model's code: two temporary
forward hooks per block (removed afterwards) return the *same values* with the
gradient cut:

* on the last module of the residual branch (``block.last_norm``: ``bn2`` of a
  BasicBlock, ``bn3`` of a Bottleneck, or the Identity standing in for it without
  BatchNorm), returning ``output.detach()`` for a block that is *not* sampled, so
  its branch carries no gradient;
* on the shortcut (``block.downsample``: an Identity, the zero-padding shortcut of
  option A or the projection of option B), returning ``output.detach()`` for a
  block that *is* sampled, so its skip carries no gradient.

The forward values are unchanged, so BatchNorm statistics and every ReLU mask are
those of the real network.  The ReLU that follows each addition in the original
ResNet (Veit et al. analysed pre-activation ResNets, which have none) is on every
path: its 0/1 mask, evaluated at the true forward values, multiplies every path's
gradient alike and is kept.  Each sample costs one forward and one (partial)
backward pass.  BatchNorm runs in train mode on copies of its running statistics;
the model is left unchanged.
"""

from __future__ import annotations

import csv
import io
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .._io import pyplot, save_figure
from ..errors import InvalidInputError
from .summary import preserve_model

__all__ = ["PathGradients", "PathProbe", "covering_range", "measure_paths", "parse_lengths", "path_gradients",
           "path_length_distribution", "plot_paths", "residual_blocks"]


def path_length_distribution(n: int) -> list[float]:
    """``P(length = k) = C(n, k) / 2^n`` for k = 0..n: the path lengths of ``n`` residual blocks."""
    if n < 0:
        raise InvalidInputError(f"the number of blocks must be >= 0, got {n}")
    total = 2.0 ** n
    return [math.comb(n, k) / total for k in range(n + 1)]


def covering_range(weights: Sequence[float], fraction: float = 0.9, start: int = 0) -> tuple[int, int]:
    """The shortest interval ``[a, b]`` of indices (offset by ``start``) holding ``fraction`` of the total."""
    total = float(sum(weights))
    if total <= 0:
        return (start, start + len(weights) - 1)
    best = (0, len(weights) - 1)
    j = 0
    acc = 0.0
    for i in range(len(weights)):
        while j < len(weights) and acc < fraction * total:
            acc += weights[j]
            j += 1
        if acc >= fraction * total and (j - 1 - i) < (best[1] - best[0]):
            best = (i, j - 1)
        acc -= weights[i]
    return (best[0] + start, best[1] + start)


def residual_blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The residual blocks (with a shortcut) of a model, in order; raises for a plain network."""
    from ..models.resnet import ResidualBlock

    blocks = [(n, m) for n, m in model.named_modules() if isinstance(m, ResidualBlock)]
    with_skip = [(n, m) for n, m in blocks if m.has_shortcut and m.downsample is not None]
    if not with_skip:
        raise InvalidInputError(
            f"{type(model).__name__} has no residual blocks with shortcuts; path lengths are defined for "
            "residual networks (resnet20 ... resnet1202, resnet18 ... resnet152), not plain ones."
        )
    return with_skip


@dataclass
class PathGradients:
    """Path-length distribution and gradient magnitude per path length."""

    model: str
    n: int
    lengths: list[int]
    magnitude: list[float]  # mean gradient norm of one path of each length
    samples: int
    source: str
    data: str
    batch_size: int

    @property
    def distribution(self) -> list[float]:
        full = path_length_distribution(self.n)
        return [full[k] for k in self.lengths]

    @property
    def total(self) -> list[float]:
        """Gradient carried by all paths of each length: magnitude x C(n, k)."""
        return [m * math.comb(self.n, k) for k, m in zip(self.lengths, self.magnitude, strict=True)]

    @property
    def total_share(self) -> list[float]:
        t = self.total
        s = sum(t)
        return [v / s if s else 0.0 for v in t]

    def gradient_range(self, fraction: float = 0.9) -> tuple[int, int]:
        """Shortest range of measured lengths that carries ``fraction`` of the total gradient."""
        if not self.magnitude:
            raise InvalidInputError("no gradient was measured (distribution only)")
        a, b = covering_range(self.total, fraction)
        return self.lengths[a], self.lengths[b]

    def path_range(self, fraction: float = 0.95) -> tuple[int, int]:
        """Shortest range of lengths holding ``fraction`` of all paths."""
        return covering_range(path_length_distribution(self.n), fraction)

    def paths_share(self, lo: int, hi: int) -> float:
        """Fraction of all 2^n paths whose length is in [lo, hi]."""
        d = path_length_distribution(self.n)
        return sum(d[lo: hi + 1])

    def _trend(self) -> str:
        m = [v for v in self.magnitude if v > 0]
        if len(m) < 2:
            return "one length measured"
        ratio = m[-1] / m[0]
        if ratio < 0.5:
            return f"falls {1 / ratio:.3g}x from the shortest to the longest"
        if ratio > 2:
            return f"grows {ratio:.3g}x from the shortest to the longest"
        return "about flat"

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["length", "paths_fraction", "num_paths", "grad_norm_per_path", "total_gradient",
                    "total_gradient_share"])
        cols = (self.lengths, self.distribution, self.magnitude, self.total, self.total_share)
        for k, d, m, t, s in zip(*cols, strict=True):
            w.writerow([k, f"{d:.6e}", math.comb(self.n, k), f"{m:.6e}", f"{t:.6e}", f"{s:.6e}"])
        return buf.getvalue()

    def to_text(self) -> str:
        """The report lines and one row per length."""
        pa, pb = self.path_range(0.95)
        if not self.magnitude:
            lines = [f"{self.model}: {self.n} residual blocks, 2^{self.n} = {2.0 ** self.n:.3g} paths; lengths "
                     f"follow Binomial({self.n}, 1/2): mean {self.n / 2:g}, 95% of the paths are {pa}..{pb} "
                     "blocks long.", "", "length  paths"]
            lines += [f"{k:6d}  {d:.3e}" for k, d in enumerate(path_length_distribution(self.n))]
            return "\n".join(lines)
        lines = [*self.report(), "", "length  paths      grad/path   total share"]
        for k, d, m, t in zip(self.lengths, self.distribution, self.magnitude, self.total_share, strict=True):
            lines.append(f"{k:6d}  {d:.3e}  {m:.3e}  {t:10.2%}")
        return "\n".join(lines)

    def report(self) -> list[str]:
        a, b = self.gradient_range(0.9)
        pa, pb = self.path_range(0.95)
        return [
            f"{self.model}: {self.n} residual blocks, 2^{self.n} = {2.0 ** self.n:.3g} paths; lengths follow "
            f"Binomial({self.n}, 1/2): mean {self.n / 2:g}, 95% of the paths are {pa}..{pb} blocks long.",
            f"gradient norm of one path: {self.magnitude[0]:.3g} at length {self.lengths[0]}, "
            f"{self.magnitude[-1]:.3g} at length {self.lengths[-1]} ({self._trend()}; measured at the first "
            f"block's input by Veit's sampling, {self.samples} sample(s) per length; {self.source}; "
            f"{self.data or 'data not stated'}; batch {self.batch_size}).",
            f"90% of the total gradient comes from paths {a}..{b} blocks long, which are "
            f"{self.paths_share(a, b):.2%} of all paths.",
        ]

    def as_dict(self) -> dict[str, Any]:
        a, b = self.gradient_range(0.9)
        return {"model": self.model, "blocks": self.n, "samples": self.samples, "source": self.source,
                "data": self.data, "gradient_range_90": [a, b], "paths_share_of_range": self.paths_share(a, b),
                "rows": [{"length": k, "paths_fraction": d, "grad_norm_per_path": m, "total_gradient": t,
                          "total_gradient_share": s}
                         for k, d, m, t, s in zip(self.lengths, self.distribution, self.magnitude, self.total,
                                                  self.total_share, strict=True)]}


class PathProbe:
    """Temporary hooks that restrict the backward pass to chosen residual branches (module docstring).

    Use as a context manager; inside it, :meth:`gradient` runs one forward and backward
    pass and returns the loss gradient at the first block's input, with the blocks in
    ``sampled`` passing it only through their residual branch and all others only
    through their shortcut (``sampled=None``: the ordinary, uncut gradient).  The
    model's flags are restored and the hooks removed on exit.
    """

    def __init__(self, model: nn.Module, *, train_mode: bool = True) -> None:
        self.model = model
        self.blocks = residual_blocks(model)
        self.train_mode = train_mode
        self._sampled: set[int] | None = None
        self._input: torch.Tensor | None = None
        self._handles: list[Any] = []
        self._preserve = preserve_model(model)

    def _cut_branch(self, i: int) -> Any:
        def hook(mod: nn.Module, args: Any, out: torch.Tensor) -> torch.Tensor | None:
            return None if self._sampled is None or i in self._sampled else out.detach()
        return hook

    def _cut_skip(self, i: int) -> Any:
        def hook(mod: nn.Module, args: Any, out: torch.Tensor) -> torch.Tensor | None:
            return out.detach() if self._sampled is not None and i in self._sampled else None
        return hook

    def _grab(self, mod: nn.Module, args: Any) -> None:
        self._input = args[0]

    def __enter__(self) -> PathProbe:
        self._preserve.__enter__()
        self.model.train(self.train_mode)
        try:
            for i, (_, block) in enumerate(self.blocks):
                self._handles.append(block.last_norm.register_forward_hook(self._cut_branch(i)))
                self._handles.append(block.downsample.register_forward_hook(self._cut_skip(i)))
            self._handles.append(self.blocks[0][1].register_forward_pre_hook(self._grab))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self._preserve.__exit__(None, None, None)

    def gradient(self, x: torch.Tensor, y: torch.Tensor, sampled: Iterable[int] | None) -> torch.Tensor:
        """dL/d(first block's input) through the paths ``sampled`` defines (BN statistics untouched)."""
        from torch.func import functional_call

        if not self._handles:
            raise RuntimeError("use PathProbe as a context manager")
        self._sampled = None if sampled is None else set(sampled)
        state: dict[str, torch.Tensor] = dict(self.model.named_parameters())
        state.update({b: t.clone() for b, t in self.model.named_buffers()})
        self._input = None
        logits = functional_call(self.model, state, (x.detach().clone().requires_grad_(True),), strict=False)
        loss = F.cross_entropy(logits, y)
        assert self._input is not None
        (g,) = torch.autograd.grad(loss, [self._input], allow_unused=True)
        return torch.zeros_like(self._input) if g is None else g


def path_gradients(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    lengths: Sequence[int] | None = None,
    samples: int = 3,
    seed: int = 0,
    name: str | None = None,
    source: str = "initialization",
    data: str = "",
) -> PathGradients:
    """Gradient magnitude of one path of each length, by Veit et al.'s sampling (module docstring).

    Args:
        model: a residual network (classicnets ResNet or CIFAR ResNet).
        batches: ``(images, labels)``; every batch is used for every sample.
        lengths: path lengths to measure (default 0..n).
        samples: random block subsets per length and batch.
        seed: seed of the block sampling.
    """
    n = len(residual_blocks(model))
    lengths = list(range(n + 1)) if lengths is None else sorted({int(k) for k in lengths})
    if any(k < 0 or k > n for k in lengths):
        raise InvalidInputError(f"path lengths must be within 0..{n} for {n} residual blocks; got {lengths}")
    if samples < 1:
        raise InvalidInputError(f"samples must be >= 1, got {samples}")
    batches = list(batches)
    if not batches:
        raise InvalidInputError("no batches to measure: the data source gave none")
    rng = random.Random(seed)
    sums = {k: 0.0 for k in lengths}
    count = {k: 0 for k in lengths}
    bs = 0
    with PathProbe(model) as probe:
        for x, y in batches:
            bs = max(bs, int(x.shape[0]))
            for k in lengths:
                for _ in range(samples):
                    g = probe.gradient(x, y, rng.sample(range(n), k))
                    sums[k] += float(g.norm())
                    count[k] += 1
    return PathGradients(
        model=name or type(model).__name__, n=n, lengths=lengths,
        magnitude=[sums[k] / max(count[k], 1) for k in lengths], samples=samples, source=source, data=data,
        batch_size=bs,
    )


def plot_paths(result: PathGradients, path: str | Path) -> Path:
    """Veit et al.'s Figure 6 for one model: path-length distribution, gradient per path, total gradient."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    full = path_length_distribution(result.n)
    axes[0].bar(range(result.n + 1), full, color="tab:blue")
    axes[0].set_title(f"path lengths, Binomial({result.n}, 1/2)")
    axes[0].set_xlabel("path length (residual blocks)")
    axes[0].set_ylabel("fraction of paths")
    axes[1].plot(result.lengths, [max(m, 1e-45) for m in result.magnitude], marker=".", color="tab:red")
    axes[1].set_yscale("log")
    axes[1].set_title("gradient norm of one path")
    axes[1].set_xlabel("path length")
    axes[2].plot(result.lengths, result.total_share, marker=".", color="tab:green")
    a, b = result.gradient_range(0.9)
    axes[2].axvspan(a - 0.5, b + 0.5, color="tab:green", alpha=0.15, label=f"90% of the gradient: {a}..{b}")
    axes[2].set_title("total gradient per path length (share)")
    axes[2].set_xlabel("path length")
    axes[2].legend(fontsize=8)
    for ax in axes:
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"{result.model}: paths and their gradients ({result.source}; {result.data})", fontsize=10)
    return save_figure(fig, path)


def parse_lengths(text: str | Sequence[int] | None, n: int) -> list[int] | None:
    """``"0:54"`` / ``"0:54:2"`` (inclusive) or a list -> the path lengths to measure; None = all."""
    if text is None:
        return None
    if not isinstance(text, str):
        return [int(k) for k in text]
    parts = text.split(":")
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        nums = []
    if len(nums) not in (2, 3) or (len(nums) == 3 and nums[2] < 1):
        raise InvalidInputError(f"--lengths must be A:B or A:B:STEP (inclusive), e.g. 0:{n}:2; got {text!r}")
    a, b = nums[0], nums[1]
    step = nums[2] if len(nums) == 3 else 1
    if not 0 <= a <= b <= n:
        raise InvalidInputError(f"path lengths must be within 0..{n}; got {text!r}")
    return list(range(a, b + 1, step))


def measure_paths(
    name: str,
    *,
    options: dict[str, Any] | None = None,
    checkpoint: str | None = None,
    dataset: str | None = None,
    root: str | None = None,
    split: str | None = None,
    batches: int = 1,
    batch_size: int = 32,
    samples: int = 3,
    lengths: str | Sequence[int] | None = None,
    seed: int = 0,
    device: str = "cpu",
    distribution_only: bool = False,
) -> PathGradients:
    """Build a registered residual network and measure its path gradients (or only count its paths)."""
    from ..device import resolve_device
    from ._build import build_meta
    from ._data import model_and_batches

    if distribution_only:
        n = len(residual_blocks(build_meta(name, **(options or {}))))
        return PathGradients(model=name, n=n, lengths=list(range(n + 1)), magnitude=[], samples=0,
                             source="", data="", batch_size=0)
    model, bl, text, source = model_and_batches(
        name, options=options, checkpoint=checkpoint, dataset=dataset, root=root, split=split, batches=batches,
        batch_size=batch_size, seed=seed, device=resolve_device(device))
    n = len(residual_blocks(model))
    return path_gradients(model, bl, lengths=parse_lengths(lengths, n), samples=samples, seed=seed, name=name,
                          source=source, data=text)
