"""Small networks for the batch-normalization experiments: ``mnist_mlp`` and ``cnn3``.

``mnist_mlp`` is the network of Ioffe & Szegedy 2015 ("Batch Normalization",
arXiv:1502.03167), Sec. 4.1: a 28x28 MNIST digit flattened to 784 values,
three fully connected hidden layers of 100 sigmoid units and a 10-way output
trained with cross-entropy.  With ``batch_norm=True`` every hidden layer
computes ``sigmoid(BN(W u))``; the output layer has no BN, as in the paper.
The paper's Figure 1(b, c) follows the input of one sigmoid of the last hidden
layer over training (its 15th, 50th and 85th percentiles):
:meth:`MNISTMLP.hidden_preactivations` returns exactly those inputs for every
hidden layer.

=============  =====================  ==========================
               without BN             with BN
=============  =====================  ==========================
hidden 1       784 * 100 + 100        784 * 100 + 2 * 100 (BN)
hidden 2, 3    100 * 100 + 100 each   100 * 100 + 2 * 100 each
output         100 * 10 + 10          100 * 10 + 10
total          99,710                 100,010
=============  =====================  ==========================

With BN the hidden ``Linear`` layers have no bias: BN subtracts the batch mean,
which cancels any bias, and its shift beta takes the bias's role (Sec. 3.2:
"the bias b can be ignored").

Initialization: the paper says only "small random Gaussian values".  We draw
every weight from N(0, ``init_std``^2) with ``init_std=0.1`` and set biases to
0.  On MNIST scaled to [0, 1] (about 100 lit pixels per digit) the first
layer's sigmoid inputs then have a standard deviation of 0.86 on the test set
(0.1 times the root of the sum of squared pixels), inside the sigmoid's
working range, so the network without BN starts sensibly too and the
comparison is about BN, not a broken start.  (0.01 would leave every sigmoid
close to 0.5; 1.0 saturates about 70% of them.)

``cnn3`` is the lecture's BN exercise network: a small convolutional net,
cheap enough to train twice on a CPU (``batch_norm=False`` and ``True``, same
recipe) and compare the training curves.  Three 3x3 conv stages (32, 64, 128 filters, pad 1,
ReLU), a 2x2 max pool after the first two, global average pooling and a
linear classifier:

==========================  ================  ================
layer                       28x28 input       32x32 input
==========================  ================  ================
conv1 3x3, 32 (+BN), ReLU   32 x 28 x 28      32 x 32 x 32
max pool 2x2                32 x 14 x 14      32 x 16 x 16
conv2 3x3, 64 (+BN), ReLU   64 x 14 x 14      64 x 16 x 16
max pool 2x2                64 x 7 x 7        64 x 8 x 8
conv3 3x3, 128 (+BN), ReLU  128 x 7 x 7       128 x 8 x 8
global average pool, fc     num_classes       num_classes
==========================  ================  ================

Global average pooling makes the classifier independent of the input size, so
one network serves MNIST (1 x 28 x 28) and CIFAR-10 (3 x 32 x 32, build it with
``in_chans=3``); anything from 4x4 up works (two halvings leave 1x1).
Parameters: 93,962 without BN, 94,186 with BN (the convs drop their bias when
BN follows), for ``in_chans=1`` and 10 classes.  Its blocks are
:class:`~classicnets.models.layers.BasicConv2d` (keys ``conv1.conv``,
``conv1.bn``) with PyTorch's BN epsilon 1e-5 and PyTorch's default conv
initialization, so that turning BN on is the only difference between the two
runs.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import InvalidInputError
from ._registry import register_model
from .base import ClassifierNet
from .layers import BasicConv2d


class SigmoidLayer(nn.Module):
    """Fully connected -> (BatchNorm1d) -> sigmoid; ``preactivation`` is the sigmoid's input."""

    def __init__(self, in_features: int, out_features: int, *, batch_norm: bool) -> None:
        super().__init__()
        # BN's mean subtraction cancels a bias, so the Linear has none when BN follows.
        self.fc = nn.Linear(in_features, out_features, bias=not batch_norm)
        self.bn = nn.BatchNorm1d(out_features) if batch_norm else nn.Identity()
        self.act = nn.Sigmoid()

    def preactivation(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.fc(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.preactivation(x))


class MNISTMLP(ClassifierNet):
    """The MLP of Ioffe & Szegedy 2015, Sec. 4.1 (see the module docstring).

    Args:
        num_classes: size of the output layer.
        in_chans: input channels (flattened with the pixels).
        input_size: the side of the square input it is built for; a fully
            connected net accepts exactly that size.
        batch_norm: BatchNorm1d before every hidden sigmoid.
        hidden_units: units per hidden layer (100 in the paper).
        num_hidden: number of hidden layers (3 in the paper).
        init_std: standard deviation of the Gaussian weight init.
    """

    def __init__(
        self,
        *,
        num_classes: int = 10,
        in_chans: int = 1,
        input_size: int = 28,
        batch_norm: bool = False,
        hidden_units: int = 100,
        num_hidden: int = 3,
        init_std: float = 0.1,
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            in_chans=in_chans,
            default_input_size=(in_chans, input_size, input_size),
            min_input_size=(in_chans, input_size, input_size),
        )
        if input_size < 1:
            raise InvalidInputError(f"input_size must be >= 1, got {input_size}")
        if hidden_units < 1 or num_hidden < 1:
            raise InvalidInputError(
                f"hidden_units and num_hidden must be >= 1, got {hidden_units} and {num_hidden}"
            )
        if not init_std > 0:
            raise InvalidInputError(f"init_std must be > 0, got {init_std}")
        self.input_size = int(input_size)
        self.batch_norm = bool(batch_norm)
        widths = [in_chans * input_size * input_size] + [hidden_units] * num_hidden
        # N x 784 -> N x 100 -> N x 100 -> N x 100
        self.hidden = nn.ModuleList(
            SigmoidLayer(a, b, batch_norm=batch_norm) for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        self.fc = nn.Linear(hidden_units, num_classes)  # N x num_classes
        self._init_weights(init_std)

    def _init_weights(self, std: float) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, mean=0.0, std=std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def check_input(self, x: torch.Tensor) -> None:
        super().check_input(x)
        s = self.input_size
        if x.shape[2] != s or x.shape[3] != s:
            raise InvalidInputError(
                f"{type(self).__name__} is fully connected and built for exactly {s}x{s} inputs "
                f"(input_size={s}); got {x.shape[2]}x{x.shape[3]}. Resize the images or build it with "
                f"input_size={x.shape[2]}" + (" (square inputs only)." if x.shape[2] != x.shape[3] else ".")
            )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(x, 1)  # N x (C * H * W)
        for layer in self.hidden:
            x = layer(x)  # N x hidden_units
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return x if pre_logits else self.fc(x)

    def hidden_preactivations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The input of every hidden layer's sigmoid (``BN(W u)`` with BN, ``W u + b`` without).

        One ``N x hidden_units`` tensor per hidden layer, first to last; the last
        one is what the BN paper's Figure 1(b, c) plots.
        """
        self.check_input(x)
        h = torch.flatten(x, 1)
        pre: list[torch.Tensor] = []
        for layer in self.hidden:
            z = layer.preactivation(h)
            pre.append(z)
            h = layer.act(z)
        return pre



class CNN3(ClassifierNet):
    """Three conv stages, global average pooling and a linear classifier (see the module docstring).

    Args:
        num_classes: size of the final layer.
        in_chans: input channels (1 for MNIST, 3 for CIFAR-10).
        batch_norm: BatchNorm2d between each conv and its ReLU.
    """

    def __init__(self, *, num_classes: int = 10, in_chans: int = 1, batch_norm: bool = False) -> None:
        super().__init__(
            num_classes=num_classes,
            in_chans=in_chans,
            default_input_size=(in_chans, 28, 28),
            min_input_size=(in_chans, 4, 4),
        )
        self.batch_norm = bool(batch_norm)
        # N x C x 28 x 28 (or 32 x 32)
        self.conv1 = BasicConv2d(in_chans, 32, 3, padding=1, batch_norm=batch_norm, bn_eps=1e-5)
        self.pool1 = nn.MaxPool2d(kernel_size=2, stride=2)  # N x 32 x 14 x 14 (16 x 16)
        self.conv2 = BasicConv2d(32, 64, 3, padding=1, batch_norm=batch_norm, bn_eps=1e-5)
        self.pool2 = nn.MaxPool2d(kernel_size=2, stride=2)  # N x 64 x 7 x 7 (8 x 8)
        self.conv3 = BasicConv2d(64, 128, 3, padding=1, batch_norm=batch_norm, bn_eps=1e-5)
        self.global_pool = nn.AdaptiveAvgPool2d(1)  # N x 128 x 1 x 1
        self.fc = nn.Linear(128, num_classes)  # N x num_classes

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.conv1(x))  # N x 32 x 14 x 14
        x = self.pool2(self.conv2(x))  # N x 64 x 7 x 7
        return self.conv3(x)  # N x 128 x 7 x 7

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.global_pool(x), 1)  # N x 128
        return x if pre_logits else self.fc(x)



@register_model
def mnist_mlp(
    *,
    num_classes: int = 10,
    in_chans: int = 1,
    input_size: int = 28,
    batch_norm: bool = False,
    hidden_units: int = 100,
    num_hidden: int = 3,
    init_std: float = 0.1,
) -> MNISTMLP:
    """MNIST MLP of Ioffe & Szegedy 2015, Sec. 4.1 (3 x 100 sigmoid units); 99,710 params, 100,010 with BN.

    Accepts exactly ``in_chans x input_size x input_size`` (default 1 x 28 x 28).
    Weights from N(0, init_std^2), init_std = 0.1 (the paper gives no value).
    """
    return MNISTMLP(
        num_classes=num_classes, in_chans=in_chans, input_size=input_size, batch_norm=batch_norm,
        hidden_units=hidden_units, num_hidden=num_hidden, init_std=init_std,
    )


@register_model
def cnn3(*, num_classes: int = 10, in_chans: int = 1, batch_norm: bool = False) -> CNN3:
    """The lecture's BN exercise CNN (conv 32-64-128, 2 max pools, GAP, fc); 93,962 params, 94,186 with BN.

    Counts for in_chans=1 and 10 classes.  Works at 28x28 (MNIST) and 32x32
    (CIFAR-10 with in_chans=3); any input of at least 4x4.
    """
    return CNN3(num_classes=num_classes, in_chans=in_chans, batch_norm=batch_norm)
