"""Parsing model options and input sizes given on the command line; meta-device building lives in models."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from typing import Any

from ..errors import InvalidInputError
from ..models.meta import SkipMetaInit, build_meta

__all__ = ["SkipMetaInit", "build_meta", "parse_options", "parse_size"]


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
