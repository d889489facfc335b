"""Pre-activation ResNets for CIFAR (He, Zhang, Ren & Sun 2016, "Identity Mappings in Deep Residual
Networks", arXiv 1603.05027), and the pre-activation blocks the Wide ResNets reuse.

A full pre-activation unit (Fig. 4e) moves BN and ReLU in front of each convolution, so nothing acts on
the sum: ``x_{l+1} = x_l + F(x_l)``, ``F = conv(ReLU(BN(conv(ReLU(BN(x))))))``. Two special cases, as in
the paper's Sec. 4.1 and the authors' code (``resnet-pre-act.lua``):

* the first unit after the stand-alone ``conv1`` takes its BN-ReLU *before* splitting into the two
  paths, so its projection reads the activated input ("both_preact"); the first unit of each later
  stage activates only its residual branch and projects the raw sum ("half_preact");
* the last unit is followed by an extra BN-ReLU (``bn_final``) before the global average pool.

Depth 6n + 2 with basic units (two 3x3 convs; widths 16/32/64: ``preact_resnet20/56/110``) or 9n + 2
with bottleneck units (1x1 reduce, 3x3, 1x1 expand; output widths 64/128/256, four times the inner
width: ``preact_resnet164/1001``). Where a unit changes the shape its shortcut is a 1x1 projection
without BN (the authors' code: ResNet-164 then has exactly the 1,703,258 parameters of their logs),
elsewhere the identity. The lesion switch of :class:`~classicnets.models.resnet.ResidualBlock` holds
as for the original nets: with ``residual_enabled = False`` a unit with an identity shortcut returns its
input exactly (no ReLU follows the addition).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..errors import InvalidInputError
from ._registry import register_builder
from .base import ClassifierNet, check_rate, new_linear_like
from .layers import he_init
from .resnet import ResidualBlock


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)


class PreActBlock(ResidualBlock):
    """A full pre-activation unit: ``shortcut(x) + F(x)``, no activation after the sum.

    Subclasses build ``pre`` (the first BN of the unit), the branch after it, and :meth:`branch`.
    ``preact_shortcut`` (only with a projection): the shortcut reads ``ReLU(BN(x))`` instead of ``x``
    (the first unit of a pre-activation ResNet, and every projecting unit of a Wide ResNet).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, preact_shortcut: bool) -> None:
        super().__init__(in_channels, out_channels, stride, "B")
        self.pre = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=False)  # x is the shortcut's input too: never overwrite it
        self.preact_shortcut = preact_shortcut and self.changes_shape
        self.downsample = _conv(in_channels, out_channels, 1, stride) if self.changes_shape else nn.Identity()

    def branch(self, a: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """The residual branch after the unit's first BN-ReLU (``a``)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.relu(self.pre(x))
        identity = self.downsample(a if self.preact_shortcut else x)
        if not self._residual_enabled:
            return identity
        return self.branch(a) + identity

    def residual_branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.branch(self.relu(self.pre(x)))

    def extra_repr(self) -> str:
        return super().extra_repr() + (", preact_shortcut=True" if self.preact_shortcut else "")


class PreActBasicBlock(PreActBlock):
    """BN-ReLU-conv3x3 (stride) - BN-ReLU - [dropout] - conv3x3; ``drop_rate`` for the Wide ResNets."""

    def __init__(self, in_channels: int, channels: int, *, stride: int = 1, preact_shortcut: bool = False,
                 drop_rate: float = 0.0) -> None:
        super().__init__(in_channels, channels, stride, preact_shortcut)
        check_rate("drop_rate", drop_rate)
        self.conv1 = _conv(in_channels, channels, 3, stride)
        self.bn2 = nn.BatchNorm2d(channels)
        self.dropout = nn.Dropout(drop_rate) if drop_rate else nn.Identity()
        self.conv2 = _conv(channels, channels, 3)

    @property
    def last_norm(self) -> nn.Module:
        """The module that ends the residual branch: ``conv2`` (no BN follows it in a pre-activation unit)."""
        return self.conv2

    def branch(self, a: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.dropout(self.relu(self.bn2(self.conv1(a)))))


class PreActBottleneck(PreActBlock):
    """BN-ReLU-conv1x1 - BN-ReLU-conv3x3 (stride) - BN-ReLU-conv1x1 (x4); ``channels`` is the inner width."""

    expansion = 4

    def __init__(self, in_channels: int, channels: int, *, stride: int = 1, preact_shortcut: bool = False,
                 drop_rate: float = 0.0) -> None:
        super().__init__(in_channels, channels * self.expansion, stride, preact_shortcut)
        check_rate("drop_rate", drop_rate)
        self.conv1 = _conv(in_channels, channels, 1)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv2 = _conv(channels, channels, 3, stride)
        self.bn3 = nn.BatchNorm2d(channels)
        self.dropout = nn.Dropout(drop_rate) if drop_rate else nn.Identity()
        self.conv3 = _conv(channels, channels * self.expansion, 1)

    @property
    def last_norm(self) -> nn.Module:
        """The module that ends the residual branch: ``conv3`` (no BN follows it in a pre-activation unit)."""
        return self.conv3

    def branch(self, a: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.relu(self.bn2(self.conv1(a))))
        return self.conv3(self.dropout(self.relu(self.bn3(out))))


class PreActResNet(ClassifierNet):
    """A CIFAR network of pre-activation units: ``conv1`` (3x3, 16), ``layer1`` .. ``layer3`` on 32x32,
    16x16 and 8x8 maps, ``bn_final`` + ReLU, global average pool, ``fc``.

    Args:
        block: :class:`PreActBasicBlock` or :class:`PreActBottleneck`.
        blocks: units per stage.
        widths: the three stages' inner widths (basic: their outputs; bottleneck: a quarter of them).
        num_classes, in_chans: classifier size (10) and input channels (3).
        first_preact_shortcut: the first unit's projection reads the activated input (the pre-act ResNets'
            "both_preact"); the Wide ResNets do so in every projecting unit (``all_preact_shortcuts``).
        drop_rate: dropout between a unit's convolutions (Wide ResNets; 0 for the pre-act ResNets).

    He-normal convs (fan_out: the authors' ``MSRinit``), BN weight 1 and bias 0, zero fc bias.
    ``default_input_size`` is (C, 32, 32), ``min_input_size`` (C, 8, 8) (total stride 4).
    """

    def __init__(self, block: type[PreActBlock], blocks: int, widths: tuple[int, int, int], *,
                 num_classes: int = 10, in_chans: int = 3, first_preact_shortcut: bool = True,
                 all_preact_shortcuts: bool = False, drop_rate: float = 0.0) -> None:
        super().__init__(num_classes=num_classes, in_chans=in_chans, default_input_size=(in_chans, 32, 32),
                         min_input_size=(in_chans, 8, 8))
        self.depth: int | None = None  # set by the builders (preact_cifar_resnet, wide_resnet)
        self.widen_factor: int | None = None  # Wide ResNets only
        self.conv1 = _conv(in_chans, 16, 3)
        cin, stages = 16, []
        for i, width in enumerate(widths):
            units = []
            for j in range(blocks):
                first = i == 0 and j == 0
                units.append(block(cin, width, stride=2 if i > 0 and j == 0 else 1, drop_rate=drop_rate,
                                   preact_shortcut=all_preact_shortcuts or (first and first_preact_shortcut)))
                cin = width * block.expansion
            stages.append(nn.Sequential(*units))
        self.layer1, self.layer2, self.layer3 = stages
        self.num_features = cin
        self.bn_final = nn.BatchNorm2d(cin)
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        he_init(self, mode="fan_out")
        nn.init.zeros_(self.fc.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)  # N x 16 x 32 x 32
        x = self.layer1(x)  # N x w1 x 32 x 32
        x = self.layer2(x)  # N x w2 x 16 x 16
        x = self.layer3(x)  # N x w3 x 8 x 8
        return self.relu(self.bn_final(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)  # N x w3
        return x if pre_logits else self.fc(x)  # N x num_classes

    def reset_classifier(self, num_classes: int) -> None:
        self.fc = new_linear_like(self.fc, num_classes)
        nn.init.zeros_(self.fc.bias)
        self.num_classes = int(num_classes)


def preact_cifar_resnet(depth: int, *, bottleneck: bool = False, num_classes: int = 10,
                        in_chans: int = 3) -> PreActResNet:
    """A pre-activation CIFAR ResNet of any depth: 6n + 2 with basic units, 9n + 2 with bottlenecks.

    ``preact_cifar_resnet(164, bottleneck=True)`` is ``preact_resnet164``. A depth the unit type cannot
    make is refused with the valid ones.
    """
    per_unit = 9 if bottleneck else 6
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < per_unit + 2 or (depth - 2) % per_unit:
        kind = "bottleneck" if bottleneck else "basic"
        raise InvalidInputError(f"a pre-activation CIFAR ResNet with {kind} units has depth {per_unit}n + 2 "
                                f"with n >= 1 (e.g. {', '.join(str(per_unit * n + 2) for n in (1, 2, 3, 18))}); "
                                f"got {depth!r}")
    block = PreActBottleneck if bottleneck else PreActBasicBlock
    widths = (16, 32, 64)
    net = PreActResNet(block, (depth - 2) // per_unit, widths, num_classes=num_classes, in_chans=in_chans)
    net.depth = depth
    return net


def _builder(depth: int, bottleneck: bool, doc: str) -> Callable[..., PreActResNet]:
    def build(*, num_classes: int = 10, in_chans: int = 3) -> PreActResNet:
        return preact_cifar_resnet(depth, bottleneck=bottleneck, num_classes=num_classes, in_chans=in_chans)

    return register_builder(build, f"preact_resnet{depth}", doc)


_SRC = "He et al. 2016, Identity Mappings"
preact_resnet20 = _builder(20, False, f"Pre-activation ResNet-20 for CIFAR-10 ({_SRC}; basic units, n = 3).")
preact_resnet32 = _builder(32, False, f"Pre-activation ResNet-32 for CIFAR-10 ({_SRC} units at He et al. 2015's "
                                      "depth; basic units, n = 5).")
preact_resnet44 = _builder(44, False, f"Pre-activation ResNet-44 for CIFAR-10 ({_SRC} units at He et al. 2015's "
                                      "depth; basic units, n = 7): the thin deep net of the width experiment.")
preact_resnet56 = _builder(56, False, f"Pre-activation ResNet-56 for CIFAR-10 ({_SRC}; basic units, n = 9).")
preact_resnet110 = _builder(110, False, f"Pre-activation ResNet-110 for CIFAR-10 ({_SRC}, Table 3; basic units, "
                                        "n = 18): the net of Veit et al.'s lesion study.")
preact_resnet164 = _builder(164, True, f"Pre-activation ResNet-164 for CIFAR-10 ({_SRC}, Table 3; bottleneck "
                                       "units, n = 18).")
preact_resnet1001 = _builder(1001, True, f"Pre-activation ResNet-1001 for CIFAR-10 ({_SRC}, Table 3; "
                                         "bottleneck units, n = 111).")
