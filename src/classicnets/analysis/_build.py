"""Parsing model options and input sizes given on the command line; meta-device building lives in models."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import InvalidInputError
from ..models.meta import SkipMetaInit, build_meta
from ..options import CHANNELS, IMAGE_SIDE, parse_key_values

__all__ = ["SkipMetaInit", "build_meta", "parse_options", "parse_size"]


def parse_options(items: Iterable[str] | None) -> dict[str, Any]:
    """``--model-arg``/``-o KEY=VALUE`` items as model options, typed as every command types them
    (:func:`classicnets.options.parse_key_values`: ``batch_norm=false`` is ``False``)."""
    return parse_key_values(items, flag="--model-arg")


def parse_size(text: str | None) -> tuple[int, int, int] | None:
    """``"3,224,224"`` (or ``3x224x224``) -> ``(3, 224, 224)``."""
    if text is None:
        return None
    parts = text.replace("x", ",").split(",")
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        size = ()
    if len(size) != 3:
        raise InvalidInputError(f"--input must be C,H,W with three positive integers, e.g. 3,224,224; got {text!r}")
    for v, rng in zip(size, (CHANNELS, IMAGE_SIDE, IMAGE_SIDE), strict=True):
        rng.check(v, "--input")
    return size  # type: ignore[return-value]
