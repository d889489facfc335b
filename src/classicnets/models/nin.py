"""Network in Network (Lin, Chen, Yan 2013, arXiv:1312.4400).

Two ideas, both visible in the code below:

* **mlpconv**: instead of one linear filter per output channel, every receptive
  field is fed through a small multilayer perceptron.  Sliding an MLP over the
  image is the same as a k x k convolution followed by 1x1 convolutions: the 1x1
  convolutions *are* the MLP's hidden and output layers, with weights shared
  across positions (:class:`MlpConv`).
* **global average pooling head**: the last mlpconv block has one output channel
  per class (a "class map"); averaging each map over the image gives the logits.
  There is no fully connected layer, so the head has no parameters beyond that
  last 1x1 convolution, and the network accepts any input at least
  ``min_input_size``.

CIFAR-10 model (``nin_cifar10``, 966,986 parameters, 222.5 M MACs at 32x32)::

    input                                   N x   3 x 32 x 32
    mlpconv 5x5 pad 2, 192 -> 160 -> 96     N x  96 x 32 x 32
    max pool 3/2 (ceil), dropout 0.5        N x  96 x 16 x 16
    mlpconv 5x5 pad 2, 192 -> 192 -> 192    N x 192 x 16 x 16
    pool 3/2 (ceil), dropout 0.5            N x 192 x  8 x  8
    mlpconv 3x3 pad 1, 192 -> 192 -> 10     N x  10 x  8 x  8   (class maps)
    global average pool                     N x  10

ImageNet model (``nin``, 7,595,176 parameters, about 1.06 G MACs at 224x224)::

    input                                   N x    3 x 224 x 224
    mlpconv 11x11/4 VALID, 96 -> 96 -> 96   N x   96 x  54 x  54
    max pool 3/2 VALID                      N x   96 x  26 x  26
    mlpconv 5x5 SAME, 256 -> 256 -> 256     N x  256 x  26 x  26
    max pool 3/2 SAME                       N x  256 x  13 x  13
    mlpconv 3x3 SAME, 384 -> 384 -> 384     N x  384 x  13 x  13
    max pool 3/2 VALID, dropout 0.5         N x  384 x   6 x   6
    mlpconv 3x3 SAME, 1024 -> 1024 -> 1000  N x 1000 x   6 x   6   (class maps)
    global average pool                     N x 1000

ReLU follows every convolution, including the class-map convolution (as in the
authors' released models; ``head_relu=False`` removes that last one).

The split of the uniform interface for a GAP-of-class-maps head:

* ``forward_features(x)`` -> the last feature map *before* the class-map 1x1
  convolution (CIFAR: ``N x 192 x 8 x 8``).  This is what class activation maps
  weight, and what a new head would be trained on.
* ``forward_head(f)`` -> class-map 1x1 convolution (the classifier), its ReLU,
  global average pool: ``N x num_classes``.
* ``forward_head(f, pre_logits=True)`` -> the globally pooled features before the
  classifier (``N x 192``).  Averaging and a 1x1 convolution commute, so with
  ``head_relu=False`` the logits equal ``classifier(pre_logits)``; with the
  default ReLU on the class maps they do not (the ReLU sits between them).
* ``get_classifier()`` -> the class-map 1x1 convolution (an ``nn.Conv2d``, whose
  weight ``num_classes x C x 1 x 1`` is the ``w_k^c`` of a class activation map);
  ``reset_classifier(n)`` replaces it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ..errors import InvalidInputError
from ._registry import register_model
from .base import ClassifierNet, check_rate

__all__ = ["MlpConv", "NiN", "nin", "nin_cifar10"]


class MlpConv(nn.Module):
    """One mlpconv layer: a k x k convolution, then two 1x1 convolutions, ReLU after each.

    The k x k convolution is the MLP's first layer applied to each k x k patch;
    the 1x1 convolutions are its second and third layers, one fully connected
    layer across channels applied at every position with the same weights
    (the paper's "cascaded cross channel parametric pooling", Caffe's ``cccp``
    layers).  Children: ``conv`` (k x k), ``mlp1`` and ``mlp2`` (1x1).

    Args:
        in_ch: input channels.
        channels: output widths ``(a, b, c)`` of the three layers.
        kernel_size, stride, padding: of the k x k convolution (the 1x1 layers
            have stride 1 and no padding).
        final_relu: ``False`` omits the ReLU after ``mlp2``, which makes the
            block's output linear in ``mlp2``'s weights (a plain class-map head).
    """

    def __init__(
        self,
        in_ch: int,
        channels: Sequence[int],
        kernel_size: int,
        *,
        stride: int = 1,
        padding: int = 0,
        final_relu: bool = True,
    ) -> None:
        super().__init__()
        if len(channels) != 3:
            raise InvalidInputError(f"MlpConv needs three widths (a, b, c), got {tuple(channels)}")
        a, b, c = (int(v) for v in channels)
        self.conv = nn.Conv2d(in_ch, a, kernel_size, stride=stride, padding=padding)
        self.act0 = nn.ReLU(inplace=True)
        self.mlp1 = nn.Conv2d(a, b, 1)
        self.act1 = nn.ReLU(inplace=True)
        self.mlp2 = nn.Conv2d(b, c, 1)
        self.act2: nn.Module = nn.ReLU(inplace=True) if final_relu else nn.Identity()
        self.out_channels = c

    def forward_hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The MLP's hidden layers: ``conv`` and ``mlp1`` with their ReLUs."""
        return self.act1(self.mlp1(self.act0(self.conv(x))))

    def forward_last(self, x: torch.Tensor) -> torch.Tensor:
        """The MLP's output layer: ``mlp2`` (and its ReLU unless ``final_relu=False``)."""
        return self.act2(self.mlp2(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_last(self.forward_hidden(x))


# -- configurations ------------------------------------------------------------
@dataclass(frozen=True)
class PoolCfg:
    """A 3x3/2 pooling layer after an mlpconv block."""

    kind: Literal["max", "avg"] = "max"
    kernel_size: int = 3
    stride: int = 2
    padding: int = 0
    ceil_mode: bool = False

    def build(self) -> nn.Module:
        if self.kind == "max":
            return nn.MaxPool2d(self.kernel_size, self.stride, self.padding, ceil_mode=self.ceil_mode)
        return nn.AvgPool2d(self.kernel_size, self.stride, self.padding, ceil_mode=self.ceil_mode)


@dataclass(frozen=True)
class StageCfg:
    """An mlpconv block, optionally followed by a pool and dropout.

    The last stage lists only its two hidden widths: its output width is the
    number of classes.
    """

    channels: tuple[int, ...]
    kernel_size: int
    stride: int = 1
    padding: int = 0
    pool: PoolCfg | None = None
    dropout: bool = False


# Caffe rounds pooled sizes up (ceil_mode), which is what takes 32 -> 16 -> 8 and
# gives the published 222.5 M MACs (floor rounding would give 32 -> 15 -> 7).
_CIFAR_MAX = PoolCfg("max", ceil_mode=True)
_CIFAR_AVG = PoolCfg("avg", ceil_mode=True)


def _cifar10_cfg(pool2: Literal["max", "avg"]) -> list[StageCfg]:
    return [
        StageCfg((192, 160, 96), 5, padding=2, pool=_CIFAR_MAX, dropout=True),
        StageCfg((192, 192, 192), 5, padding=2, pool=_CIFAR_MAX if pool2 == "max" else _CIFAR_AVG,
                 dropout=True),
        StageCfg((192, 192), 3, padding=1),
    ]


# VALID pools: no padding, floor rounding.  The SAME pool must give ceil(n / 2)
# outputs; a symmetric 1-pixel pad does that for every n (TensorFlow would pad
# only the bottom/right for even n, which shifts the windows by one pixel but
# gives the same size).  Max pooling pads with -inf, so the pad never wins.
_VALID_MAX = PoolCfg("max")
_SAME_MAX = PoolCfg("max", padding=1)

_IMAGENET_CFG: list[StageCfg] = [
    StageCfg((96, 96, 96), 11, stride=4, padding=0, pool=_VALID_MAX),     # conv VALID
    StageCfg((256, 256, 256), 5, padding=2, pool=_SAME_MAX),              # conv SAME
    StageCfg((384, 384, 384), 3, padding=1, pool=_VALID_MAX, dropout=True),
    StageCfg((1024, 1024), 3, padding=1),
]


# -- the model -----------------------------------------------------------------
class NiN(ClassifierNet):
    """A stack of mlpconv blocks with a global-average-pooled class-map head.

    Children: ``features`` (an ``nn.Sequential`` named ``block1``, ``pool1``,
    ``drop1``, ``block2``, ...) holds every block but the last; ``final_block``
    is the last mlpconv, whose ``mlp2`` is the classifier.  See the module
    docstring for what ``forward_features`` / ``forward_head`` return.
    """

    def __init__(
        self,
        stages: Sequence[StageCfg],
        *,
        num_classes: int,
        in_chans: int = 3,
        drop_rate: float = 0.5,
        head_relu: bool = True,
        default_input_size: tuple[int, int, int],
        min_input_size: tuple[int, int, int],
    ) -> None:
        super().__init__(
            num_classes=num_classes, in_chans=in_chans,
            default_input_size=default_input_size, min_input_size=min_input_size,
        )
        check_rate("drop_rate", drop_rate)
        *body, last = stages
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        ch = self.in_chans
        for i, st in enumerate(body, start=1):
            block = MlpConv(ch, st.channels, st.kernel_size, stride=st.stride, padding=st.padding)
            layers[f"block{i}"] = block
            ch = block.out_channels
            if st.pool is not None:
                layers[f"pool{i}"] = st.pool.build()
            if st.dropout:
                layers[f"drop{i}"] = nn.Dropout(drop_rate)
        self.features = nn.Sequential(layers)
        self.final_block = MlpConv(
            ch, (*last.channels, self.num_classes), last.kernel_size,
            stride=last.stride, padding=last.padding, final_relu=head_relu,
        )
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.num_features = last.channels[-1]
        _init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)                      # CIFAR: N x 192 x 8 x 8
        return self.final_block.forward_hidden(x)  # CIFAR: N x 192 x 8 x 8 (before the class maps)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if pre_logits:
            return self.global_pool(x).flatten(1)  # N x C
        x = self.final_block.forward_last(x)       # N x num_classes x H x W (class maps)
        return self.global_pool(x).flatten(1)      # N x num_classes

    def get_classifier(self) -> nn.Conv2d:
        """The class-map 1x1 convolution (``final_block.mlp2``)."""
        return self.final_block.mlp2

    def reset_classifier(self, num_classes: int) -> None:
        if num_classes < 1:
            raise InvalidInputError(f"num_classes must be >= 1, got {num_classes}")
        old = self.final_block.mlp2
        self.final_block.mlp2 = nn.Conv2d(
            old.in_channels, num_classes, 1, device=old.weight.device, dtype=old.weight.dtype
        )
        _init_conv(self.final_block.mlp2)
        self.final_block.out_channels = num_classes
        self.num_classes = int(num_classes)


def _init_conv(m: nn.Conv2d) -> None:
    # He initialization keeps the activation scale through the ReLU stack (no BN here).
    nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
    if m.bias is not None:
        nn.init.zeros_(m.bias)


def _init_weights(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            _init_conv(m)


# -- builders ------------------------------------------------------------------
@register_model
def nin_cifar10(
    *,
    num_classes: int = 10,
    in_chans: int = 3,
    drop_rate: float = 0.5,
    pool2: Literal["max", "avg"] = "max",
    head_relu: bool = True,
) -> NiN:
    """NIN for CIFAR-10 (Lin et al. 2013, Sec. 4.2): 3 mlpconv blocks + GAP.

    Args:
        num_classes: width of the class-map layer (10; 100 gives the CIFAR-100 model).
        drop_rate: dropout after the first two mlpconv blocks (paper: 0.5).
        pool2: the pool after the second block.  The paper's text follows every
            mlpconv block with max pooling (``"max"``, the default); the authors'
            released Caffe model averages there (``"avg"``).  Both are 3x3/2 with
            Caffe's round-up, so sizes, parameters and MACs are identical.
        head_relu: ReLU on the class maps before averaging (the released models
            have it); ``False`` makes the head linear.

    Inputs of any size >= 4x4 work: the 3x3/2 pools round up, 4 -> 2 -> 1 (the
    second window hangs over the 2x2 map and pools what is there); at 3x3 the
    second pool would get a 1x1 map and produce nothing.
    """
    if pool2 not in ("max", "avg"):
        raise InvalidInputError(f"pool2 must be 'max' or 'avg', got {pool2!r}")
    return NiN(
        _cifar10_cfg(pool2), num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate,
        head_relu=head_relu, default_input_size=(3, 32, 32), min_input_size=(3, 4, 4),
    )


@register_model
def nin(
    *,
    num_classes: int = 1000,
    in_chans: int = 3,
    drop_rate: float = 0.5,
    head_relu: bool = True,
) -> NiN:
    """NIN for ImageNet (Lin et al. 2013; the authors' 4-block model): 7,595,176 parameters.

    About 1.06 G MACs at 224x224.  Padding: VALID on the 11x11/4 convolution,
    on the first and third max pools and on the global pool; SAME elsewhere (the
    lecture's construction; 224 -> 54 -> 26 -> 13 -> 6 -> 1).

    Minimum input 51x51: 51 -> conv 11x11/4 VALID -> 11 -> pool VALID -> 5 ->
    pool SAME -> 3 -> pool VALID -> 1 (at 50 the third pool has nothing to pool).

    Args:
        drop_rate: dropout before the last mlpconv block (0.5).
        head_relu: ReLU on the class maps before averaging; ``False`` makes the head linear.
    """
    return NiN(
        _IMAGENET_CFG, num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate,
        head_relu=head_relu, default_input_size=(3, 224, 224), min_input_size=(3, 51, 51),
    )


# -- the fully connected control of the GAP head --------------------------------------------------------
class NiNFC(ClassifierNet):
    """Network in Network's trunk with a fully connected classifier instead of global average pooling.

    The trunk is built by the NIN builder ``base`` (same layers, same
    initialization, same state-dict keys ``features.*`` and ``final_block.conv`` /
    ``final_block.mlp1``); its class-map layer (``final_block.mlp2``) is replaced
    by ``fc``: the last hidden feature map (``N x C x h x w``) flattened, then one
    ``nn.Linear(C * h * w, num_classes)``.  The linear layer fixes ``h x w``, so the
    network accepts exactly ``input_size x input_size`` images (the point of the
    comparison).

    For ``base="nin"`` at 224x224: 1024 x 6 x 6 features, an fc of 36,864 x 1000
    (36.9M weights) in place of the 1024 x 1000 class-map layer (1.0M).
    """

    def __init__(self, *, base: str = "nin", num_classes: int = 1000, in_chans: int = 3, input_size: int = 224,
                 drop_rate: float = 0.5) -> None:
        if base not in ("nin", "nin_cifar10"):
            raise InvalidInputError(f"nin_fc: base must be 'nin' or 'nin_cifar10', got {base!r}")
        build = nin if base == "nin" else nin_cifar10
        trunk = build(num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate)
        super().__init__(num_classes=num_classes, in_chans=in_chans,
                         default_input_size=(in_chans, input_size, input_size),
                         min_input_size=(in_chans, input_size, input_size))
        lo = trunk.min_input_size[1]
        if input_size < lo:
            raise InvalidInputError(f"nin_fc: input_size must be >= {lo} for {base}, got {input_size}")
        self.base = base
        self.input_size = int(input_size)
        self.features = trunk.features
        fb = trunk.final_block
        self.final_block = nn.Sequential(OrderedDict(conv=fb.conv, act0=fb.act0, mlp1=fb.mlp1, act1=fb.act1))
        with torch.device("meta"):
            probe = build(num_classes=1, in_chans=in_chans)
            c, h, w = probe.forward_features(torch.empty(1, in_chans, input_size, input_size)).shape[1:]
        self.feature_shape = (int(c), int(h), int(w))
        self.num_features = int(c * h * w)
        self.fc = nn.Linear(self.num_features, num_classes)  # N x num_classes

    def check_input(self, x: torch.Tensor) -> None:
        super().check_input(x)
        s = self.input_size
        if x.shape[2] != s or x.shape[3] != s:
            raise InvalidInputError(
                f"NiNFC's fully connected head was built for {s}x{s} inputs ({self.num_features:,} features); "
                f"got {x.shape[2]}x{x.shape[3]}. A fully connected classifier accepts only its training size; "
                f"global average pooling (model {self.base!r}) accepts any.")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_block(self.features(x))  # N x C x h x w

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(x, 1)  # N x (C * h * w)
        return x if pre_logits else self.fc(x)



@register_model
def nin_fc(*, num_classes: int = 1000, in_chans: int = 3, base: str = "nin", input_size: int = 224,
           drop_rate: float = 0.5) -> NiNFC:
    """NIN's trunk with a fully connected head (the ``gap`` experiment's control); 43,435,176 params at 224.

    ``base="nin"`` (ImageNet NIN) or ``"nin_cifar10"``; accepts exactly
    ``input_size`` x ``input_size`` inputs.  Not a published model: the control of
    the ``gap`` experiment, like the "mlpconv + fully connected" head of the NIN paper's Table 5.
    """
    return NiNFC(base=base, num_classes=num_classes, in_chans=in_chans, input_size=input_size, drop_rate=drop_rate)
