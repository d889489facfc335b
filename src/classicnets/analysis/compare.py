"""Comparing models: parameters, multiply-adds, the share of parameters in fully connected layers.

AlexNet keeps about 96% of its parameters in its three fully connected layers,
VGG-16 89% and VGG-19 86%; networks that end in global average pooling
(NIN, GoogLeNet, ResNet) keep a few percent there.  :func:`compare` computes
these figures from the built models and the ratios between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..errors import InvalidInputError
from ._build import build_meta
from ._render import TextTable, human
from .summary import count_params, summarize

__all__ = ["ModelFigures", "compare", "fc_params", "model_figures"]


def fc_params(model: nn.Module) -> int:
    """Parameters (weights and biases) of the model's fully connected (``nn.Linear``) layers."""
    seen: set[int] = set()
    n = 0
    for m in model.modules():
        if isinstance(m, nn.Linear):
            for p in m.parameters(recurse=False):
                if id(p) not in seen:
                    seen.add(id(p))
                    n += p.numel()
    return n


@dataclass(frozen=True)
class ModelFigures:
    """One model's size figures at an input size."""

    name: str
    input_size: tuple[int, int, int]
    params: int
    macs: int
    fc_params: int

    @property
    def fc_share(self) -> float:
        """Fraction of the parameters in fully connected layers."""
        return self.fc_params / self.params if self.params else 0.0

    @property
    def conv_params(self) -> int:
        return self.params - self.fc_params

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.name, "input_size": list(self.input_size), "params": self.params,
                "macs": self.macs, "flops": 2 * self.macs, "fc_params": self.fc_params,
                "fc_share": round(self.fc_share, 6)}


def model_figures(name: str, input_size: Sequence[int] | None = None, **options: Any) -> ModelFigures:
    """Parameters, MACs and fully connected parameters of a registered model (built on meta)."""
    model = build_meta(name, **options)
    s = summarize(model, input_size, depth=0, name=name)
    total, _, _ = count_params(model)
    return ModelFigures(name, s.input_size, total, s.macs, fc_params(model))


def compare(names: Sequence[str], *, input_size: Sequence[int] | None = None) -> TextTable:
    """Parameters, MACs and fc share of several models, with ratios to the first one.

    Each model is counted at its own default input size unless ``input_size``
    is given (a CIFAR model at 32x32, an ImageNet one at 224x224 or 299x299: the
    column ``input`` says which).  Ratios are model / first model.
    """
    if not names:
        raise InvalidInputError("compare needs at least one model name")
    figs = [model_figures(n, input_size) for n in names]
    base = figs[0]
    cols = ["model", "input", "params", "MACs", "fc params", "fc share",
            f"params / {base.name}", f"MACs / {base.name}", f"params - {base.name}"]
    cells, records = [], []
    for f in figs:
        pr = f.params / base.params if base.params else float("nan")
        mr = f.macs / base.macs if base.macs else float("nan")
        diff = f.params - base.params
        cells.append([f.name, "x".join(map(str, f.input_size)), f"{f.params:,}", human(f.macs), f"{f.fc_params:,}",
                      f"{f.fc_share:.1%}", f"{pr:.2f}x", f"{mr:.2f}x", f"{diff / 1e6:+.1f}M"])
        records.append({**f.as_dict(), "params_ratio": pr, "macs_ratio": mr, "params_diff": diff})
    notes = [
        "params: learnable parameters; MACs: conv + linear multiply-accumulates (FLOPs = 2 x MACs) at the input "
        "size shown; fc share: parameters of the nn.Linear layers / all parameters.",
    ]
    return TextTable(title="Model comparison (computed from the models)", columns=cols, cells=cells,
                     records=records, notes=notes, right=set(range(2, 9)))
