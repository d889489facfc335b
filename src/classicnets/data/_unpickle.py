"""A restricted unpickler for the CIFAR "python version" batches.

The official CIFAR batches are Python 2 pickles of a dict holding byte strings,
lists of ints and one ``numpy.ndarray`` of uint8.  A pickle can name any
importable callable and call it while loading, so a plain ``pickle.load`` of a
file from the internet runs whatever code the file asks for.  This unpickler
admits only the four globals that numpy's (protocol 2) array pickling names:

* ``numpy.core.multiarray._reconstruct`` (numpy 1 spelling, the one in the official
  files) and ``numpy._core.multiarray._reconstruct`` (numpy 2 spelling), wrapped so
  that it only builds plain ``ndarray`` objects;
* ``numpy.ndarray``;
* ``numpy.dtype``, wrapped so that it only builds plain numeric dtypes.

Every other global (``os.system``, ``builtins.eval``, ``subprocess.Popen``, ...)
is refused *before* it is looked up, so nothing the file names is ever called.
Dicts, lists, tuples, bytes, str, ints, floats, bools and None need no globals.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np

from ..errors import InvalidInputError

_NUMERIC_DTYPES = frozenset(
    {"b1", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8"}
)


class RefusedError(pickle.UnpicklingError):
    """The file asked for something outside the allow-list."""


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    if subtype is not np.ndarray:
        raise RefusedError(f"refusing to build an array of type {subtype!r}")
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _dtype(spec: Any, align: Any = False, copy: Any = False) -> np.dtype:
    name = spec.decode("latin1") if isinstance(spec, bytes) else spec
    if not isinstance(name, str) or name.lstrip("<>|=") not in _NUMERIC_DTYPES:
        raise RefusedError(f"refusing dtype {spec!r}: only plain numeric dtypes are allowed")
    return np.dtype(name, bool(align), bool(copy))


ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _dtype,
}


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only :data:`ALLOWED_GLOBALS`."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise RefusedError(
                f"global '{module}.{name}' is not allowed in a dataset file"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise RefusedError("persistent ids are not allowed in a dataset file")


def restricted_loads(data: bytes, *, source: str) -> Any:
    """Unpickle ``data`` (read from ``source``, named in errors) with :class:`RestrictedUnpickler`.

    Byte strings stay ``bytes`` (``encoding="bytes"``), which is how Python 3 reads
    the Python 2 pickles of the official CIFAR files.
    """
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except RefusedError as e:
        raise InvalidInputError(f"{source}: refused to load: {e}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, MemoryError,
            UnicodeDecodeError, OverflowError) as e:
        raise InvalidInputError(
            f"{source}: not a readable CIFAR batch pickle ({type(e).__name__}: {e}); "
            "the file is truncated or corrupt."
        ) from None
