"""ResNet (He, Zhang, Ren, Sun 2015, "Deep Residual Learning for Image Recognition") and its plain twins.

Two families share one pair of block classes (:class:`BasicBlock`, :class:`Bottleneck`):

* :class:`ResNet`, the ImageNet networks of the paper's Table 1 (``resnet18`` ... ``resnet152``) and the
  plain baselines of its Table 2 (``plain18``, ``plain34``: the same layers, no shortcuts).
* :class:`CifarResNet`, the CIFAR-10 networks of Sec. 4.2 (``resnet20`` ... ``resnet1202``, ``plain20``
  ... ``plain110``, and :func:`cifar_resnet` for any depth 6n+2).

ImageNet, Table 1 (224x224 input; multiply-adds count conv and fc layers only)::

    stage    output   18-layer      34-layer      50-layer          101-layer         152-layer
    conv1    112x112  7x7, 64, stride 2
    conv2_x  56x56    3x3 max pool, stride 2; then
                      [3x3,64]x2    [3x3,64]x3    [1x1,64;3x3,64;1x1,256]x3   x3         x3
    conv3_x  28x28    [3x3,128]x2   x4            [1x1,128;...;1x1,512]x4     x4         x8
    conv4_x  14x14    [3x3,256]x2   x6            [1x1,256;...;1x1,1024]x6    x23        x36
    conv5_x  7x7      [3x3,512]x2   x3            [1x1,512;...;1x1,2048]x3    x3         x3
             1x1      average pool, 1000-d fc, softmax

``conv2_x`` ... ``conv5_x`` are the modules ``layer1`` ... ``layer4``.  Table 2 (10-crop top-1 error, with
identity/zero-padding shortcuts, option A): the deeper plain net is worse, the deeper residual net better.

CIFAR-10, Sec. 4.2 and Table 6 (32x32 input): a 3x3 conv with 16 filters, then three stages of ``n``
basic blocks (2n 3x3 layers each) with {16, 32, 64} filters on {32x32, 16x16, 8x8} maps, global average
pool, 10-way fc; depth = 6n + 2::

    depth   20       32       44       56       110        1202
    n       3        5        7        9        18         200

With option A a ResNet has exactly its plain twin's parameters.  The published parameters, multiply-adds
and errors of every network are in :mod:`classicnets.reference`, and each builder's docstring lists them.

Shortcut options (Sec. 3.3 and Table 3):

* ``"A"``: identity shortcuts; where the shape changes, the input is subsampled by the stride and zero
  channels are appended (:class:`ZeroPadShortcut`, parameter-free).  The paper's CIFAR choice and that of
  its Table 2.
* ``"B"``: identity shortcuts, a 1x1 conv + BN projection where the shape changes.  The default for the
  ImageNet networks (Table 1's parameter counts and torchvision's layout).
* ``"C"``: a 1x1 conv + BN projection on every block.
* ``None``: no shortcut at all -- the "plain" networks.

State dicts use torchvision's key names (``conv1``, ``bn1``, ``layer1.0.conv1``, ...,
``layer2.0.downsample.0`` / ``.1``, ``fc``), so a torchvision ResNet checkpoint loads with
``strict=True`` into the ImageNet models at their defaults (and, for ResNet-50/101/152, at either
``variant``: the stride's position does not change any shape).

Lesion experiments (Veit et al. 2016): the stages are ``nn.Sequential`` (``del model.layer2[3]``,
reordering, slicing all work on a built model), and every block has a ``residual_enabled`` switch that
replaces its residual branch by nothing (see :class:`ResidualBlock`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InvalidInputError
from ._registry import register_builder
from .base import ClassifierNet, new_linear_like

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "CifarResNet",
    "ResNet",
    "ResidualBlock",
    "ZeroPadShortcut",
    "cifar_resnet",
]

Shortcut = Literal["A", "B", "C"]
Variant = Literal["v1", "v1.5"]
Stem = Literal["imagenet", "cifar"]
Init = Literal["kaiming", "glorot"]

_SHORTCUTS = ("A", "B", "C")
_VARIANTS = ("v1", "v1.5")
_STEMS = ("imagenet", "cifar")
_INITS = ("kaiming", "glorot")


def _check_choice(name: str, value: object, choices: Sequence[object]) -> None:
    if value not in choices:
        raise InvalidInputError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


def _check_shortcut(shortcut: object) -> None:
    if shortcut is not None and shortcut not in _SHORTCUTS:
        raise InvalidInputError(
            f"shortcut must be 'A' (zero-padded identity), 'B' (projection where the shape changes) or "
            f"'C' (projection everywhere); got {shortcut!r}. For no shortcut use the plain* models."
        )


# -- layers ----------------------------------------------------------------------
def _conv(in_channels: int, out_channels: int, kernel_size: int, stride: int, bias: bool) -> nn.Conv2d:
    """A square conv with 'same'-style padding (k // 2); no bias when BatchNorm follows it."""
    return nn.Conv2d(
        in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=bias
    )


def _norm(channels: int, batch_norm: bool) -> nn.Module:
    """BatchNorm2d (PyTorch defaults: eps 1e-5, momentum 0.1) or, without BN, an Identity."""
    return nn.BatchNorm2d(channels) if batch_norm else nn.Identity()


class ZeroPadShortcut(nn.Module):
    """Shortcut option A: identity with the spatial size subsampled and zero channels appended.

    ``y = concat(x[:, :, ::stride, ::stride], zeros(N, out - in, H', W'))``.  No parameters; it is a
    module (not a lambda) so the model pickles and shows the choice when printed.  Taking every
    ``stride``-th pixel starting at 0 is the position a 1x1 conv with that stride and no padding reads,
    so options A and B see the same pixels.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise InvalidInputError(
                f"a zero-padding shortcut cannot reduce channels ({in_channels} -> {out_channels})"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        extra = self.out_channels - self.in_channels
        if extra:
            x = F.pad(x, (0, 0, 0, 0, 0, extra))  # (W left/right, H top/bottom, C front/back)
        return x

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


def _make_shortcut(
    shortcut: Shortcut | None, in_channels: int, out_channels: int, stride: int, batch_norm: bool
) -> nn.Module | None:
    """The shortcut module of one block: None (plain), Identity, ZeroPadShortcut, or conv1x1 + BN."""
    if shortcut is None:
        return None
    changes_shape = stride != 1 or in_channels != out_channels
    if shortcut == "C" or (shortcut == "B" and changes_shape):
        # keys downsample.0 (conv, no bias under BN) and downsample.1 (BN), as in torchvision
        return nn.Sequential(
            _conv(in_channels, out_channels, 1, stride, bias=not batch_norm), _norm(out_channels, batch_norm)
        )
    if shortcut == "A" and changes_shape:
        return ZeroPadShortcut(in_channels, out_channels, stride)
    return nn.Identity()


# -- blocks ----------------------------------------------------------------------
class ResidualBlock(nn.Module):
    """The part :class:`BasicBlock` and :class:`Bottleneck` share: shortcut, addition, lesion switch.

    ``forward(x) = relu(F(x) + shortcut(x))``, with ``F`` the residual branch (:meth:`residual_branch`,
    ending in BN with no ReLU).  A plain block (``shortcut=None``) computes ``relu(F(x))``.

    ``residual_enabled`` (default True): set it False to replace the residual branch by nothing, so the
    block returns ``relu(shortcut(x))``.  For a block with an identity shortcut that is exactly ``x``
    (its input is the output of a ReLU, hence non-negative), i.e. the block is deleted from the network
    (the lesion study of Veit et al. 2016); for a shape-changing block only the shortcut (zero padding or
    projection) remains.  A plain block has no shortcut to fall back on: setting its ``residual_enabled``
    to False raises ``ValueError`` (delete the block from its stage instead).

    Read-only facts: ``has_shortcut``, ``changes_shape`` (stride != 1 or channels change),
    ``is_downsampling`` (stride != 1), ``has_projection`` (the shortcut has parameters),
    ``shortcut_type`` ("A", "B", "C" or None).
    """

    expansion: int = 1
    downsample: nn.Module | None

    def __init__(self, in_channels: int, out_channels: int, stride: int, shortcut: Shortcut | None) -> None:
        super().__init__()
        _check_shortcut(shortcut)
        if stride < 1:
            raise InvalidInputError(f"stride must be >= 1, got {stride}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride
        self.shortcut_type: Shortcut | None = shortcut
        self._residual_enabled = True

    # -- read-only facts ----------------------------------------------------
    @property
    def has_shortcut(self) -> bool:
        return self.shortcut_type is not None

    @property
    def changes_shape(self) -> bool:
        return self.stride != 1 or self.in_channels != self.out_channels

    @property
    def is_downsampling(self) -> bool:
        return self.stride != 1

    @property
    def has_projection(self) -> bool:
        return self.downsample is not None and any(True for _ in self.downsample.parameters())

    @property
    def last_norm(self) -> nn.Module:
        """The normalization layer that ends the residual branch (``bn2`` or ``bn3``)."""
        raise NotImplementedError

    # -- the lesion switch --------------------------------------------------
    @property
    def residual_enabled(self) -> bool:
        return self._residual_enabled

    @residual_enabled.setter
    def residual_enabled(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise InvalidInputError(f"residual_enabled must be True or False, got {value!r}")
        if not value and not self.has_shortcut:
            raise InvalidInputError(
                "this is a plain block (no shortcut): with its residual branch removed nothing would "
                "remain. Delete the block from its stage instead, e.g. `del model.layer2[1]`."
            )
        self._residual_enabled = value

    # -- forward ------------------------------------------------------------
    def residual_branch(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """``F(x)``: the stacked layers, up to and including the last BN (no final ReLU)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Branches below are on the module's structure and flags, never on tensor values.
        if self.downsample is None:  # plain block
            return self.relu(self.residual_branch(x))
        identity = self.downsample(x)
        if not self._residual_enabled:
            return torch.relu(identity)  # not in place: `identity` may be the block's input itself
        return self.relu(self.residual_branch(x) + identity)

    def extra_repr(self) -> str:
        s = f"shortcut={self.shortcut_type!r}"
        if not self._residual_enabled:
            s += ", residual_enabled=False"
        return s


class BasicBlock(ResidualBlock):
    """Two 3x3 convs (Fig. 2 left / Fig. 5 left), used by ResNet-18/34 and the CIFAR networks.

    ``conv1`` (3x3, stride) -> ``bn1`` -> ReLU -> ``conv2`` (3x3) -> ``bn2``, then the shortcut is added
    and a ReLU applied.  Output channels = ``channels`` (expansion 1).

    Args:
        in_channels: input channels.
        channels: output channels of both convs.
        stride: stride of ``conv1`` (and of the shortcut).
        shortcut: "A", "B", "C" or None (plain); see the module docstring.
        batch_norm: False drops every BN (``bn1``/``bn2`` become Identity) and gives the convs biases.
    """

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        channels: int,
        *,
        stride: int = 1,
        shortcut: Shortcut | None = "B",
        batch_norm: bool = True,
    ) -> None:
        super().__init__(in_channels, channels * self.expansion, stride, shortcut)
        bias = not batch_norm
        self.conv1 = _conv(in_channels, channels, 3, stride, bias)
        self.bn1 = _norm(channels, batch_norm)
        self.conv2 = _conv(channels, channels, 3, 1, bias)
        self.bn2 = _norm(channels, batch_norm)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _make_shortcut(shortcut, in_channels, self.out_channels, stride, batch_norm)

    @property
    def last_norm(self) -> nn.Module:
        return self.bn2

    def residual_branch(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(out))


class Bottleneck(ResidualBlock):
    """1x1 reduce, 3x3, 1x1 expand (Fig. 5 right), used by ResNet-50/101/152.  Expansion 4.

    ``conv1`` (1x1, ``channels``) -> ``bn1`` -> ReLU -> ``conv2`` (3x3, ``channels``) -> ``bn2`` -> ReLU
    -> ``conv3`` (1x1, ``4 * channels``) -> ``bn3``, plus the shortcut, then ReLU.

    Where the stride sits in a downsampling block (the first block of ``layer2``..``layer4``):

    * ``variant="v1"`` (default): on the first 1x1 conv, as in the paper ("downsampling is performed
      by conv3_1, conv4_1, and conv5_1 with a stride of 2"; its released Caffe models put it on the
      1x1).  The 1x1 then reads one pixel in four, but the block is cheaper: ResNet-50 3.86 G MACs.
    * ``variant="v1.5"``: on the 3x3 conv, as in torchvision (and NVIDIA's "ResNet v1.5"); every
      input pixel reaches the branch output (NVIDIA reports about +0.5% top-1) at 4.09 G MACs for ResNet-50.

    Both variants have exactly the same parameters and state_dict shapes, so either loads the other's
    weights.  The shortcut's stride is the same in both.

    Args:
        in_channels: input channels.
        channels: the bottleneck width (output channels = ``4 * channels``).
        stride: the block's stride, applied to ``conv1`` (v1) or ``conv2`` (v1.5).
        shortcut: "A", "B", "C" or None (plain).
        batch_norm: False drops every BN and gives the convs biases.
        variant: "v1" or "v1.5", see above.
        width_factor: the inner width (``conv1``, ``conv2``) is ``width_factor * channels``; 2 makes the
            wide ResNets of torchvision (``wide_resnet50_2``, its ``width_per_group=128``; Zagoruyko &
            Komodakis 2016, Sec. 5); the output stays ``4 * channels``.
    """

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        channels: int,
        *,
        stride: int = 1,
        shortcut: Shortcut | None = "B",
        batch_norm: bool = True,
        variant: Variant = "v1",
        width_factor: int = 1,
    ) -> None:
        _check_choice("variant", variant, _VARIANTS)
        if isinstance(width_factor, bool) or not isinstance(width_factor, int) or width_factor < 1:
            raise InvalidInputError(f"width_factor must be an integer >= 1, got {width_factor!r}")
        super().__init__(in_channels, channels * self.expansion, stride, shortcut)
        bias = not batch_norm
        stride1, stride3 = (stride, 1) if variant == "v1" else (1, stride)
        self.variant: Variant = variant
        inner = channels * width_factor
        self.conv1 = _conv(in_channels, inner, 1, stride1, bias)
        self.bn1 = _norm(inner, batch_norm)
        self.conv2 = _conv(inner, inner, 3, stride3, bias)
        self.bn2 = _norm(inner, batch_norm)
        self.conv3 = _conv(inner, self.out_channels, 1, 1, bias)
        self.bn3 = _norm(self.out_channels, batch_norm)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _make_shortcut(shortcut, in_channels, self.out_channels, stride, batch_norm)

    @property
    def last_norm(self) -> nn.Module:
        return self.bn3

    def residual_branch(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))

    def extra_repr(self) -> str:
        return f"variant={self.variant!r}, " + super().extra_repr()


# -- shared construction ------------------------------------------------------------
def _make_stage(
    block: type[ResidualBlock], in_channels: int, channels: int, blocks: int, stride: int, **block_kwargs
) -> nn.Sequential:
    """``blocks`` blocks in an nn.Sequential; only the first has the stride (and changes the shape)."""
    layers = []
    for i in range(blocks):
        layers.append(block(in_channels, channels, stride=stride if i == 0 else 1, **block_kwargs))
        in_channels = channels * block.expansion
    return nn.Sequential(*layers)


def _initialize(model: nn.Module, *, init: Init, zero_init_residual: bool,
                kaiming_mode: Literal["fan_in", "fan_out"] = "fan_out") -> None:
    """Weight initialization shared by both families.

    * ``"kaiming"``: convs from N(0, 2 / fan) (He et al. 2015b); the ImageNet models use fan_out, as
      torchvision does, the CIFAR models fan_in, He et al.'s forward-pass form (PyTorch's default for
      ``kaiming_normal_``, used by the common CIFAR references).  The two differ only where a conv
      changes the channel count, most in the 3-channel stem (fan_in 27, fan_out 144 for the CIFAR
      stem); with BN after the stem, a smaller stem weight means a larger stem gradient, so the
      choice shows in gradient-flow measurements (fan_in gives first/last conv gradient ratios of
      about 1.9 / 390 for plain-20 / plain-56 and 1.0 / 1.6 for ResNet-20 / -56 on 256 CIFAR-10
      test images; fan_out about 4.6 / 1,700 and 1.7 / 3.6).  The fc keeps PyTorch's default init.
    * ``"glorot"``: convs and the fc from Xavier-normal N(0, 2 / (fan_in + fan_out)) (Glorot & Bengio
      2010), the usual baseline in gradient-flow experiments.

    Biases (present only without BN) start at 0, BN weight at 1 and bias at 0.  ``zero_init_residual``
    then sets the weight of each block's last BN to 0, so every residual block starts as the identity
    (Goyal et al. 2017, "Accurate, Large Minibatch SGD").
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            if init == "kaiming":
                nn.init.kaiming_normal_(m.weight, mode=kaiming_mode, nonlinearity="relu")
            else:
                nn.init.xavier_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and init == "glorot":
            _glorot_linear(m)
    if zero_init_residual:
        for m in model.modules():
            if isinstance(m, ResidualBlock):
                norm = m.last_norm
                if not isinstance(norm, nn.BatchNorm2d):
                    raise InvalidInputError("zero_init_residual needs batch_norm=True (it zeroes BN weights)")
                nn.init.zeros_(norm.weight)


def _glorot_linear(m: nn.Linear) -> None:
    nn.init.xavier_normal_(m.weight)
    if m.bias is not None:
        nn.init.zeros_(m.bias)


def _check_flags(*, zero_init_residual: bool, plain: bool, init: str) -> None:
    _check_choice("init", init, _INITS)
    if zero_init_residual and plain:
        raise InvalidInputError(
            "zero_init_residual zeroes the last BN of each residual branch; a plain network has no "
            "shortcut, so it would output zeros. Use it only with shortcut 'A', 'B' or 'C'."
        )


# -- ImageNet ----------------------------------------------------------------------
class ResNet(ClassifierNet):
    """The ImageNet ResNets of He et al. 2015, Table 1, and their plain twins (``shortcut=None``).

    Stem ``conv1`` -> ``bn1`` -> ReLU -> ``maxpool``, stages ``layer1`` .. ``layer4`` (64, 128, 256, 512
    channels x ``block.expansion``; stride 1, 2, 2, 2), global average pool ``avgpool``, ``fc``.

    Args:
        block: :class:`BasicBlock` (18, 34 layers) or :class:`Bottleneck` (50, 101, 152).
        layers: blocks per stage, e.g. ``(3, 4, 6, 3)``.
        num_classes: classifier size (1000).
        in_chans: input channels (3).
        shortcut: "B" (default, Table 1's counts), "A", "C", or None for the plain network.
        variant: "v1" (stride on the bottleneck's first 1x1, the paper's) or "v1.5" (on its 3x3,
            torchvision's); see :class:`Bottleneck`.  No effect with BasicBlock.
        stem: "imagenet" (7x7/2 conv with 64 filters + 3x3/2 max pool: 224 -> 56) or "cifar" (3x3/1
            conv, no max pool) to train ResNet-18/50 on 32x32 images.  The "cifar" stem changes
            ``conv1.weight`` to 3x3, so ImageNet checkpoints no longer fit it.
        zero_init_residual: zero the last BN weight of every block (Goyal et al. 2017); off by default
            as in the paper.
        width_factor: the bottleneck's inner width multiplier (2: torchvision's ``wide_resnet50_2`` and
            ``wide_resnet101_2``); Bottleneck only.

    ``min_input_size`` is the total stride, so the last feature map is at least 1x1: (C, 32, 32) with
    the ImageNet stem (2 x 2 x 2^3), (C, 8, 8) with the CIFAR stem (2^3).  ``default_input_size`` is
    (C, 224, 224), or (C, 32, 32) with the CIFAR stem.
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: Sequence[int],
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        shortcut: Shortcut | None = "B",
        variant: Variant = "v1",
        stem: Stem = "imagenet",
        zero_init_residual: bool = False,
        width_factor: int = 1,
    ) -> None:
        _check_shortcut(shortcut)
        _check_choice("variant", variant, _VARIANTS)
        _check_choice("stem", stem, _STEMS)
        _check_flags(zero_init_residual=zero_init_residual, plain=shortcut is None, init="kaiming")
        if block not in (BasicBlock, Bottleneck):
            raise InvalidInputError(f"block must be BasicBlock or Bottleneck, got {block!r}")
        if len(layers) != 4 or any(int(n) < 1 for n in layers):
            raise InvalidInputError(f"layers must be 4 positive block counts, got {tuple(layers)}")
        imagenet_stem = stem == "imagenet"
        super().__init__(
            num_classes=num_classes,
            in_chans=in_chans,
            default_input_size=(in_chans, 224, 224) if imagenet_stem else (in_chans, 32, 32),
            min_input_size=(in_chans, 32, 32) if imagenet_stem else (in_chans, 8, 8),
        )
        self.shortcut: Shortcut | None = shortcut
        self.variant: Variant = variant
        self.stem: Stem = stem
        self.layers = tuple(int(n) for n in layers)

        if imagenet_stem:
            self.conv1 = nn.Conv2d(in_chans, 64, kernel_size=7, stride=2, padding=3, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_chans, 64, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool: nn.Module = (
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1) if imagenet_stem else nn.Identity()
        )

        kw: dict[str, object] = {"shortcut": shortcut}
        if block is Bottleneck:
            kw["variant"] = variant
            kw["width_factor"] = width_factor
        elif width_factor != 1:
            raise InvalidInputError("width_factor widens a Bottleneck; BasicBlock nets take only width_factor=1")
        self.width_factor = width_factor
        e = block.expansion
        self.layer1 = _make_stage(block, 64, 64, self.layers[0], 1, **kw)
        self.layer2 = _make_stage(block, 64 * e, 128, self.layers[1], 2, **kw)
        self.layer3 = _make_stage(block, 128 * e, 256, self.layers[2], 2, **kw)
        self.layer4 = _make_stage(block, 256 * e, 512, self.layers[3], 2, **kw)
        self.num_features = 512 * e
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(self.num_features, num_classes)
        _initialize(self, init="kaiming", zero_init_residual=zero_init_residual)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        # shapes for a 224x224 input with the ImageNet stem (32x32 with the CIFAR stem: 32, 32, 16, 8, 4)
        x = self.relu(self.bn1(self.conv1(x)))  # N x 64 x 112 x 112
        x = self.maxpool(x)  # N x 64 x 56 x 56
        x = self.layer1(x)  # N x 64e x 56 x 56   (e = block expansion, 1 or 4)
        x = self.layer2(x)  # N x 128e x 28 x 28
        x = self.layer3(x)  # N x 256e x 14 x 14
        x = self.layer4(x)  # N x 512e x 7 x 7
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)  # N x 512e
        return x if pre_logits else self.fc(x)  # N x num_classes


# -- CIFAR -------------------------------------------------------------------------
class CifarResNet(ClassifierNet):
    """The CIFAR-10 ResNets of He et al. 2015, Sec. 4.2: depth 6n + 2, three stages of n BasicBlocks.

    ``conv1`` (3x3, 16) -> ``bn1`` -> ReLU, ``layer1`` .. ``layer3`` (16, 32, 64 channels on 32x32,
    16x16, 8x8 maps), global average pool ``avgpool``, ``fc``.  Key names as in :class:`ResNet`.

    Args:
        depth: 6n + 2 with n >= 1 (20, 32, 44, 56, 110, 1202 in the paper).
        num_classes: classifier size (10).
        in_chans: input channels (3).
        shortcut: "A" (default, the paper's CIFAR choice: parameter-free, so a ResNet has exactly its
            plain twin's parameters), "B" (projection where the shape changes), "C" (projection on
            every block), or None for the plain network.
        batch_norm: False removes every BN layer (they become Identity, which holds no parameters or
            buffers) and gives every conv a bias: the un-normalized networks of gradient-flow
            experiments.
        init: "kaiming" (default: He-normal convs, fan_in as in the common CIFAR references; PyTorch's
            default fc init) or "glorot" (Xavier-normal convs and fc, zero biases).
        zero_init_residual: zero the last BN weight of every block (Goyal et al. 2017); needs BN and
            shortcuts.

    ``default_input_size`` is (C, 32, 32).  ``min_input_size`` is (C, 8, 8): a quarter of the paper's
    side, leaving a 2x2 last map (the total stride is 4), so every stage still works on more than one
    position and the stride-2 subsampling of the shortcuts keeps real pixels.
    """

    def __init__(
        self,
        depth: int,
        *,
        num_classes: int = 10,
        in_chans: int = 3,
        shortcut: Shortcut | None = "A",
        batch_norm: bool = True,
        init: Init = "kaiming",
        zero_init_residual: bool = False,
    ) -> None:
        n = _cifar_blocks_per_stage(depth)
        _check_shortcut(shortcut)
        _check_flags(zero_init_residual=zero_init_residual, plain=shortcut is None, init=init)
        if zero_init_residual and not batch_norm:
            raise InvalidInputError("zero_init_residual needs batch_norm=True (it zeroes a BN weight)")
        super().__init__(
            num_classes=num_classes,
            in_chans=in_chans,
            default_input_size=(in_chans, 32, 32),
            min_input_size=(in_chans, 8, 8),
        )
        self.depth = depth
        self.blocks_per_stage = n
        self.shortcut: Shortcut | None = shortcut
        self.batch_norm = batch_norm
        self.init: Init = init

        self.conv1 = _conv(in_chans, 16, 3, 1, bias=not batch_norm)
        self.bn1 = _norm(16, batch_norm)
        self.relu = nn.ReLU(inplace=True)
        kw = {"shortcut": shortcut, "batch_norm": batch_norm}
        self.layer1 = _make_stage(BasicBlock, 16, 16, n, 1, **kw)
        self.layer2 = _make_stage(BasicBlock, 16, 32, n, 2, **kw)
        self.layer3 = _make_stage(BasicBlock, 32, 64, n, 2, **kw)
        self.num_features = 64
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)
        _initialize(self, init=init, zero_init_residual=zero_init_residual, kaiming_mode="fan_in")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))  # N x 16 x 32 x 32
        x = self.layer1(x)  # N x 16 x 32 x 32
        x = self.layer2(x)  # N x 32 x 16 x 16
        x = self.layer3(x)  # N x 64 x 8 x 8
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)  # N x 64
        return x if pre_logits else self.fc(x)  # N x num_classes

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        self.fc = new_linear_like(self.fc, num_classes)
        if self.init == "glorot":
            _glorot_linear(self.fc)
        self.num_classes = int(num_classes)


def _cifar_blocks_per_stage(depth: object) -> int:
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise InvalidInputError(
            f"a CIFAR ResNet has depth 6n + 2 with n >= 1 (8, 14, 20, 26, 32, ..., 56, 110, 1202); "
            f"got {depth!r}"
        )
    return (depth - 2) // 6


def cifar_resnet(depth: int, *, plain: bool = False, **options) -> CifarResNet:
    """A CIFAR ResNet (He et al. 2015, Sec. 4.2) of any depth 6n + 2, or its plain twin.

    Args:
        depth: 6n + 2 with n >= 1; anything else raises ``ValueError``.
        plain: True builds the network without shortcuts (then ``shortcut`` must not be given).
        **options: :class:`CifarResNet` options (``num_classes``, ``in_chans``, ``shortcut``,
            ``batch_norm``, ``init``, ``zero_init_residual``).

    With option A (or plain) and 10 classes it has exactly ``269,722 + 97,216 * (n - 3)`` parameters:
    each step of n adds one 16-, one 32- and one 64-channel block (two 3x3 convs and two BNs each).
    """
    if plain:
        if "shortcut" in options:
            raise InvalidInputError("plain=True builds a network without shortcuts; do not pass shortcut")
        options["shortcut"] = None
    return CifarResNet(depth, **options)


# -- registered builders -------------------------------------------------------------
# Each builder below is made from a row of one of these tables, so its signature, defaults and
# docstring are written once per family; its published figures come from classicnets.reference
# (the registry appends them to the docstring).

#: Table 1: the block and the blocks per stage (``layer1`` .. ``layer4``) of each ImageNet depth.
IMAGENET_LAYOUTS: dict[int, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


def _resnet_builder(depth: int, doc: str, width_factor: int = 1) -> Callable[..., ResNet]:
    block, layers = IMAGENET_LAYOUTS[depth]

    def build(
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        shortcut: Shortcut = "B",
        variant: Variant = "v1",
        stem: Stem = "imagenet",
        zero_init_residual: bool = False,
    ) -> ResNet:
        return ResNet(block, layers, num_classes=num_classes, in_chans=in_chans, shortcut=shortcut,
                      variant=variant, stem=stem, zero_init_residual=zero_init_residual, width_factor=width_factor)

    name = f"resnet{depth}" if width_factor == 1 else f"wide_resnet{depth}_{width_factor}"
    return register_builder(build, name, doc)


def _plain_builder(depth: int, doc: str) -> Callable[..., ResNet]:
    block, layers = IMAGENET_LAYOUTS[depth]

    def build(*, num_classes: int = 1000, in_chans: int = 3, stem: Stem = "imagenet") -> ResNet:
        return ResNet(block, layers, num_classes=num_classes, in_chans=in_chans, shortcut=None, stem=stem)

    return register_builder(build, f"plain{depth}", doc)


def _cifar_resnet_builder(depth: int, doc: str) -> Callable[..., CifarResNet]:
    def build(
        *,
        num_classes: int = 10,
        in_chans: int = 3,
        shortcut: Shortcut = "A",
        batch_norm: bool = True,
        init: Init = "kaiming",
        zero_init_residual: bool = False,
    ) -> CifarResNet:
        return CifarResNet(depth, num_classes=num_classes, in_chans=in_chans, shortcut=shortcut,
                           batch_norm=batch_norm, init=init, zero_init_residual=zero_init_residual)

    return register_builder(build, f"resnet{depth}", doc)


def _cifar_plain_builder(depth: int, doc: str) -> Callable[..., CifarResNet]:
    def build(*, num_classes: int = 10, in_chans: int = 3, batch_norm: bool = True, init: Init = "kaiming"
              ) -> CifarResNet:
        return CifarResNet(depth, num_classes=num_classes, in_chans=in_chans, shortcut=None,
                           batch_norm=batch_norm, init=init)

    return register_builder(build, f"plain{depth}", doc)


_NO_BOTTLENECK = "``variant`` is accepted for a uniform interface and has no effect (no bottleneck)."
_STRIDE = "``variant``: the stride on the bottleneck's 1x1 (\"v1\", the paper's) or on its 3x3 (\"v1.5\")."

resnet18 = _resnet_builder(18, f"ResNet-18 (He et al. 2015, Table 1): BasicBlock x (2, 2, 2, 2).\n\n{_NO_BOTTLENECK}")
resnet34 = _resnet_builder(34, f"ResNet-34 (He et al. 2015, Table 1): BasicBlock x (3, 4, 6, 3).\n\n{_NO_BOTTLENECK}")
resnet50 = _resnet_builder(50, f"ResNet-50 (He et al. 2015, Table 1): Bottleneck x (3, 4, 6, 3).\n\n{_STRIDE}")
resnet101 = _resnet_builder(101, f"ResNet-101 (He et al. 2015, Table 1): Bottleneck x (3, 4, 23, 3).\n\n{_STRIDE}")
resnet152 = _resnet_builder(152, f"ResNet-152 (He et al. 2015, Table 1): Bottleneck x (3, 8, 36, 3).\n\n{_STRIDE}")
_WIDE = ("{} with the bottleneck's inner width doubled (torchvision's wide ResNet, after Zagoruyko & Komodakis "
         "2016).\n\n    Use ``variant=\"v1.5\"`` for torchvision's stride placement (its weights load strictly).")
wide_resnet50_2 = _resnet_builder(50, _WIDE.format("ResNet-50"), width_factor=2)
wide_resnet101_2 = _resnet_builder(101, _WIDE.format("ResNet-101"), width_factor=2)

plain18 = _plain_builder(18, """Plain-18 (He et al. 2015, Table 2 baseline): ResNet-18's layers without shortcuts.

    11,515,688 params (ResNet-18 minus its three projection shortcuts).""")
plain34 = _plain_builder(34, """Plain-34 (He et al. 2015, Table 2 baseline): ResNet-34's layers without shortcuts.

    21,623,848 params (ResNet-34 minus its three projection shortcuts); worse than plain-18: the
    degradation problem.""")

resnet20 = _cifar_resnet_builder(20, "ResNet-20 for CIFAR-10 (He et al. 2015, Table 6; n = 3).")
resnet32 = _cifar_resnet_builder(32, "ResNet-32 for CIFAR-10 (He et al. 2015, Table 6; n = 5).")
resnet44 = _cifar_resnet_builder(44, "ResNet-44 for CIFAR-10 (He et al. 2015, Table 6; n = 7).")
resnet56 = _cifar_resnet_builder(56, "ResNet-56 for CIFAR-10 (He et al. 2015, Table 6; n = 9).")
resnet110 = _cifar_resnet_builder(110, """ResNet-110 for CIFAR-10 (He et al. 2015, Table 6; n = 18).

    The paper warms up at lr 0.01 for ~400 iterations.""")
resnet1202 = _cifar_resnet_builder(1202, """ResNet-1202 for CIFAR-10 (He et al. 2015, Table 6; n = 200).

    Its error is worse than ResNet-110's: the paper attributes it to overfitting.""")

_PLAIN_CIFAR = "Plain-{0} for CIFAR-10 (He et al. 2015, Sec. 4.2, Fig. 6): ResNet-{0}'s layers, no shortcuts."
plain20 = _cifar_plain_builder(20, _PLAIN_CIFAR.format(20))
plain32 = _cifar_plain_builder(32, _PLAIN_CIFAR.format(32))
plain44 = _cifar_plain_builder(44, _PLAIN_CIFAR.format(44))
plain56 = _cifar_plain_builder(56, _PLAIN_CIFAR.format(56))
plain110 = _cifar_plain_builder(110, _PLAIN_CIFAR.format(110) + "\n\n    Above 60% error in the paper.")
