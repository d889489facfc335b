"""Progress output: a rich bar on a terminal, one plain line per epoch otherwise."""

from __future__ import annotations

import sys
from typing import Any


def epoch_line(row: dict[str, Any], total_epochs: int) -> str:
    """``epoch 3/30 step 1170 lr 0.1 | train loss 0.812 acc 71.2% | val loss 0.90 acc 68.1% top5 97.0% | ...``"""
    parts = [
        f"epoch {row['epoch']}/{total_epochs}",
        f"step {row['step']}",
        f"lr {row['lr']:.4g}",
        f"| train loss {row['train_loss']:.4f} acc {100 * row['train_acc']:.2f}%",
        f"| val loss {row['val_loss']:.4f} acc {100 * row['val_acc']:.2f}% top5 {100 * row['val_top5']:.2f}%",
        f"| {row['epoch_s']:.1f} s, {row['img_per_s']:.0f} img/s",
    ]
    return " ".join(parts)


class Progress:
    """``mode``: "bar" (rich), "lines" (one line per epoch), "none"; "auto" picks bar on a TTY."""

    def __init__(self, mode: str, *, total_steps: int, total_epochs: int, enabled: bool = True) -> None:
        if mode == "auto":
            mode = "bar" if sys.stdout.isatty() else "lines"
        self.mode = mode if enabled else "none"
        self.total_epochs = total_epochs
        self._bar: Any = None
        if self.mode == "bar":
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("[bold]epoch {task.fields[epoch]}/" + str(total_epochs)),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}  acc {task.fields[acc]:.1%}  {task.fields[ips]:.0f} img/s"),
                TimeRemainingColumn(),
                transient=False,
            )
            self._task = self._bar.add_task("train", total=total_steps, epoch=1, loss=0.0, acc=0.0, ips=0.0)
            self._bar.start()

    def step(self, step: int, epoch: int, loss: float, acc: float, img_per_s: float) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=step, epoch=epoch, loss=loss, acc=acc, ips=img_per_s)

    def message(self, text: str) -> None:
        if self.mode == "none":
            return
        if self._bar is not None:
            self._bar.console.print(text, highlight=False, markup=False)
        else:
            print(text, flush=True)

    def notice(self, text: str) -> None:
        """A message that must be seen (a resume, a recipe adjusted): on stderr with ``--progress none``."""
        if self.mode == "none":
            print(text, file=sys.stderr, flush=True)
        else:
            self.message(text)

    def epoch(self, row: dict[str, Any]) -> None:
        self.message(epoch_line(row, self.total_epochs))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
