"""``modelwatch capture replay``: drain the capture dead-letter queue back into Firehose, each event once.

The queue is the stack output ``CaptureDlqUrl``; the replay keeps a claim per event in the
events bucket (``--events-bucket`` or ``MODELWATCH_EVENTS_BUCKET``; stack output
``EventsBucketName``), so running it twice, or twice at once, puts no event twice (see
``modelwatch.jobs.capture_replay``). It prints a summary, or the report as JSON with ``--json``.

Exit codes: 0 when every message read was replayed, was already replayed, is held by
another replay running now, or is part of an incomplete fragment set; 3
(``EXIT_REPLAY_INCOMPLETE``) when Firehose refused lines, lines are in doubt, or messages
are not capture dead letters (all of which stay in the queue); 2 for bad input (one line
on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from pydantic import ValidationError

from modelwatch.cli.arguments import whole_number
from modelwatch.cli.errors import CliError, validation_message

if TYPE_CHECKING:
    from modelwatch.jobs.capture_replay import ReplayReport

EXIT_REPLAY_INCOMPLETE = 3
BUCKET_VARIABLE = "MODELWATCH_EVENTS_BUCKET"


def _stream_mapping(text: str) -> tuple[str, str]:
    old, sep, new = text.partition("=")
    if not sep or not old.strip() or not new.strip():
        raise argparse.ArgumentTypeError(f"not OLD=NEW (two stream names): {text!r}")
    return old.strip(), new.strip()


def _queue_url(text: str) -> str:
    parsed = urlparse(text)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or not parsed.path.strip("/"):
        raise CliError(
            f"--queue-url must be the queue's URL (https://sqs.<region>.amazonaws.com/<account>/<name>, "
            f"the stack output CaptureDlqUrl), got {text!r}"
        )
    return text


def _run_replay(args: argparse.Namespace) -> int:
    from modelwatch.jobs.capture_replay import build_capture_replay
    from modelwatch.settings import CaptureReplaySettings
    from modelwatch.stores.dead_letter_queue import QueueNotFound

    queue_url = _queue_url(args.queue_url)
    bucket = args.events_bucket or os.environ.get(BUCKET_VARIABLE, "").strip()
    if not bucket:
        raise CliError(
            f"no events bucket: pass --events-bucket or set {BUCKET_VARIABLE} "
            "(the stack output EventsBucketName; the replay keeps its claims there)"
        )
    try:
        settings = CaptureReplaySettings(
            capture_dlq_url=queue_url, events_bucket=bucket, replay_stream_map=dict(args.stream_map or [])
        )
    except ValidationError as error:
        raise CliError(f"invalid replay settings: {validation_message(error)}") from None
    try:
        report = build_capture_replay(settings).run(
            dry_run=args.dry_run,
            max_messages=args.max_messages or settings.replay_max_messages,
            resend_in_doubt=args.resend_in_doubt,
        )
    except QueueNotFound as error:
        raise CliError(f"{error} (check the URL and the region of your credentials)") from None
    if args.json:
        print(json.dumps(report.model_dump(mode="json"), indent=2))
    else:
        print(_summary(queue_url, report))
    return 0 if report.clean else EXIT_REPLAY_INCOMPLETE


def _summary(queue_url: str, report: ReplayReport) -> str:
    verb = "would replay" if report.dry_run else "replayed"
    streams = ", ".join(f"{stream} {count}" for stream, count in sorted(report.replayed.items())) or "-"
    rows: list[tuple[str, Any]] = [
        ("messages read", report.messages),
        ("messages deleted", report.deleted),
        (f"lines {verb}", f"{report.lines} ({streams})"),
        ("duplicates skipped", report.duplicates),
        ("incomplete fragment sets", report.incomplete_fragment_sets),
        ("held by another replay", report.in_progress),
        ("in doubt", report.in_doubt),
        ("failures (left in queue)", report.failures),
        ("not dead letters", report.invalid),
    ]
    width = max(len(name) for name, _ in rows)
    head = f"capture replay{' (dry run)' if report.dry_run else ''} of {queue_url} in {report.seconds:.1f} s"
    lines = [head, *(f"  {name.ljust(width)}  {value}" for name, value in rows)]
    if report.stopped:
        lines.append(f"  stopped early ({report.stopped}): run it again for the rest")
    if report.in_doubt_event_ids:
        lines.append(
            "  in doubt (a replay stopped between claim and confirmation; check the events bucket, then "
            "--resend-in-doubt): " + ", ".join(report.in_doubt_event_ids)
        )
    lines += [f"  error: {error}" for error in report.errors]
    return "\n".join(lines)


def add_commands(sub: Any) -> None:
    capture = sub.add_parser("capture", help="the capture dead-letter queue")
    capture_sub = capture.add_subparsers(dest="capture_command", required=True)
    replay = capture_sub.add_parser(
        "replay", help="put the events of the capture dead-letter queue back into Firehose, each once"
    )
    replay.add_argument("--queue-url", required=True, help="the capture DLQ (stack output CaptureDlqUrl)")
    replay.add_argument(
        "--events-bucket", help=f"where claims are kept (stack output EventsBucketName; or {BUCKET_VARIABLE})"
    )
    replay.add_argument(
        "--dry-run", action="store_true", help="read and report only; messages stay, visible at once"
    )
    replay.add_argument(
        "--max-messages", type=whole_number(), help="read at most this many messages (default 10000)"
    )
    replay.add_argument(
        "--resend-in-doubt",
        action="store_true",
        help="put in-doubt events again (only after checking they are not in the events bucket)",
    )
    replay.add_argument(
        "--stream-map",
        action="append",
        type=_stream_mapping,
        metavar="OLD=NEW",
        help="replay lines dead-lettered to stream OLD into stream NEW (repeatable): e.g. a per-model "
        "events stream of an earlier deployment into the one events stream",
    )
    replay.add_argument("--json", action="store_true", help="print the report as JSON")
    replay.set_defaults(run=_run_replay)
