"""The model zoo: one module per family, the registry, shared blocks and weights I/O.

Importing this package registers every family's builders.
"""

from . import (  # noqa: F401  (registration)
    alexnet,
    cifar_variants,
    googlenet,
    inception_v3,
    nin,
    preact_resnet,
    resnet,
    small,
    vgg,
    wide_resnet,
)
from ._registry import create_model, list_models, model_options, register_model
from .base import ClassifierNet
from .fold import fold_batchnorm
from .meta import build_meta
from .weights import load_weights, save_weights

__all__ = [
    "build_meta",
    "ClassifierNet",
    "create_model",
    "fold_batchnorm",
    "list_models",
    "load_weights",
    "model_options",
    "register_model",
    "save_weights",
]
