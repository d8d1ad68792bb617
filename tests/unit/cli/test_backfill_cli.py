"""``modelwatch backfill`` against moto in-process: summary, progress lines, exit codes, one-line errors."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import modelwatch.jobs.context  # noqa: F401  (imported before sockets are disabled: X-Ray opens one)
from modelwatch.cli import backfill as backfill_cli
from modelwatch.cli import main
from modelwatch.cli.backfill import EXIT_WINDOWS_FAILED
from modelwatch.cli.errors import EXIT_USAGE
from modelwatch.contracts import layout
from modelwatch.contracts.manifest import ManifestMonitoring, ServingManifest
from modelwatch.contracts.window import Window
from modelwatch.jobs import runner
from modelwatch.jobs.outcome import JobOutcome
from modelwatch.jobs.requests import JobRequest
from modelwatch.observability import logger, metrics
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import S3Storage
from tests.unit.cli.test_cli import assert_one_error_line
from tests.unit.jobs.conftest import SCHEMA

EVENTS_BUCKET = "events-bucket"
MODELS_BUCKET = "models-bucket"
MODEL = "fraud"
DAY = ["backfill", "--model", MODEL, "--from", "2026-11-01", "--to", "2026-11-02"]


def exit_code(argv: list[str]) -> int:
    """The exit code of the command, whether main returns it or argparse exits with it."""
    try:
        return main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)


@dataclass
class Aws:
    s3: Any
    sqs: Any

    def results(self) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=EVENTS_BUCKET, Prefix="reports/")
        return [
            item["Key"]
            for page in pages
            for item in page.get("Contents", [])
            if item["Key"].endswith(".json")
        ]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    import boto3
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3")
        for bucket in (EVENTS_BUCKET, MODELS_BUCKET):
            s3.create_bucket(Bucket=bucket)
        ManifestStore(S3Storage(s3), MODELS_BUCKET).write(
            ServingManifest(
                model=MODEL,
                version="1",
                flavor="sklearn",
                artifact_uri=f"s3://{MODELS_BUCKET}/{layout.model_file_key(MODEL, '1', 'sklearn')}",
                input_schema=SCHEMA,
                monitoring=ManifestMonitoring(window_minutes=120),
            )
        )
        monkeypatch.setenv("MODELWATCH_EVENTS_BUCKET", EVENTS_BUCKET)
        monkeypatch.setenv("MODELWATCH_MODELS_BUCKET", MODELS_BUCKET)
        yield Aws(s3=s3, sqs=boto3.client("sqs"))


class Jobs:
    """Job functions that count their runs; a window key in ``failing`` raises."""

    def __init__(self) -> None:
        self.runs = 0
        self.failing: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, context: object, model: str, window: Window) -> JobOutcome:
        with self._lock:
            self.runs += 1
        if window.key in self.failing:
            raise RuntimeError(f"profiles unreadable in {window.key}")
        return JobOutcome(status="ok", versions=["1"])


@pytest.fixture
def jobs(monkeypatch: pytest.MonkeyPatch) -> Jobs:
    counting = Jobs()
    monkeypatch.setattr(
        runner, "_job_functions", lambda: dict.fromkeys(("drift", "quality", "performance"), counting)
    )
    return counting


def test_a_backfill_runs_each_window_once_and_a_second_run_skips_them_all(
    aws: Aws, jobs: Jobs, capsys: pytest.CaptureFixture[str]
) -> None:
    # A day of the model's 2-hour windows, two jobs: 24 windows
    assert main([*DAY, "--jobs", "drift,quality", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)

    assert (first["done"], first["skipped"], first["failed"]) == (24, 0, 0)
    assert first["windows"] == {"drift": 12, "quality": 12} and first["window_minutes"] == 120
    assert jobs.runs == 24 and len(aws.results()) == 24

    assert main([*DAY, "--jobs", "drift,quality", "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert (second["done"], second["skipped"]) == (0, 24) and jobs.runs == 24

    assert main([*DAY, "--jobs", "drift,quality", "--force", "--json"]) == 0
    forced = json.loads(capsys.readouterr().out)
    assert forced["done"] == 24 and jobs.runs == 48


def test_failed_windows_are_listed_the_others_complete_and_the_exit_code_is_1(
    aws: Aws, jobs: Jobs, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs.failing = {"2026-11-01T04:00Z"}

    code = main([*DAY, "--parallel", "3"])

    out = capsys.readouterr().out
    assert code == EXIT_WINDOWS_FAILED
    assert "backfill fraud 2026-11-01T00:00:00+00:00 to 2026-11-02T00:00:00+00:00 (120 min windows)" in out
    assert "failed                      3" in out and "done                        33" in out
    for job in ("drift", "quality", "performance"):
        assert f"{job} 2026-11-01T04:00Z  RuntimeError: profiles unreadable in 2026-11-01T04:00Z" in out
    # Fixed, the same command retries the three failed windows only
    jobs.failing = set()
    assert main(DAY) == 0 and jobs.runs == 36 + 3


def test_progress_is_a_plain_line_per_batch_when_stderr_is_not_a_terminal(
    aws: Aws, jobs: Jobs, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*DAY, "--parallel", "2"]) == 0

    lines = capsys.readouterr().err.splitlines()
    # 36 windows in batches of 2 (--parallel, since 36 windows are fewer than 50 lines' worth)
    assert len(lines) == 18
    assert lines[0] == "backfill fraud: 2/36 windows (done 2, skipped 0, no_data 0, failed 0)"
    assert lines[-1] == "backfill fraud: 36/36 windows (done 36, skipped 0, no_data 0, failed 0)"


def test_a_long_plan_prints_about_fifty_progress_lines() -> None:
    progress = backfill_cli._LineProgress("backfill m", total=8_760, parallel=4)
    assert progress.batch == 176  # 8,760 / 50, rounded up


def test_on_a_terminal_the_progress_is_a_rich_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert isinstance(backfill_cli._progress("backfill m", 10, 4), backfill_cli._BarProgress)


def test_the_jobs_logs_are_quiet_during_the_run_and_the_level_is_restored(
    aws: Aws, jobs: Jobs, capsys: pytest.CaptureFixture[str]
) -> None:
    level = logger.log_level

    assert main([*DAY, "--jobs", "drift"]) == 0

    out = capsys.readouterr().out
    assert out.startswith("backfill fraud") and '"level"' not in out  # no JSON log line among the summary
    assert logger.log_level == level


def test_what_the_jobs_print_stays_off_stdout_so_json_parses(
    aws: Aws, jobs: Jobs, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def noisy(context: object, model: str, window: Window) -> JobOutcome:
        for _ in range(10):  # 360 values in all: Powertools prints its EMF blob every 100
            metrics.add_metric(name="ObjectsProfiled", unit="Count", value=1)
        print("a job's stray print")
        return JobOutcome(status="ok")

    monkeypatch.setattr(
        runner, "_job_functions", lambda: dict.fromkeys(("drift", "quality", "performance"), noisy)
    )

    assert main([*DAY, "--json"]) == 0

    assert json.loads(capsys.readouterr().out)["done"] == 36


def test_with_the_real_jobs_an_empty_history_is_no_data_windows(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*DAY, "--jobs", "drift,quality", "--json"]) == 0

    report = json.loads(capsys.readouterr().out)
    assert report["no_data"] == 24 and report["failed"] == 0


def test_queue_puts_one_message_per_window_on_each_jobs_queue(
    aws: Aws, jobs: Jobs, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = {
        job: aws.sqs.create_queue(QueueName=f"modelwatch-{job}-jobs")["QueueUrl"]
        for job in ("drift", "quality")
    }
    monkeypatch.setenv("MODELWATCH_JOB_QUEUE_URLS", json.dumps(urls))

    assert main([*DAY, "--jobs", "drift", "--queue"]) == 0

    assert "queued drift 12" in capsys.readouterr().out and jobs.runs == 0
    bodies: list[str] = []
    while messages := aws.sqs.receive_message(QueueUrl=urls["drift"], MaxNumberOfMessages=10).get("Messages"):
        bodies += [message["Body"] for message in messages]
        for message in messages:
            aws.sqs.delete_message(QueueUrl=urls["drift"], ReceiptHandle=message["ReceiptHandle"])
    windows = sorted(JobRequest.model_validate_json(body).window_start.isoformat() for body in bodies)  # type: ignore[union-attr]
    assert len(windows) == 12 and windows[0] == "2026-11-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--from", "2026-11-03", "--to", "2026-11-02"], ("backfill: from:", "is not before to")),
        (["--jobs", "drift,latency"], ("backfill: jobs.1:", "'drift', 'quality' or 'performance'")),
        (["--from", "yesterday"], ("backfill: from:",)),
        (["--model", "other"], ("backfill: model:", "no serving manifest")),
        (["--from", "2020-01-01", "--to", "2026-01-01"], ("backfill: to:", "more than the 10,000", "split")),
        (["--parallel", "0"], ("--parallel", "must be 1 to 10")),
        (["--jobs", ","], ("--jobs", "at least one")),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    aws: Aws, jobs: Jobs, capsys: pytest.CaptureFixture[str], args: list[str], fragments: tuple[str, ...]
) -> None:
    argv = list(DAY)
    for flag, value in zip(args[::2], args[1::2], strict=True):
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    assert exit_code(argv) == EXIT_USAGE
    assert_one_error_line(capsys, *fragments)
    assert jobs.runs == 0 and aws.results() == []


def test_missing_settings_are_one_line_naming_the_variable(
    jobs: Jobs, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(DAY) == EXIT_USAGE
    assert_one_error_line(capsys, "MODELWATCH_EVENTS_BUCKET", "monitoring functions' settings")
    assert main([*DAY, "--queue"]) == EXIT_USAGE
    assert_one_error_line(capsys, "MODELWATCH_JOB_QUEUE_URLS", "dispatcher's settings")
