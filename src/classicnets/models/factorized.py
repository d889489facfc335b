"""Factorized convolutions (Szegedy et al. 2015, "Rethinking the Inception
Architecture for Computer Vision", Sec. 3), as drop-in replacements for one
n x n convolution.

* :class:`StackedConv`: k stacked s x s convolutions see an n x n window with
  n = k (s - 1) + 1: two 3x3 replace a 5x5 (Figure 1), three 3x3 a 7x7, two
  2x2 a 3x3 (Sec. 3.2).  ``activation="relu"`` or ``"linear"`` between them is
  the experiment of Figure 2 (the paper: 77.2% vs 76.2% top-1, ReLU better).
* :class:`AsymmetricConv`: a 1 x n followed by an n x 1 (Figure 3), the
  factorization of Inception v3's 17x17 modules (n = 7).
* :func:`factorization_savings`: the weight and multiply-add counts of the
  original and the factorized layer for equal input and output channels.

With C input, intermediate and output channels and no biases the counts per
output position are n^2 C^2 for the original and k s^2 C^2 (stack) or 2 n C^2
(asymmetric) for the factorization, so the relative savings do not depend on C:

==================  ========================  =======
original            factorized                saving
==================  ========================  =======
5x5                 3x3, 3x3                  28%
7x7                 3x3, 3x3, 3x3             45%
3x3                 2x2, 2x2                  11%
3x3                 1x3, 3x1                  33%
7x7                 1x7, 7x1                  71%
==================  ========================  =======

Each block pads so its output has the size of the n x n conv it replaces
(``padding="same"``: the input's size; ``"valid"``: n - 1 smaller), and keeps
every intermediate map at the size of the output, so each weight is used once
per output position and the multiply-adds per position equal the weights.

The blocks replace a *convolution*: there is no normalization or activation
after the last conv (add them after the block as after the conv it
replaces); ``batch_norm=True`` puts BatchNorm after each inner conv, before
the activation.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ..errors import InvalidInputError

Activation = Literal["relu", "linear"]
Padding = Literal["same", "valid"]
SCHEMES = ("3x3", "2x2", "asymmetric")


def _check_common(activation: str, padding: str) -> None:
    if activation not in ("relu", "linear"):
        raise InvalidInputError(f"activation must be 'relu' or 'linear' (identity), got {activation!r}")
    if padding not in ("same", "valid"):
        raise InvalidInputError(f"padding must be 'same' or 'valid', got {padding!r}")


def _inner(mid_channels: int, activation: str, batch_norm: bool) -> list[nn.Module]:
    """What follows an inner conv: optional BatchNorm, then ReLU or nothing."""
    layers: list[nn.Module] = []
    if batch_norm:
        layers.append(nn.BatchNorm2d(mid_channels))
    layers.append(nn.ReLU(inplace=True) if activation == "relu" else nn.Identity())
    return layers


def stack_depth(kernel_size: int, small_kernel: int) -> int:
    """How many ``small_kernel`` convs stack to a ``kernel_size`` window: (n - 1) / (s - 1).

    Raises:
        ValueError: when no whole number of them does (e.g. 3x3 convs cover
            3, 5, 7, ... pixels, never 4), or when it would be a single conv.
    """
    n, s = int(kernel_size), int(small_kernel)
    if s < 2:
        raise InvalidInputError(f"the small kernel must be at least 2, got {s}")
    if n <= s:
        raise InvalidInputError(f"a {n}x{n} conv cannot be factorized into {s}x{s} convs: it is not larger than them")
    k, rem = divmod(n - 1, s - 1)
    if rem:
        covered = ", ".join(str(j * (s - 1) + 1) for j in range(2, 5))
        raise InvalidInputError(
            f"a {n}x{n} conv cannot be replaced by a stack of {s}x{s} convs: k stacked {s}x{s} convs "
            f"see k*{s - 1}+1 pixels ({covered}, ...), never {n}"
        )
    return k


class StackedConv(nn.Module):
    """k stacked ``small_kernel`` x ``small_kernel`` convs replacing one n x n conv.

    ``kernel_size=5`` (default ``small_kernel=3``) gives two 3x3 convs (Figure 1),
    ``kernel_size=7`` three 3x3, ``kernel_size=3, small_kernel=2`` two 2x2.

    Even kernels: a 2x2 conv cannot be padded symmetrically, so with
    ``padding="same"`` the first 2x2 conv pads one row/column on the top/left
    and the second on the bottom/right.  The output then has the input's size
    (as a padded 3x3 conv) and output pixel (i, j) sees input rows i-1..i+1
    and columns j-1..j+1, centred like the 3x3 it replaces; the intermediate
    map also keeps the input's size.  (With an odd number of even kernels the
    extra pixel goes to the top/left.)

    Args:
        in_channels, out_channels: of the n x n conv being replaced.
        kernel_size: n, the size of the conv being replaced.
        small_kernel: s, the size of the stacked convs (3 or 2 in the paper).
        activation: ``"relu"`` or ``"linear"`` (identity) between the convs.
        mid_channels: channels between the convs (default ``out_channels``).
        padding: ``"same"`` (keep the size) or ``"valid"`` (shrink by n - 1).
        bias: give the convs biases (not the inner ones when ``batch_norm``).
        batch_norm: BatchNorm after each inner conv, before the activation.

    Attributes:
        receptive_field: n, the window one output pixel sees.
        out_channels: channels of the output.
        depth: k, the number of stacked convs.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 5,
        *,
        small_kernel: int = 3,
        activation: Activation = "relu",
        mid_channels: int | None = None,
        padding: Padding = "same",
        bias: bool = True,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        _check_common(activation, padding)
        k = stack_depth(kernel_size, small_kernel)
        s = int(small_kernel)
        mid = out_channels if mid_channels is None else int(mid_channels)
        layers: list[nn.Module] = []
        for i in range(k):
            c_in = in_channels if i == 0 else mid
            c_out = out_channels if i == k - 1 else mid
            if padding == "same":
                if s % 2:
                    half = (s - 1) // 2
                    pad = (half, half, half, half)  # (left, right, top, bottom)
                else:  # alternate the extra pixel: top/left on even layers, bottom/right on odd ones
                    before = s // 2 if i % 2 == 0 else s // 2 - 1
                    after = s - 1 - before
                    pad = (before, after, before, after)  # (left, right, top, bottom)
                if any(pad):
                    layers.append(nn.ZeroPad2d(pad))
            last = i == k - 1
            layers.append(nn.Conv2d(c_in, c_out, s, bias=bias and (last or not batch_norm)))
            if not last:
                layers.extend(_inner(c_out, activation, batch_norm))
        self.layers = nn.Sequential(*layers)
        self.receptive_field = int(kernel_size)
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.depth = k
        self.small_kernel = s
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)  # N x out_channels x H' x W' (H' = H for "same", H - n + 1 for "valid")


class AsymmetricConv(nn.Module):
    """A 1 x n conv followed by an n x 1 conv, replacing one n x n conv (Figure 3).

    Args:
        in_channels, out_channels: of the n x n conv being replaced.
        kernel_size: n; odd when ``padding="same"`` (so the window is centred).
        activation: ``"relu"`` or ``"linear"`` (identity) between the two convs.
        mid_channels: channels between the convs (default ``out_channels``).
        order: ``"1xn"`` (1 x n first, the default) or ``"nx1"``.
        padding: ``"same"`` (keep the size) or ``"valid"`` (shrink by n - 1).
        bias: give the convs biases (not the inner one when ``batch_norm``).
        batch_norm: BatchNorm after the first conv, before the activation.

    Attributes:
        receptive_field: n.
        out_channels: channels of the output.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 7,
        *,
        activation: Activation = "relu",
        mid_channels: int | None = None,
        order: Literal["1xn", "nx1"] = "1xn",
        padding: Padding = "same",
        bias: bool = True,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        _check_common(activation, padding)
        n = int(kernel_size)
        if n < 2:
            raise InvalidInputError(f"an asymmetric factorization needs kernel_size >= 2, got {n}")
        if padding == "same" and n % 2 == 0:
            raise InvalidInputError(
                f"padding='same' needs an odd kernel_size (a centred window); got {n}. Use padding='valid'."
            )
        if order not in ("1xn", "nx1"):
            raise InvalidInputError(f"order must be '1xn' or 'nx1', got {order!r}")
        mid = out_channels if mid_channels is None else int(mid_channels)
        p = (n - 1) // 2 if padding == "same" else 0
        shapes = [((1, n), (0, p)), ((n, 1), (p, 0))]
        if order == "nx1":
            shapes.reverse()
        (k1, p1), (k2, p2) = shapes
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, mid, k1, padding=p1, bias=bias and not batch_norm),
            *_inner(mid, activation, batch_norm),
            nn.Conv2d(mid, out_channels, k2, padding=p2, bias=bias),
        )
        self.receptive_field = n
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.order = order
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)  # N x out_channels x H' x W'


def factorization_savings(kernel_size: int, scheme: str, channels: int | None = None) -> dict[str, object]:
    """Weights and multiply-adds of an n x n conv and of its factorization.

    Equal input, intermediate and output channels C, no biases, "same"
    padding (each weight used once per output position, so the multiply-adds
    per output position equal the weights).

    Args:
        kernel_size: n, the conv being replaced.
        scheme: ``"3x3"`` (stack of 3x3 convs), ``"2x2"`` (stack of 2x2 convs)
            or ``"asymmetric"`` (1 x n then n x 1).
        channels: C; ``None`` counts per input-output channel pair (C = 1,
            i.e. in units of C^2).

    Returns:
        A dict with ``name`` (e.g. ``"5x5->3x3,3x3"``, the key of
        ``classicnets.reference.FACTORIZATION_SAVINGS``), ``kernels`` (the
        factorized kernel shapes), ``receptive_field``, ``original_params``,
        ``factorized_params``, ``original_macs`` and ``factorized_macs`` (per
        output position), ``saving`` (1 - factorized / original, a fraction)
        and ``channels``.

    Raises:
        ValueError: an unknown scheme or one that cannot reproduce an n x n
            window (e.g. a 4x4 conv from 3x3 convs).
    """
    n = int(kernel_size)
    c = 1 if channels is None else int(channels)
    if c < 1:
        raise InvalidInputError(f"channels must be >= 1, got {channels}")
    if scheme == "3x3" or scheme == "2x2":
        s = int(scheme[0])
        k = stack_depth(n, s)
        kernels = [(s, s)] * k
    elif scheme == "asymmetric":
        if n < 2:
            raise InvalidInputError(f"an asymmetric factorization needs kernel_size >= 2, got {n}")
        kernels = [(1, n), (n, 1)]
    else:
        raise InvalidInputError(f"unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    original = n * n * c * c
    factorized = sum(kh * kw for kh, kw in kernels) * c * c
    return {
        "name": f"{n}x{n}->" + ",".join(f"{kh}x{kw}" for kh, kw in kernels),
        "kernels": kernels,
        "receptive_field": n,
        "channels": channels,
        "original_params": original,
        "factorized_params": factorized,
        "original_macs": original,
        "factorized_macs": factorized,
        "saving": 1.0 - factorized / original,
    }
