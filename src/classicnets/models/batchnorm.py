"""Batch normalization written out with plain tensor operations.

Ioffe & Szegedy 2015, *Batch Normalization* (arXiv:1502.03167):

* **Algorithm 1 (training).**  For each channel, over the m values of a
  mini-batch (the batch for ``(N, C)`` inputs, batch and positions for
  ``(N, C, L)`` and ``(N, C, H, W)``)::

      mu    = 1/m * sum(x)
      var   = 1/m * sum((x - mu)^2)          # biased: divides by m
      x_hat = (x - mu) / sqrt(var + eps)
      y     = gamma * x_hat + beta

* **Algorithm 2 (inference).**  The population statistics replace the batch
  ones: E[x] is the average of the batch means and Var[x] the average of the
  *unbiased* batch variances, ``m / (m - 1) * var``.  Because both are then
  constants, the normalization folds into one per-channel affine map::

      y = gamma / sqrt(Var[x] + eps) * x + (beta - gamma * E[x] / sqrt(Var[x] + eps))

  which is also why a BatchNorm right after a convolution can be merged into
  that convolution (see :mod:`classicnets.models.fold`).

Like PyTorch, the "average over the training set" is kept as an exponential
moving average with ``momentum`` (or, with ``momentum=None``, an exact
cumulative average).  The classes below use the same constructor options and
the same parameter and buffer names as ``torch.nn.BatchNorm1d`` /
``torch.nn.BatchNorm2d`` (``weight``, ``bias``, ``running_mean``,
``running_var``, ``num_batches_tracked``), so their state_dicts load into each
other in both directions, and they compute the same numbers.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import InvalidInputError

__all__ = ["BatchNorm1d", "BatchNorm2d"]


class _BatchNorm(nn.Module):
    """Shared implementation; subclasses only say which input ranks they accept.

    Args:
        num_features: number of channels C.
        eps: added to the variance before the square root (PyTorch's default
            1e-5; the Inception family uses TensorFlow's 1e-3).
        momentum: weight of the newest batch in the running statistics,
            ``running = (1 - momentum) * running + momentum * batch_stat``.
            ``None`` gives the cumulative average over all batches seen so far
            (momentum ``1 / num_batches_tracked``).  **TensorFlow/Keras** call
            the complementary number the decay (Keras's ``momentum`` argument
            of ``BatchNormalization``): ``decay = 1 - momentum``.  PyTorch's
            default 0.1 is Keras's 0.9; Keras's default 0.99 is momentum 0.01;
            TF-slim Inception's decay 0.9997 is momentum 0.0003.
        affine: learn a per-channel scale ``weight`` (gamma, initialised to 1)
            and shift ``bias`` (beta, initialised to 0).
        track_running_stats: keep ``running_mean``, ``running_var`` and
            ``num_batches_tracked``.  Without them the batch statistics are
            used in eval mode too.
        device, dtype: where and in which floating type to create the tensors.
        bias: with ``affine``, also learn the shift beta (``False``: scale only,
            as PyTorch's keyword-only ``bias`` option).
    """

    _version = 2  # state_dicts of version < 2 (PyTorch < 0.4.1) lack num_batches_tracked
    _accepted_dims: tuple[int, ...] = ()
    _layout: str = ""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if num_features < 1:
            raise InvalidInputError(f"num_features must be >= 1, got {num_features}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise InvalidInputError(f"momentum must be in [0, 1] or None, got {momentum}")
        if eps < 0:
            raise InvalidInputError(f"eps must be >= 0, got {eps}")
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        if affine:
            self.weight = nn.Parameter(torch.empty(num_features, **factory))
            if bias:
                self.bias = nn.Parameter(torch.empty(num_features, **factory))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))
            self.register_buffer("running_var", torch.ones(num_features, **factory))
            self.register_buffer(
                "num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device)
            )
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    # -- initialisation ------------------------------------------------
    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches seen."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1.0)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Reset the running statistics and set gamma = 1, beta = 0 (the identity map)."""
        self.reset_running_stats()
        if self.affine:
            with torch.no_grad():
                self.weight.fill_(1.0)
                if self.bias is not None:
                    self.bias.zero_()

    # -- input checking ------------------------------------------------
    def _check_input(self, x: torch.Tensor) -> None:
        name = type(self).__name__
        if x.dim() not in self._accepted_dims:
            raise InvalidInputError(
                f"{name} expects input shaped {self._layout}; got a tensor of shape {tuple(x.shape)} "
                f"({x.dim()} dimensions)."
            )
        if x.shape[1] != self.num_features:
            raise InvalidInputError(
                f"{name} was built for {self.num_features} channels but the input has {x.shape[1]} "
                f"(shape {tuple(x.shape)}; channels are dimension 1)."
            )

    # -- forward -------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        # Statistics are per channel (dim 1): reduce over every other dimension.
        reduce_dims = [0, *range(2, x.dim())]
        stat_shape = [1, self.num_features] + [1] * (x.dim() - 2)  # broadcasts over N (and L / H, W)

        # Batch statistics in training mode, and in eval mode when no running ones exist.
        use_batch_stats = self.training or self.running_mean is None
        if not use_batch_stats:
            # Algorithm 2: one per-channel affine with the population statistics.
            scale = torch.rsqrt(self.running_var + self.eps)
            if self.weight is not None:
                scale = self.weight * scale
            shift = -self.running_mean * scale
            if self.bias is not None:
                shift = shift + self.bias
            return x * scale.view(stat_shape) + shift.view(stat_shape)

        m = x.numel() // self.num_features  # values per channel in this batch
        if m <= 1:
            raise InvalidInputError(
                f"{type(self).__name__} in training mode needs more than 1 value per channel to "
                f"compute a batch variance; got input of shape {tuple(x.shape)}. Use a larger batch, "
                f"or call .eval() to use the running statistics."
            )
        # Algorithm 1: batch mean and biased batch variance.
        var, mean = torch.var_mean(x, dim=reduce_dims, correction=0)

        if self.training and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                if self.momentum is None:  # cumulative average: weight 1/k for the k-th batch
                    factor: torch.Tensor | float = 1.0 / self.num_batches_tracked
                else:
                    factor = self.momentum
                unbiased_var = var * (m / (m - 1))  # Algorithm 2: Var[x] = m/(m-1) * E[var_B]
                self.running_mean.mul_(1.0 - factor).add_(mean * factor)
                self.running_var.mul_(1.0 - factor).add_(unbiased_var * factor)

        x_hat = (x - mean.view(stat_shape)) * torch.rsqrt(var.view(stat_shape) + self.eps)
        if self.weight is not None:
            x_hat = x_hat * self.weight.view(stat_shape)
        if self.bias is not None:
            x_hat = x_hat + self.bias.view(stat_shape)
        return x_hat

    # -- state_dict ----------------------------------------------------
    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        # Checkpoints older than version 2 have no counter; start it at 0 as PyTorch does.
        version = local_metadata.get("version", None)
        key = prefix + "num_batches_tracked"
        if self.track_running_stats and (version is None or version < 2) and key not in state_dict:
            state_dict[key] = torch.tensor(0, dtype=torch.long, device=self.running_mean.device)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalization of ``(N, C)`` or ``(N, C, L)`` input (after a Linear or Conv1d layer).

    Statistics are per channel C over N (and L).  Options as in :class:`_BatchNorm`;
    a drop-in replacement for ``torch.nn.BatchNorm1d`` with interchangeable state_dicts.

    >>> bn = BatchNorm1d(100)            # the MNIST experiment's hidden layers (Sec. 4.1)
    >>> bn(torch.randn(60, 100)).shape
    torch.Size([60, 100])
    """

    _accepted_dims = (2, 3)
    _layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization of ``(N, C, H, W)`` input (after a Conv2d layer).

    Statistics are per channel C over N, H and W: the convolutional variant of
    Sec. 3.2, where all positions of a feature map share gamma and beta, so the
    effective mini-batch is m = N * H * W.  Options as in :class:`_BatchNorm`;
    a drop-in replacement for ``torch.nn.BatchNorm2d`` with interchangeable
    state_dicts.
    """

    _accepted_dims = (4,)
    _layout = "(N, C, H, W)"
