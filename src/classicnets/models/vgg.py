"""VGG: configurations A, B, D and E of Simonyan & Zisserman 2014, with and without BatchNorm.

"Very Deep Convolutional Networks for Large-Scale Image Recognition"
(arXiv:1409.1556), Table 1: stacks of 3x3 convolutions (stride 1, pad 1, ReLU)
in five stages of 64, 128, 256, 512, 512 channels, each closed by a 2x2/2 max
pool, then fc 4096 -> fc 4096 -> 1000 with dropout 0.5 after the first two
fc layers.  Configurations differ only in the number of convs per stage:

======  ==============  ======================
name    configuration   convs per stage
======  ==============  ======================
vgg11   A (11 layers)   1, 1, 2, 2, 2
vgg13   B (13 layers)   2, 2, 2, 2, 2
vgg16   D (16 layers)   2, 2, 3, 3, 3
vgg19   E (19 layers)   2, 2, 4, 4, 4
======  ==============  ======================

The published parameter counts (Table 2) are in :mod:`classicnets.reference`
and each builder's docstring.

Not built: A-LRN (LRN did not help, Sec. 4.1) and C (1x1 convs in the last
three stages, superseded by D).  The fully connected layers hold most of the
weights: 123,642,856 of VGG-16's parameters.

The ``_bn`` variants put ``BatchNorm2d`` between each conv and its ReLU
(BatchNorm postdates the paper).  Their convs keep their bias, redundant
before BN but part of the torchvision layout whose checkpoints and counts
we match.

Layout and key names are torchvision's: ``features.N`` (the convs, ReLUs,
BNs and pools numbered in order), ``avgpool`` and ``classifier.0``,
``classifier.3``, ``classifier.6``.  Two departures from the paper, both
torchvision's: an adaptive average pool to 7x7 before the classifier (an
identity at 224x224; the paper instead turns the fc layers into convolutions
for dense evaluation of larger images), which lets any input of at least 32x32
through (five halvings leave a 1x1 map); and the initialization below.

Initialization: He et al.'s normal init (fan-out, ReLU gain) for the convs,
N(0, 0.01) for the fc layers, zero biases.  The paper trained A from N(0, 0.01)
and gave the deeper nets A's first four convs and fc layers to start from,
noting afterwards (Sec. 3.1) that Glorot & Bengio's random init works without
that pre-training; He et al.'s init is the ReLU version of the same idea and
lets every configuration train from scratch.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ..errors import InvalidInputError
from ._registry import register_builder
from .base import MLPHeadNet, check_rate
from .layers import he_init

# Table 1 of the paper: output channels of each 3x3 conv, "M" for a 2x2/2 max pool.
CFGS: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


def make_features(cfg: list[int | str], *, in_chans: int = 3, batch_norm: bool = False) -> nn.Sequential:
    """The conv part of a VGG configuration as one flat ``nn.Sequential``.

    Each number ``c`` becomes conv 3x3 pad 1 -> (BatchNorm2d) -> ReLU with ``c``
    outputs; each ``"M"`` a 2x2/2 max pool.  Spatial size: N x C x H x W stays
    H x W through the convs and halves (floor) at every pool.
    """
    layers: list[nn.Module] = []
    channels = in_chans
    for item in cfg:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        if not isinstance(item, int):
            raise InvalidInputError(f"VGG configuration entries are ints or 'M', got {item!r}")
        layers.append(nn.Conv2d(channels, item, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(item))
        layers.append(nn.ReLU(inplace=True))
        channels = item
    return nn.Sequential(*layers)


class VGG(MLPHeadNet):
    """A VGG network from a layer list (see :data:`CFGS`).

    Args:
        cfg: conv widths and ``"M"`` pools, e.g. ``CFGS["D"]``; must end in 512
            channels after five pools for the 512 x 7 x 7 classifier input.
        batch_norm: BatchNorm2d after every conv.
        num_classes: size of the final layer.
        in_chans: input channels.
        drop_rate: drop probability of the two dropout layers of the classifier.
    """

    def __init__(
        self,
        cfg: list[int | str],
        *,
        batch_norm: bool = False,
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_rate: float = 0.5,
    ) -> None:
        n_pools = sum(1 for item in cfg if item == "M")
        min_side = 2**n_pools
        super().__init__(
            num_classes=num_classes,
            in_chans=in_chans,
            default_input_size=(in_chans, 224, 224),
            min_input_size=(in_chans, min_side, min_side),
        )
        check_rate("drop_rate", drop_rate)
        widths = [item for item in cfg if item != "M"]
        if not widths:
            raise InvalidInputError("a VGG configuration needs at least one conv layer")
        last = int(widths[-1])
        # N x 3 x 224 x 224 -> (5 pools) -> N x 512 x 7 x 7
        self.features = make_features(cfg, in_chans=in_chans, batch_norm=batch_norm)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))  # N x 512 x 7 x 7 (identity at 224x224)
        self.classifier = nn.Sequential(
            nn.Linear(last * 7 * 7, 4096),  # 0: N x 4096
            nn.ReLU(inplace=True),
            nn.Dropout(p=drop_rate),
            nn.Linear(4096, 4096),  # 3: N x 4096
            nn.ReLU(inplace=True),
            nn.Dropout(p=drop_rate),
            nn.Linear(4096, num_classes),  # 6: N x num_classes
        )
        he_init(self, mode="fan_out", linear_std=0.01)  # see the module docstring


# The builders, one row each of Table 1 with and without BatchNorm.
def _vgg_builder(name: str, config: str, batch_norm: bool, doc: str) -> Callable[..., VGG]:
    def build(*, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.5) -> VGG:
        return VGG(CFGS[config], batch_norm=batch_norm, num_classes=num_classes, in_chans=in_chans,
                   drop_rate=drop_rate)

    return register_builder(build, name, doc)


_PLAIN = "VGG-{0}, configuration {1} (Simonyan & Zisserman 2014, Tables 1-2)."
_BN = "VGG-{0} (configuration {1}) + BatchNorm after every conv (torchvision layout)."
vgg11 = _vgg_builder("vgg11", "A", False, _PLAIN.format(11, "A"))
vgg13 = _vgg_builder("vgg13", "B", False, _PLAIN.format(13, "B"))
vgg16 = _vgg_builder("vgg16", "D", False, _PLAIN.format(16, "D"))
vgg19 = _vgg_builder("vgg19", "E", False, _PLAIN.format(19, "E"))
vgg11_bn = _vgg_builder("vgg11_bn", "A", True, _BN.format(11, "A"))
vgg13_bn = _vgg_builder("vgg13_bn", "B", True, _BN.format(13, "B"))
vgg16_bn = _vgg_builder("vgg16_bn", "D", True, _BN.format(16, "D"))
vgg19_bn = _vgg_builder("vgg19_bn", "E", True, _BN.format(19, "E"))
