"""Inception v3 (Szegedy, Vanhoucke, Ioffe, Shlens, Wojna 2015, "Rethinking the
Inception Architecture for Computer Vision", arXiv:1512.00567).

**The paper's ideas** (Sec. 3-7), each a named class or function here:

* Figure 5 (:class:`InceptionA`, 35x35 grid): the 5x5 convolution of the 2014
  module is factorized into two stacked 3x3 convolutions (28% cheaper for the
  same receptive field, Sec. 3.1).
* Figure 6 (:class:`InceptionC`, 17x17 grid): an n x n convolution is
  factorized into a 1 x n followed by an n x 1 (asymmetric factorization,
  Sec. 3.2), with n = 7.
* Figure 7 (:class:`InceptionE`, 8x8 grid): the filter bank is expanded: the
  3x3 outputs are split into parallel 1x3 and 3x1 convolutions whose outputs
  are concatenated, to produce high-dimensional representations on the
  coarsest grid.
* Figure 10 (:class:`InceptionB` 35 -> 17 and :class:`InceptionD` 17 -> 8):
  grid-size reduction by parallel stride-2 convolution and stride-2 pooling
  branches, concatenated, instead of pooling before or after an expensive
  module (Sec. 5).
* Sec. 6 (:class:`InceptionAux`): one auxiliary classifier on the last 17x17
  layer, acting as a regularizer.
* Sec. 7 (:func:`label_smoothing_loss`): label-smoothing regularization with
  epsilon = 0.1.

**The layout built here** is the one of the released TensorFlow model, which
torchvision copied (``Conv2d_1a_3x3`` ... ``Mixed_7c``, ``AuxLogits``, ``fc``);
key names and shapes are torchvision's, so its checkpoints load unchanged.
It differs from the paper's Table 1 in ways the released weights fixed:

* stem: 3x3/2 (32), 3x3 (32), padded 3x3 (64), max pool 3/2, **1x1 (80)**,
  3x3 (192), **max pool 3/2**, where Table 1 lists 3x3 (80), 3x3/2 (192),
  3x3 (288);
* the 35x35 modules keep a true 1x1 -> 5x5 branch next to the double-3x3
  branch of Figure 5 (a real 5x5 here, not a 3x3 named "5x5");
* four Figure-6 modules (``Mixed_6b``..``Mixed_6e``) where Table 1 says five,
  and the 17 -> 8 reduction ``Mixed_7a`` uses a 1x7 / 7x1 branch;
* BatchNorm (eps 1e-3, TensorFlow's default) after every convolution, convs
  without bias; the auxiliary head's fully connected layer is not
  batch-normalized (the paper's "BN-auxiliary" is not in the released model).

Parameters: 23,834,568 without the auxiliary head, 27,161,264 with it; about
5.71 G multiply-adds at 299x299 (the paper: "5 billion multiply-adds, fewer
than 25 million parameters").  21.2% top-1 / 5.6% top-5 single-crop error.

=========================  =====================  ============
stage                      output at 299x299      parameters
=========================  =====================  ============
Conv2d_1a_3x3 3x3/2        32 x 149 x 149         928
Conv2d_2a_3x3 3x3          32 x 147 x 147         9,280
Conv2d_2b_3x3 3x3 pad 1    64 x 147 x 147         18,560
max pool 3/2               64 x 73 x 73
Conv2d_3b_1x1 1x1          80 x 73 x 73           5,280
Conv2d_4a_3x3 3x3          192 x 71 x 71          138,624
max pool 3/2               192 x 35 x 35
Mixed_5b/5c/5d (Fig. 5)    256, 288, 288 x 35 x 35
Mixed_6a (Fig. 10)         768 x 17 x 17
Mixed_6b..6e (Fig. 6)      768 x 17 x 17
Mixed_7a (Fig. 10)         1280 x 8 x 8
Mixed_7b/7c (Fig. 7)       2048 x 8 x 8
avg pool, dropout, fc      1000                   2,049,000
=========================  =====================  ============

Smallest input: 75x75.  The 17 -> 8 reduction (3x3/2, no padding) needs a
3x3 map at ``Mixed_6e``; working back through the stem that is a 75x75 image
(75 -> 37 -> 35 -> 35 -> 17 -> 17 -> 15 -> 7 -> 3 -> 1).  The auxiliary head
(5x5/3 average pool, then a 5x5 conv) needs a 17x17 ``Mixed_6e`` map, i.e. an
image of at least 299x299; :meth:`InceptionV3.forward_aux` checks that.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InvalidInputError
from ._registry import register_model
from .base import ClassifierNet, check_rate, new_linear_like
from .layers import BasicConv2d

# Inception's BatchNorm epsilon (TensorFlow's default); PyTorch's is 1e-5.
BN_EPS = 1e-3
# Smallest input of the auxiliary head: it needs a 17x17 Mixed_6e map (see the module docstring).
AUX_MIN_INPUT = 299


def _trunc_normal_(w: torch.Tensor, std: float) -> None:
    """Fill ``w`` from N(0, std^2) truncated at +-2 std (TensorFlow's truncated_normal).

    Resamples the values outside the bounds (about 4.6% per round), which is an
    order of magnitude faster on CPU than inverting the CDF for 24M weights.
    """
    with torch.no_grad():
        w.normal_(0.0, std)
        if w.is_meta:
            return
        outside = w.abs() > 2 * std
        while bool(outside.any()):
            w[outside] = torch.randn(int(outside.sum()), dtype=w.dtype, device=w.device) * std
            outside = w.abs() > 2 * std


def _conv(
    in_channels: int,
    out_channels: int,
    kernel_size: int | tuple[int, int],
    *,
    stride: int = 1,
    padding: int | tuple[int, int] = 0,
) -> BasicConv2d:
    """Conv (no bias) -> BN (eps 1e-3) -> ReLU: every layer of Inception v3."""
    return BasicConv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bn_eps=BN_EPS)


class InceptionA(nn.Module):
    """Figure 5: the 35x35 module, its 5x5 replaced by two stacked 3x3 convs.

    Branches (output channels): 1x1 (64); 1x1 (48) -> 5x5 (64) (kept by the
    released model, see the module docstring); 1x1 (64) -> 3x3 (96) -> 3x3 (96),
    the Figure-5 factorization of a 5x5; 3x3 average pool -> 1x1
    (``pool_features``).  Output ``224 + pool_features`` channels, same grid.
    """

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = _conv(in_channels, 64, 1)
        self.branch5x5_1 = _conv(in_channels, 48, 1)
        self.branch5x5_2 = _conv(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = _conv(in_channels, 64, 1)
        self.branch3x3dbl_2 = _conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _conv(96, 96, 3, padding=1)
        self.branch_pool = _conv(in_channels, pool_features, 1)
        self.out_channels = 64 + 64 + 96 + pool_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # N x C x 35 x 35
        b1 = self.branch1x1(x)  # N x 64 x 35 x 35
        b5 = self.branch5x5_2(self.branch5x5_1(x))  # N x 64 x 35 x 35
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))  # N x 96 x 35 x 35
        bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))  # N x pool x 35 x 35
        return torch.cat([b1, b5, b3, bp], 1)  # N x (224 + pool) x 35 x 35


class InceptionB(nn.Module):
    """Figure 10: grid reduction 35x35 -> 17x17 (``Mixed_6a``).

    Parallel stride-2 branches, concatenated: 3x3/2 (384); 1x1 (64) -> 3x3 (96)
    -> 3x3/2 (96); 3x3/2 max pool (passes the ``in_channels`` through).
    Output ``480 + in_channels`` channels (768 from 288).
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = _conv(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = _conv(in_channels, 64, 1)
        self.branch3x3dbl_2 = _conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _conv(96, 96, 3, stride=2)
        self.out_channels = 384 + 96 + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # N x 288 x 35 x 35
        b3 = self.branch3x3(x)  # N x 384 x 17 x 17
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))  # N x 96 x 17 x 17
        bp = F.max_pool2d(x, kernel_size=3, stride=2)  # N x 288 x 17 x 17
        return torch.cat([b3, bd, bp], 1)  # N x 768 x 17 x 17


class InceptionC(nn.Module):
    """Figure 6: the 17x17 module with n x n convs factorized into 1 x n and n x 1 (n = 7).

    Branches: 1x1 (192); 1x1 (c7) -> 1x7 (c7) -> 7x1 (192), one factorized
    7x7; 1x1 (c7) -> 7x1 -> 1x7 -> 7x1 -> 1x7 (192), two factorized 7x7s;
    3x3 average pool -> 1x1 (192).  Output 768 channels, same grid.
    ``channels_7x7`` (c7) is 128, 160, 160, 192 in ``Mixed_6b``..``Mixed_6e``.
    """

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = _conv(in_channels, 192, 1)
        self.branch7x7_1 = _conv(in_channels, c7, 1)
        self.branch7x7_2 = _conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = _conv(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = _conv(in_channels, c7, 1)
        self.branch7x7dbl_2 = _conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = _conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = _conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = _conv(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = _conv(in_channels, 192, 1)
        self.out_channels = 4 * 192

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # N x 768 x 17 x 17
        b1 = self.branch1x1(x)  # N x 192 x 17 x 17
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))  # N x 192 x 17 x 17
        bd = self.branch7x7dbl_1(x)  # N x c7 x 17 x 17
        bd = self.branch7x7dbl_3(self.branch7x7dbl_2(bd))  # N x c7 x 17 x 17
        bd = self.branch7x7dbl_5(self.branch7x7dbl_4(bd))  # N x 192 x 17 x 17
        bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))  # N x 192 x 17 x 17
        return torch.cat([b1, b7, bd, bp], 1)  # N x 768 x 17 x 17


class InceptionD(nn.Module):
    """Figure 10: grid reduction 17x17 -> 8x8 (``Mixed_7a``).

    Parallel stride-2 branches, concatenated: 1x1 (192) -> 3x3/2 (320);
    1x1 (192) -> 1x7 (192) -> 7x1 (192) -> 3x3/2 (192); 3x3/2 max pool
    (passes the ``in_channels`` through).  Output ``512 + in_channels``
    channels (1280 from 768).
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = _conv(in_channels, 192, 1)
        self.branch3x3_2 = _conv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = _conv(in_channels, 192, 1)
        self.branch7x7x3_2 = _conv(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = _conv(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = _conv(192, 192, 3, stride=2)
        self.out_channels = 320 + 192 + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # N x 768 x 17 x 17
        b3 = self.branch3x3_2(self.branch3x3_1(x))  # N x 320 x 8 x 8
        b7 = self.branch7x7x3_2(self.branch7x7x3_1(x))  # N x 192 x 17 x 17
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(b7))  # N x 192 x 8 x 8
        bp = F.max_pool2d(x, kernel_size=3, stride=2)  # N x 768 x 8 x 8
        return torch.cat([b3, b7, bp], 1)  # N x 1280 x 8 x 8


class InceptionE(nn.Module):
    """Figure 7: the 8x8 module with the expanded filter bank.

    Branches: 1x1 (320); 1x1 (384) -> [1x3 (384) | 3x1 (384)]; 1x1 (448) ->
    3x3 (384) -> [1x3 (384) | 3x1 (384)]; 3x3 average pool -> 1x1 (192).  The
    bracketed pairs run in parallel on the same input and are concatenated
    (Figure 7's "expanded" outputs), rather than stacked as in Figure 6.
    Output 320 + 768 + 768 + 192 = 2048 channels, same grid.
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch1x1 = _conv(in_channels, 320, 1)
        self.branch3x3_1 = _conv(in_channels, 384, 1)
        self.branch3x3_2a = _conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = _conv(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = _conv(in_channels, 448, 1)
        self.branch3x3dbl_2 = _conv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = _conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = _conv(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = _conv(in_channels, 192, 1)
        self.out_channels = 320 + 2 * 384 + 2 * 384 + 192

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # N x C x 8 x 8
        b1 = self.branch1x1(x)  # N x 320 x 8 x 8
        b3 = self.branch3x3_1(x)  # N x 384 x 8 x 8
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)  # N x 768 x 8 x 8
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))  # N x 384 x 8 x 8
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)  # N x 768 x 8 x 8
        bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))  # N x 192 x 8 x 8
        return torch.cat([b1, b3, bd, bp], 1)  # N x 2048 x 8 x 8


class InceptionAux(nn.Module):
    """The auxiliary classifier on top of the last 17x17 layer (Sec. 6).

    5x5/3 average pool -> 1x1 conv (128) -> 5x5 conv (768) -> global average
    pool -> fully connected (``num_classes``).  Needs a 17x17 input map.
    """

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv0 = _conv(in_channels, 128, 1)
        self.conv1 = _conv(128, 768, 5)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # N x 768 x 17 x 17
        x = F.avg_pool2d(x, kernel_size=5, stride=3)  # N x 768 x 5 x 5
        x = self.conv0(x)  # N x 128 x 5 x 5
        x = self.conv1(x)  # N x 768 x 1 x 1
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)  # N x 768
        return self.fc(x)  # N x num_classes


class InceptionV3(ClassifierNet):
    """Inception v3 in the released (TensorFlow / torchvision) layout.

    Args:
        num_classes: size of the classifier (and of the auxiliary classifier).
        in_chans: input channels.
        aux_logits: build the auxiliary classifier ``AuxLogits`` (3,326,696
            more parameters at 1000 classes).  Default False: ``forward`` never
            uses it, so a model built for inference or fine-tuning carries no
            dead weights and has the 23,834,568 parameters usually quoted.
            Set True to train as the paper did (add its loss, weighted, using
            :meth:`forward_aux`) or to load a checkpoint that contains it.
        drop_rate: drop probability before the final fully connected layer.

    ``forward(x)`` returns the logits in train and eval mode; no input
    transformation is hidden inside (normalize the images yourself).
    Weights start from a normal distribution truncated at two standard
    deviations, std 0.1 (0.01 for the auxiliary 5x5 conv, 0.001 for the
    auxiliary fc), as in the released TensorFlow model; BatchNorm at 1 and 0.
    """

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        aux_logits: bool = False,
        drop_rate: float = 0.5,
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            in_chans=in_chans,
            default_input_size=(in_chans, 299, 299),
            min_input_size=(in_chans, 75, 75),
        )
        check_rate("drop_rate", drop_rate)
        self.aux_logits = bool(aux_logits)
        # Stem.
        self.Conv2d_1a_3x3 = _conv(in_chans, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = _conv(32, 32, 3)
        self.Conv2d_2b_3x3 = _conv(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = _conv(64, 80, 1)
        self.Conv2d_4a_3x3 = _conv(80, 192, 3)
        # 35x35: Figure 5.
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        # 35 -> 17: Figure 10.
        self.Mixed_6a = InceptionB(288)
        # 17x17: Figure 6.
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.AuxLogits = InceptionAux(768, num_classes) if self.aux_logits else None
        # 17 -> 8: Figure 10.
        self.Mixed_7a = InceptionD(768)
        # 8x8: Figure 7.
        self.Mixed_7b = InceptionE(1280)
        self.Mixed_7c = InceptionE(2048)
        self.num_features = 2048
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(p=drop_rate)
        self.fc = nn.Linear(self.num_features, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        special: dict[nn.Module, float] = {}
        if self.AuxLogits is not None:
            special = {self.AuxLogits.conv1.conv: 0.01, self.AuxLogits.fc: 0.001}
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                std = special.get(m, 0.1)
                _trunc_normal_(m.weight, std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    # -- the trunk, split at the auxiliary head -------------------------
    def _to_17x17(self, x: torch.Tensor) -> torch.Tensor:
        # N x 3 x 299 x 299
        x = self.Conv2d_1a_3x3(x)  # N x 32 x 149 x 149
        x = self.Conv2d_2a_3x3(x)  # N x 32 x 147 x 147
        x = self.Conv2d_2b_3x3(x)  # N x 64 x 147 x 147
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # N x 64 x 73 x 73
        x = self.Conv2d_3b_1x1(x)  # N x 80 x 73 x 73
        x = self.Conv2d_4a_3x3(x)  # N x 192 x 71 x 71
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # N x 192 x 35 x 35
        x = self.Mixed_5b(x)  # N x 256 x 35 x 35
        x = self.Mixed_5c(x)  # N x 288 x 35 x 35
        x = self.Mixed_5d(x)  # N x 288 x 35 x 35
        x = self.Mixed_6a(x)  # N x 768 x 17 x 17
        x = self.Mixed_6b(x)  # N x 768 x 17 x 17
        x = self.Mixed_6c(x)  # N x 768 x 17 x 17
        x = self.Mixed_6d(x)  # N x 768 x 17 x 17
        return self.Mixed_6e(x)  # N x 768 x 17 x 17

    def _from_17x17(self, x: torch.Tensor) -> torch.Tensor:
        # N x 768 x 17 x 17
        x = self.Mixed_7a(x)  # N x 1280 x 8 x 8
        x = self.Mixed_7b(x)  # N x 2048 x 8 x 8
        return self.Mixed_7c(x)  # N x 2048 x 8 x 8

    # -- the ClassifierNet interface ------------------------------------
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._from_17x17(self._to_17x17(x))  # N x 2048 x 8 x 8 at 299x299

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)  # N x 2048
        x = self.dropout(x)
        if pre_logits:
            return x
        return self.fc(x)  # N x num_classes

    def forward_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits and the auxiliary logits, for training: ``(logits, [aux])``.

        The list is empty when the model was built with ``aux_logits=False``.
        The auxiliary head runs whenever it exists (in eval mode too: the
        caller asked for it).  The paper adds its cross-entropy to the main
        loss (the weight is the caller's choice; GoogLeNet used 0.3).

        Raises:
            ValueError: the input is too small for the auxiliary head
                (it needs at least 299x299).
        """
        self.check_input(x)
        if self.AuxLogits is None:
            return self.forward_head(self.forward_features(x)), []
        if x.shape[2] < AUX_MIN_INPUT or x.shape[3] < AUX_MIN_INPUT:
            raise InvalidInputError(
                f"InceptionV3's auxiliary head needs inputs of at least {AUX_MIN_INPUT}x{AUX_MIN_INPUT} "
                f"pixels (a 17x17 Mixed_6e map); got {x.shape[2]}x{x.shape[3]}. Use forward(x) without "
                f"the auxiliary logits, or resize the images."
            )
        x = self._to_17x17(x)  # N x 768 x 17 x 17
        aux = self.AuxLogits(x)  # N x num_classes
        logits = self.forward_head(self._from_17x17(x))  # N x num_classes
        return logits, [aux]

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the final fc layer (and the auxiliary fc, if any) for ``num_classes`` classes."""
        self.fc = new_linear_like(self.fc, num_classes)
        if self.AuxLogits is not None:
            self.AuxLogits.fc = new_linear_like(self.AuxLogits.fc, num_classes)
        self.num_classes = int(num_classes)


def label_smoothing_loss(logits: torch.Tensor, target: torch.Tensor, epsilon: float = 0.1) -> torch.Tensor:
    """Cross-entropy against smoothed labels: label-smoothing regularization (Sec. 7).

    The ground-truth distribution ``delta(k, y)`` is replaced by

        q'(k) = (1 - epsilon) * delta(k, y) + epsilon / K

    (a mixture with the uniform distribution over the K classes), and the loss
    is ``-sum_k q'(k) log p(k)``, averaged over the batch.  Equivalently
    ``(1 - epsilon) * H(delta, p) + epsilon * H(u, p)``.  The paper uses
    epsilon = 0.1 on ImageNet (K = 1000) and reports about 0.2% lower top-1
    error.  Equal to ``F.cross_entropy(logits, target, label_smoothing=epsilon)``.

    Args:
        logits: ``(N, K)`` unnormalized scores.
        target: ``(N,)`` class indices.
        epsilon: smoothing weight in [0, 1].
    """
    if not 0.0 <= epsilon <= 1.0:
        raise InvalidInputError(f"epsilon must be in [0, 1], got {epsilon}")
    if logits.dim() != 2:
        raise InvalidInputError(f"logits must be (N, K), got shape {tuple(logits.shape)}")
    if target.dim() != 1 or target.shape[0] != logits.shape[0]:
        raise InvalidInputError(
            f"target must be (N,) class indices with N = {logits.shape[0]}, got shape {tuple(target.shape)}"
        )
    log_p = torch.log_softmax(logits, dim=1)  # N x K
    nll = -log_p.gather(1, target.long().unsqueeze(1)).squeeze(1)  # N: H(delta, p)
    uniform = -log_p.mean(dim=1)  # N: H(u, p) = -(1/K) sum_k log p(k)
    return ((1.0 - epsilon) * nll + epsilon * uniform).mean()


@register_model
def inception_v3(
    *,
    num_classes: int = 1000,
    in_chans: int = 3,
    aux_logits: bool = False,
    drop_rate: float = 0.5,
) -> InceptionV3:
    """Inception v3 (Szegedy et al. 2015, "Rethinking the Inception Architecture", Table 1).

    Released TensorFlow / torchvision layout with torchvision's key names;
    default input 299x299, smallest 75x75.
    ``forward`` returns logits; ``forward_aux`` adds the auxiliary logits.
    """
    return InceptionV3(num_classes=num_classes, in_chans=in_chans, aux_logits=aux_logits, drop_rate=drop_rate)
