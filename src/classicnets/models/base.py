"""The interface every classicnets model follows (after timm).

* ``forward(x)`` returns a logits tensor of shape ``(N, num_classes)`` in train
  and eval mode alike (auxiliary heads have their own ``forward_aux``).
* ``forward_features(x)`` returns the last feature map (before pooling), or the
  last hidden activations for the fully connected models.
* ``forward_head(x, pre_logits=False)`` maps features to logits; with
  ``pre_logits=True`` it stops right before the final classifier layer.
* ``get_classifier()`` / ``reset_classifier(num_classes)`` give and replace the
  final classifier layer.
* ``num_classes``, ``in_chans``, ``default_input_size`` and ``min_input_size``
  (both ``(C, H, W)``) are plain attributes.  An input with the wrong number of
  dimensions or channels, or smaller than ``min_input_size``, raises a clear
  ``ValueError`` before any layer runs.
* ``pretrained_cfg`` is ``None``, or, for a model built with ``pretrained=True``,
  the dict that says what its weights were trained on (:mod:`.pretrained`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import InvalidInputError


class ClassifierNet(nn.Module):
    """Base class: input checking and the uniform forward split."""

    num_classes: int
    in_chans: int
    default_input_size: tuple[int, int, int]
    min_input_size: tuple[int, int, int]
    # what the loaded weights were trained on (``create_model(name, pretrained=True)``; see .pretrained), else None
    pretrained_cfg: dict[str, Any] | None = None

    def __init__(
        self,
        *,
        num_classes: int,
        in_chans: int,
        default_input_size: tuple[int, int, int],
        min_input_size: tuple[int, int, int],
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise InvalidInputError(f"num_classes must be >= 1, got {num_classes}")
        if in_chans < 1:
            raise InvalidInputError(f"in_chans must be >= 1, got {in_chans}")
        self.num_classes = int(num_classes)
        self.in_chans = int(in_chans)
        self.default_input_size = (int(in_chans), *default_input_size[1:])
        self.min_input_size = (int(in_chans), *min_input_size[1:])

    # -- input checking -------------------------------------------------
    def check_input(self, x: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``x`` is ``(N, C, H, W)`` with H, W >= the minimum."""
        name = type(self).__name__
        c, min_h, min_w = self.min_input_size
        if x.dim() != 4:
            raise InvalidInputError(
                f"{name} expects a batch of images shaped (N, {c}, H, W); got a tensor of shape "
                f"{tuple(x.shape)}. Add a batch dimension with x.unsqueeze(0) for a single image."
            )
        if x.shape[1] != c:
            raise InvalidInputError(
                f"{name} was built for {c} input channel(s) but the input has {x.shape[1]} "
                f"(shape {tuple(x.shape)}); build it with in_chans={x.shape[1]}."
            )
        if x.shape[2] < min_h or x.shape[3] < min_w:
            raise InvalidInputError(
                f"{name} needs inputs of at least {min_h}x{min_w} pixels (min_input_size="
                f"{self.min_input_size}); got {x.shape[2]}x{x.shape[3]}. Resize or pad the images."
            )

    # -- the uniform split ----------------------------------------------
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def get_classifier(self) -> nn.Module:
        """The final classifier layer: ``self.fc`` unless a family overrides this."""
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the final classifier by a fresh ``nn.Linear`` with ``num_classes`` outputs."""
        self.fc = new_linear_like(self.fc, num_classes)
        self.num_classes = int(num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.forward_head(self.forward_features(x))


class AuxHeadNet(ClassifierNet):
    """Base of the nets with auxiliary classifiers on intermediate maps (GoogLeNet, InceptionCifar).

    A subclass writes its trunk once, ``_trunk(x, with_aux)`` -> (last feature map,
    [auxiliary logits]), and lists its built heads (each ending in ``fc2``) in
    :meth:`aux_heads`.  ``forward`` never runs the heads; :meth:`forward_aux` does.
    """

    def _trunk(self, x: torch.Tensor, with_aux: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        raise NotImplementedError  # pragma: no cover - abstract

    def aux_heads(self) -> list[nn.Module]:
        """The auxiliary heads this model was built with (empty without them)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def init_classifier(self, fc: nn.Linear) -> None:
        """Initialize a fresh classifier layer; PyTorch's default init unless a family overrides it."""

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._trunk(x, with_aux=False)[0]

    def forward_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(logits, [aux logits])`` for training: main and auxiliary logits.

        The heads run in train and eval mode alike; the list is empty for a model
        built without them.
        """
        self.check_input(x)
        feats, aux = self._trunk(x, with_aux=True)
        return self.forward_head(feats), aux

    def reset_classifier(self, num_classes: int) -> None:
        """Replace ``fc`` and the auxiliary heads' ``fc2``."""
        self.fc = new_linear_like(self.fc, num_classes)
        self.init_classifier(self.fc)
        for head in self.aux_heads():
            head.fc2 = new_linear_like(head.fc2, num_classes)
            self.init_classifier(head.fc2)
        self.num_classes = int(num_classes)


class MLPHeadNet(ClassifierNet):
    """Base of the nets laid out as ``features`` -> ``avgpool`` -> ``classifier`` (AlexNet, VGG).

    ``classifier`` is an ``nn.Sequential`` of fully connected layers whose last
    entry is the final ``nn.Linear``; ``pre_logits`` stops right before it.
    """

    features: nn.Module
    avgpool: nn.Module
    classifier: nn.Sequential

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)  # N x (C * h * w) of the pooled map
        return self.classifier[:-1](x) if pre_logits else self.classifier(x)

    def get_classifier(self) -> nn.Module:
        return self.classifier[-1]

    def reset_classifier(self, num_classes: int) -> None:
        self.classifier[-1] = new_linear_like(self.classifier[-1], num_classes)
        self.num_classes = int(num_classes)


def check_rate(name: str, value: float) -> None:
    """Refuse a dropout probability outside [0, 1)."""
    if not 0.0 <= value < 1.0:
        raise InvalidInputError(f"{name} must be in [0, 1), got {value}")


def new_linear_like(old: nn.Linear, num_classes: int) -> nn.Linear:
    """A fresh ``nn.Linear`` with ``old``'s input size, dtype and device and ``num_classes`` outputs."""
    if num_classes < 1:
        raise InvalidInputError(f"num_classes must be >= 1, got {num_classes}")
    return nn.Linear(
        old.in_features, num_classes, bias=old.bias is not None,
        device=old.weight.device, dtype=old.weight.dtype,
    )
