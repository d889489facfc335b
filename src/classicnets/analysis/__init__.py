"""Analysis: per-layer summaries, the papers' tables computed from the models, comparisons,
calculators, gradient flow, path lengths, lesions, calibration and class activation maps.

>>> from classicnets.analysis import summarize, make_table, compare
>>> from classicnets.models import build_meta
>>> s = summarize(build_meta("resnet50"))          # counted on the meta device
>>> round(s.macs / 1e9, 2), s.params
(3.86, 25557032)

Every function here leaves the model it is given exactly as it was: the same
``state_dict``, no hooks left behind, the train/eval flags restored.
Conventions (MACs, FLOPs, the op classes counted beside them) are in
:data:`CONVENTION` and printed with every summary; see ``docs/analysis.md``.
"""

from . import block_lesions, calibration, cam  # noqa: F401  (modules: classicnets.analysis.block_lesions, ...)
from ._build import build_meta, parse_options, parse_size
from ._data import dataset_batches, random_batches
from ._render import FORMATS, TextTable, print_result
from .calc import factorization, factorization_table, inception_vs_conv, naive_vs_reduced
from .compare import ModelFigures, compare, fc_params, model_figures
from .gradflow import GradFlow, block_modules, gradient_flow, plot_gradflow
from .residual_paths import PathGradients, covering_range, path_gradients, path_length_distribution, plot_paths
from .summary import CONVENTION, LayerRow, Summary, count_params, summarize
from .tables import TABLES, cifar_resnet_table, googlenet_table, inception_v3_table, make_table, resnet_table

__all__ = [
    "CONVENTION",
    "FORMATS",
    "TABLES",
    "GradFlow",
    "LayerRow",
    "ModelFigures",
    "PathGradients",
    "Summary",
    "TextTable",
    "block_modules",
    "build_meta",
    "cifar_resnet_table",
    "compare",
    "count_params",
    "covering_range",
    "dataset_batches",
    "factorization",
    "factorization_table",
    "fc_params",
    "googlenet_table",
    "gradient_flow",
    "inception_v3_table",
    "inception_vs_conv",
    "make_table",
    "model_figures",
    "naive_vs_reduced",
    "parse_options",
    "parse_size",
    "path_gradients",
    "path_length_distribution",
    "plot_gradflow",
    "plot_paths",
    "print_result",
    "random_batches",
    "resnet_table",
    "summarize",
]
