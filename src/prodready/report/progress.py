"""A progress bar for long work: files done / total and elapsed time, on stderr.

Shown only when stderr is a terminal and only once the work has taken longer than a second, so
quick runs, pipes and CI logs stay exactly as they were. ``rich`` is imported only when the bar
actually appears.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

DELAY_S = 1.0  # quiet for work that finishes before anyone waits for it
REFRESH_S = 0.1  # redraw at most this often: a refresh per file would flood the terminal


def stderr_is_terminal() -> bool:
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


class DelayedProgress:
    """Call :meth:`update` with ``(done, total)`` as work completes; use as a context manager.

    Nothing is drawn while disabled, before ``delay`` seconds have passed, or when the work is
    already complete by then; the bar is removed when it closes.
    """

    def __init__(
        self,
        label: str,
        *,
        unit: str = "files",
        enabled: bool | None = None,
        stream: IO[str] | None = None,
        delay: float = DELAY_S,
        clock: Callable[[], float] = time.monotonic,
        ticking: bool = False,
    ) -> None:
        self.label = label
        # Redraw from a thread too, so the elapsed time moves during long steps (probe checks).
        self.ticking = ticking
        self.unit = unit
        self.enabled = stderr_is_terminal() if enabled is None else enabled
        self.stream = stream
        self.delay = delay
        self.clock = clock
        self.started = clock()
        self.shown = False
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._last_refresh = 0.0

    def update(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if self._progress is None:
            if now - self.started < self.delay or done >= total:
                return
            self._start(total)
        assert self._progress is not None and self._task is not None
        self._progress.update(self._task, completed=done, total=total)
        if now - self._last_refresh >= REFRESH_S or done >= total:
            self._last_refresh = now
            self._progress.refresh()

    def echo(self, line: str) -> None:
        """A log line on stderr: printed above the bar while it is shown."""
        if self._progress is not None:
            self._progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
            return
        stream = self.stream or sys.stderr
        stream.write(line + "\n")
        stream.flush()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> DelayedProgress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def _start(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        console = Console(file=self.stream or sys.stderr, force_terminal=True, highlight=False)
        self._progress = Progress(
            TextColumn(self.label),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(self.unit),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            auto_refresh=self.ticking,  # otherwise no drawing thread: redrawn from update()
            refresh_per_second=2,
            get_time=self.clock,
        )
        # The elapsed time counts from when the work began, not from when the bar appeared.
        self._task = self._progress.add_task(self.label, total=total, start=False)
        self._progress.tasks[0].start_time = self.started
        self._progress.start()
        self.shown = True


class StepProgress:
    """The progress callback of ``probe`` and ``gate``: their lines on stderr, plus a delayed bar
    counting the steps done out of ``total``.

    The runners report ``"<kind> <id>"`` when a step starts and ``"<kind> <id>: <outcome>"``
    when it ends; the ends are what is counted.
    """

    def __init__(
        self,
        command: str,
        kind: str,
        total: int,
        *,
        quiet: bool,
        bar: DelayedProgress | None = None,
    ) -> None:
        self.prefix = f"prodready {command}: "
        self.kind = kind
        self.total = total
        self.done = 0
        self.quiet = quiet
        self.bar = bar or DelayedProgress(
            f"{kind}s", unit="done", enabled=False if quiet else None, ticking=True
        )

    def __call__(self, message: str) -> None:
        if self.quiet:
            return
        self.bar.echo(self.prefix + message)
        head, sep, _ = message.partition(": ")
        if sep and head.startswith(f"{self.kind} ") and " " not in head[len(self.kind) + 1 :]:
            self.done += 1
        self.bar.update(min(self.done, self.total), self.total)

    def __enter__(self) -> StepProgress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.bar.close()
