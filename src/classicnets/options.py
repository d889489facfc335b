"""What every command reads from its arguments the same way: ``KEY=VALUE`` model options and numbers
with a documented range.

* :func:`parse_key_values` reads the model options of every command under one flag,
  ``--model-arg KEY=VALUE`` (short ``-o``; ``--option`` is kept as an alias): ``true``/``false`` (any
  case) are booleans, ``none``/``null`` is None, numbers, tuples and lists are typed as Python reads
  them (``1e-3``, ``(3, 3)``, ``[1, 2]``), a quoted string is that string, and anything else is kept
  as the text itself (``variant=v1.5``).
* :class:`Range` is an allowed interval of a numeric option; :meth:`Range.check` is the one check of a
  number against it (the error names the flag, the value and the range), :func:`number` the argparse
  type that applies it while the command line is read, and :attr:`Range.text` its wording for the
  ``--help`` text; :data:`IMAGE_SIDE`, :data:`CHANNELS` and :data:`SEEDS` are the ranges shared by
  several commands.
* :func:`default_split` is the split a model is measured on when none is named (eval, gradflow, paths).
"""

from __future__ import annotations

import argparse
import ast
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .errors import InvalidInputError

_WORDS = {"true": True, "false": False, "none": None, "null": None}
_LITERALS = (bool, int, float, str, tuple, list, type(None))


def parse_value(text: str) -> Any:
    """One option value (see the module docstring)."""
    stripped = text.strip()
    if stripped.lower() in _WORDS:
        return _WORDS[stripped.lower()]
    try:
        value = ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return value if isinstance(value, _LITERALS) else text


def parse_key_values(items: Iterable[str] | None, *, flag: str = "--option") -> dict[str, Any]:
    """``["variant=v1.5", "batch_norm=false"]`` -> ``{"variant": "v1.5", "batch_norm": False}``."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise InvalidInputError(f"{flag} expects KEY=VALUE with KEY a Python name, e.g. {flag} stem=cifar; "
                                    f"got {item!r}.")
        out[key] = parse_value(value)
    return out


@dataclass(frozen=True)
class Range:
    """``lo <= value <= hi`` (``<`` with ``lo_open``/``hi_open``); ``hi=None``: no upper bound."""

    lo: float
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = True

    @property
    def text(self) -> str:
        if self.integer:
            return f"in {int(self.lo)}..{int(self.hi)}" if self.hi is not None else f"{int(self.lo)} or more"
        if self.hi is None:
            return f"more than {self.lo:g}" if self.lo_open else f"{self.lo:g} or more"
        return f"in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"

    def contains(self, value: float) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        if self.integer and not float(value).is_integer():
            return False
        above = value > self.lo if self.lo_open else value >= self.lo
        below = self.hi is None or (value < self.hi if self.hi_open else value <= self.hi)
        return above and below

    def check(self, value: Any, flag: str) -> Any:
        """``value`` if it lies in the range, else an error naming ``flag``, the value and the range."""
        if not self.contains(value):
            kind = "an integer " if self.integer else ""
            raise InvalidInputError(f"{flag} must be {kind}{self.text}; got {value!r}.")
        return value


def default_split(names: Iterable[str]) -> str | None:
    """The split a model is measured on when none is named, as training chooses it: ``test``, else ``val``
    (an image folder with only train/ and val/, Imagenette's layout); None when there is neither."""
    names = set(names)
    return "test" if "test" in names else "val" if "val" in names else None


#: Image sides (H, W) and channel counts every command accepts (input sizes, resolutions, calculators).
IMAGE_SIDE = Range(1, 4096)
CHANNELS = Range(1, 65536)

#: Seeds of every command: what numpy (``np.random.seed``, ``default_rng``) and torch both accept.
SEEDS = Range(0, 2**32 - 1)


def arg_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse`` as an argparse ``type=`` that keeps the reason of its :class:`InvalidInputError` (argparse
    alone prints only "invalid parse value")."""

    def wrapped(text: str) -> Any:
        try:
            return parse(text)
        except InvalidInputError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return wrapped


def number(rng: Range, flag: str) -> Callable[[str], int | float]:
    """An argparse ``type=`` that reads an int (or float) and checks it against ``rng``."""

    def parse(text: str) -> int | float:
        try:
            value: int | float = int(text) if rng.integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expects {'an integer' if rng.integer else 'a number'} {rng.text}, got {text!r}") from None
        try:
            return rng.check(value, flag)
        except InvalidInputError as e:
            raise argparse.ArgumentTypeError(str(e).removeprefix(f"{flag} ")) from None

    parse.__name__ = "integer" if rng.integer else "number"  # argparse names the type in its messages
    return parse
