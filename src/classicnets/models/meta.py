"""Building models on the meta device: shapes and parameter counts without memory or init arithmetic."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ._registry import create_model


class SkipMetaInit(TorchFunctionMode):
    """Turns the in-place value fills of weight initialization into no-ops on meta tensors.

    A meta tensor has a shape and no values, so ``normal_``, ``uniform_``, ``fill_`` ...
    have nothing to do; running them would only cost time (their meta kernels are
    Python code whose first call imports torch._dynamo, about 2 s).
    """

    _VALUE_OPS = frozenset({
        "normal_", "uniform_", "fill_", "zero_", "erfinv_", "mul_", "add_", "sub_", "div_", "clamp_",
        "clamp_min_", "clamp_max_", "copy_", "exponential_", "random_", "bernoulli_", "log_normal_",
        "cauchy_", "geometric_", "addcmul_", "addcdiv_", "sqrt_", "exp_", "abs_", "neg_", "fmod_",
        "remainder_", "trunc_normal_", "fill_diagonal_", "kaiming_normal_", "kaiming_uniform_",
        "xavier_normal_", "xavier_uniform_", "constant_", "ones_", "zeros_", "orthogonal_", "eye_", "dirac_",
    })

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in self._VALUE_OPS:
            target = args[0] if args else kwargs.get("tensor", kwargs.get("self"))
            if isinstance(target, torch.Tensor) and target.is_meta:
                return target
        return func(*args, **kwargs)


def build_meta(name: str, **options: Any) -> nn.Module:
    """``create_model(name, **options)`` with its tensors on the meta device (falls back to CPU).

    Weight initialization is skipped (meta tensors hold no values), so building even
    ResNet-1202 takes milliseconds and no memory.
    """
    try:
        with torch.device("meta"), SkipMetaInit(), torch.no_grad():
            return create_model(name, **options)
    except (NotImplementedError, RuntimeError):
        return create_model(name, **options)


