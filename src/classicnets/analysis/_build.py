"""Building models for counting: on the meta device (no memory, no init arithmetic) when possible."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..errors import InvalidInputError
from ..models import create_model


class _SkipMetaInit(TorchFunctionMode):
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
        with torch.device("meta"), _SkipMetaInit(), torch.no_grad():
            return create_model(name, **options)
    except (NotImplementedError, RuntimeError):
        return create_model(name, **options)


def parse_options(items: Iterable[str] | None) -> dict[str, Any]:
    """``["variant=v1.5", "batch_norm=False"]`` -> ``{"variant": "v1.5", "batch_norm": False}``.

    Values are read as Python literals when they are one (numbers, True/False/None,
    tuples), else kept as strings.
    """
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise InvalidInputError(f"model options are KEY=VALUE, e.g. variant=v1.5; got {item!r}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def parse_size(text: str | None) -> tuple[int, int, int] | None:
    """``"3,224,224"`` (or ``3x224x224``) -> ``(3, 224, 224)``."""
    if text is None:
        return None
    parts = text.replace("x", ",").split(",")
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        size = ()
    if len(size) != 3 or min(size) < 1:
        raise InvalidInputError(f"--input must be C,H,W with three positive integers, e.g. 3,224,224; got {text!r}")
    return size  # type: ignore[return-value]
