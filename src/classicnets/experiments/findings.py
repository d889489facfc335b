"""What an experiment's analysis reports: :class:`Verdict` lines, the one rule for "has learned"
(:func:`has_learned`) every verdict applies, the verdict on a difference against a margin
(:func:`by_difference`), and the same across seeds (:class:`Spread`, :func:`by_seeds`,
:func:`no_loss_by_seeds`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
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


@dataclass(frozen=True)
class Spread:
    """One measurement over the seeds of a run: its values, mean, sample standard deviation and standard error."""

    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values) if self.values else math.nan

    @property
    def sd(self) -> float:
        return statistics.stdev(self.values) if self.n > 1 else math.nan

    @property
    def se(self) -> float:
        return self.sd / math.sqrt(self.n) if self.n > 1 else math.nan

    def text(self, digits: int = 2, unit: str = "") -> str:
        """``"91.20% (sd 0.31, n=3)"``, or the single value when there is one seed."""
        if self.n == 1:
            return f"{self.mean:.{digits}f}{unit}"
        return f"{self.mean:.{digits}f}{unit} (sd {self.sd:.{digits}f}, n={self.n})"


def spread(values: Sequence[float]) -> Spread:
    return Spread(tuple(float(v) for v in values))


def by_seeds(claim: str, evidence: str, claimed: Spread, other: Spread, margin: float, *, tie: str) -> Verdict:
    """:func:`by_difference` on the means of two measurements over seeds.

    The difference must exceed ``margin`` and, with more than one seed on each side, also twice its standard
    error (``sqrt(se_a^2 + se_b^2)``): a difference within the seeds' own spread is inconclusive, with ``tie``
    and the standard error as the reason.
    """
    diff = claimed.mean - other.mean
    se = math.hypot(claimed.se, other.se) if claimed.n > 1 and other.n > 1 else math.nan
    bound = margin if math.isnan(se) else max(margin, 2 * se)
    why = tie if math.isnan(se) else f"{tie} (the difference {diff:+.2f} is within max({margin:.2f}, two " \
                                     f"standard errors {2 * se:.2f}) over {claimed.n} and {other.n} seeds)"
    return by_difference(claim, evidence, diff, bound, tie=why)


def as_spread(value: float | Spread) -> Spread:
    """A measurement over seeds: ``value`` itself when it is a :class:`Spread`, else one seed."""
    return value if isinstance(value, Spread) else spread([value])


def no_loss_by_seeds(claim: str, evidence: str, new: Spread, old: Spread, margin: float, *, loss: str,
                     better: str = "") -> Verdict:
    """The verdict on "``new`` is no worse than ``old``" (higher is better, both in points) over seeds.

    Not supported when ``new`` is lower by more than ``margin`` and two standard errors of the seeds'
    spread (:func:`by_seeds`), ``loss`` added to the evidence; inconclusive when it is lower by
    more than ``margin`` but within two standard errors (the seeds cannot tell a loss from noise);
    supported otherwise, with ``better`` added when ``new`` is higher beyond both.  With one seed a side
    the margin alone decides and the inconclusive case cannot arise.
    """
    v = by_seeds(claim, evidence, new, old, margin,
                 tie="the loss is beyond the margin but within the spread across seeds")
    if v.status == "not supported":
        return Verdict(claim, "not supported", f"{evidence} {loss}")
    if old.mean - new.mean > margin:
        return v
    return Verdict(claim, "supported", evidence + (f" {better}" if better and v.status == "supported" else ""))


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
def train_length(values: dict[str, Any]) -> str:
    """``"80 epochs"`` or ``"40 steps"``: how long TrainConfig ``values`` train."""
    return f"{values['epochs']} epochs" if "epochs" in values else f"{values['steps']} steps"
