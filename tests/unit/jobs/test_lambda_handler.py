"""The job handler: a schedule's event or an on-demand one becomes one run, answered in a few fields."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pydantic import ValidationError

from modelwatch.jobs.lambda_handler import job_handler
from tests.unit.jobs.conftest import MODEL, WINDOW, JobWorld, rows


@dataclass
class Context:
    function_name: str = "modelwatch-quality"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:modelwatch-quality"
    aws_request_id: str = "request-1"


def test_a_scheduled_event_runs_the_window_before_it(
    world: JobWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    world.publish("1")
    world.deliver("events", world.predictions(rows(20, seed=1)))
    context = world.context
    handler = job_handler("quality", lambda: context)

    answer = handler({"model": MODEL, "time": WINDOW.end.isoformat()}, Context())

    assert answer == {
        "job": "quality",
        "model": MODEL,
        "status": "ok",
        "alert": False,
        "reason": None,
        "result_uri": "s3://events/reports/model=fraud/job=quality/window=2026-11-26T09:00Z/result.json",
    }


def test_an_event_naming_an_invalid_model_is_refused_before_anything_runs(world: JobWorld) -> None:
    context = world.context
    handler = job_handler("drift", lambda: context)

    with pytest.raises(ValidationError, match="model"):
        handler({"model": "../etc", "time": WINDOW.end.isoformat()}, Context())
    assert world.storage.calls == {}
