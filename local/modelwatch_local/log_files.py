"""Where the local stack logs: one file per process under ``<state>/logs/``, and the demo's own output.

Every background process of the stack writes its stdout and stderr to
``<state>/logs/<service>.log`` (:data:`SERVICE_LOGS`). What runs inside the demo's own
process (the job handlers, the metrics export, the registry client, and whatever the
libraries print or log) goes to ``<state>/logs/jobs.log`` while :func:`output_to_log` is
active, so the terminal keeps only the demo's report.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TextIO

LOGS_DIRNAME: Final = "logs"
# The stack's processes (their keys in ``LocalStack.pids``) and the file each one logs to.
SERVICE_LOGS: Final = {
    "moto": "moto_server",
    "api": "api",
    "prometheus": "prometheus",
    "mlflow": "mlflow",
    "dashboards": "dashboards",
    "tick": "scheduler",
}
# The demo's process: the in-process job handlers, the scheduler, the metrics export, libraries.
IN_PROCESS_LOG: Final = "jobs"


def logs_dir(state_dir: str | Path) -> Path:
    """The directory of the stack's log files (``<state>/logs``)."""
    return Path(state_dir).resolve() / LOGS_DIRNAME


def log_file(state_dir: str | Path, name: str) -> Path:
    """The log file of ``name``: a key of :data:`SERVICE_LOGS` (``"api"``) or a file's name (``"jobs"``)."""
    return logs_dir(state_dir) / f"{SERVICE_LOGS.get(name, name)}.log"


@dataclass
class Terminal:
    """The real terminal, kept while the process's own stdout and stderr go to a log file."""

    out: TextIO
    err: TextIO


@contextlib.contextmanager
def output_to_log(path: Path) -> Iterator[Terminal]:
    """Send this process's stdout and stderr to ``path`` (appended); yield streams on the real terminal.

    The redirection is done on the file descriptors (1 and 2), so it also takes what was bound
    to ``sys.stdout`` before (Powertools' Logger, its embedded-metric lines), what threads
    print, and what C extensions write. Python warnings and library ``logging`` records go to
    the same file, one line each with time, level and logger. Everything is restored on exit.

    Parameters
    ----------
    path:
        The log file (its directory is created).

    Yields
    ------
    Terminal
        Text streams on the original stdout and stderr (a TTY stays a TTY).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(ValueError, OSError):
            stream.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    out = os.fdopen(os.dup(saved_out), "w", buffering=1, encoding="utf-8", errors="replace")
    err = os.fdopen(os.dup(saved_err), "w", buffering=1, encoding="utf-8", errors="replace")
    log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    logging.captureWarnings(True)
    try:
        yield Terminal(out=out, err=err)
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(ValueError, OSError):
                stream.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        os.close(saved_out)
        os.close(saved_err)
        out.close()
        err.close()
