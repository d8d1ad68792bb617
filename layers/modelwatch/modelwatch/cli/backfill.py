"""``modelwatch backfill``: rerun the monitoring jobs over a range of history, each window once.

``modelwatch backfill --model m --from 2026-11-01 --to 2026-11-08 [--jobs drift,quality,performance]
[--force] [--parallel 4] [--queue] [--json]``

The range is ``[from, to)``: ISO dates (midnight UTC) or datetimes (UTC unless they carry an
offset). The windows are the model's (its manifest's ``monitoring.window_minutes``, else
``MODELWATCH_WINDOW_MINUTES``), aligned as the dispatcher aligns them (:mod:`modelwatch.jobs.backfill`).

It runs against the deployment the ``MODELWATCH_*`` settings of the monitoring functions name
(``MODELWATCH_EVENTS_BUCKET``, ``MODELWATCH_MODELS_BUCKET``, optionally the event bus and the
remote-write URL), in AWS or, with ``AWS_ENDPOINT_URL``, the local stack: the same context the
job functions build (:func:`modelwatch.jobs.context.build_job_context`), so a backfilled window
is stored, announced and measured as a scheduled one. A progress bar goes to stderr (a plain
line per batch of windows when stderr is not a terminal, or without ``rich``), then a summary
to stdout. With ``--queue`` the windows go on the job queues instead (the dispatcher's
``MODELWATCH_JOB_QUEUE_URLS`` settings), as the dispatcher function's backfill payload does.

Exit codes: 0 when no window failed; 1 (``EXIT_WINDOWS_FAILED``) when some did (they are
listed; run the same command again to retry them, computed windows are skipped); 130 when
interrupted (Ctrl-C: the windows running finish, no further one starts); 2 for bad input
(one line on stderr).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from modelwatch.cli.arguments import whole_number
from modelwatch.cli.errors import CliError

if TYPE_CHECKING:
    from modelwatch.jobs.backfill import BackfillPlan, BackfillReport, WindowRun

EXIT_WINDOWS_FAILED = 1
EXIT_INTERRUPTED = 130
DEFAULT_PARALLEL = 4  # as modelwatch.jobs.backfill.DEFAULT_PARALLEL, without importing it for --help
MAX_PARALLEL = 10
PROGRESS_LINES = 50  # at most about this many plain progress lines, whatever the plan's size


def _job_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("needs at least one of drift, quality, performance")
    return list(dict.fromkeys(names))


class _Progress(Protocol):
    def __enter__(self) -> _Progress: ...

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None: ...

    def advance(self, counts: dict[str, int]) -> None: ...


def _counts_text(counts: Mapping[Any, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items())


class _LineProgress:
    """A plain line on stderr per batch of windows (a log, a pipe, CI): about ``PROGRESS_LINES`` in all."""

    def __init__(self, label: str, total: int, parallel: int) -> None:
        self._label = label
        self._total = total
        self.batch = max(parallel, math.ceil(total / PROGRESS_LINES))
        self._finished = 0

    def __enter__(self) -> _LineProgress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        return None

    def advance(self, counts: dict[str, int]) -> None:
        self._finished += 1
        if self._finished % self.batch == 0 or self._finished == self._total:
            print(
                f"{self._label}: {self._finished}/{self._total} windows ({_counts_text(counts)})",
                file=sys.stderr,
                flush=True,
            )


class _BarProgress:
    """A ``rich`` progress bar on stderr (a terminal)."""

    def __init__(self, label: str, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._task = self._progress.add_task(label, total=total, counts="")

    def __enter__(self) -> _BarProgress:
        self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._progress.stop()

    def advance(self, counts: dict[str, int]) -> None:
        self._progress.update(self._task, advance=1, counts=_counts_text(counts))


def _progress(label: str, total: int, parallel: int) -> _Progress:
    if sys.stderr.isatty():
        try:
            return _BarProgress(label, total)
        except ImportError:  # rich is the `cli` extra; without it, plain lines
            pass
    return _LineProgress(label, total, parallel)


def _settings_error(error: ValueError, hint: str) -> CliError:
    return CliError(f"{error} ({hint})")


def _payload(args: argparse.Namespace) -> dict[str, Any]:
    payload: dict[str, Any] = {"model": args.model, "from": args.start, "to": args.end, "force": args.force}
    if args.jobs is not None:
        payload["jobs"] = args.jobs
    return payload


def _run_backfill(args: argparse.Namespace) -> int:
    from modelwatch.jobs.backfill import BackfillError, BackfillRequest

    payload = _payload(args)
    try:
        request = BackfillRequest.from_payload(payload)
    except BackfillError as error:
        raise CliError(f"backfill: {error}") from None
    if args.queue:
        return _queue(payload, args.json)
    return _run_here(args, request)


def _queue(payload: dict[str, Any], as_json: bool) -> int:
    from modelwatch.jobs.backfill import BackfillError, queue_backfill
    from modelwatch.jobs.context import utc_now
    from modelwatch.jobs.dispatch import build_dispatch_context
    from modelwatch.settings import JobDispatchSettings, SettingsError, load_settings

    try:
        settings = load_settings(JobDispatchSettings)
    except SettingsError as error:
        raise _settings_error(error, "--queue uses the dispatcher's settings") from None
    try:
        queued = queue_backfill(build_dispatch_context(settings, clock=utc_now), payload)
    except BackfillError as error:
        raise CliError(f"backfill: {error}") from None
    summary = queued.summary()["backfill"]
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        per_job = ", ".join(f"{job} {count}" for job, count in queued.queued.items())
        print(
            f"backfill {summary['model']} {summary['from']} to {summary['to']} "
            f"({summary['window_minutes']} min windows): queued {per_job}"
            + (f"; not closed yet: {_counts_text(queued.plan.not_closed)}" if queued.plan.not_closed else "")
        )
    return 0


def _run_here(args: argparse.Namespace, request: Any) -> int:
    from datetime import timedelta

    from modelwatch.jobs.backfill import BackfillError, plan_backfill, run_backfill
    from modelwatch.jobs.context import build_job_context, utc_now
    from modelwatch.observability import logger, metrics
    from modelwatch.settings import MonitoringSettings, SettingsError, load_settings

    try:
        settings = load_settings(MonitoringSettings)
    except SettingsError as error:
        raise _settings_error(error, "the monitoring functions' settings name the deployment") from None
    context = build_job_context(settings)
    try:
        plan = plan_backfill(
            request,
            context.manifests,
            settings.window_minutes,
            utc_now(),
            alias=args.alias,
            label_lag=timedelta(minutes=settings.label_lag_minutes),
        )
    except BackfillError as error:
        raise CliError(f"backfill: {error}") from None
    label = f"backfill {plan.model}"
    started = time.perf_counter()
    # The jobs log as in Lambda (JSON on stdout); here the summary says what happened, so only
    # what POWERTOOLS_LOG_LEVEL asks for is logged. Powertools prints its EMF metrics (for
    # CloudWatch Logs) on stdout every 100 values: what the jobs print goes nowhere, so
    # stdout holds the summary only (--json stays parseable).
    level = logger.log_level
    logger.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL", "CRITICAL"))
    try:
        with (
            open(os.devnull, "w") as nowhere,
            contextlib.redirect_stdout(nowhere),
            _progress(label, plan.total, args.parallel) as progress,
        ):
            counts = {"done": 0, "skipped": 0, "no_data": 0, "failed": 0}

            def on_window(run: WindowRun) -> None:
                counts[run.status] += 1
                progress.advance(counts)

            report = run_backfill(context, plan, parallel=args.parallel, on_window=on_window)
    finally:
        logger.setLevel(level)
        metrics.clear_metrics()
    seconds = time.perf_counter() - started
    if args.json:
        print(json.dumps({**report.summary(), "seconds": round(seconds, 3)}, indent=2))
    else:
        print(_summary(plan, report, seconds))
    if report.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_WINDOWS_FAILED if report.failed else 0


def _summary(plan: BackfillPlan, report: BackfillReport, seconds: float) -> str:
    counts = report.counts()
    rows: list[tuple[str, object]] = [
        ("windows", f"{plan.total} ({_counts_text({j: len(w) for j, w in plan.windows.items()})})"),
        ("done", counts["done"]),
        ("skipped (already computed)", counts["skipped"]),
        ("no_data", counts["no_data"]),
        ("failed", counts["failed"]),
    ]
    if any(plan.not_closed.values()):
        rows.append(("not closed yet (left out)", _counts_text(plan.not_closed)))
    if report.interrupted:
        rows.append(("not run (interrupted)", report.not_run))
    width = max(len(name) for name, _ in rows)
    head = (
        f"backfill {plan.model} {plan.start.isoformat()} to {plan.end.isoformat()} "
        f"({plan.window_minutes} min windows{', forced' if plan.force else ''}) in {seconds:.1f} s"
    )
    lines = [head, *(f"  {name.ljust(width)}  {value}" for name, value in rows)]
    if report.failed:
        lines.append("  failed windows (run the same command again to retry them):")
        lines += [f"    {run.job} {run.window.key}  {run.reason}" for run in report.failed]
    return "\n".join(lines)


def add_commands(sub: Any) -> None:
    backfill = sub.add_parser(
        "backfill", help="rerun the monitoring jobs over a range of history, each window once"
    )
    backfill.add_argument("--model", required=True, help="the model (it must have a serving manifest)")
    backfill.add_argument(
        "--from", dest="start", required=True, help="start of the range: an ISO date or datetime (UTC)"
    )
    backfill.add_argument(
        "--to", dest="end", required=True, help="end of the range, excluded: an ISO date or datetime (UTC)"
    )
    backfill.add_argument(
        "--jobs", type=_job_list, help="comma-separated: drift, quality, performance (default: all)"
    )
    backfill.add_argument("--force", action="store_true", help="recompute windows that already have a result")
    backfill.add_argument(
        "--parallel",
        type=whole_number(1, MAX_PARALLEL),
        default=DEFAULT_PARALLEL,
        help=f"windows run at once (default {DEFAULT_PARALLEL}, at most {MAX_PARALLEL})",
    )
    backfill.add_argument("--alias", default="production", help="the monitored alias (default production)")
    backfill.add_argument(
        "--queue",
        action="store_true",
        help="put the windows on the job queues instead of running them here (MODELWATCH_JOB_QUEUE_URLS)",
    )
    backfill.add_argument("--json", action="store_true", help="print the summary as JSON")
    backfill.set_defaults(run=_run_backfill)
