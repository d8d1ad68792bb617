"""The local scheduler hosts every function in one process: each logs under its own function name."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from modelwatch_local.scheduler import EXPORT_FUNCTION, LocalScheduler, logging_as
from modelwatch_local.stack import LocalStack

from modelwatch.observability import logger


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """What the shared Powertools logger writes, while the test runs."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


def test_the_metrics_export_logs_as_itself_while_another_function_left_its_keys(logged: io.StringIO) -> None:
    logger.append_keys(function_name="modelwatch-performance", function_request_id="r-1")
    try:

        def export() -> None:
            with logging_as(EXPORT_FUNCTION):
                logger.warning("serving metrics state kept changing")

        thread = threading.Thread(target=export)
        thread.start()
        thread.join()
        logger.warning("still the performance job")
    finally:
        logger.remove_keys(["function_name", "function_request_id"])

    export_line, job_line = _lines(logged)
    assert export_line["function_name"] == "modelwatch-metrics_export"
    assert export_line["function_request_id"] != "r-1"
    assert job_line["function_name"] == "modelwatch-performance"


def test_an_invocation_leaves_no_lambda_context_keys_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, logged: io.StringIO
) -> None:
    stack = LocalStack(state_dir=str(tmp_path), moto_url="http://127.0.0.1:1", api_url="", models=[])
    monkeypatch.setattr(stack, "partition_deliveries", lambda: None)
    scheduler = LocalScheduler(stack)

    @logger.inject_lambda_context
    def handler(event: dict[str, Any], context: Any) -> str:
        logger.warning("inside the drift job")
        return "done"

    scheduler._handlers["drift"] = SimpleNamespace(handler=handler)  # type: ignore[assignment]

    assert scheduler.invoke("drift", {}) == "done"
    logger.warning("after the invocation")

    inside, after = _lines(logged)
    assert inside["function_name"] == "modelwatch-drift"
    assert "function_name" not in after and "function_request_id" not in after
