"""Fold BatchNorm into the preceding convolution (or linear layer) for inference.

In eval mode a BatchNorm is a fixed per-channel affine map (Ioffe & Szegedy
2015, Algorithm 2)::

    bn(z) = s * z + (beta - s * E[z]),    s = gamma / sqrt(Var[z] + eps)

and a convolution is linear in its weights, so ``bn(conv(x))`` is one
convolution with weight ``s * W`` (each output channel scaled) and bias
``s * (b - E[z]) + beta``.  :func:`fold_batchnorm` does this rewrite on a copy
of a model: same outputs (up to rounding), fewer tensors, one layer fewer per
pair at inference time.

Which BatchNorm "immediately follows" which convolution is read from the module
tree, with two rules that cover every layout in this project:

1. **Sequential order.**  In an ``nn.Sequential``, child ``i`` is a ``Conv2d``
   and child ``i + 1`` a ``BatchNorm2d`` (e.g. ResNet's ``downsample.0`` /
   ``downsample.1``, VGG-BN's ``features``), or child ``i`` is a ``Linear`` and
   child ``i + 1`` a ``BatchNorm1d`` (a Sequential of a fully connected net;
   this assumes ``(N, features)`` input, the layout in which BatchNorm1d's
   channels are the Linear's outputs).
2. **Name pairs.**  In any other module, a child ``conv<suffix>`` that is a
   ``Conv2d`` and a sibling ``bn<suffix>`` that is a ``BatchNorm2d``, with the
   conv registered *before* the BN: ``conv``/``bn`` of ``BasicConv2d``
   (GoogLeNet, Inception v3, the small CNN), ``conv1``/``bn1`` ...
   ``conv3``/``bn3`` of the ResNet blocks and the ResNet stem.  Likewise a
   ``Linear`` child ``fc<suffix>`` and a ``BatchNorm1d`` sibling
   ``bn<suffix>`` (the MNIST MLP's ``SigmoidLayer``).  The registration-order
   condition is the convention that ``__init__`` creates layers in forward
   order; it keeps pre-activation blocks (``bn1`` -> relu -> ``conv1``) from
   being folded.  A module that registers its layers in another order, or
   applies ``bn<suffix>`` to anything but ``conv<suffix>``'s output, breaks
   the rule: do not fold it (or check the outputs, as the tests do).

A pair is folded only when it is safe: exactly ``nn.Conv2d`` / ``nn.Linear``
(a subclass may change its forward), exactly ``torch.nn.BatchNorm{1,2}d`` or
classicnets' own (:mod:`classicnets.models.batchnorm`), the BN's
``num_features`` equal to the layer's output channels, the BN keeping running
statistics (without them it normalizes with batch statistics even in eval
mode), and neither module used at a second place in the model.  Anything else
is left as it was.
"""

from __future__ import annotations

import copy
from collections import Counter

import torch
from torch import nn

from . import batchnorm as _bn

__all__ = ["fold_batchnorm"]

_BN2D = (nn.BatchNorm2d, _bn.BatchNorm2d)
_BN1D = (nn.BatchNorm1d, _bn.BatchNorm1d)

# A fold: (module holding the BN, the BN's child name, the conv/linear, the BN).
_Fold = tuple[nn.Module, str, nn.Module, nn.Module]


def _foldable(layer: nn.Module, bn: nn.Module, counts: Counter[int]) -> bool:
    """Is ``bn(layer(x))`` safe to merge into ``layer``?"""
    if type(layer) is nn.Conv2d:
        if type(bn) not in _BN2D or bn.num_features != layer.out_channels:
            return False
    elif type(layer) is nn.Linear:
        if type(bn) not in _BN1D or bn.num_features != layer.out_features:
            return False
    else:
        return False
    if bn.running_mean is None or bn.running_var is None:  # batch statistics even in eval mode
        return False
    return counts[id(layer)] == 1 and counts[id(bn)] == 1


def _find_pairs(model: nn.Module) -> list[_Fold]:
    counts: Counter[int] = Counter(id(m) for _, m in model.named_modules(remove_duplicate=False))
    folds: list[_Fold] = []
    for parent in model.modules():
        names = list(parent._modules)  # children in registration order
        children = [parent._modules[n] for n in names]
        if isinstance(parent, nn.Sequential):  # rule 1: consecutive children
            for i in range(len(names) - 1):
                layer, bn = children[i], children[i + 1]
                if layer is not None and bn is not None and _foldable(layer, bn, counts):
                    folds.append((parent, names[i + 1], layer, bn))
            continue
        position = {n: i for i, n in enumerate(names)}
        for bn_name in names:  # rule 2: conv<suffix> or fc<suffix> registered before bn<suffix>
            if not bn_name.startswith("bn"):
                continue
            suffix = bn_name[len("bn"):]
            for name in ("conv" + suffix, "fc" + suffix):
                if name not in position or position[name] > position[bn_name]:
                    continue
                layer, bn = parent._modules[name], parent._modules[bn_name]
                if layer is not None and bn is not None and _foldable(layer, bn, counts):
                    folds.append((parent, bn_name, layer, bn))
                    break
    return folds


@torch.no_grad()
def _fold_into(layer: nn.Conv2d | nn.Linear, bn: nn.Module) -> None:
    """Merge ``bn`` (eval semantics) into ``layer``'s weight and bias, in place."""
    w = layer.weight
    # Compute in float64 so folding adds no rounding of its own beyond the final cast.
    var = bn.running_var.to(torch.float64)
    mean = bn.running_mean.to(torch.float64)
    scale = torch.rsqrt(var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight.to(torch.float64)
    shift = -mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias.to(torch.float64)
    old_bias = (
        layer.bias.to(torch.float64) if layer.bias is not None
        else torch.zeros_like(scale)
    )
    # W' = s * W per output channel (dim 0), b' = s * b + (beta - s * E[z]).
    new_w = w.to(torch.float64) * scale.view(-1, *([1] * (w.dim() - 1)))
    new_b = old_bias * scale + shift
    w.copy_(new_w.to(w.dtype))
    if layer.bias is None:
        layer.bias = nn.Parameter(new_b.to(device=w.device, dtype=w.dtype), requires_grad=w.requires_grad)
    else:
        layer.bias.copy_(new_b.to(layer.bias.dtype))


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with every BatchNorm that follows a conv/linear merged into it.

    Each folded ``Conv2d`` (or ``Linear``) gets the BN's scale in its weight and
    a bias (created if it had none); the BN is replaced by ``nn.Identity`` so
    the rest of the module tree, its names and its ``forward`` code are
    unchanged.  The rules for which BN follows which layer are in this module's
    docstring.  ``model`` itself is not touched (same values, same training
    flag).  Works inside ``torch.no_grad()`` or outside; the returned
    parameters require grad as the originals did.

    The copy computes what ``model.eval()`` computes, up to float rounding
    (about 1e-6 relative in float32).

    >>> from torch import nn
    >>> net = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU())
    >>> fold_batchnorm(net)
    Sequential(
      (0): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1))
      (1): Identity()
      (2): ReLU()
    )
    """
    folded = copy.deepcopy(model)
    for parent, bn_name, layer, bn in _find_pairs(folded):
        _fold_into(layer, bn)
        setattr(parent, bn_name, nn.Identity())
    return folded.eval()  # last, so that the new Identity modules are in eval mode too
