"""What an experiment's analysis reports: :class:`Verdict` lines, the one rule for "has learned"
(:func:`has_learned`) every verdict applies, the verdict on a difference against a margin
(:func:`by_difference`), and the tables built from records (:func:`records_table`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

STATUSES = ("supported", "not supported", "inconclusive")


# -- verdicts -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    """A claim, the measured numbers behind it, and whether they support it.

    ``status`` is one of :data:`STATUSES`; ``reason`` says why a verdict is not
    simply supported (too few steps, a difference within the noise margin, ...).
    """

    claim: str
    status: str
    evidence: str
    reason: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"verdict status must be one of {STATUSES}, got {self.status!r}")

    def line(self) -> str:
        """``VERDICT (supported): <claim> Measured: <numbers>. [Reason: ...]``"""
        text = f"VERDICT ({self.status}): {self.claim} Measured: {self.evidence}"
        if self.reason:
            text += f" Reason: {self.reason}"
        return text

    def as_dict(self) -> dict[str, str]:
        return {"claim": self.claim, "status": self.status, "evidence": self.evidence, "reason": self.reason,
                "line": self.line()}


def by_difference(claim: str, evidence: str, diff: float, margin: float, *, tie: str) -> Verdict:
    """The verdict on "the claimed side is better", from ``diff`` (claimed side minus the other) and a margin.

    Supported when ``diff`` exceeds ``margin``; not supported when the other side is better by more than
    ``margin``; inconclusive within it, with ``tie`` as the reason.
    """
    if diff > margin:
        return Verdict(claim, "supported", evidence)
    if -diff > margin:
        return Verdict(claim, "not supported", evidence)
    return Verdict(claim, "inconclusive", evidence, tie)


def has_learned(accuracy: float, chance: float) -> bool:
    """The one rule of every verdict for "this net has learned enough for its numbers to mean something".

    A net has learned when its accuracy is more than twice the chance accuracy (``1 / classes``): above
    20% for ten classes, 11.8% for 17 Flowers.  ``accuracy`` and ``chance`` in the same unit (0..1, or
    percent: ``has_learned(100 - err_pct, 100 - chance_err_pct)``).  A net at or below it is "near
    chance": the lesion experiment's plain twin "drops to near chance" when a lesion brings it there.

    Why this bar: it keeps a verdict from judging a net that has not started to learn (a smoke run, a
    deep plain net stuck at its initial loss), yet lets the short small-scale runs that did learn count;
    a stricter bar (error below half the chance-level error, i.e. 55% accuracy for ten classes) would
    call the small-scale plain-56 of the lesion experiment (35% accuracy, 3.5 times chance) untrained.
    With two classes nothing passes it; every experiment here has ten or more.
    """
    return accuracy > 2 * chance


# -- tables and texts of an analysis ---------------------------------------------------------------
#: A column of :func:`records_table`: a ``str.format`` template over the row, or a function of the row.
Cell = str | Callable[[dict[str, Any]], str]


def records_table(title: str, columns: Mapping[str, Cell] | Sequence[tuple[str, Cell]],
                  rows: Sequence[dict[str, Any]], *, right: Iterable[int] = (),
                  records: list[dict[str, Any]] | None = None) -> Any:
    """A :class:`~classicnets.analysis.TextTable` whose cells are made from its rows, one cell per column.

    ``columns`` maps each header to its :data:`Cell` (``"{train_err:.2f}"``), as a dict or, where two
    headers are the same, as ``(header, cell)`` pairs.  The rows are the table's records (the numbers
    results.json keeps) unless ``records`` gives others (``[]``: none, and the JSON keeps the cells);
    ``right``: the right-aligned columns, by position.
    """
    from ..analysis import TextTable

    pairs = list(columns.items()) if isinstance(columns, Mapping) else list(columns)

    def cell(spec: Cell, row: dict[str, Any]) -> str:
        return spec.format_map(row) if isinstance(spec, str) else spec(row)

    return TextTable(title=title, columns=[h for h, _ in pairs], cells=[[cell(c, r) for _, c in pairs] for r in rows],
                     records=list(rows) if records is None else records, right=set(right))


def train_length(values: dict[str, Any]) -> str:
    """``"80 epochs"`` or ``"40 steps"``: how long TrainConfig ``values`` train."""
    return f"{values['epochs']} epochs" if "epochs" in values else f"{values['steps']} steps"
