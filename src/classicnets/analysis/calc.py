"""Calculators: factorized kernels, the naive Inception module against the one with 1x1
reductions, and an Inception module against one traditional convolution.

Every count is taken from real modules (built on the meta device and passed
through :func:`~classicnets.analysis.summarize`), not from a formula typed here;
the factorization savings come from
:func:`classicnets.models.factorized.factorization_savings`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .. import reference as ref
from ..errors import InvalidInputError
from ..models.factorized import SCHEMES, factorization_savings
from ..models.googlenet import Inception, InceptionNaive
from ._build import SkipMetaInit
from ._render import TextTable, human
from .summary import count_params, summarize

__all__ = [
    "STANDARD_FACTORIZATIONS",
    "factorization",
    "factorization_table",
    "inception_vs_conv",
    "naive_vs_reduced",
]

#: (kernel size, scheme) of the factorizations the papers and the lecture quote.
STANDARD_FACTORIZATIONS: tuple[tuple[int, str], ...] = (
    (5, "3x3"), (7, "3x3"), (3, "2x2"), (3, "asymmetric"), (7, "asymmetric"),
)

#: GoogLeNet's inception (3a): input 28x28x192, #1x1 64, #3x3 reduce 96, #3x3 128, #5x5 reduce 16, #5x5 32,
#: pool proj 32 (Szegedy et al. 2014, Table 1).
INCEPTION_3A: dict[str, int] = dict(in_ch=192, n1=64, reduce3=96, n3=128, reduce5=16, n5=32, pool_proj=32, size=28)


def factorization(kernel_size: int, scheme: str, channels: int | None = None) -> dict[str, Any]:
    """Weights and multiply-adds of an n x n conv and of its factorization (see ``factorization_savings``)."""
    if scheme not in SCHEMES:
        raise InvalidInputError(f"unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    return factorization_savings(kernel_size, scheme, channels)


def factorization_table(items: list[tuple[int, str]] | None = None, channels: int | None = None) -> TextTable:
    """Savings of each factorization, beside the published figure where there is one."""
    items = list(items or STANDARD_FACTORIZATIONS)
    cells, records = [], []
    for n, scheme in items:
        f = factorization(n, scheme, channels)
        pub = ref.FACTORIZATION_SAVINGS.get(str(f["name"]))
        unit = "C^2" if channels is None else ""
        cells.append([str(f["name"]), f"{f['original_params']:,}{unit}", f"{f['factorized_params']:,}{unit}",
                      f"{f['saving']:.1%}", "" if pub is None else f"{pub.value:.0%}"])
        records.append({**f, "published_saving": None if pub is None else pub.value})
    c = "C input, intermediate and output channels" if channels is None else f"{channels} channels"
    notes = [f"weights (= multiply-adds per output position) with {c}, no biases; saving = 1 - factorized / "
             "original, the same for parameters and multiply-adds.",
             f"published: {ref.SZEGEDY2015}, Sec. 3 (5x5, 3x3 rows); the 7x7 rows are the lecture's."]
    return TextTable(title="Factorized convolutions: savings", columns=["factorization", "original", "factorized",
                     "saving", "published"], cells=cells, records=records, notes=notes, right={1, 2, 3, 4})


def _meta(build: Any) -> nn.Module:
    with torch.device("meta"), SkipMetaInit(), torch.no_grad():
        return build()


def _figures(module: nn.Module, size: tuple[int, int, int]) -> dict[str, int]:
    s = summarize(module, size, depth=0)
    total, _, _ = count_params(module)
    weights = sum(m.weight.numel() for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    return {"params": total, "weights": weights, "macs": s.macs,
            "out_channels": int(s.rows[-1].output_shape[0]) if s.rows and s.rows[-1].output_shape else 0}


def _check_widths(**widths: int) -> None:
    for k, v in widths.items():
        if not isinstance(v, int) or v < 1:
            raise InvalidInputError(f"{k} must be a positive integer, got {v!r}")


def naive_vs_reduced(
    in_ch: int, n1: int, n3: int, n5: int, *, reduce3: int, reduce5: int, pool_proj: int, size: int = 28
) -> TextTable:
    """The naive Inception module (Fig. 2a) against the one with 1x1 reductions (Fig. 2b).

    Both are built (``classicnets.models.googlenet.InceptionNaive`` / ``Inception``,
    no BatchNorm) for an input of ``in_ch`` channels on a ``size`` x ``size`` map;
    the table gives each one's output channels, parameters and multiply-adds.  The
    naive module's pool branch passes all ``in_ch`` channels through, so its output
    grows by ``n1 + n3 + n5`` with every module stacked.
    """
    _check_widths(in_ch=in_ch, n1=n1, n3=n3, n5=n5, reduce3=reduce3, reduce5=reduce5, pool_proj=pool_proj,
                  size=size)
    shape = (in_ch, size, size)
    naive = _figures(_meta(lambda: InceptionNaive(in_ch, n1, n3, n5)), shape)
    red = _figures(_meta(lambda: Inception(in_ch, n1, reduce3, n3, reduce5, n5, pool_proj)), shape)
    rows = [("naive (Fig. 2a)", naive), ("with 1x1 reductions (Fig. 2b)", red)]
    cells = [[name, f"{size}x{size}x{in_ch}", f"{size}x{size}x{f['out_channels']}", f"{f['params']:,}",
              human(f["macs"])] for name, f in rows]
    grow = n1 + n3 + n5
    stack = ", ".join(str(in_ch + k * grow) for k in range(1, 4))
    notes = [
        f"naive: the 3x3 max-pool branch keeps all {in_ch} input channels, so the output has {in_ch} + "
        f"{n1} + {n3} + {n5} = {naive['out_channels']} channels; three naive modules in a row give {stack} "
        "channels, and every 3x3 / 5x5 conv of the next module reads all of them.",
        f"with reductions: {reduce3} and {reduce5} 1x1 filters before the 3x3 and 5x5, a {pool_proj}-filter "
        f"projection after the pool: {red['out_channels']} channels, "
        f"{naive['macs'] / red['macs']:.1f}x fewer multiply-adds, "
        f"{naive['params'] / red['params']:.1f}x fewer parameters.",
        "params include biases (no BatchNorm); MACs = conv multiply-adds.",
    ]
    return TextTable(
        title="Inception module: naive vs with 1x1 reductions (computed from the modules)",
        columns=["module", "input", "output", "params", "MACs"], cells=cells,
        records=[{"module": name, "input_channels": in_ch, "size": size, **f} for name, f in rows],
        notes=notes, right={3, 4},
    )


def inception_vs_conv(
    in_ch: int, n1: int, reduce3: int, n3: int, reduce5: int, n5: int, pool_proj: int, *,
    kernels: tuple[int, ...] = (3, 5), size: int = 28,
) -> TextTable:
    """An Inception module (with reductions) against one conv with the same output channels.

    The "traditional" layer is a single ``k x k`` convolution from ``in_ch`` to the
    module's ``n1 + n3 + n5 + pool_proj`` channels, for each ``k`` in ``kernels``
    (3 and 5: the module's largest kernel is 5x5).
    """
    _check_widths(in_ch=in_ch, n1=n1, n3=n3, n5=n5, reduce3=reduce3, reduce5=reduce5, pool_proj=pool_proj,
                  size=size)
    shape = (in_ch, size, size)
    inc = _figures(_meta(lambda: Inception(in_ch, n1, reduce3, n3, reduce5, n5, pool_proj)), shape)
    out = inc["out_channels"]
    rows: list[tuple[str, dict[str, int]]] = [("inception module", inc)]
    for k in kernels:
        if k < 1:
            raise InvalidInputError(f"kernel sizes must be positive, got {k}")
        rows.append((f"one {k}x{k} conv", _figures(_meta(lambda k=k: nn.Conv2d(in_ch, out, k, padding=k // 2)),
                                                    shape)))
    cells = [[name, f"{size}x{size}x{in_ch}", f"{size}x{size}x{f['out_channels']}", f"{f['params']:,}",
              f"{f['params'] / inc['params']:.1f}x", human(f["macs"])] for name, f in rows]
    notes = ["params include biases; MACs = conv multiply-adds; 'x module' = params / the Inception module's.",
             "the module mixes 1x1, 3x3 and 5x5 receptive fields at a fraction of one wide conv's cost."]
    return TextTable(
        title="Inception module vs one traditional convolution with the same output channels",
        columns=["layer", "input", "output", "params", "x module", "MACs"], cells=cells,
        records=[{"layer": name, "input_channels": in_ch, "size": size, **f} for name, f in rows],
        notes=notes, right={3, 4, 5},
    )
