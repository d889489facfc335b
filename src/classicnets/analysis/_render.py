"""A small table type shared by the analysis results: plain text, markdown, CSV, JSON and rich."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidInputError

FORMATS = ("table", "csv", "json", "markdown")

#: A column of :meth:`TextTable.from_records`: a ``str.format`` template over the row, or a function of the row.
Cell = str | Callable[[dict[str, Any]], str]


@dataclass
class TextTable:
    """Rows of display cells plus the numbers behind them.

    ``cells`` are the strings shown in a table; ``records`` are the same rows as
    plain numbers (what CSV and JSON print), so a script never parses "1.81G".
    """

    title: str
    columns: list[str]
    cells: list[list[str]]
    records: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    right: set[int] = field(default_factory=set)  # indices of right-aligned columns
    extra: dict[str, Any] = field(default_factory=dict)  # more JSON (totals, sources)

    @classmethod
    def from_records(cls, title: str, columns: Mapping[str, Cell] | Sequence[tuple[str, Cell]],
                     rows: Sequence[dict[str, Any]], *, right: Iterable[int] = (),
                     records: list[dict[str, Any]] | None = None) -> TextTable:
        """A table whose cells are made from its rows, one cell per column.

        ``columns`` maps each header to its :data:`Cell` (``"{train_err:.2f}"``), as a dict or, where two
        headers are the same, as ``(header, cell)`` pairs.  The rows are the table's records (the numbers
        the JSON keeps) unless ``records`` gives others (``[]``: none, and the JSON keeps the cells);
        ``right``: the right-aligned columns, by position.
        """
        pairs = list(columns.items()) if isinstance(columns, Mapping) else list(columns)

        def cell(spec: Cell, row: dict[str, Any]) -> str:
            return spec.format_map(row) if isinstance(spec, str) else spec(row)

        return cls(title=title, columns=[h for h, _ in pairs], cells=[[cell(c, r) for _, c in pairs] for r in rows],
                   records=list(rows) if records is None else records, right=set(right))

    def to_text(self) -> str:
        widths = [len(c) for c in self.columns]
        for row in self.cells:
            for i, c in enumerate(row):
                widths[i] = max(widths[i], len(c))

        def fmt(row: list[str]) -> str:
            pairs = enumerate(zip(row, widths, strict=True))
            return "  ".join((c.rjust(w) if i in self.right else c.ljust(w)) for i, (c, w) in pairs).rstrip()

        lines = [self.title, "", fmt(self.columns), "  ".join("-" * w for w in widths)]
        lines += [fmt(r) for r in self.cells]
        if self.notes:
            lines.append("")
            lines += self.notes
        return "\n".join(lines)

    def to_markdown(self) -> str:
        lines = [f"**{self.title}**", "", "| " + " | ".join(self.columns) + " |",
                 "|" + "|".join("---:" if i in self.right else "---" for i in range(len(self.columns))) + "|"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in self.cells]
        if self.notes:
            lines.append("")
            lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines)

    def to_csv(self) -> str:
        buf = io.StringIO()
        if self.records:
            keys: list[str] = []
            for r in self.records:
                keys += [k for k in r if k not in keys]
            w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
            w.writeheader()
            for r in self.records:
                w.writerow({k: _csv_value(r.get(k)) for k in keys})
        else:
            w2 = csv.writer(buf, lineterminator="\n")
            w2.writerow(self.columns)
            w2.writerows(self.cells)
        return buf.getvalue()

    def to_json(self) -> str:
        rows = self.records or [dict(zip(self.columns, r, strict=True)) for r in self.cells]
        body = {"title": self.title, "rows": rows,
                "notes": self.notes, **self.extra}
        return json.dumps(body, indent=2, default=_json_default)

    def rich_table(self) -> Any:
        from rich.table import Table

        t = Table(title=self.title)
        for i, c in enumerate(self.columns):
            t.add_column(c, justify="right" if i in self.right else "left", no_wrap=True)
        for r in self.cells:
            t.add_row(*r)
        return t

    def render(self, fmt: str) -> str:
        """The table as text in one of :data:`FORMATS` ("table" gives the plain-text layout)."""
        check_format(fmt)
        return {"table": self.to_text, "csv": self.to_csv, "json": self.to_json,
                "markdown": self.to_markdown}[fmt]()


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise InvalidInputError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _csv_value(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return "x".join(str(x) for x in v)
    return "" if v is None else v


def _json_default(v: Any) -> Any:
    if isinstance(v, (set, tuple)):
        return list(v)
    return str(v)


def human(n: float, digits: int = 2) -> str:
    """1234567 -> '1.23M' (powers of 1000)."""
    n = float(n)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.{digits}f}{unit}"
    return f"{n:.0f}"


def print_result(result: Any, fmt: str = "table") -> None:
    """Print a :class:`TextTable` or a :class:`~classicnets.analysis.Summary`.

    ``table`` uses rich (at the table's natural width when stdout is not a
    terminal, so piped output is not squeezed), followed by the notes / totals;
    the other formats print :meth:`render`'s text.
    """
    check_format(fmt)
    if fmt != "table":
        print(result.render(fmt))
        return
    import sys

    from rich.console import Console

    text = result.to_text()
    ncols = len(result.columns) if hasattr(result, "columns") else 12
    natural = max((len(line) for line in text.splitlines()[:60]), default=80) + 2 * ncols + 4
    console = Console() if sys.stdout.isatty() else Console(width=max(natural, 80))
    console.print(result.rich_table())
    tail = result.footer_lines() if hasattr(result, "footer_lines") else result.notes
    for line in tail:
        console.print(line, markup=False, highlight=False, soft_wrap=not sys.stdout.isatty())
