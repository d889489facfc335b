"""AlexNet, in the single-tower layout everyone means by "AlexNet" today.

**The 2012 network** (Krizhevsky, Sutskever, Hinton, "ImageNet Classification
with Deep Convolutional Neural Networks") was cut in two to fit two 3 GB GPUs:

* five conv layers with 96, 256, 384, 384, 256 filters (11x11/4, 5x5, 3x3,
  3x3, 3x3), each layer's filters split half and half between the GPUs;
  conv2, conv4 and conv5 see only the maps on their own GPU (grouped
  convolutions, two groups), conv3 and the fully connected layers see both;
* local response normalization after conv1 and conv2, overlapping 3x3/2 max
  pooling after conv1, conv2 and conv5;
* fc 4096 -> fc 4096 -> 1000-way softmax, dropout 0.5 on the outputs of the
  first two fc layers; "60 million parameters" (60,965,224 counted with the
  two groups, as in Caffe's reference model);
* weights from N(0, 0.01), biases 1 in conv2, conv4, conv5 and the hidden fc
  layers, 0 elsewhere.

**The layout built here** is the one-tower net that torchvision ships as
``alexnet`` (its docs say it is based on the one-GPU column of Krizhevsky 2014,
"One weird trick for parallelizing convolutional neural networks",
arXiv:1404.5997).  It is what papers, courses and parameter tables since mean
by "AlexNet" (61.1M parameters, 0.71 G multiply-adds), because it is the
version with widely used pretrained weights and no two-GPU plumbing.  It
differs from the 2012 net in:

* 64, 192, 384, 256, 256 filters, no grouping (one tower, so no split);
* no local response normalization (Simonyan & Zisserman 2014 found LRN gave
  no gain on ImageNet, and later nets dropped it);
* conv1 pads by 2 so a 224x224 input works (the paper's 224 only adds up
  with 227 and no padding);
* an adaptive average pool to 6x6 before the classifier, an identity at 224x224
  that lets any input of at least 63x63 through;
* dropout on the *inputs* of fc6 and fc7 (torchvision's placement) rather
  than on the outputs of fc6 and fc7;
* PyTorch's default initialization (torchvision's choice), not the paper's.

The key names match torchvision's (``features.0``, ``features.3``,
``features.6``, ``features.8``, ``features.10``, ``classifier.1``,
``classifier.4``, ``classifier.6``), so its checkpoints load unchanged.

=============  ===========================  ==================
layer          output at 224x224            parameters
=============  ===========================  ==================
conv1 11x11/4  64 x 55 x 55                 23,296
max pool 3/2   64 x 27 x 27
conv2 5x5      192 x 27 x 27                307,392
max pool 3/2   192 x 13 x 13
conv3 3x3      384 x 13 x 13                663,936
conv4 3x3      256 x 13 x 13                884,992
conv5 3x3      256 x 13 x 13                590,080
max pool 3/2   256 x 6 x 6
fc6            4096                         37,752,832
fc7            4096                         16,781,312
fc8            1000                         4,097,000
total                                       61,100,840
=============  ===========================  ==================

The three fc layers hold 58,631,144 of the 61,100,840 parameters (96%).

Smallest input: each 3x3/2 max pool needs a map of at least 3x3, so the last
pool needs 3x3 at conv5, the second needs 7x7, the first 15x15, and conv1
(11x11/4, pad 2) gives 15x15 from 63x63: ``floor((63 + 4 - 11) / 4) + 1 = 15``.
"""

from __future__ import annotations

from torch import nn

from ._registry import register_model
from .base import MLPHeadNet, check_rate


class AlexNet(MLPHeadNet):
    """Single-tower AlexNet (see the module docstring for how it differs from 2012).

    Args:
        num_classes: size of the final layer.
        in_chans: input channels.
        drop_rate: drop probability of the two dropout layers of the classifier.
    """

    def __init__(self, *, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.5) -> None:
        super().__init__(
            num_classes=num_classes,
            in_chans=in_chans,
            default_input_size=(in_chans, 224, 224),
            min_input_size=(in_chans, 63, 63),
        )
        check_rate("drop_rate", drop_rate)
        self.features = nn.Sequential(
            # N x 3 x 224 x 224
            nn.Conv2d(in_chans, 64, kernel_size=11, stride=4, padding=2),  # 0: N x 64 x 55 x 55
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),  # N x 64 x 27 x 27
            nn.Conv2d(64, 192, kernel_size=5, padding=2),  # 3: N x 192 x 27 x 27
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),  # N x 192 x 13 x 13
            nn.Conv2d(192, 384, kernel_size=3, padding=1),  # 6: N x 384 x 13 x 13
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),  # 8: N x 256 x 13 x 13
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),  # 10: N x 256 x 13 x 13
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),  # N x 256 x 6 x 6
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))  # N x 256 x 6 x 6 (identity at 224x224)
        self.classifier = nn.Sequential(
            nn.Dropout(p=drop_rate),
            nn.Linear(256 * 6 * 6, 4096),  # 1: N x 4096
            nn.ReLU(inplace=True),
            nn.Dropout(p=drop_rate),
            nn.Linear(4096, 4096),  # 4: N x 4096
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),  # 6: N x num_classes
        )


@register_model
def alexnet(*, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.5) -> AlexNet:
    """AlexNet, single-tower layout (Krizhevsky 2014 / torchvision).

    Krizhevsky, Sutskever, Hinton 2012 describe the two-GPU original (60M
    parameters, LRN, 96-256-384-384-256 filters); this is the one-column
    64-192-384-256-256 variant without LRN whose torchvision checkpoints
    everyone uses.  Default input 224x224, smallest 63x63.
    """
    return AlexNet(num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate)
