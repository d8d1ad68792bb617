"""The local stack's log files: one per process, and the demo's own output kept off the terminal."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from modelwatch_local.log_files import log_file, logs_dir


def test_each_process_logs_to_a_file_of_its_own_under_the_state_dir(tmp_path: Path) -> None:
    assert logs_dir(tmp_path) == tmp_path.resolve() / "logs"
    assert log_file(tmp_path, "moto") == tmp_path.resolve() / "logs" / "moto_server.log"
    assert log_file(tmp_path, "tick") == tmp_path.resolve() / "logs" / "scheduler.log"
    assert log_file(tmp_path, "jobs") == tmp_path.resolve() / "logs" / "jobs.log"


def test_everything_the_process_prints_or_logs_goes_to_the_log_and_the_terminal_keeps_the_report(
    tmp_path: Path,
) -> None:
    # In a process of its own: the redirection is of file descriptors 1 and 2, which pytest captures.
    log = tmp_path / "logs" / "jobs.log"
    script = textwrap.dedent(
        f"""
        import logging, os, sys, warnings
        from pathlib import Path
        from aws_lambda_powertools import Logger, Metrics
        from modelwatch_local.log_files import output_to_log

        powertools = Logger(service="modelwatch")  # bound to sys.stdout before the redirection
        metrics = Metrics(namespace="modelwatch", service="modelwatch")
        print("before")
        with output_to_log(Path({str(log)!r})) as terminal:
            terminal.out.write("[1/1] the report\\n")
            print('{{"_aws": "an embedded-metric line"}}')
            powertools.warning("a job's warning")
            for _ in range(100):  # Powertools flushes on its own at 100 values, whatever the settings
                metrics.add_metric(name="ObjectsProfiled", unit="Count", value=1)
            logging.getLogger("urllib3").warning("a library's warning")
            warnings.warn("a deprecation")
            os.write(2, b"written to fd 2\\n")
            terminal.err.write("FAILED: something (details: {log})\\n")
        print("after")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )

    assert done.stdout == "before\n[1/1] the report\nafter\n"
    assert done.stderr == f"FAILED: something (details: {log})\n"
    text = log.read_text()
    for expected in (
        '{"_aws": "an embedded-metric line"}',
        "a job's warning",
        '"ObjectsProfiled"',
        "WARNING urllib3: a library's warning",
        "a deprecation",
        "written to fd 2",
    ):
        assert expected in text, expected
