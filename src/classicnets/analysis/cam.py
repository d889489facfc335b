"""Class activation maps (Zhou, Khosla, Lapedriza, Oliva, Torralba 2016, "Learning Deep Features for
Discriminative Localization", CVPR).

A network whose head is global average pooling (GAP) followed by one linear layer
computes the score of class ``c`` as

    S_c = sum_k w_k^c * mean_{x,y} f_k(x, y) = mean_{x,y} sum_k w_k^c f_k(x, y),

where ``f_k`` is the k-th channel of the last feature map and ``w^c`` the
classifier's row for class ``c``.  The map inside the mean,

    M_c(x, y) = sum_k w_k^c f_k(x, y),

is the class activation map: it says how much each position contributes to the
score, i.e. where the network looks.  :func:`class_activation_maps` computes it
at the feature map's resolution, upsamples it bilinearly to the input size and
normalizes each map to [0, 1] (minimum 0, maximum 1; a constant map becomes 0).

Two heads qualify, and the check is numerical, so a model is accepted for what
its head computes, not for its class name:

* **GAP + linear** (the CIFAR and ImageNet ResNets, GoogLeNet, Inception v3,
  ``cnn3``): ``get_classifier()`` is an ``nn.Linear`` whose input size is the
  number of channels of ``forward_features(x)``, and ``forward_head(f)`` equals
  ``classifier(mean(f))`` (in eval mode, where dropout is the identity).
* **GAP of class maps** (Network in Network): ``get_classifier()`` is a 1x1
  ``nn.Conv2d`` with one output channel per class, and ``forward_head(f)`` is
  the spatial mean of its output (or of the ReLU of its output, as in the
  authors' released models).  The class map ``classifier(f)`` *is* ``M_c``
  (plus the constant bias, which the normalization removes); the ReLU is
  monotone, so it moves no maximum, and the map is taken before it.

Anything else (AlexNet's and VGG's fully connected heads, ``mnist_mlp``, a GAP
followed by more than one layer) is refused with a :class:`~classicnets.errors.
InvalidInputError` that says why.  The bias ``b_c`` is left out of ``M_c`` (it
shifts the map by a constant, which the normalization removes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._io import pyplot, save_figure
from ..errors import InvalidInputError

__all__ = ["CAMResult", "cam_weights", "class_activation_maps", "normalize_maps", "overlay", "save_overlays"]

HEAD_LINEAR = "GAP + linear"
HEAD_CLASS_MAPS = "GAP of class maps (1x1 conv)"


@dataclass
class CAMResult:
    """Class activation maps of a batch.

    Attributes:
        maps: ``N x H x W`` float tensor in [0, 1], upsampled to the input size.
        raw: ``N x h x w`` maps at the feature map's resolution, before upsampling
            and normalization (``sum_k w_k^c f_k``).
        targets: the class index each map is for (``N``).
        probs: softmax of the logits, ``N x num_classes``.
        head: which of the two supported heads the model has.
    """

    maps: torch.Tensor
    raw: torch.Tensor
    targets: torch.Tensor
    probs: torch.Tensor
    head: str


def _name(model: nn.Module) -> str:
    return type(model).__name__


def cam_weights(model: nn.Module, features: torch.Tensor, logits: torch.Tensor) -> tuple[torch.Tensor, str]:
    """The ``num_classes x C`` weights ``w^c`` of a CAM-compatible head, or a clear refusal.

    ``features`` is ``forward_features(x)`` and ``logits`` is ``forward_head(features)``
    of the same batch, both computed in eval mode; they are used to check that the
    head really is global average pooling followed by the classifier.
    """
    name = _name(model)
    why = (f"class activation maps need a head that is global average pooling followed by one linear layer "
           f"(or NIN's global average of 1x1-conv class maps); {name}'s is not: ")
    get = getattr(model, "get_classifier", None)
    if get is None:
        raise InvalidInputError(why + "it has no get_classifier().")
    clf = get()
    if features.dim() != 4:
        raise InvalidInputError(why + f"its last features are {tuple(features.shape[1:])}, not a spatial map "
                                "(C x H x W), so there is nothing to localize.")
    c = features.shape[1]
    pooled = features.float().mean(dim=(2, 3))
    if isinstance(clf, nn.Linear):
        if clf.in_features != c:
            raise InvalidInputError(why + f"its classifier (Linear {clf.in_features} -> {clf.out_features}) does not "
                                    f"take the pooled {c}-channel feature map; the layers between them (fully "
                                    "connected or flattening) have no per-position meaning.")
        expect = clf(pooled)
        if not _close(logits, expect):
            raise InvalidInputError(why + "its classifier takes the right number of channels, but forward_head(f) "
                                    "is not classifier(mean of f): there is more than average pooling between "
                                    "the feature map and the classifier.")
        return clf.weight.detach().float(), HEAD_LINEAR
    if isinstance(clf, nn.Conv2d) and tuple(clf.kernel_size) == (1, 1) and clf.in_channels == c \
            and clf.groups == 1 and tuple(clf.stride) == (1, 1):
        maps = clf(features)
        if _close(logits, maps.mean(dim=(2, 3))) or _close(logits, torch.relu(maps).mean(dim=(2, 3))):
            return clf.weight.detach().float()[:, :, 0, 0], HEAD_CLASS_MAPS
        raise InvalidInputError(why + "its 1x1 classifier's class maps are not simply averaged into the logits.")
    raise InvalidInputError(why + f"its classifier is a {type(clf).__name__}, not a linear layer or a 1x1 "
                            "convolution applied to the last feature map.")


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    a, b = a.float(), b.float()
    if a.shape != b.shape:
        return False
    scale = float(b.abs().max()) if b.numel() else 0.0
    return bool(torch.allclose(a, b, rtol=1e-4, atol=1e-5 * max(1.0, scale)))


def normalize_maps(maps: torch.Tensor) -> torch.Tensor:
    """Each map (over its last two dimensions) rescaled to [0, 1]; a constant map becomes all zeros."""
    flat = maps.flatten(-2)
    lo = flat.min(dim=-1, keepdim=True).values
    hi = flat.max(dim=-1, keepdim=True).values
    span = hi - lo
    # Upsampling a constant map can leave differences of a few ulps; they are not structure.
    varies = span > 1e-5 * torch.maximum(hi.abs(), lo.abs()).clamp_min(1e-30)
    out = torch.where(varies, (flat - lo) / torch.where(varies, span, torch.ones_like(span)), torch.zeros_like(flat))
    return out.reshape(maps.shape)


@torch.no_grad()
def class_activation_maps(
    model: nn.Module,
    x: torch.Tensor,
    *,
    target: int | list[int] | torch.Tensor | None = None,
    size: tuple[int, int] | None = None,
) -> CAMResult:
    """Class activation maps of ``model`` for the batch ``x`` (``N x C x H x W``, normalized as in training).

    Args:
        model: a model with a GAP + linear head or NIN's GAP-of-class-maps head
            (see the module docstring); anything else raises ``InvalidInputError``.
        x: the input batch.
        target: the class of each map: one index for all, one per image, or
            ``None`` for each image's top-scoring class.
        size: ``(H, W)`` of the upsampled maps (default: the input's).

    The model is run in eval mode and left as it was (train/eval flag restored,
    no hooks, no state changed).
    """
    if x.dim() != 4:
        raise InvalidInputError(f"class_activation_maps expects a batch N x C x H x W, got shape {tuple(x.shape)}.")
    was_training = model.training
    model.eval()
    try:
        check = getattr(model, "check_input", None)
        if check is not None:
            check(x)
        feats = model.forward_features(x)
        logits = model.forward_head(feats)
        weights, head = cam_weights(model, feats, logits)
    finally:
        model.train(was_training)
    n = x.shape[0]
    k = weights.shape[0]
    if target is None:
        targets = logits.argmax(dim=1)
    else:
        targets = torch.as_tensor(target, dtype=torch.long).reshape(-1).to(logits.device)
        if targets.numel() == 1:
            targets = targets.expand(n)
        if targets.numel() != n:
            raise InvalidInputError(f"target: {targets.numel()} classes for {n} images.")
        if int(targets.min()) < 0 or int(targets.max()) >= k:
            raise InvalidInputError(f"target class out of range 0..{k - 1}: {targets.tolist()}")
    w = weights.to(feats.device)[targets]  # N x C
    raw = torch.einsum("nc,nchw->nhw", w, feats.float())  # N x h x w
    out_size = tuple(size) if size is not None else tuple(x.shape[-2:])
    up = F.interpolate(raw[:, None], size=out_size, mode="bilinear", align_corners=False)[:, 0]
    return CAMResult(maps=normalize_maps(up), raw=raw, targets=targets.cpu(),
                     probs=torch.softmax(logits.float(), dim=1).cpu(), head=head)


def overlay(image: np.ndarray, cam: np.ndarray | torch.Tensor, *, alpha: float = 0.5,
            cmap: str = "jet") -> np.ndarray:
    """``image`` (H x W x C uint8, C = 1 or 3) blended with the colour-mapped ``cam`` (H x W in [0, 1])."""
    import matplotlib

    cam_np = cam.detach().cpu().numpy() if isinstance(cam, torch.Tensor) else np.asarray(cam)
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    if img.shape[:2] != cam_np.shape:
        raise InvalidInputError(f"overlay: image {img.shape[:2]} and map {cam_np.shape} differ in size.")
    colours = matplotlib.colormaps[cmap](np.clip(cam_np, 0.0, 1.0))[..., :3]
    mixed = (1 - alpha) * img.astype(np.float64) / 255.0 + alpha * colours
    return np.clip(np.round(mixed * 255.0), 0, 255).astype(np.uint8)


def save_overlays(path: str | Path, panels: list[tuple[np.ndarray, Any, str]], *, columns: int | None = None,
                  title: str | None = None) -> Path:
    """A PNG grid: each panel is ``(image uint8 H x W x C, map H x W in [0, 1], caption)``.

    Each panel shows the image with its map blended on top; one panel gives one
    image.  Drawn on matplotlib's file-only Agg backend (:func:`classicnets._io.pyplot`).
    """
    plt = pyplot()
    if not panels:
        raise InvalidInputError("save_overlays: no panels to draw.")
    cols = columns or min(len(panels), 6)
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.6 * rows + (0.4 if title else 0)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (img, cam, caption) in zip(axes.flat, panels, strict=False):
        ax.imshow(overlay(img, cam))
        ax.set_title(caption, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)
