"""Batched augmentation: whole (N, C, H, W) batches at once, no per-image Python loop.

Inputs are uint8 batches (values 0..255) in NCHW layout, on any device.  The
geometric steps keep uint8 (random crop and flip are one gather) except
random-resized-crop, which resamples and returns float32 still in 0..255;
:class:`Normalize` turns either into float32 ``(x / 255 - mean) / std``.

Randomness: every random number is drawn on the CPU from the ``generator``
passed in (a ``torch.Generator``; the global generator when None), then moved
to the batch's device.  The draws depend only on the generator's state and
the batch shape, never on the number of threads or the device, so a seed
gives the same augmented batch on CPU and CUDA, with 1 or 16 threads.

:data:`TRAIN_PRESETS` is the one table ``--augment`` reads: each value's batch
steps for cached images and the per-image preset that serves it for streamed
files; :func:`train_transform` and :func:`eval_transform` are the training and
evaluation pipelines built from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import InvalidInputError

__all__ = [
    "CenterCrop",
    "Compose",
    "Cutout",
    "Normalize",
    "Preset",
    "RandomCrop",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "TRAIN_PRESETS",
    "center_crop",
    "cutout",
    "eval_transform",
    "hflip",
    "normalize",
    "random_crop",
    "random_resized_crop",
    "train_transform",
]


def _check_batch(x: Tensor, what: str) -> None:
    if x.dim() != 4:
        raise InvalidInputError(f"{what} expects an N x C x H x W batch, got shape {tuple(x.shape)}")


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    h, w = size
    return int(h), int(w)


# -- functional ----------------------------------------------------------------
def random_crop(
    x: Tensor,
    size: int | Sequence[int] | None = None,
    padding: int = 0,
    *,
    flip: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Zero-pad by ``padding`` then take a random ``size`` crop per image (default: the input size).

    With ``flip=True`` each image is also mirrored left-right with probability 1/2,
    in the same gather.  Output has ``x``'s dtype and device.
    """
    _check_batch(x, "random_crop")
    n, c, h, w = x.shape
    ch, cw = _pair(size) if size is not None else (h, w)
    if padding:
        x = F.pad(x, (padding, padding, padding, padding))
    hp, wp = h + 2 * padding, w + 2 * padding
    if ch > hp or cw > wp:
        raise InvalidInputError(f"random_crop: crop {ch}x{cw} larger than the padded image {hp}x{wp}")
    oy = torch.randint(0, hp - ch + 1, (n,), generator=generator)
    ox = torch.randint(0, wp - cw + 1, (n,), generator=generator)
    cols = ox[:, None] + torch.arange(cw)  # N x cw
    if flip:
        flips = torch.rand(n, generator=generator) < 0.5
        cols = torch.where(flips[:, None], cols.flip(1), cols)
    rows = oy[:, None] + torch.arange(ch)  # N x ch
    dev = x.device
    # One gather: flat index of each output pixel inside its own padded image plane.
    idx = (rows[:, :, None] * wp + cols[:, None, :]).to(dev)  # N x ch x cw
    planes = x.reshape(n, c, hp * wp)
    out = torch.gather(planes, 2, idx.reshape(n, 1, ch * cw).expand(n, c, ch * cw))
    return out.reshape(n, c, ch, cw)


def hflip(x: Tensor, p: float = 0.5, *, generator: torch.Generator | None = None) -> Tensor:
    """Mirror each image left-right with probability ``p``."""
    _check_batch(x, "hflip")
    flips = (torch.rand(x.shape[0], generator=generator) < p).to(x.device)
    return torch.where(flips[:, None, None, None], x.flip(3), x)


def center_crop(x: Tensor, size: int | Sequence[int]) -> Tensor:
    """The central ``size`` crop of every image (a view)."""
    _check_batch(x, "center_crop")
    ch, cw = _pair(size)
    h, w = x.shape[-2:]
    if ch > h or cw > w:
        raise InvalidInputError(f"center_crop: crop {ch}x{cw} larger than the image {h}x{w}")
    top, left = (h - ch) // 2, (w - cw) // 2
    return x[:, :, top : top + ch, left : left + cw]


def random_resized_crop(
    x: Tensor,
    size: int | Sequence[int],
    *,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    flip: bool = False,
    generator: torch.Generator | None = None,
    attempts: int = 10,
) -> Tensor:
    """Crop a random box (area fraction in ``scale``, aspect ratio in ``ratio``) and resize it to ``size``.

    The "Inception" crop (Szegedy et al., 2015): per image, up to ``attempts``
    (area, log-uniform ratio) draws, the first box that fits is used, else the
    central box of the image's own aspect ratio clipped to ``ratio``.  All draws
    are vectorised.  Resampling is bilinear (``grid_sample``) without antialias.
    Returns float32 in 0..255; ``flip`` mirrors with probability 1/2.
    """
    _check_batch(x, "random_resized_crop")
    n, c, h, w = x.shape
    oh, ow = _pair(size)
    area = float(h * w)
    a = torch.empty(n, attempts).uniform_(scale[0], scale[1], generator=generator) * area
    logr = torch.empty(n, attempts).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=generator)
    r = torch.exp(logr)
    bw = torch.sqrt(a * r).round()
    bh = torch.sqrt(a / r).round()
    ok = (bw >= 1) & (bh >= 1) & (bw <= w) & (bh <= h)
    first = torch.argmax(ok.to(torch.int8), dim=1)  # first fitting attempt (0 if none)
    any_ok = ok.any(dim=1)
    bw = bw.gather(1, first[:, None]).squeeze(1)
    bh = bh.gather(1, first[:, None]).squeeze(1)
    # fallback: the whole image, aspect clipped to the ratio range
    in_ratio = w / h
    if in_ratio < ratio[0]:
        fw, fh = float(w), round(w / ratio[0])
    elif in_ratio > ratio[1]:
        fw, fh = round(h * ratio[1]), float(h)
    else:
        fw, fh = float(w), float(h)
    bw = torch.where(any_ok, bw, torch.full_like(bw, fw))
    bh = torch.where(any_ok, bh, torch.full_like(bh, fh))
    u = torch.rand(n, 2, generator=generator)
    x0 = torch.floor(u[:, 0] * (w - bw + 1)).clamp(max=w - bw)
    y0 = torch.floor(u[:, 1] * (h - bh + 1)).clamp(max=h - bh)
    x0 = torch.where(any_ok, x0, torch.floor((w - bw) / 2))
    y0 = torch.where(any_ok, y0, torch.floor((h - bh) / 2))
    sx = bw / w
    if flip:
        flips = torch.rand(n, generator=generator) < 0.5
        sx = torch.where(flips, -sx, sx)
    # affine map from output coords in [-1, 1] to input coords (align_corners=False: pixel edges at +-1)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = sx
    theta[:, 0, 2] = (2 * x0 + bw) / w - 1
    theta[:, 1, 1] = bh / h
    theta[:, 1, 2] = (2 * y0 + bh) / h - 1
    dev = x.device
    xf = x.to(torch.float32)
    grid = F.affine_grid(theta.to(dev), [n, c, oh, ow], align_corners=False)
    return F.grid_sample(xf, grid, mode="bilinear", padding_mode="border", align_corners=False)


def normalize(x: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """float32 ``(x / 255 - mean) / std`` per channel, for ``x`` in 0..255 (uint8 or float)."""
    _check_batch(x, "normalize")
    c = x.shape[1]
    if len(mean) != c or len(std) != c:
        raise InvalidInputError(f"normalize: {len(mean)} means and {len(std)} stds for {c} channels")
    m = torch.tensor(mean, dtype=torch.float64)
    s = torch.tensor(std, dtype=torch.float64)
    scale = (1.0 / (255.0 * s)).to(torch.float32).view(1, c, 1, 1).to(x.device)
    shift = (-m / s).to(torch.float32).view(1, c, 1, 1).to(x.device)
    out = x.to(torch.float32, memory_format=torch.contiguous_format)
    return out.mul_(scale).add_(shift)


def cutout(x: Tensor, length: int, *, generator: torch.Generator | None = None, fill: float = 0.0) -> Tensor:
    """Fill one ``length x length`` square per image with ``fill`` (DeVries & Taylor, 2017).

    The square's centre is uniform over the image; the square is clipped at the
    borders.  Applied after normalisation, ``fill=0`` is the dataset mean colour,
    as in the paper.  Modifies a copy.
    """
    _check_batch(x, "cutout")
    n, _, h, w = x.shape
    cy = torch.randint(0, h, (n,), generator=generator)
    cx = torch.randint(0, w, (n,), generator=generator)
    y0 = (cy - length // 2)[:, None]
    x0 = (cx - length // 2)[:, None]
    ys = torch.arange(h)[None]
    xs = torch.arange(w)[None]
    my = (ys >= y0) & (ys < y0 + length)  # N x H
    mx = (xs >= x0) & (xs < x0 + length)  # N x W
    mask = (my[:, :, None] & mx[:, None, :])[:, None].to(x.device)  # N x 1 x H x W
    return x.masked_fill(mask, fill)


# -- composable transforms -----------------------------------------------------
class Compose:
    """Apply transforms in order; each is called as ``t(x, generator)``."""

    def __init__(self, transforms: Sequence[object]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        for t in self.transforms:
            x = t(x, generator)  # type: ignore[operator]
        return x

    def __repr__(self) -> str:
        return "Compose(" + ", ".join(repr(t) for t in self.transforms) + ")"


class RandomCrop:
    def __init__(self, size: int | Sequence[int] | None = None, padding: int = 0, flip: bool = False) -> None:
        self.size, self.padding, self.flip = size, padding, flip

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return random_crop(x, self.size, self.padding, flip=self.flip, generator=generator)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding}, flip={self.flip})"


class RandomHorizontalFlip:
    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return hflip(x, self.p, generator=generator)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class RandomResizedCrop:
    def __init__(self, size: int | Sequence[int], scale: tuple[float, float] = (0.08, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3), flip: bool = False) -> None:
        self.size, self.scale, self.ratio, self.flip = size, tuple(scale), tuple(ratio), flip

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return random_resized_crop(x, self.size, scale=self.scale, ratio=self.ratio, flip=self.flip,
                                   generator=generator)

    def __repr__(self) -> str:
        return f"RandomResizedCrop(size={self.size}, scale={self.scale}, ratio={self.ratio}, flip={self.flip})"


class CenterCrop:
    def __init__(self, size: int | Sequence[int]) -> None:
        self.size = size

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return center_crop(x, self.size)

    def __repr__(self) -> str:
        return f"CenterCrop({self.size})"


class Normalize:
    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean, self.std = tuple(float(m) for m in mean), tuple(float(s) for s in std)

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return normalize(x, self.mean, self.std)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


class Cutout:
    def __init__(self, length: int, fill: float = 0.0) -> None:
        self.length, self.fill = length, fill

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return cutout(x, self.length, generator=generator, fill=self.fill)

    def __repr__(self) -> str:
        return f"Cutout({self.length})"


# -- the --augment presets ---------------------------------------------------------------
def _pad(side: int) -> int:
    """He et al.'s 4 pixels of zero padding at 32x32, scaled to the image side."""
    return max(1, round(4 * side / 32))


def _centered(side: int, size: int) -> list[object]:
    """The central ``size`` square of ``side`` images (nothing when they already have that side)."""
    return [CenterCrop(size)] if side != size else []


@dataclass(frozen=True)
class Preset:
    """One ``--augment`` value.

    ``steps(side, size)``: the batch steps before normalization, for cached images of ``side`` pixels and a
    model that sees ``size``.  ``streamed``: the per-image preset of
    :data:`classicnets.data.streaming.PRESETS` that does the same to streamed files, or None where a
    streamed dataset cannot be augmented this way.
    """

    steps: Callable[[int, int], list[object]]
    streamed: str | None = None


TRAIN_PRESETS: dict[str, Preset] = {
    "none": Preset(_centered, streamed="imagenet-eval"),
    "flip": Preset(lambda side, size: [*_centered(side, size), RandomHorizontalFlip()]),
    # He et al. 2016, sec. 4.2 (CIFAR): "4 pixels are padded on each side, and a 32x32 crop is randomly
    # sampled from the padded image or its horizontal flip"
    "crop": Preset(lambda side, size: [RandomCrop(size, padding=_pad(side))]),
    "crop-flip": Preset(lambda side, size: [RandomCrop(size, padding=_pad(side), flip=True)]),
    # the "Inception" crop (Szegedy et al. 2015, sec. 6) and a flip: see random_resized_crop
    "resized-crop-flip": Preset(lambda side, size: [RandomResizedCrop(size, flip=True)],
                                streamed="imagenet-train"),
}


def train_transform(augment: str, mean: Sequence[float], std: Sequence[float], *, side: int, size: int) -> Compose:
    """The ``--augment`` preset for cached ``side`` x ``side`` images seen at ``size``, then normalization."""
    if augment not in TRAIN_PRESETS:
        raise InvalidInputError(f"unknown --augment {augment!r}; choose {', '.join(TRAIN_PRESETS)}.")
    return Compose([*TRAIN_PRESETS[augment].steps(side, size), Normalize(mean, std)])


def eval_transform(mean: Sequence[float], std: Sequence[float], *, crop: int | None = None) -> Compose:
    """Central crop (when ``crop`` is given) then normalise."""
    steps: list[object] = [CenterCrop(crop)] if crop else []
    return Compose([*steps, Normalize(mean, std)])
