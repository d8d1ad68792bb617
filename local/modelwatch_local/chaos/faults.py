"""Faults on the local stack's processes: pause and resume, kill and restart, each as it is in AWS.

moto_server keeps its state in memory, so a killed one would come back empty, where AWS's
services keep what they acknowledged. The chaos stack therefore runs moto with its request
recorder on (``MOTO_ENABLE_RECORDING``), and a restart replays the recording into the new
process before anything is counted: the stand-in comes back with what it had acknowledged, like
the services it stands for. Prometheus restarts on the same data directory (AMP keeps its data);
MLflow on the same SQLite database.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from modelwatch_local.processes import spawn, terminate, wait_http
from modelwatch_local.stack import LocalStack, moto_command

RECORDING_FILE = "moto-recording.jsonl"


def recording_env(state_dir: Path) -> dict[str, str]:
    """moto_server's environment for a recorded run (every request appended to a file)."""
    return {"MOTO_ENABLE_RECORDING": "True", "MOTO_RECORDER_FILEPATH": str(state_dir / RECORDING_FILE)}


def pause(pid: int) -> None:
    """SIGSTOP the process group of ``pid``: it keeps its sockets and answers nothing."""
    os.killpg(pid, signal.SIGSTOP)


def resume(pid: int) -> None:
    """SIGCONT the process group of ``pid``."""
    os.killpg(pid, signal.SIGCONT)


def kill(pid: int) -> None:
    """SIGKILL the process group of ``pid`` and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    terminate(pid, grace_seconds=2.0)


def restart_moto(stack: LocalStack, timeout: float = 30.0) -> float:
    """Start moto_server again on its port and replay the old one's recording; return the replay's seconds.

    The new process records nothing (the recorder's switch is global to the process, so requests
    made during a replay would be missing from a new recording): one kill per run.
    """
    state = Path(stack.state_dir)
    port = int(stack.moto_url.rsplit(":", 1)[1])
    log = stack.log_file("moto")
    fresh = {"MOTO_RECORDER_FILEPATH": str(state / "moto-recording-after-restart.jsonl")}
    process = spawn(moto_command(port), fresh, log)
    stack.pids["moto"] = process.pid
    wait_http(f"{stack.moto_url}/moto-api/", process, "moto_server", timeout, log)
    recording = (state / RECORDING_FILE).read_bytes()
    started = time.perf_counter()
    with httpx.Client(base_url=stack.moto_url, timeout=600.0) as client:
        client.post("/moto-api/recorder/upload-recording", content=recording).raise_for_status()
        client.post("/moto-api/recorder/replay-recording").raise_for_status()
    return time.perf_counter() - started


def process_command(pid: int) -> list[str]:
    """The command line of a running process (to start it again the same way)."""
    return Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").decode().split("\0")


def restart_process(
    stack: LocalStack,
    name: str,
    command: list[str],
    env: dict[str, str],
    ready_url: str,
    timeout: float,
) -> float:
    """Start ``command`` as the stack's ``name`` again and wait for ``ready_url``; return the seconds."""
    started = time.perf_counter()
    log = stack.log_file(name)
    process = spawn(command, env, log)
    stack.pids[name] = process.pid
    wait_http(ready_url, process, name, timeout, log)
    return time.perf_counter() - started


def wait_until(predicate: Callable[[], bool], timeout: float, every: float = 0.25) -> float | None:
    """Seconds until ``predicate()`` holds (None when it did not within ``timeout``)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with contextlib.suppress(Exception):
            if predicate():
                return time.monotonic() - started
        time.sleep(every)
    return None


class KillSwitch:
    """Wraps an object; the first call of one of ``methods`` runs ``fault`` first (once), then goes through.

    How an experiment kills MLflow *during* a promotion or a sync, at a chosen step of it,
    without touching the library: the registry takes its backend as a parameter.
    """

    def __init__(self, wrapped: Any, methods: set[str], fault: Callable[[], None]) -> None:
        self._wrapped = wrapped
        self._methods = methods
        self._fault = fault
        self.fired_on: str | None = None

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._wrapped, name)
        if name not in self._methods or not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.fired_on is None:
                self.fired_on = name
                self._fault()
            return attribute(*args, **kwargs)

        return call
