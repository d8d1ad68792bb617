"""The terminal report of ``make demo`` and ``make up``: numbered steps, progress, summaries, errors.

Everything the demo shows goes through :class:`Report`: a heading per step (``[3/8] Sending
traffic``), progress bars for the long parts, one summary table per step, an error line that
names the log file with the details, and the closing "What you just saw" with the URLs to open.
On a terminal the progress bars are live (rich); elsewhere (CI, tests, ``| tee``) each bar is a
few plain lines, at every quarter, without carriage returns. Lines are printed as they are:
no markup, no highlighting, no wrapping.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

# Without a terminal nothing tells the width; wide enough for the demo's tables and S3 keys.
PLAIN_WIDTH = 120
WHAT_YOU_SAW = "What you just saw"


class StepFailed(Exception):
    """A step stopped the run; its error line (and the log that has the details) is printed."""


def thousands(value: float) -> str:
    """``12345`` -> ``12,345``; a count, with thousands separators."""
    return f"{value:,.0f}"


def seconds(value: float) -> str:
    """A duration in seconds, labelled: ``13.2 s``."""
    return f"{value:.1f} s"


def milliseconds(value: float) -> str:
    """A duration given in milliseconds, labelled: ``47.8 ms``."""
    return f"{value:.1f} ms"


@dataclass
class Step:
    """The step in progress: its number, title and the log file its errors point to."""

    number: int
    total: int
    title: str
    log: Path | None
    started: float = field(default_factory=time.perf_counter)

    @property
    def heading(self) -> str:
        return f"[{self.number}/{self.total}] {self.title}"

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started


class ProgressBar:
    """Progress of one long part of a step; ``advance()`` as work gets done."""

    def __init__(self, report: Report, description: str, total: int, unit: str) -> None:
        self._report = report
        self._description = description
        self._total = max(total, 1)
        self._unit = unit
        self._done = 0
        self._next_quarter = 1
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> ProgressBar:
        if self._report.interactive:
            self._progress = Progress(
                TextColumn("  {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(self._unit),
                TaskProgressColumn(),
                TimeElapsedColumn(),
                console=self._report.console,
                transient=True,
                # What the process prints stays where it goes (the log file), not above the bar.
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(self._description, total=self._total)
        return self

    def advance(self, amount: int = 1, note: str = "") -> None:
        """Count ``amount`` more units done; ``note`` says what was just done (``MLflow server``)."""
        self._done += amount
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=self._done)
            return
        reached = min(4, self._done * 4 // self._total)
        if reached >= self._next_quarter:
            self._next_quarter = reached + 1
            done = min(self._done, self._total)
            self._report.say(
                f"  {self._description}: {thousands(done)} of {thousands(self._total)} {self._unit} "
                f"({done / self._total:.0%})" + (f": {note}" if note else "")
            )

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()


class Report:
    """The demo's terminal report: ``total`` numbered steps, then the closing section.

    Parameters
    ----------
    total:
        How many steps the run has (the ``N`` of ``[n/N]``).
    out, err:
        The terminal's streams (the report's lines; the one-line errors).
    interactive:
        Live progress bars; by default when ``out`` is a terminal.
    """

    def __init__(
        self, total: int, out: TextIO, err: TextIO | None = None, interactive: bool | None = None
    ) -> None:
        self.total = total
        self.console = Console(file=out, highlight=False, soft_wrap=True, emoji=False)
        self.interactive = self.console.is_terminal if interactive is None else interactive
        if not self.console.is_terminal:
            self.console.width = PLAIN_WIDTH
        self._err = Console(file=err or out, highlight=False, soft_wrap=True, emoji=False)
        self._number = 0
        self.current: Step | None = None

    def say(self, line: str) -> None:
        """Print ``line`` as it is (no markup)."""
        self.console.print(Text(line))

    @contextmanager
    def step(self, title: str, log: Path | None = None) -> Iterator[Step]:
        """Number and announce a step; an exception in it prints one error line naming ``log``.

        The traceback goes to the process's stderr, which the demo sends to its log file.

        Raises
        ------
        StepFailed
            The step raised; its error line is printed.
        """
        self._number += 1
        step = Step(self._number, self.total, title, log)
        self.current = step
        if self._number > 1:
            self.console.print()
        self.console.print(Text(step.heading, style="bold"))
        try:
            yield step
            self.console.print(Text(f"  ({seconds(step.elapsed)})", style="dim"))
        except StepFailed:
            raise
        except Exception as error:
            traceback.print_exc()
            named = getattr(error, "log", None)
            shown = named if isinstance(named, Path) else log
            self.error(f"{step.heading} failed: {first_line(error)}", shown)
            raise StepFailed(str(error)) from error
        finally:
            self.current = None

    def progress(self, description: str, total: int, unit: str) -> ProgressBar:
        """A progress bar over ``total`` ``unit`` (e.g. ``requests``), as a context manager."""
        return ProgressBar(self, description, total, unit)

    def tick(self, bar: ProgressBar, notes: Mapping[str, str] | None = None) -> Callable[..., None]:
        """A callback that advances ``bar`` by one, whatever it is called with.

        Called with a key of ``notes``, it says what was done (``notes[key]``).
        """

        def advance(*args: object) -> None:
            key = args[0] if args and isinstance(args[0], str) else ""
            bar.advance(note=(notes or {}).get(key, key))

        return advance

    def summary(self, rows: Sequence[tuple[str, str]], title: str | None = None) -> None:
        """Figures, one a line: ``label`` in a column of its own, then the value with its unit."""
        if title:
            self.say(title)
        width = max((len(label) for label, _ in rows), default=0)
        for label, value in rows:
            line = Text("  ")
            line.append(f"{label:<{width}}", style="bold")
            line.append(f"   {value}")
            self.console.print(line)

    def failed(self, message: str, log: Path | None = None) -> None:
        """A check of the current step did not hold: ``FAILED: message`` and where the details are."""
        if log is None and self.current is not None:
            log = self.current.log
        self.error(f"FAILED: {message}", log)

    def error(self, message: str, log: Path | None = None) -> None:
        """One line on the error stream: ``message (details: <log>)``."""
        self._err.print(Text(error_line(message, log), style="bold red"))

    def closing(
        self,
        saw: Sequence[str],
        links: Sequence[tuple[str, str]],
        note: str = "",
    ) -> None:
        """The end of the run: what it showed (one line each), then what to open (label, URL or path)."""
        self.console.print()
        self.console.print(Text(WHAT_YOU_SAW, style="bold"))
        for line in saw:
            self.say(f"  - {line}")
        if links:
            self.console.print()
            width = max(len(label) for label, _ in links)
            for label, target in links:
                self.say(f"  {label:<{width}}  {target}")
        if note:
            self.say(note)


def error_line(message: str, log: Path | None = None) -> str:
    """``message``, then where the details are when a log file has them."""
    return f"{message} (details: {shown_path(log)})" if log is not None else message


def shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it is under it (``.local/logs/api.log``)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def first_line(error: BaseException) -> str:
    """The first line of an error's message, prefixed by its type unless it names its log.

    An error that names its log (a ``log`` attribute, like the stack's ``StackError``) says
    what went wrong in its ``message``; any other is prefixed by its type (``KeyError: 'x'``).
    """
    message = getattr(error, "message", None)
    text = str(message if isinstance(message, str) and hasattr(error, "log") else error).strip()
    text = text.splitlines()[0] if text else ""
    if hasattr(error, "log"):
        return text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
