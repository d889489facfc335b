"""The model registry: ``create_model(name)`` and ``list_models(pattern)``.

Builders register themselves with :func:`register_model` (or, when a family makes
them from a table, :func:`register_builder`).  A builder is a small typed function
returning a model; the options it accepts are its own keyword
parameters plus, when it forwards ``**kwargs`` to a model class, that class's
``__init__`` keyword parameters (``@register_model(ResNet)``).  Knowing the
accepted options up front lets :func:`create_model` reject a misspelt option
with a clear ``TypeError`` before anything is built.

Registering a builder appends the model's published figures from
:mod:`classicnets.reference` to its docstring, so they are written only there.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from ..errors import InvalidInputError, UnknownOptionError
from ..reference import describe

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}
_OPTIONS: dict[str, frozenset[str] | None] = {}  # None: accepts anything
_FLAGS: dict[str, frozenset[str]] = {}  # the options annotated ``bool``: True or False, nothing else

F = TypeVar("F", bound=Callable[..., nn.Module])


def _named_params(fn: Callable[..., Any]) -> tuple[set[str], bool]:
    sig = inspect.signature(fn)
    names = {
        p.name
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"
    }
    var_kw = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    return names, var_kw


def register_model(arg: F | type | None = None) -> Any:
    """Register a builder under its function name.

    Use as ``@register_model`` or ``@register_model(ModelClass)``; the class form
    declares that the builder forwards ``**kwargs`` to ``ModelClass``.
    """

    def deco(fn: F, cls: type | None) -> F:
        name = fn.__name__
        if name in _BUILDERS:
            raise RuntimeError(f"model {name!r} registered twice")
        names, var_kw = _named_params(fn)
        options: frozenset[str] | None = frozenset(names)
        if var_kw:
            if cls is None:
                options = None
            else:
                cls_names, cls_var_kw = _named_params(cls.__init__)
                options = None if cls_var_kw else frozenset(names | cls_names)
        _BUILDERS[name] = fn
        _OPTIONS[name] = options
        _FLAGS[name] = _bool_params(fn) | (_bool_params(cls.__init__) if cls is not None else frozenset())
        figures = describe(name)
        if figures:
            fn.__doc__ = f"{inspect.cleandoc(fn.__doc__ or name)}\n\n{figures}"
        return fn

    if arg is None:
        return lambda fn: deco(fn, None)
    if isinstance(arg, type):
        return lambda fn: deco(fn, arg)
    return deco(arg, None)


def register_builder(builder: F, name: str, doc: str) -> F:
    """Register ``builder`` (a function made by a family's builder factory) as ``name`` with docstring ``doc``."""
    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = doc
    return register_model(builder)


def _bool_params(fn: Callable[..., Any]) -> frozenset[str]:
    return frozenset(p.name for p in inspect.signature(fn).parameters.values() if p.annotation in (bool, "bool"))


def list_models(pattern: str = "*", *, pretrained: bool = False) -> list[str]:
    """Sorted names of the registered models matching a shell-style pattern (with ``pretrained``: only those
    with bundled weights)."""
    names = sorted(n for n in _BUILDERS if fnmatch.fnmatchcase(n, pattern))
    if pretrained:
        from .pretrained import pretrained_models

        have = pretrained_models()
        names = [n for n in names if n in have]
    return names


def model_options(name: str) -> list[str] | None:
    """The keyword options ``create_model(name, ...)`` accepts (None: any)."""
    _check_name(name)
    opts = _OPTIONS[name]
    return None if opts is None else sorted(opts)


def _check_name(name: str) -> None:
    if name in _BUILDERS:
        return
    close = difflib.get_close_matches(name, list(_BUILDERS), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise InvalidInputError(
        f"unknown model {name!r}.{hint} classicnets.list_models() (or `classicnets models`) lists all."
    )


def create_model(name: str, *, pretrained: bool = False, num_classes: int | None = None, **kwargs: Any) -> nn.Module:
    """Build a registered model by name.

    Args:
        name: a name from :func:`list_models`, e.g. ``"resnet50"``.
        pretrained: load the weights this project trained and bundles (``classicnets models`` shows which
            models have them); the model's ``pretrained_cfg`` then says what they were trained on, how inputs
            are normalized and their measured test accuracy (see :mod:`.pretrained`).  With another
            ``num_classes`` the classifier is replaced by a fresh one after loading (for fine-tuning).
        num_classes: size of the classifier; ``None`` keeps the builder's default
            (1000 for the ImageNet models, 10 for the CIFAR and MNIST ones).
        **kwargs: options of that model (see its builder's docstring).

    Raises:
        ValueError: unknown name (the message names the closest matches).
        TypeError: an option this model does not accept.
    """
    _check_name(name)
    opts = _OPTIONS[name]
    if opts is not None:
        unknown = sorted(k for k in kwargs if k not in opts)
        if unknown:
            raise UnknownOptionError(
                f"{name}: unknown option(s) {', '.join(unknown)}. Accepted options: "
                f"{', '.join(sorted(opts))}."
            )
    flags = sorted(k for k in kwargs if k in _FLAGS[name] and not isinstance(kwargs[k], bool))
    if flags:
        raise InvalidInputError(f"{name}: option {flags[0]} is true or false, got {kwargs[flags[0]]!r} "
                                f"(e.g. {flags[0]}=false).")
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
        raise InvalidInputError(f"num_classes must be a positive integer, got {num_classes!r}")
    if not pretrained:
        return _BUILDERS[name](**kwargs, **({} if num_classes is None else {"num_classes": num_classes}))
    from .pretrained import load_pretrained, pretrained_cfg

    cfg = pretrained_cfg(name)
    kwargs.setdefault("in_chans", cfg["input_size"][0])
    model = load_pretrained(_BUILDERS[name](**kwargs, num_classes=cfg["num_classes"]), name)
    if num_classes is not None and num_classes != cfg["num_classes"]:
        model.reset_classifier(num_classes)
    return model
