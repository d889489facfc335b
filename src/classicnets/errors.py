"""Exceptions for mistakes a user can make (bad names, options, files, shapes).

Every one of them derives from :class:`UserError` *and* from the builtin
exception a Python user would expect (``ValueError``, ``TypeError``,
``FileNotFoundError``), so library callers can catch either.  The command line
prints a :class:`UserError` as one line and exits non-zero; anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """Base class: an error caused by the user's input, not by a bug."""


class InvalidInputError(UserError, ValueError):
    """A wrong value: an unknown name, a wrong shape, a corrupt file."""


class UnknownOptionError(UserError, TypeError):
    """An unknown keyword option passed to a builder or command."""


class MissingFileError(UserError, FileNotFoundError):
    """A file or folder the user named does not exist."""
