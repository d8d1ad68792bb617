"""The demo's terminal report: numbered steps, plain progress off a terminal, errors that name their log."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from modelwatch_local.processes import StackError
from modelwatch_local.report import WHAT_YOU_SAW, Report, StepFailed, milliseconds, seconds, thousands


def _report(total: int = 3) -> tuple[Report, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return Report(total, out, err), out, err


def test_steps_are_numbered_in_order_and_say_how_long_they_took() -> None:
    report, out, _ = _report(2)

    with report.step("Starting the local stack"):
        report.say("first")
    with report.step("Sending traffic"):
        report.say("second")

    lines = out.getvalue().splitlines()
    assert lines[0] == "[1/2] Starting the local stack"
    assert lines[1] == "first"
    assert lines.index("[2/2] Sending traffic") > lines.index("first")
    assert [line for line in lines if line.startswith("  (") and line.endswith(" s)")] == [
        lines[2],
        lines[-1],
    ]


def test_an_error_in_a_step_is_one_line_naming_the_steps_log(capsys: pytest.CaptureFixture[str]) -> None:
    report, out, err = _report(2)
    log = Path("/tmp/state/logs/jobs.log")

    with pytest.raises(StepFailed), report.step("Monitoring", log):
        raise KeyError("drift")

    assert err.getvalue() == f"[1/2] Monitoring failed: KeyError: 'drift' (details: {log})\n"
    assert "Traceback" not in out.getvalue() + err.getvalue()
    # the traceback goes to the process's stderr, which the demo sends to the log file
    assert "Traceback" in capsys.readouterr().err


def test_an_error_that_names_its_log_points_there_on_one_line() -> None:
    report, _, err = _report(1)
    moto_log = Path("/tmp/state/logs/moto_server.log")

    with pytest.raises(StepFailed) as raised, report.step("Starting the local stack", Path("/tmp/jobs.log")):
        raise StackError("moto_server exited with code 1\nits last lines ...", log=moto_log)

    assert isinstance(raised.value.__cause__, StackError)
    assert err.getvalue() == (
        f"[1/1] Starting the local stack failed: moto_server exited with code 1 (details: {moto_log})\n"
    )


def test_a_failed_check_points_at_the_current_steps_log_unless_told_another() -> None:
    report, _, err = _report(1)
    api_log, jobs_log = Path("/s/logs/api.log"), Path("/s/logs/jobs.log")

    with report.step("Sending traffic", jobs_log):
        report.failed("3 predictions were not captured")
        report.failed("the API answered 500", api_log)

    assert err.getvalue().splitlines() == [
        f"FAILED: 3 predictions were not captured (details: {jobs_log})",
        f"FAILED: the API answered 500 (details: {api_log})",
    ]


def test_a_log_under_the_working_directory_is_shown_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    report, _, err = _report(1)

    report.error(
        "modelwatch: error: port 127.0.0.1:5000 is in use", tmp_path / ".local" / "logs" / "mlflow.log"
    )

    assert (
        err.getvalue()
        == "modelwatch: error: port 127.0.0.1:5000 is in use (details: .local/logs/mlflow.log)\n"
    )


def test_progress_off_a_terminal_is_four_plain_lines_without_carriage_returns() -> None:
    report, out, _ = _report(1)

    with report.progress("requests", 2000, "requests") as bar:
        for _ in range(2000):
            bar.advance()

    text = out.getvalue()
    assert text.splitlines() == [
        "  requests: 500 of 2,000 requests (25%)",
        "  requests: 1,000 of 2,000 requests (50%)",
        "  requests: 1,500 of 2,000 requests (75%)",
        "  requests: 2,000 of 2,000 requests (100%)",
    ]
    assert "\r" not in text and "\x1b" not in text


def test_a_short_progress_prints_each_quarter_once_with_what_was_done() -> None:
    report, out, _ = _report(1)

    with report.progress("monitoring jobs", 3, "jobs") as bar:
        for job in ("drift", "quality", "performance"):
            bar.advance(note=f"{job} ok")

    assert out.getvalue().splitlines() == [
        "  monitoring jobs: 1 of 3 jobs (33%): drift ok",
        "  monitoring jobs: 2 of 3 jobs (67%): quality ok",
        "  monitoring jobs: 3 of 3 jobs (100%): performance ok",
    ]


def test_progress_on_a_terminal_is_a_live_bar_that_leaves_no_trace() -> None:
    out = io.StringIO()
    report = Report(1, out, interactive=True)

    with report.progress("requests", 10, "requests") as bar:
        for _ in range(10):
            bar.advance()

    assert "requests: " not in out.getvalue()  # no plain lines: the bar was drawn, then removed


def test_lines_are_printed_as_they_are_without_markup_or_wrapping() -> None:
    report, out, _ = _report(1)
    line = "interval [-0.8084, +0.4745] [bold]n[/bold] " + "s3://modelwatch-events/" * 10

    report.say(line)

    assert out.getvalue() == line + "\n"


def test_a_summary_aligns_its_labels_and_keeps_each_value_on_its_line() -> None:
    report, out, _ = _report(1)
    long_value = "1,222 prediction events -> " + "s3://modelwatch-events/events/model=fraud_detection/" * 3

    report.summary([("requests sent", "300 in 3.5 s"), ("events captured", long_value)])

    assert out.getvalue().splitlines() == [
        "  requests sent     300 in 3.5 s",
        f"  events captured   {long_value}",
    ]


def test_the_closing_section_says_what_was_seen_then_what_to_open() -> None:
    report, out, _ = _report(1)

    report.closing(
        ["served 8,545 predictions", "rolled back version 4"],
        [("MLflow UI", "http://127.0.0.1:5000"), ("dashboard snapshot", ".local/dashboards/serving.html")],
        note="The demo stopped its stack: run `make up` to open these.",
    )

    lines = out.getvalue().splitlines()
    assert lines[1] == WHAT_YOU_SAW
    assert lines[2:4] == ["  - served 8,545 predictions", "  - rolled back version 4"]
    assert "  MLflow UI           http://127.0.0.1:5000" in lines
    assert "  dashboard snapshot  .local/dashboards/serving.html" in lines
    assert lines[-1] == "The demo stopped its stack: run `make up` to open these."


def test_figures_carry_their_units() -> None:
    assert thousands(14977) == "14,977"
    assert seconds(13.24) == "13.2 s"
    assert milliseconds(47.81) == "47.8 ms"
