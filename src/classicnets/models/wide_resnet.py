"""Wide Residual Networks for CIFAR (Zagoruyko & Komodakis 2016, "Wide Residual Networks",
arXiv 1605.07146): fewer, wider pre-activation units.

WRN-d-k has depth d = 6N + 4 (N units per stage, plus ``conv1``, two projections and ``fc`` in the
count) and widen factor k: ``conv1`` (3x3, 16), then three stages of N pre-activation basic units
B(3,3) with widths 16k, 32k, 64k on 32x32, 16x16 and 8x8 maps, BN-ReLU, global average pool, ``fc``.
As in the authors' ``wide-resnet.lua``: where the width changes, the BN-ReLU of the unit is shared by
both paths and the shortcut is a 1x1 conv of the activated input; elsewhere the shortcut is the
identity; dropout (``drop_rate``; the paper's 0.3) sits between the two convs of every unit; no conv
biases. These choices give the exact counts of the authors' logs (WRN-40-4: 8,949,210 parameters).

``wide_resnet50_2``/``wide_resnet101_2`` (torchvision's ImageNet networks, the bottleneck's inner width
doubled) are ImageNet ResNets and live in :mod:`classicnets.models.resnet`.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import InvalidInputError
from ._registry import register_builder
from .preact_resnet import PreActBasicBlock, PreActResNet


def wide_resnet(depth: int, widen_factor: int, drop_rate: float = 0.0, *, num_classes: int = 10,
                in_chans: int = 3) -> PreActResNet:
    """WRN-``depth``-``widen_factor``: depth 6N + 4 (N >= 1), widen factor k >= 1, dropout ``drop_rate``."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
        raise InvalidInputError(f"a Wide ResNet has depth 6N + 4 with N >= 1 (10, 16, 22, 28, 40, ...); got {depth!r}")
    if isinstance(widen_factor, bool) or not isinstance(widen_factor, int) or widen_factor < 1:
        raise InvalidInputError(f"widen_factor must be an integer >= 1, got {widen_factor!r}")
    k = widen_factor
    net = PreActResNet(PreActBasicBlock, (depth - 4) // 6, (16 * k, 32 * k, 64 * k), num_classes=num_classes,
                       in_chans=in_chans, all_preact_shortcuts=True, drop_rate=drop_rate)
    net.depth, net.widen_factor = depth, widen_factor
    return net


def _builder(depth: int, k: int, doc: str) -> Callable[..., PreActResNet]:
    def build(*, num_classes: int = 10, in_chans: int = 3, drop_rate: float = 0.0) -> PreActResNet:
        return wide_resnet(depth, k, drop_rate, num_classes=num_classes, in_chans=in_chans)

    return register_builder(build, f"wrn{depth}_{k}", doc)


_WRN = "WRN-{}-{} for CIFAR (Zagoruyko & Komodakis 2016, {}); ``drop_rate=0.3`` is the paper's dropout."
_SHALLOW = ("WRN-10-{} for CIFAR (ours: the shallowest Wide ResNet, one unit per stage, N = 1; not in the paper): "
            "the width series of the width experiment.")
wrn10_1 = _builder(10, 1, _SHALLOW.format(1))
wrn10_2 = _builder(10, 2, _SHALLOW.format(2))
wrn10_3 = _builder(10, 3, _SHALLOW.format(3))
wrn16_4 = _builder(16, 4, _WRN.format(16, 4, "Table 6; about 2.7M parameters, not printed in the paper"))
wrn16_8 = _builder(16, 8, _WRN.format(16, 8, "Tables 5-6"))
wrn16_10 = _builder(16, 10, _WRN.format(16, 10, "Table 6"))
wrn22_8 = _builder(22, 8, _WRN.format(22, 8, "Table 6"))
wrn28_10 = _builder(28, 10, _WRN.format(28, 10, "Tables 4-6"))
wrn40_1 = _builder(40, 1, _WRN.format(40, 1, "Table 4"))
wrn40_2 = _builder(40, 2, _WRN.format(40, 2, "Table 4"))
wrn40_4 = _builder(40, 4, _WRN.format(40, 4, "Tables 4-5; the wide net of the wide-against-deep comparison"))
wrn40_8 = _builder(40, 8, _WRN.format(40, 8, "Table 4"))
