"""The direct sweep on a terminal: a rich progress bar with rate and ETA, and the counts of
outcomes so far. The JSON stage lines still go to the log file."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class ProgressBar:
    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("[bold]direct[/] run {task.fields[run]}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[speed_per_hour]}/h"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            TextColumn("{task.fields[outcomes]}"), console=console, transient=False,
        )
        self._task: TaskID | None = None
        self._outcomes: Counter[str] = Counter()

    def __enter__(self) -> ProgressBar:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def started(self, run_id: int | None, total: int | None) -> None:
        self._task = self._progress.add_task("direct", total=total, run=run_id if run_id is not None else "(dry)",
                                             outcomes="", speed_per_hour="-")

    def advanced(self, uen: str, status: str) -> None:
        self._outcomes[status] += 1
        self._update(1)

    def skipped(self, count: int) -> None:
        self._outcomes["skipped"] += count
        self._update(0)

    def _update(self, advance: int) -> None:
        if self._task is None:
            return
        shown = "  ".join(f"{k} {v:,}" for k, v in sorted(self._outcomes.items()))
        self._progress.update(self._task, advance=advance, outcomes=shown)
        speed = self._progress.tasks[self._task].speed
        self._progress.update(self._task, speed_per_hour=f"{speed * 3600:,.0f}" if speed else "-")
