"""Training: ``fit(TrainConfig(...)) -> RunResult``, recipes, checkpoints, evaluation and export.

>>> from classicnets.train import TrainConfig, fit
>>> result = fit(TrainConfig(model="resnet20", dataset="digits", epochs=3, out="runs/demo"))  # doctest: +SKIP
>>> result.final["val_acc"]  # doctest: +SKIP

The command line (``classicnets train/eval/predict/export/plot/demo``) is a
thin layer over these functions; ``docs/training.md`` describes them.
"""

from __future__ import annotations

from .config import TrainConfig
from .demo import demo
from .loop import NonFiniteLossError, RunResult, TrainingInterrupted, fit
from .recipes import RECIPES, get_recipe

__all__ = [
    "RECIPES",
    "NonFiniteLossError",
    "RunResult",
    "TrainConfig",
    "TrainingInterrupted",
    "demo",
    "fit",
    "get_recipe",
]
