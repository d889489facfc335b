"""Building blocks shared by several families.

Family-specific blocks live in their family's module (ResNet's blocks in
``resnet.py``, Inception modules in ``googlenet.py`` / ``inception_v3.py``);
what is here is used by more than one family.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn


def he_init(model: nn.Module, *, mode: Literal["fan_in", "fan_out"], linear_std: float | None = None) -> None:
    """He-normal convolutions (He et al. 2015b, ReLU gain; ``mode`` picks the fan), zero conv biases,
    BatchNorm weight 1 and bias 0; with ``linear_std``, N(0, linear_std) linear weights and zero biases
    (without it the linear layers keep PyTorch's default init).

    Modules are visited in ``model.modules()`` order, so the random draws, and hence the weights
    for a given seed, are those of the per-family loops this replaced.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and linear_std is not None:
            nn.init.normal_(m.weight, std=linear_std)
            nn.init.zeros_(m.bias)


class BasicConv2d(nn.Module):
    """Conv -> BatchNorm -> ReLU, with the child names ``conv`` and ``bn``.

    The names match torchvision's GoogLeNet and Inception v3 (``conv1.conv``,
    ``conv1.bn``), so their checkpoints load.  The conv has no bias when it is
    followed by BatchNorm (BN's shift makes it redundant).  ``batch_norm=False``
    gives conv (with bias) -> ReLU, the pre-BN layer of the 2014 papers.

    Args:
        bn_eps: BatchNorm epsilon; the Inception family uses 1e-3 (TensorFlow's
            default), PyTorch's default is 1e-5.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        *,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        batch_norm: bool = True,
        bn_eps: float = 1e-3,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=not batch_norm
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=bn_eps) if batch_norm else nn.Identity()
        self.relu = nn.ReLU(inplace=True)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))
