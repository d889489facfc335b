"""Progress of the data tasks (downloads in bytes, decodes in images): an interface, a silent default and a
rich progress bar.  (The training loop's progress output is :class:`classicnets.train.progress.Progress`.)"""

from __future__ import annotations

from typing import Any, Protocol


class DataProgress(Protocol):
    """What the downloads and readers call: one task at a time, advanced in units (bytes or images)."""

    def start(self, description: str, total: int | None, *, unit: str = "images") -> None: ...

    def advance(self, n: int) -> None: ...

    def finish(self) -> None: ...


class NullProgress:
    def start(self, description: str, total: int | None, *, unit: str = "images") -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def finish(self) -> None:
        pass


class RichProgress:
    """A rich progress bar on stderr; byte tasks show size and speed, image tasks a count and rate."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._task: Any = None

    def start(self, description: str, total: int | None, *, unit: str = "images") -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.finish()
        if unit == "bytes":
            cols = [DownloadColumn(), TransferSpeedColumn()]
        else:
            cols = [MofNCompleteColumn(), TextColumn("{task.fields[unit]}")]
        self._bar = Progress(
            TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), *cols,
            TimeRemainingColumn(), console=Console(stderr=True), transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task(description, total=total, unit=unit)

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def as_progress(progress: bool | DataProgress | None) -> DataProgress:
    if progress is True:
        return RichProgress()
    if not progress:
        return NullProgress()
    return progress
