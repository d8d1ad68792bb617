"""`make cost`'s measured inputs: the predict handler in-process logs one line a successful request."""

from __future__ import annotations

import os

from modelwatch_local.cost.calculator import Inputs
from modelwatch_local.cost.measure import measure


def test_a_successful_prediction_logs_nothing_and_captures_one_record() -> None:
    before = dict(os.environ)

    measured = measure(requests=20)

    # Nothing is logged on success: no log line, no embedded-metric line
    assert measured.log_lines_per_request == 0
    assert measured.log_bytes_per_request == measured.emf_bytes_per_request == 0
    # make cost's defaults are these measurements (within a few bytes: request ids vary)
    assert abs(measured.log_bytes_per_request - Inputs().log_bytes_per_request) < 16
    assert abs(measured.capture_bytes_per_event - Inputs().capture_bytes_per_event) < 16
    # one Firehose call with one record a request
    assert measured.firehose_calls_per_request == 1 and measured.firehose_records_per_request == 1
    assert 0 < measured.events_gzip_ratio < 0.5
    # and the environment it set up is gone
    assert dict(os.environ) == before
