"""The model partition of every captured record: the Python rule and the streams' JQ queries agree.

Firehose evaluates ``layout.PARTITION_QUERIES`` (JQ 1.6) in AWS; the local partitioner uses
``layout.partition_model``. The table below is what serving captures for each rejection reason
(which ``model`` it holds, whether a version is set; see ``serving/app.py``), and both the rule
and the JQ text are held to it. Where the ``jq`` 1.6 binary is installed the query itself runs.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any, get_args

import pytest

from modelwatch.contracts import layout
from modelwatch.contracts.events import RejectionReason
from modelwatch.contracts.names import is_valid_model_name

SERVED = "fraud"
MADE_UP = "zz-attacker-42"

# (reason, model as serving captures it, version, partition expected)
REJECTIONS: list[tuple[str, Any, str | None, str]] = [
    ("unknown_model", MADE_UP, None, layout.UNROUTED_MODEL),  # predict or feedback: no manifest
    ("unknown_model", "not a valid name/..", None, layout.UNROUTED_MODEL),
    ("not_found", MADE_UP, None, layout.UNROUTED_MODEL),  # /v1/models/<any>/nothing
    ("not_found", "", None, layout.UNROUTED_MODEL),  # a path that names no model
    ("method_not_allowed", MADE_UP, None, layout.UNROUTED_MODEL),
    ("method_not_allowed", SERVED, None, layout.UNROUTED_MODEL),  # from the path: never checked
    ("invalid_body", MADE_UP, None, layout.UNROUTED_MODEL),  # refused before the route ran
    ("body_too_large", MADE_UP, None, layout.UNROUTED_MODEL),
    ("model_unavailable", MADE_UP, None, layout.UNROUTED_MODEL),  # manifest unreadable: never found
    ("model_unavailable", SERVED, "3", SERVED),  # its manifest named version 3, which failed to load
    ("flavor_not_served", SERVED, "3", SERVED),
    ("schema_violation", SERVED, "3", SERVED),
    ("too_many_instances", SERVED, "3", SERVED),  # predict: after the model was loaded
    ("too_many_instances", SERVED, None, SERVED),  # feedback: after the model was checked
    ("prediction_failed", SERVED, "3", SERVED),
    ("candidate_failed", SERVED, "3", SERVED),
    ("feedback_unavailable", SERVED, None, SERVED),  # feedback checks the model first
    ("schema_violation", None, "3", layout.UNROUTED_MODEL),  # a record naming no model
    ("schema_violation", "", "3", layout.UNROUTED_MODEL),
    ("schema_violation", 7, "3", layout.UNROUTED_MODEL),  # not a string
]


def _rejection(reason: str, model: Any, version: str | None) -> dict[str, Any]:
    record: dict[str, Any] = {"reason": reason, "version": version, "request_id": "r", "body": ""}
    if model is not None:
        record["model"] = model
    return record


def test_the_table_covers_every_rejection_reason() -> None:
    assert {reason for reason, *_ in REJECTIONS} == set(get_args(RejectionReason))
    assert set(layout.UNCHECKED_MODEL_REASONS) <= set(get_args(RejectionReason))
    assert layout.UNREAD_MANIFEST_REASON in get_args(RejectionReason)


def test_no_served_model_can_be_called_unrouted() -> None:
    assert not is_valid_model_name(layout.UNROUTED_MODEL)


@pytest.mark.parametrize(("reason", "model", "version", "expected"), REJECTIONS)
def test_a_rejection_goes_to_its_model_only_when_serving_found_the_model(
    reason: str, model: Any, version: str | None, expected: str
) -> None:
    assert layout.partition_model("rejected", _rejection(reason, model, version)) == expected


def test_made_up_names_all_share_the_one_unrouted_partition() -> None:
    names = [f"name-{i}" for i in range(1000)] + ["", "x" * 500, "../../etc"]
    partitions = {
        layout.partition_model("rejected", _rejection(reason, name, None))
        for name in names
        for reason in layout.UNCHECKED_MODEL_REASONS
    }
    assert partitions == {layout.UNROUTED_MODEL}


def test_the_rejected_query_names_exactly_the_reasons_of_the_rule() -> None:
    query = layout.PARTITION_QUERIES["rejected"]
    compared = set(re.findall(r'\.reason == "([a-z_]+)"', query))
    assert compared == {*layout.UNCHECKED_MODEL_REASONS, layout.UNREAD_MANIFEST_REASON}
    assert f'"{layout.UNROUTED_MODEL}"' in query and query.endswith("else .model end)")
    assert ".version == null" in query  # model_unavailable routes by whether a manifest was read


@pytest.mark.parametrize("kind", ["events", "labels"])
def test_events_and_labels_go_to_their_model_and_without_one_cannot_be_partitioned(
    kind: layout.CaptureKind,
) -> None:
    assert layout.partition_model(kind, {"model": SERVED}) == SERVED
    for record in ({}, {"model": ""}, {"model": None}, {"model": 3}):
        with pytest.raises(ValueError, match="cannot be partitioned"):
            layout.partition_model(kind, record)


def test_the_extraction_query_is_the_object_firehose_is_given() -> None:
    for kind in layout.CAPTURE_KINDS:
        assert layout.partition_extraction_query(kind) == '{"model":' + layout.PARTITION_QUERIES[kind] + "}"


def _jq(query: str, records: list[dict[str, Any]]) -> list[Any]:
    """Run ``jq`` over one JSON line a record, as Firehose runs a query on each deaggregated line."""
    lines = "".join(json.dumps(r) + "\n" for r in records)
    found = subprocess.run(["jq", "-c", query], input=lines, capture_output=True, text=True, check=True)
    return [json.loads(line) for line in found.stdout.splitlines()]


def _has_jq16() -> bool:
    """Whether the ``jq`` on the path is 1.6, the engine Firehose names (a later one accepts more syntax)."""
    if shutil.which("jq") is None:
        return False
    found = subprocess.run(["jq", "--version"], capture_output=True, text=True, check=False)
    return found.stdout.startswith("jq-1.6")


@pytest.mark.skipif(not _has_jq16(), reason="jq 1.6 is not installed")
def test_jq_evaluates_the_extraction_queries_as_the_python_rule_does() -> None:
    rejections = [_rejection(reason, model, v) for reason, model, v, _ in REJECTIONS]
    assert [found["model"] for found in _jq(layout.partition_extraction_query("rejected"), rejections)] == [
        layout.partition_model("rejected", r) for r in rejections
    ]
    for kind in ("events", "labels"):
        records = [{"model": SERVED}, {"model": "churn.v2", "i": 1}]
        assert [found["model"] for found in _jq(layout.partition_extraction_query(kind), records)] == [
            layout.partition_model(kind, r) for r in records
        ]
