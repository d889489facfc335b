"""Reports of training runs and experiments: one self-contained HTML page, or Markdown for an issue.

::

    classicnets report runs/r20 experiments/degradation-small --out report.html
    classicnets report experiments/ --format markdown --out results.md   # images in results_files/

    from classicnets.report import write_report
    path, found = write_report(["runs/"], "report.html")

The report reads files only: a run directory (``config.toml``, ``env.json``,
``metrics.csv``, ``result.json``, ... as the training engine writes them) or an
experiment directory (``results.json``, ``summary.md``, ``figures/``,
``runs/``), or a folder searched for them.  It never imports the models, the
data or the training code, so it renders folders copied from any machine.

It shows, for every run: the status, final and best metrics, training curves
(drawn with matplotlib's Agg canvas), configuration, environment, data and
per-epoch metrics; for every experiment: its ``summary.md`` (tables, verdict
lines, figures) rendered from a safe Markdown subset, further figures, and the
runs inside it; at the top, every verdict and a comparison table of all runs.

Safety: everything read from files is escaped by the templates (Jinja2 with
autoescape; a Markdown escaper for the Markdown output), the page declares a
Content-Security-Policy that allows no script and no network fetch, and only
image files inside an experiment directory whose bytes match their type are
embedded.  Bad input is a one-line :class:`~classicnets.errors.InvalidInputError`
naming the file; ``keep_going=True`` (``--keep-going``) leaves such a directory
out and lists it at the top of the report instead.
"""

from __future__ import annotations

from ._load import Collection, ExperimentDir, Image, Run, collect, find_targets, read_experiment, read_run
from ._render import FORMATS, md_escape, render_html, render_markdown, write_report

__all__ = [
    "FORMATS",
    "Collection",
    "ExperimentDir",
    "Image",
    "Run",
    "collect",
    "find_targets",
    "md_escape",
    "read_experiment",
    "read_run",
    "render_html",
    "render_markdown",
    "write_report",
]
