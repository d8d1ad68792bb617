"""Event records captured by serving and read by the monitoring jobs.

One ``PredictionEvent`` per served instance; one ``RejectedRequest`` per request
that could not be served; one ``LabelEvent`` per label sent to the feedback
endpoint, joined later to its prediction by ``(request_id, index)``. All are
written as JSON Lines (one object per line) to Firehose, which delivers them,
compressed and partitioned by model and hour, to S3:
``<events|rejected|labels>/model=<m>/dt=<YYYY-MM-DD>/hour=<HH>/`` (``contracts.layout``).
"""

from __future__ import annotations

import gzip
import json
import uuid
import zlib
from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelwatch.contracts.rollout import Variant

EVENT_SCHEMA_VERSION: Final = 1
GZIP_MAGIC: Final = b"\x1f\x8b"

RejectionReason = Literal[
    "unknown_model",
    "feedback_unavailable",
    "schema_violation",
    "too_many_instances",
    "invalid_body",
    "model_unavailable",
    "flavor_not_served",
    "prediction_failed",
    "body_too_large",
    "not_found",
    "method_not_allowed",
    # ab/canary: the candidate failed a request production then answered (status 200, counted
    # against the candidate's error guardrail).
    "candidate_failed",
]


def new_event_id() -> str:
    return uuid.uuid4().hex


class PredictionEvent(BaseModel):
    """One served instance: its features, the prediction and how long the request took."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    schema_version: Literal[1] = EVENT_SCHEMA_VERSION
    event_id: str
    request_id: str
    index: int = Field(description="Position of the instance in its request (joins late labels).")
    model: str
    version: str
    timestamp: datetime
    features: dict[str, Any]
    prediction: Any
    latency_ms: float
    variant: Variant = Field(
        "production", description="Which side of a rollout scored it (production without a rollout)."
    )
    served: bool = Field(
        True, description="False for a shadow prediction: scored after the answer, never seen by the caller."
    )


class RejectedRequest(BaseModel):
    """A request that was not served, with the reason and what it carried."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    schema_version: Literal[1] = EVENT_SCHEMA_VERSION
    event_id: str
    request_id: str
    model: str
    version: str | None
    timestamp: datetime
    reason: RejectionReason
    status_code: int
    errors: list[dict[str, Any]] = Field(default_factory=list)
    body: str = Field(description="The request body as received (truncated past body_limit).")
    body_truncated: bool = False
    variant: Variant | None = Field(None, description="The rollout side that failed (None: not routed).")


class LabelEvent(BaseModel):
    """The true outcome of one served instance, which may arrive days after its prediction."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    schema_version: Literal[1] = EVENT_SCHEMA_VERSION
    event_id: str
    model: str
    request_id: str
    index: int = Field(ge=0)
    label: float | int | str | bool
    timestamp: datetime = Field(description="When the label was received.")


def decode_event_object(body: bytes) -> list[dict[str, Any]]:
    """The JSON records of one delivered object (Firehose gzips in AWS; moto does not)."""
    if body[:2] == GZIP_MAGIC:
        body = gzip.decompress(body)
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def decode_event_object_tolerant(body: bytes) -> tuple[list[dict[str, Any]], int]:
    """The readable JSON records of one delivered object, and how many of its lines were not readable.

    A line that is not JSON (or not a JSON object) is counted, not raised; a body that
    cannot be decompressed (bad gzip) cannot be split into lines and counts as one.
    """
    if body[:2] == GZIP_MAGIC:
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error):
            return [], 1
    records: list[dict[str, Any]] = []
    unreadable = 0
    for line in body.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError
            unreadable += 1
            continue
        if isinstance(record, dict):
            records.append(record)
        else:
            unreadable += 1
    return records, unreadable
