"""GoogLeNet / Inception v1 (Szegedy et al. 2014, "Going Deeper with Convolutions", arXiv:1409.4842).

Table 1 of the paper (params: weights only, K = 1024; ops: multiply-adds)::

    type            patch/stride  output     depth  #1x1 #3x3r #3x3 #5x5r #5x5 pool proj  params   ops
    convolution     7x7/2         112x112x64   1                                           2.7K   34M
    max pool        3x3/2          56x56x64    0
    convolution     3x3/1          56x56x192   2          64   192                        112K  360M
    max pool        3x3/2          28x28x192   0
    inception (3a)                 28x28x256   2     64    96   128    16   32     32      159K  128M
    inception (3b)                 28x28x480   2    128   128   192    32   96     64      380K  304M
    max pool        3x3/2          14x14x480   0
    inception (4a)                 14x14x512   2    192    96   208    16   48     64      364K   73M
    inception (4b)                 14x14x512   2    160   112   224    24   64     64      437K   88M
    inception (4c)                 14x14x512   2    128   128   256    24   64     64      463K  100M
    inception (4d)                 14x14x528   2    112   144   288    32   64     64      580K  119M
    inception (4e)                 14x14x832   2    256   160   320    32  128    128      840K  170M
    max pool        3x3/2           7x7x832    0
    inception (5a)                  7x7x832    2    256   160   320    32  128    128     1072K   54M
    inception (5b)                  7x7x1024   2    384   192   384    48  128    128     1388K   71M
    avg pool        7x7/1           1x1x1024   0
    dropout (40%)                   1x1x1024   0
    linear                          1x1x1000   1                                          1000K    1M
    softmax                         1x1x1000   0

Figure 3 of the paper adds LocalResponseNorm after the first max pool and after
the 3x3 convolution (before the second max pool), and the auxiliary classifiers
on 4a and 4d: 5x5/3 average pool (-> 4x4), 1x1 conv with 128 filters, fc 1024,
dropout 70%, linear; each aux loss is added with weight 0.3 during training and
the heads are dropped at inference.

Two variants, same key layout:

* ``variant="paper"`` (default): Table 1 as printed: true 5x5 convolutions in the
  5x5 branch, biases on every convolution, no BatchNorm, LRN in the stem, 3x3/2
  max pools, dropout 40%.  6,998,552 parameters without the aux heads.
* ``variant="torchvision"``: the layout of torchvision's ``googlenet`` so its
  checkpoints load: BatchNorm (eps 1e-3) after every convolution and no conv
  bias, no LRN, a 2x2/2 last max pool, default dropout 20%, and a **3x3** kernel
  in the branch Table 1 calls "5x5".  The 3x3 is a known mistake of that
  implementation, kept there so that its published weights stay loadable; BN
  was added later (Inception-BN came after the paper).  6,624,904 parameters
  without aux heads, 13,004,888 with them (its aux fc1 maps 2048 -> 1024 like
  the paper's).  Its ``transform_input`` is not reproduced: preprocessing is
  explicit in classicnets.

Key layout (both variants; the paper variant simply has no ``.bn`` entries and
has ``.conv.bias``): every convolution is a :class:`~.layers.BasicConv2d` named
``conv``/``bn``: ``conv1``, ``conv2`` (the 1x1 "3x3 reduce"), ``conv3``;
``inception3a.branch1`` (1x1), ``inception3a.branch2.0``/``.1`` (3x3 reduce, 3x3),
``inception3a.branch3.0``/``.1`` (5x5 reduce, 5x5), ``inception3a.branch4.1``
(pool projection; ``branch4.0`` is the max pool); ``aux1.conv``, ``aux1.fc1``,
``aux1.fc2`` (same for ``aux2``); ``fc``.

``forward(x)`` returns the logits only, in train and eval mode;
:meth:`GoogLeNet.forward_aux` returns ``(logits, [aux1, aux2])`` for training.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ..errors import InvalidInputError
from ._registry import register_model
from .base import AuxHeadNet, check_rate
from .layers import BasicConv2d, he_init

__all__ = [
    "AUX_LOSS_WEIGHT",
    "GoogLeNet",
    "Inception",
    "InceptionAux",
    "InceptionNaive",
    "googlenet",
]

#: Weight of each auxiliary classifier's loss in the training objective
#: (Szegedy et al. 2014, Sec. 5): ``loss = ce(logits) + 0.3 * (ce(aux1) + ce(aux2))``.
AUX_LOSS_WEIGHT = 0.3

Variant = Literal["paper", "torchvision"]

# Table 1: name -> (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj).
INCEPTION_CFG: dict[str, tuple[int, int, int, int, int, int]] = {
    "inception3a": (64, 96, 128, 16, 32, 32),
    "inception3b": (128, 128, 192, 32, 96, 64),
    "inception4a": (192, 96, 208, 16, 48, 64),
    "inception4b": (160, 112, 224, 24, 64, 64),
    "inception4c": (128, 128, 256, 24, 64, 64),
    "inception4d": (112, 144, 288, 32, 64, 64),
    "inception4e": (256, 160, 320, 32, 128, 128),
    "inception5a": (256, 160, 320, 32, 128, 128),
    "inception5b": (384, 192, 384, 48, 128, 128),
}


class InceptionNaive(nn.Module):
    """The naive Inception module (Fig. 2a): 1x1, 3x3 and 5x5 convolutions and a
    3x3/1 max pool side by side, concatenated along channels.

    The pool branch passes all ``in_ch`` channels through, so the output has
    ``in_ch + n1 + n3 + n5`` channels: stacking such modules makes the width (and
    the cost of the next 5x5) grow without bound, which is why v1 adds 1x1
    reductions (:class:`Inception`).  Children: ``branch1``, ``branch2``,
    ``branch3`` (:class:`~.layers.BasicConv2d`), ``branch4`` (the pool).
    """

    def __init__(self, in_ch: int, n1: int, n3: int, n5: int, *, batch_norm: bool = False) -> None:
        super().__init__()
        self.branch1 = BasicConv2d(in_ch, n1, 1, batch_norm=batch_norm)
        self.branch2 = BasicConv2d(in_ch, n3, 3, padding=1, batch_norm=batch_norm)
        self.branch3 = BasicConv2d(in_ch, n5, 5, padding=2, batch_norm=batch_norm)
        self.branch4 = nn.MaxPool2d(3, stride=1, padding=1)
        self.out_channels = in_ch + n1 + n3 + n5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class Inception(nn.Module):
    """Inception v1 module (Fig. 2b): four branches, concatenated along channels.

    ``branch1``: 1x1 (n1); ``branch2``: 1x1 (n3red) -> 3x3 (n3); ``branch3``:
    1x1 (n5red) -> 5x5 (n5); ``branch4``: 3x3/1 max pool -> 1x1 (pool_proj).
    The 1x1 reductions cut the channels before the expensive convolutions and the
    pool projection keeps the pool branch from passing every input channel
    through.  ``out_channels = n1 + n3 + n5 + pool_proj``.

    Args:
        batch_norm: BatchNorm after every convolution (torchvision variant).
        branch3_kernel: kernel of the "5x5" convolution; 5 in the paper, 3 in
            torchvision's implementation.
    """

    def __init__(
        self,
        in_ch: int,
        n1: int,
        n3red: int,
        n3: int,
        n5red: int,
        n5: int,
        pool_proj: int,
        *,
        batch_norm: bool = False,
        branch3_kernel: int = 5,
    ) -> None:
        super().__init__()
        if branch3_kernel % 2 != 1:
            raise InvalidInputError(f"branch3_kernel must be odd, got {branch3_kernel}")
        self.branch1 = BasicConv2d(in_ch, n1, 1, batch_norm=batch_norm)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_ch, n3red, 1, batch_norm=batch_norm),
            BasicConv2d(n3red, n3, 3, padding=1, batch_norm=batch_norm),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_ch, n5red, 1, batch_norm=batch_norm),
            BasicConv2d(n5red, n5, branch3_kernel, padding=branch3_kernel // 2, batch_norm=batch_norm),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_ch, pool_proj, 1, batch_norm=batch_norm),
        )
        self.out_channels = n1 + n3 + n5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier (Sec. 5): pool to 4x4, 1x1 conv 128, fc 1024, ReLU, dropout, fc.

    ``pool="paper"``: the paper's 5x5/3 average pool, which gives 4x4 on the
    14x14 maps of 4a/4d, followed by an adaptive average pool to 4x4 that is the
    identity at that size and keeps fc1 at 2048 inputs for larger images.
    ``pool="adaptive"``: torchvision's adaptive average pool to 4x4.
    """

    def __init__(
        self,
        in_ch: int,
        num_classes: int,
        *,
        batch_norm: bool = False,
        pool: Literal["paper", "adaptive"] = "paper",
        drop_rate: float = 0.7,
    ) -> None:
        super().__init__()
        if pool == "paper":
            self.pool: nn.Module = nn.Sequential(nn.AvgPool2d(5, stride=3), nn.AdaptiveAvgPool2d(4))
        else:
            self.pool = nn.AdaptiveAvgPool2d(4)
        self.conv = BasicConv2d(in_ch, 128, 1, batch_norm=batch_norm)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(drop_rate)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(x)              # N x C x 4 x 4
        x = self.conv(x)              # N x 128 x 4 x 4
        x = torch.flatten(x, 1)       # N x 2048
        x = self.relu(self.fc1(x))    # N x 1024
        return self.fc2(self.dropout(x))  # N x num_classes


class GoogLeNet(AuxHeadNet):
    """GoogLeNet (Inception v1); see the module docstring for the variants and key layout.

    Args:
        num_classes: classifier width (1000).
        in_chans: input channels (3).
        variant: ``"paper"`` (Table 1) or ``"torchvision"`` (checkpoint-compatible).
        aux_logits: build the two auxiliary classifiers (used by :meth:`forward_aux`).
        drop_rate: dropout before ``fc``; ``None`` means 0.4 (paper) or 0.2 (torchvision).
        aux_drop_rate: dropout inside the auxiliary heads (0.7, both variants).

    Minimum input (``min_input_size``), from the rounded-up 3x3/2 pools:

    * paper: 31x31 (conv1 16, pools 8 -> 4 -> 2 -> 1; at 30 the last 3x3 pool
      gets a 1x1 map);
    * paper with ``aux_logits=True``: 223x223, the smallest image whose 4a/4d
      maps are 14x14, where the paper's 5x5/3 pool gives the 4x4 its fc1 expects
      (``forward`` shares the attribute, so it is held to it too);
    * torchvision, with or without aux heads: 15x15 (conv1 8, pools 4 -> 2 -> 1,
      and the last 2x2/2 pool accepts a 1x1 map; its adaptive aux pool accepts
      any map).
    """

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        variant: Variant = "paper",
        aux_logits: bool = False,
        drop_rate: float | None = None,
        aux_drop_rate: float = 0.7,
    ) -> None:
        if variant not in ("paper", "torchvision"):
            raise InvalidInputError(f"variant must be 'paper' or 'torchvision', got {variant!r}")
        paper = variant == "paper"
        min_side = (223 if aux_logits else 31) if paper else 15
        super().__init__(
            num_classes=num_classes, in_chans=in_chans,
            default_input_size=(3, 224, 224), min_input_size=(3, min_side, min_side),
        )
        if drop_rate is None:
            drop_rate = 0.4 if paper else 0.2
        check_rate("drop_rate", drop_rate)
        check_rate("aux_drop_rate", aux_drop_rate)
        self.variant = variant
        self.aux_logits = bool(aux_logits)
        bn = not paper
        k5 = 5 if paper else 3

        # Stem.  Every 3x3/2 max pool rounds up (Caffe's convention), giving
        # Table 1's 112 -> 56 -> 28 -> 14 -> 7.
        self.conv1 = BasicConv2d(self.in_chans, 64, 7, stride=2, padding=3, batch_norm=bn)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.lrn1: nn.Module = _lrn() if paper else nn.Identity()
        self.conv2 = BasicConv2d(64, 64, 1, batch_norm=bn)
        self.conv3 = BasicConv2d(64, 192, 3, padding=1, batch_norm=bn)
        self.lrn2: nn.Module = _lrn() if paper else nn.Identity()
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        def inception(name: str, in_ch: int) -> Inception:
            return Inception(in_ch, *INCEPTION_CFG[name], batch_norm=bn, branch3_kernel=k5)

        self.inception3a = inception("inception3a", 192)
        self.inception3b = inception("inception3b", self.inception3a.out_channels)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = inception("inception4a", self.inception3b.out_channels)
        self.inception4b = inception("inception4b", self.inception4a.out_channels)
        self.inception4c = inception("inception4c", self.inception4b.out_channels)
        self.inception4d = inception("inception4d", self.inception4c.out_channels)
        self.inception4e = inception("inception4e", self.inception4d.out_channels)
        # torchvision pools 2x2/2 here; same 14 -> 7 size, different windows.
        self.maxpool4 = (
            nn.MaxPool2d(3, stride=2, ceil_mode=True) if paper else nn.MaxPool2d(2, stride=2, ceil_mode=True)
        )
        self.inception5a = inception("inception5a", self.inception4e.out_channels)
        self.inception5b = inception("inception5b", self.inception5a.out_channels)

        self.aux1: InceptionAux | None = None
        self.aux2: InceptionAux | None = None
        if self.aux_logits:
            aux_pool: Literal["paper", "adaptive"] = "paper" if paper else "adaptive"
            self.aux1, self.aux2 = (
                InceptionAux(block.out_channels, self.num_classes, batch_norm=bn, pool=aux_pool,
                             drop_rate=aux_drop_rate)
                for block in (self.inception4a, self.inception4d)
            )

        # Table 1's 7x7/1 average pool is a global average at 224x224; the
        # adaptive form keeps the network usable at other sizes.
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(drop_rate)
        self.num_features = self.inception5b.out_channels
        self.fc = nn.Linear(self.num_features, self.num_classes)
        # He initialization for the convolutions (the paper variant has no BN to
        # rescale activations); small Gaussian for the fully connected layers.
        he_init(self, mode="fan_in", linear_std=0.01)

    # -- forward ----------------------------------------------------------
    def _trunk(self, x: torch.Tensor, with_aux: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        aux: list[torch.Tensor] = []
        x = self.conv1(x)         # N x 64 x 112 x 112
        x = self.maxpool1(x)      # N x 64 x 56 x 56
        x = self.lrn1(x)
        x = self.conv2(x)         # N x 64 x 56 x 56
        x = self.conv3(x)         # N x 192 x 56 x 56
        x = self.lrn2(x)
        x = self.maxpool2(x)      # N x 192 x 28 x 28
        x = self.inception3a(x)   # N x 256 x 28 x 28
        x = self.inception3b(x)   # N x 480 x 28 x 28
        x = self.maxpool3(x)      # N x 480 x 14 x 14
        x = self.inception4a(x)   # N x 512 x 14 x 14
        if with_aux and self.aux1 is not None:
            aux.append(self.aux1(x))
        x = self.inception4b(x)   # N x 512 x 14 x 14
        x = self.inception4c(x)   # N x 512 x 14 x 14
        x = self.inception4d(x)   # N x 528 x 14 x 14
        if with_aux and self.aux2 is not None:
            aux.append(self.aux2(x))
        x = self.inception4e(x)   # N x 832 x 14 x 14
        x = self.maxpool4(x)      # N x 832 x 7 x 7
        x = self.inception5a(x)   # N x 832 x 7 x 7
        x = self.inception5b(x)   # N x 1024 x 7 x 7
        return x, aux

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.avgpool(x).flatten(1)  # N x 1024
        x = self.dropout(x)
        return x if pre_logits else self.fc(x)  # N x num_classes

    # -- auxiliary heads and classifier -------------------------------------
    def aux_heads(self) -> list[nn.Module]:
        """``[aux1, aux2]`` (after inception4a and 4d) when built with ``aux_logits=True``.

        ``forward_aux`` returns their logits; the paper's objective adds each auxiliary
        cross-entropy with weight :data:`AUX_LOSS_WEIGHT` (0.3).
        """
        return [head for head in (self.aux1, self.aux2) if head is not None]

    def init_classifier(self, fc: nn.Linear) -> None:
        nn.init.normal_(fc.weight, std=0.01)
        nn.init.zeros_(fc.bias)


def _lrn() -> nn.LocalResponseNorm:
    # 5 channels, alpha 1e-4, beta 0.75, k 1 (PyTorch divides alpha by the size, like Caffe).
    return nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)


@register_model
def googlenet(
    *,
    num_classes: int = 1000,
    in_chans: int = 3,
    variant: Variant = "paper",
    aux_logits: bool = False,
    drop_rate: float | None = None,
    aux_drop_rate: float = 0.7,
) -> GoogLeNet:
    """GoogLeNet (Szegedy et al. 2014, Table 1).

    ``variant="paper"`` (the default) or ``"torchvision"``, with or without the
    auxiliary heads; see :class:`GoogLeNet` for the options.
    """
    return GoogLeNet(
        num_classes=num_classes, in_chans=in_chans, variant=variant, aux_logits=aux_logits,
        drop_rate=drop_rate, aux_drop_rate=aux_drop_rate,
    )

