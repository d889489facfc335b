"""Experiments: one-command reproductions of the papers' claims, with figures and verdicts.

>>> from classicnets.experiments import list_experiments, run_experiment
>>> list_experiments()
['batchnorm', 'degradation', 'factorization', 'gap', 'inception', 'lesion', 'paths', 'width']
>>> results = run_experiment("degradation", scale="smoke", out="experiments/demo")  # doctest: +SKIP
>>> [v["line"] for v in results["verdicts"]]  # doctest: +SKIP

Each experiment (a module here whose ``EXPERIMENT``, declared at its top, is registered below with
the module's ``plan`` and ``analyze``) is a sweep of :func:`classicnets.train.fit` runs plus analysis
with :mod:`classicnets.analysis`; :mod:`.framework` describes the folder it writes (run directories,
``results.json``, figures, ``summary.md``), how a rerun continues, and how ``jobs`` shares the cores.
``docs/experiments.md`` explains each experiment and its scales.
"""

from __future__ import annotations

from . import batchnorm, degradation, factorization, framework, gap, inception, lesion, paths, width
from .framework import *  # noqa: F403  (the public API is framework's __all__)

for _module in (batchnorm, degradation, factorization, gap, inception, lesion, paths, width):
    framework.register_experiment(_module.EXPERIMENT.bind(_module))

__all__ = list(framework.__all__)
