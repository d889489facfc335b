"""Gradient flow: the L2 norm of the loss gradient at every layer's weights and every block's output.

What it shows (CIFAR plain nets against their residual twins, at initialization):

* **With BatchNorm and Kaiming init** (the paper's setting) nothing vanishes: the
  plain nets' gradients *grow* toward the input, geometrically in depth (the ratio
  of the first conv's weight-gradient norm to the last conv's is about 2 for
  ``plain20`` and orders of magnitude larger for ``plain56`` / ``plain110``), while
  the residual twins keep it within a small factor.  This is He et al.'s remark
  (Sec. 4.1) that BN keeps the forward and backward signals of plain nets from
  vanishing, so their degradation is an optimization problem, not vanishing
  gradients.
* **Without BatchNorm and with Glorot init** (the setting of the lecture's
  simplified derivation) the plain nets' first-layer gradient *vanishes*, falling
  by orders of magnitude with depth, while the residual twins keep it: the
  gradient of a residual block is ``dL/dx = dL/dy (1 + dF/dx)``, and the ``+1``
  (the identity shortcut) carries it past every block unchanged.

The measurement never changes the model: gradients come from
:func:`torch.autograd.grad` (no ``.grad`` is written), BatchNorm runs in train
mode on *copies* of its running statistics, the train/eval flags are restored
and every hook is removed.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .._io import pyplot, save_figure
from ..errors import InvalidInputError
from .summary import preserve_model

__all__ = ["REGIMES", "GradFlow", "block_modules", "gradient_flow", "measure_models", "plot_gradflow"]


@dataclass
class GradFlow:
    """Gradient norms of one model, averaged over the batches measured."""

    model: str
    source: str
    data: str
    batches: int
    batch_size: int
    loss: float
    layers: list[tuple[str, tuple[int, ...], float]] = field(default_factory=list)  # weights, forward order
    blocks: list[tuple[str, float]] = field(default_factory=list)  # block outputs, forward order

    @property
    def conv_layers(self) -> list[tuple[str, tuple[int, ...], float]]:
        """The conv layers (all weight layers for a model without convolutions, e.g. an MLP)."""
        convs = [layer for layer in self.layers if len(layer[1]) == 4]
        return convs or list(self.layers)

    @property
    def first_conv(self) -> float:
        """Gradient norm at the first conv layer's weights (the one nearest the input)."""
        if not self.conv_layers:
            raise InvalidInputError(f"{self.model} has no weight layer")
        return self.conv_layers[0][2]

    @property
    def last_conv(self) -> float:
        """Gradient norm at the last conv layer's weights (the one nearest the output)."""
        if not self.conv_layers:
            raise InvalidInputError(f"{self.model} has no weight layer")
        return self.conv_layers[-1][2]

    @property
    def ratio(self) -> float:
        """first_conv / last_conv: > 1 grows toward the input, << 1 vanishes."""
        return self.first_conv / self.last_conv if self.last_conv else math.inf

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["model", "kind", "index", "name", "shape", "grad_norm"])
        for i, (name, shape, g) in enumerate(self.layers):
            w.writerow([self.model, "weight", i, name, "x".join(map(str, shape)), f"{g:.6e}"])
        for i, (name, g) in enumerate(self.blocks):
            w.writerow([self.model, "block_output", i, name, "", f"{g:.6e}"])
        return buf.getvalue()

    def summary_line(self) -> str:
        return (f"{self.model}: first conv {self.first_conv:.3e}, last conv {self.last_conv:.3e}, "
                f"first/last {self.ratio:.3g}; loss {self.loss:.4f} ({self.source})")

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "source": self.source, "data": self.data, "batches": self.batches,
                "batch_size": self.batch_size, "loss": self.loss, "first_conv": self.first_conv,
                "last_conv": self.last_conv, "first_last_ratio": self.ratio,
                "layers": [{"name": n, "shape": list(s), "grad_norm": g} for n, s, g in self.layers],
                "blocks": [{"name": n, "grad_norm": g} for n, g in self.blocks]}


def block_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The "blocks" whose outputs are measured.

    The residual (and plain) blocks of a ResNet; otherwise the model's top-level
    children, or the children of its ``features`` stage for AlexNet/VGG-style models.
    """
    from ..models.resnet import ResidualBlock

    blocks = [(n, m) for n, m in model.named_modules() if isinstance(m, ResidualBlock)]
    if blocks:
        return blocks
    inception = [(n, m) for n, m in model.named_modules()
                 if n.count(".") == 0 and n and any(True for _ in m.parameters())]
    feats = getattr(model, "features", None)
    if isinstance(feats, nn.Sequential):
        inner = [(f"features.{n}", m) for n, m in feats.named_children() if any(True for _ in m.parameters())]
        rest = [(n, m) for n, m in inception if n != "features"]
        return inner + rest
    return inception


def gradient_flow(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    name: str | None = None,
    source: str = "initialization",
    data: str = "",
    train_mode: bool = True,
) -> GradFlow:
    """Measure the gradient norms of the cross-entropy loss on ``batches``.

    Args:
        model: a classifier (returns logits).
        batches: ``(images, labels)`` pairs on the model's device.
        name, source, data: labels for the report.
        train_mode: run BatchNorm with batch statistics (as in training; default).
            Dropout is active too.  Running statistics are never updated.

    Returns:
        per-layer weight-gradient norms (every conv and linear weight, in the order
        the forward pass uses them) and per-block output-gradient norms, each
        averaged over the batches.
    """
    from torch.func import functional_call

    blocks = block_modules(model)
    weight_mods = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    order: list[str] = []
    mod_names = {m: n for n, m in weight_mods}
    outs: dict[str, torch.Tensor] = {}
    handles = []
    sums_w: dict[str, float] = {}
    sums_b: dict[str, float] = {}
    total_loss = 0.0
    nb = 0
    bs = 0
    with preserve_model(model):
        model.train(train_mode)
        try:
            for m in mod_names:
                handles.append(m.register_forward_pre_hook(
                    lambda mod, args: order.append(mod_names[mod]) if mod_names[mod] not in order else None))
            for bname, bm in blocks:
                handles.append(bm.register_forward_hook(
                    lambda mod, args, out, bname=bname: outs.__setitem__(bname, out)))
            params = dict(model.named_parameters())
            for x, y in batches:
                outs.clear()
                state: dict[str, torch.Tensor] = dict(params)
                state.update({k: b.clone() for k, b in model.named_buffers()})  # BN statistics stay untouched
                logits = functional_call(model, state, (x,), strict=False)
                loss = F.cross_entropy(logits, y)
                wmods = dict(weight_mods)
                wnames = [n for n in order if wmods[n].weight.requires_grad]
                weights = [wmods[n].weight for n in wnames]
                bnames = [n for n, _ in blocks if n in outs and isinstance(outs[n], torch.Tensor)
                          and outs[n].requires_grad]
                grads = torch.autograd.grad(loss, weights + [outs[n] for n in bnames], allow_unused=True)
                for n, g in zip(wnames, grads[: len(wnames)], strict=True):
                    sums_w[n] = sums_w.get(n, 0.0) + (0.0 if g is None else float(g.detach().norm()))
                for n, g in zip(bnames, grads[len(wnames):], strict=True):
                    sums_b[n] = sums_b.get(n, 0.0) + (0.0 if g is None else float(g.detach().norm()))
                total_loss += float(loss.detach())
                nb += 1
                bs = max(bs, int(x.shape[0]))
        finally:
            for h in handles:
                h.remove()
    if nb == 0:
        raise InvalidInputError("no batches to measure: the data source gave none")
    shapes = {n: tuple(m.weight.shape) for n, m in weight_mods}
    return GradFlow(
        model=name or type(model).__name__, source=source, data=data, batches=nb, batch_size=bs,
        loss=total_loss / nb,
        layers=[(n, shapes[n], sums_w[n] / nb) for n in order if n in sums_w],
        blocks=[(n, sums_b[n] / nb) for n, _ in blocks if n in sums_b],
    )


def plot_gradflow(results: list[GradFlow], path: str | Path) -> Path:
    """A PNG with two panels (weights; block outputs), one line per model, log scale."""
    plt = pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.5))
    bases = list(dict.fromkeys(r.model.split(" [")[0] for r in results))
    regimes = list(dict.fromkeys(r.model.partition(" [")[2] for r in results))
    colors = plt.get_cmap("tab10" if len(bases) <= 10 else "tab20")
    styles = ["-", "--", ":", "-."]
    for r in results:
        base, _, regime = r.model.partition(" [")
        style = {"color": colors(bases.index(base) % colors.N), "linestyle": styles[regimes.index(regime) % 4],
                 "marker": ".", "markersize": 3, "label": r.model}
        a1.plot(range(len(r.layers)), [max(g, 1e-45) for _, _, g in r.layers], **style)
        a2.plot(range(len(r.blocks)), [max(g, 1e-45) for _, g in r.blocks], **style)
    for ax, title, xl in ((a1, "weight gradient norm per layer", "layer (input -> output)"),
                          (a2, "gradient norm at each block's output", "block (input -> output)")):
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel(xl)
        ax.set_ylabel("||dL/dw||" if ax is a1 else "||dL/dy||")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    if results:
        fig.suptitle(f"gradient flow ({results[0].source}; {results[0].data})", fontsize=10)
    return save_figure(fig, path)


#: The two regimes compared for the CIFAR plain / residual nets (model options).
REGIMES: dict[str, dict[str, Any]] = {
    "BN, Kaiming": {"batch_norm": True, "init": "kaiming"},
    "no BN, Glorot": {"batch_norm": False, "init": "glorot"},
}
#: Command-line names of the regimes.
REGIME_NAMES: dict[str, str] = {"bn-kaiming": "BN, Kaiming", "nobn-glorot": "no BN, Glorot"}


def measure_models(
    names: list[str],
    *,
    regime: str = "both",
    options: dict[str, Any] | None = None,
    checkpoint: str | None = None,
    dataset: str | None = None,
    root: str | None = None,
    split: str | None = None,
    batches: int = 1,
    batch_size: int = 128,
    seed: int = 0,
    device: str = "cpu",
) -> list[GradFlow]:
    """Gradient flow of several registered models, in one or both regimes of :data:`REGIMES`.

    ``regime="both"`` measures each model that accepts ``batch_norm`` and ``init``
    (the CIFAR plain and residual nets) with BN + Kaiming and without BN with Glorot
    init, and every other model as built; ``"as-built"`` uses the options given;
    a key of :data:`REGIMES` (or its command-line name in :data:`REGIME_NAMES`) forces
    that one.  With a checkpoint only the model as built is measured (its weights fix
    the regime).
    """
    from ..device import resolve_device
    from ..models import model_options
    from ._data import dataset_batches, model_and_batches

    device = resolve_device(device)
    regime = REGIME_NAMES.get(regime, regime)
    if regime not in ("both", "as-built", *REGIMES):
        raise InvalidInputError(f"regime must be 'both', 'as-built' or one of {', '.join(map(repr, REGIME_NAMES))}; "
                                f"got {regime!r}")
    if checkpoint is not None and len(names) != 1:
        raise InvalidInputError("--checkpoint applies to one model; give a single MODEL")
    data = None
    if dataset is not None:
        data = dataset_batches(dataset, root=root, split=split, batch_size=batch_size, batches=batches, seed=seed,
                               device=device)
    results = []
    for name in names:
        accepted = model_options(name)
        has_regimes = accepted is not None and {"batch_norm", "init"} <= set(accepted)
        if checkpoint is not None or regime == "as-built" or not has_regimes:
            runs = [("", dict(options or {}))]
        elif regime == "both":
            runs = [(f" [{k}]", {**(options or {}), **v}) for k, v in REGIMES.items()]
        else:
            runs = [(f" [{regime}]", {**(options or {}), **REGIMES[regime]})]
        for label, opts in runs:
            model, bl, text, source = model_and_batches(
                name, options=opts, checkpoint=checkpoint, data=data, batches=batches, batch_size=batch_size,
                seed=seed, device=device)
            results.append(gradient_flow(model, bl, name=name + label, source=source, data=text))
    return results
