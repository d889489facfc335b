"""Small CIFAR-10 networks for the design-lesson experiments: factorized convolutions and Inception modules.

Not networks of a paper: each is a *controlled pair* (or family) of small nets that differ in one design
choice only, cheap enough to train on a CPU, so the effect the papers describe can be measured.

``factorized_cifar`` (Szegedy et al. 2015, "Rethinking the Inception Architecture", Sec. 3): three stages
of two "spatial units" each on 32x32, 16x16 and 8x8 maps (2x2 max pools between), global average pooling
and a linear classifier.  Every unit is followed by BatchNorm and ReLU; only the unit changes::

    conv        the spatial unit                                        replaces
    "5x5"       one 5x5 conv
    "3x3+3x3"   3x3 -> BN -> ReLU -> 3x3      (StackedConv, Figure 1)    5x5
    "3x3+3x3-linear"  3x3 -> BN -> 3x3, no ReLU between (Figure 2)       5x5
    "3x3"       one 3x3 conv
    "1x3+3x1"   1x3 -> BN -> ReLU -> 3x1      (AsymmetricConv, Fig. 3)   3x3

    stage   output (32x32 input)   units
    1       32 x 32 x 32           unit(in_chans -> 32), unit(32 -> 32); 2x2 max pool
    2       64 x 16 x 16           unit(32 -> 64), unit(64 -> 64); 2x2 max pool
    3       128 x 8 x 8            unit(64 -> 128), unit(128 -> 128)
    head    10                     global average pool, fc

A factorized unit from C_in to C_out channels has round(sqrt(C_in * C_out)) channels between its two convs
(Sec. 3.1: a unit that widens by a factor a widens by sqrt(a) in each step), so for C_in = C_out it saves
the paper's 28% (two 3x3) or 33% (1x3 + 3x1) of the weights; its inner BatchNorm is part of the unit.

Parameters (10 classes, 3 input channels, default widths (32, 64, 128)): "5x5" 798,186; "3x3+3x3" and
"3x3+3x3-linear" 589,276 (26% fewer); "3x3" 288,746; "1x3+3x1" 198,376 (31% fewer).  Multiply-adds at
32x32: 107.3M, 79.9M, 79.9M, 38.6M, 26.6M (``classicnets.analysis.summarize``).

``inception_cifar`` (Szegedy et al. 2014, "Going Deeper with Convolutions", Sec. 4-5): a 3x3 stem and
four Inception modules (:class:`~classicnets.models.googlenet.Inception` with 1x1 reductions, or
:class:`~classicnets.models.googlenet.InceptionNaive` at the same #1x1 / #3x3 / #5x5 widths), with an
optional auxiliary classifier after the second module, as GoogLeNet's on 4a/4d::

    layer       output (32x32 input)   #1x1 #3x3r #3x3 #5x5r #5x5 pool proj
    conv 3x3    32 x 32 x 32
    max pool    32 x 16 x 16           3x3/2
    module a1   64 x 16 x 16            16   24    32    4    8     8
    module a2   120 x 16 x 16           32   32    48    8   24    16     (aux head here)
    max pool    120 x 8 x 8            3x3/2
    module b1   128 x 8 x 8             48   24    52    4   12    16
    module b2   128 x 8 x 8             40   28    56    6   16    16
    head        10                     global average pool, dropout, fc

With ``module="naive"`` the pool branch passes every input channel through (no projection) and there are
no reductions, so the widths grow: 88, 192, 304, 416 channels after a1..b2.  Parameters (10 classes, 3
input channels, no aux head): reduced 88,494; naive 559,274 (6.3x).  Multiply-adds at 32x32: 12.8M and
57.4M (4.5x).  The auxiliary head (4x4 average pool, 1x1 conv 64, fc 256, dropout 70%, fc) adds 272,778
parameters to the reduced net; it is used only by :meth:`InceptionCifar.forward_aux` (training), never by
``forward``.

All modules use BatchNorm (eps 1e-3 as in the Inception family) and He-normal (fan_in) convolutions.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from ..errors import InvalidInputError
from ._registry import register_model
from .base import AuxHeadNet, ClassifierNet, check_rate
from .factorized import AsymmetricConv, StackedConv
from .googlenet import Inception, InceptionNaive
from .layers import BasicConv2d, he_init

__all__ = ["FACTORIZED_UNITS", "FactorizedCifar", "InceptionCifar", "factorized_cifar", "inception_cifar"]

Unit = Literal["5x5", "3x3+3x3", "3x3+3x3-linear", "3x3", "1x3+3x1"]
#: The spatial units of ``factorized_cifar`` and the unit each one replaces (None: an original).
FACTORIZED_UNITS: dict[str, str | None] = {
    "5x5": None, "3x3+3x3": "5x5", "3x3+3x3-linear": "5x5", "3x3": None, "1x3+3x1": "3x3",
}
_BN_EPS = 1e-3


def _spatial_unit(conv: str, in_ch: int, out_ch: int) -> nn.Module:
    """The unit ``conv`` from ``in_ch`` to ``out_ch`` channels, keeping the map size (no bias: BN follows)."""
    if conv == "5x5":
        return nn.Conv2d(in_ch, out_ch, 5, padding=2, bias=False)
    if conv == "3x3":
        return nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False)
    # Between the two factorized convs: sqrt(in * out) channels (see the module docstring).
    mid = max(1, round(math.sqrt(in_ch * out_ch)))
    if conv in ("3x3+3x3", "3x3+3x3-linear"):
        act = "linear" if conv.endswith("linear") else "relu"
        return StackedConv(in_ch, out_ch, 5, small_kernel=3, activation=act, mid_channels=mid, bias=False,
                           batch_norm=True)
    if conv == "1x3+3x1":
        return AsymmetricConv(in_ch, out_ch, 3, activation="relu", mid_channels=mid, bias=False, batch_norm=True)
    raise InvalidInputError(f"conv must be one of {', '.join(map(repr, FACTORIZED_UNITS))}; got {conv!r}")


class _UnitBNReLU(nn.Module):
    """A spatial unit followed by BatchNorm and ReLU (children ``conv``, ``bn``)."""

    def __init__(self, conv: str, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = _spatial_unit(conv, in_ch, out_ch)
        self.bn = nn.BatchNorm2d(out_ch, eps=_BN_EPS)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class FactorizedCifar(ClassifierNet):
    """Three stages of two spatial units; see the module docstring.

    Args:
        conv: the spatial unit, one of :data:`FACTORIZED_UNITS`.
        widths: channels of the three stages.
        num_classes, in_chans: classifier size and input channels.

    ``min_input_size`` is (C, 4, 4): two 2x2 pools leave a 1x1 map.
    """

    def __init__(self, *, conv: Unit = "3x3", widths: tuple[int, int, int] = (32, 64, 128), num_classes: int = 10,
                 in_chans: int = 3) -> None:
        if conv not in FACTORIZED_UNITS:
            raise InvalidInputError(f"conv must be one of {', '.join(map(repr, FACTORIZED_UNITS))}; got {conv!r}")
        widths = tuple(int(w) for w in widths)  # type: ignore[assignment]
        if len(widths) != 3 or min(widths) < 1:
            raise InvalidInputError(f"widths must be three positive channel counts, got {widths!r}")
        super().__init__(num_classes=num_classes, in_chans=in_chans, default_input_size=(in_chans, 32, 32),
                         min_input_size=(in_chans, 4, 4))
        self.conv = conv
        c1, c2, c3 = widths
        self.stage1 = nn.Sequential(_UnitBNReLU(conv, in_chans, c1), _UnitBNReLU(conv, c1, c1))
        self.pool1 = nn.MaxPool2d(2)
        self.stage2 = nn.Sequential(_UnitBNReLU(conv, c1, c2), _UnitBNReLU(conv, c2, c2))
        self.pool2 = nn.MaxPool2d(2)
        self.stage3 = nn.Sequential(_UnitBNReLU(conv, c2, c3), _UnitBNReLU(conv, c3, c3))
        self.num_features = c3
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c3, num_classes)
        he_init(self, mode="fan_in")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.stage1(x))  # N x 32 x 16 x 16
        x = self.pool2(self.stage2(x))  # N x 64 x 8 x 8
        return self.stage3(x)  # N x 128 x 8 x 8

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)  # N x 128
        return x if pre_logits else self.fc(x)  # N x num_classes



@register_model(FactorizedCifar)
def factorized_cifar(*, num_classes: int = 10, in_chans: int = 3, conv: Unit = "3x3", **kwargs) -> FactorizedCifar:
    """A small CIFAR-10 net whose spatial convolutions are ``conv`` (Szegedy et al. 2015, Sec. 3; ours).

    798,186 parameters with ``conv="5x5"``, 589,276 with ``"3x3+3x3"`` (and ``"3x3+3x3-linear"``),
    288,746 with ``"3x3"``, 198,376 with ``"1x3+3x1"`` (10 classes, widths 32/64/128).
    """
    return FactorizedCifar(conv=conv, num_classes=num_classes, in_chans=in_chans, **kwargs)


# -- Inception -------------------------------------------------------------------------------------------------
#: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj) of the four modules (ours: GoogLeNet's 3a/3b/4a/4b
#: proportions at about a quarter of the width).
INCEPTION_CIFAR_CFG: dict[str, tuple[int, int, int, int, int, int]] = {
    "a1": (16, 24, 32, 4, 8, 8),
    "a2": (32, 32, 48, 8, 24, 16),
    "b1": (48, 24, 52, 4, 12, 16),
    "b2": (40, 28, 56, 6, 16, 16),
}


class SmallAux(nn.Module):
    """GoogLeNet's auxiliary classifier scaled down: 4x4 average pool, 1x1 conv 64, fc 256, ReLU, dropout, fc."""

    def __init__(self, in_ch: int, num_classes: int, *, drop_rate: float = 0.7) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.conv = BasicConv2d(in_ch, 64, 1, bn_eps=_BN_EPS)
        self.fc1 = nn.Linear(64 * 4 * 4, 256)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(drop_rate)
        self.fc2 = nn.Linear(256, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.pool(x))  # N x 64 x 4 x 4
        x = self.relu(self.fc1(torch.flatten(x, 1)))  # N x 256
        return self.fc2(self.dropout(x))  # N x num_classes


class InceptionCifar(AuxHeadNet):
    """A 3x3 stem and four Inception modules; see the module docstring.

    Args:
        module: ``"reduced"`` (Fig. 2b, with 1x1 reductions and a pool projection) or ``"naive"`` (Fig. 2a,
            the same #1x1/#3x3/#5x5 widths, no reductions, the pool passing its input through).
        aux_logits: build the auxiliary classifier on module a2 (used by :meth:`forward_aux`).
        drop_rate: dropout before the classifier.
        num_classes, in_chans: classifier size and input channels.

    ``min_input_size`` is (C, 8, 8): two 3x3/2 pools (rounding up) leave a 2x2 map.
    """

    def __init__(self, *, module: Literal["reduced", "naive"] = "reduced", aux_logits: bool = False,
                 drop_rate: float = 0.2, num_classes: int = 10, in_chans: int = 3) -> None:
        if module not in ("reduced", "naive"):
            raise InvalidInputError(f"module must be 'reduced' or 'naive', got {module!r}")
        check_rate("drop_rate", drop_rate)
        super().__init__(num_classes=num_classes, in_chans=in_chans, default_input_size=(in_chans, 32, 32),
                         min_input_size=(in_chans, 8, 8))
        self.module = module
        self.aux_logits = bool(aux_logits)
        self.stem = BasicConv2d(in_chans, 32, 3, padding=1, bn_eps=_BN_EPS)
        self.pool1 = nn.MaxPool2d(3, stride=2, padding=1)

        def block(name: str, in_ch: int) -> nn.Module:
            n1, r3, n3, r5, n5, pp = INCEPTION_CIFAR_CFG[name]
            if module == "naive":
                return InceptionNaive(in_ch, n1, n3, n5, batch_norm=True)
            return Inception(in_ch, n1, r3, n3, r5, n5, pp, batch_norm=True)

        self.a1 = block("a1", 32)
        self.a2 = block("a2", self.a1.out_channels)
        self.pool2 = nn.MaxPool2d(3, stride=2, padding=1)
        self.b1 = block("b1", self.a2.out_channels)
        self.b2 = block("b2", self.b1.out_channels)
        self.aux: SmallAux | None = SmallAux(self.a2.out_channels, num_classes) if self.aux_logits else None
        self.num_features = self.b2.out_channels
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(drop_rate)
        self.fc = nn.Linear(self.num_features, num_classes)
        he_init(self, mode="fan_in")

    def _trunk(self, x: torch.Tensor, with_aux: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        aux: list[torch.Tensor] = []
        x = self.pool1(self.stem(x))  # N x 32 x 16 x 16
        x = self.a2(self.a1(x))  # N x 120 x 16 x 16 (naive: 192)
        if with_aux and self.aux is not None:
            aux.append(self.aux(x))
        x = self.pool2(x)  # N x 120 x 8 x 8
        return self.b2(self.b1(x)), aux  # N x 128 x 8 x 8 (naive: 416)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.dropout(torch.flatten(self.avgpool(x), 1))  # N x 128
        return x if pre_logits else self.fc(x)  # N x num_classes

    def aux_heads(self) -> list[nn.Module]:
        return [] if self.aux is None else [self.aux]


@register_model
def inception_cifar(*, num_classes: int = 10, in_chans: int = 3, module: Literal["reduced", "naive"] = "reduced",
                    aux_logits: bool = False, drop_rate: float = 0.2) -> InceptionCifar:
    """A small CIFAR-10 Inception net (Szegedy et al. 2014's modules and auxiliary head, scaled down; ours).

    88,494 parameters with ``module="reduced"``, 559,274 with ``"naive"`` (10 classes, without the
    auxiliary head, which adds 272,778 to the reduced net).
    """
    return InceptionCifar(module=module, aux_logits=aux_logits, drop_rate=drop_rate, num_classes=num_classes,
                          in_chans=in_chans)
