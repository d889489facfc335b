"""Public building blocks: ``classicnets.layers.BatchNorm2d`` and friends.

A re-export of the blocks defined in :mod:`classicnets.models` so users have
one short import path.
"""

from .models.batchnorm import BatchNorm1d, BatchNorm2d
from .models.factorized import (
    AsymmetricConv,
    StackedConv,
    factorization_savings,
)
from .models.googlenet import Inception, InceptionNaive
from .models.layers import BasicConv2d
from .models.nin import MlpConv

__all__ = [
    "AsymmetricConv",
    "BasicConv2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Inception",
    "InceptionNaive",
    "MlpConv",
    "StackedConv",
    "factorization_savings",
]
