"""Where everything lives in the platform's two buckets: every S3 key and partition, in one place.

No other module spells a prefix: the CDK stacks (Firehose prefixes, lifecycle rules,
IAM grants), the stores, the jobs and the local harness all take their keys from
here, so changing the layout is a change to this module and to the tests that pin it.
No I/O.

Events bucket (Firehose delivers; the jobs and the metrics export read and write)::

    events/model=<m>/dt=YYYY-MM-DD/hour=HH/<object>     prediction events of model m (gzip)
    rejected/dt=YYYY-MM-DD/hour=HH/<object>             rejected requests of every model
    labels/dt=YYYY-MM-DD/hour=HH/<object>               labels sent to the feedback endpoint
    errors/<kind>/[model=<m>/]<error type>/dt=.../      records Firehose could not deliver
    profiles/<events key>.json                          one profile per delivered events object
    reports/model=<m>/job=<job>/window=<start>/         result.json and report-version=<v>.html
    state/metrics_export/serving.json                   the metrics export's cumulative counters
    state/capture_replay/claims/<event id>.json         the capture replay's claim on one event
    state/job_dispatch/dispatched.json                  how far the job dispatcher has dispatched

Models bucket (publishing writes; serving and the jobs read)::

    manifests/<m>/<alias>.json                          the serving manifest of an alias
    models/<m>/<v>/model.<joblib|onnx>                  the version's model file
    models/<m>/<v>/manifest.json                        the manifest the version was published with
    models/<m>/<v>/reference_profile.json               its reference data profile

Locally, moto's Firehose appends ``YYYY/MM/DD/HH/`` to a static prefix instead of
evaluating the ``dt=``/``hour=`` expressions, so readers accept both hour layouts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Final, Literal
from urllib.parse import urlparse

from modelwatch.contracts.manifest import Flavor

# --- events bucket -----------------------------------------------------------------------------

EVENTS_PREFIX: Final = "events/"
REJECTED_PREFIX: Final = "rejected/"
LABELS_PREFIX: Final = "labels/"
ERRORS_PREFIX: Final = "errors/"
PROFILES_PREFIX: Final = "profiles/"
REPORTS_PREFIX: Final = "reports/"
STATE_PREFIX: Final = "state/"
METRICS_EXPORT_STATE_KEY: Final = f"{STATE_PREFIX}metrics_export/serving.json"
CAPTURE_REPLAY_PREFIX: Final = f"{STATE_PREFIX}capture_replay/"
CAPTURE_REPLAY_CLAIMS_PREFIX: Final = f"{CAPTURE_REPLAY_PREFIX}claims/"
JOB_DISPATCH_STATE_KEY: Final = f"{STATE_PREFIX}job_dispatch/dispatched.json"

# What serving captures, one Firehose stream (and one prefix) per kind.
CaptureKind = Literal["events", "rejected", "labels"]
CAPTURE_KINDS: Final[tuple[CaptureKind, ...]] = ("events", "rejected", "labels")
_KIND_PREFIX: Final[dict[CaptureKind, str]] = {
    "events": EVENTS_PREFIX,
    "rejected": REJECTED_PREFIX,
    "labels": LABELS_PREFIX,
}

# Firehose's expressions for the delivery-time partitions, and the error type of failed records.
_FIREHOSE_HOUR: Final = "dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/"
_FIREHOSE_DAY: Final = "dt=!{timestamp:yyyy-MM-dd}/"
_FIREHOSE_ERROR_TYPE: Final = "!{firehose:error-output-type}/"

_HIVE_HOUR: Final = re.compile(r"dt=(\d{4})-(\d{2})-(\d{2})/hour=(\d{2})/")
_PLAIN_HOUR: Final = re.compile(r"/(\d{4})/(\d{2})/(\d{2})/(\d{2})/")


def capture_prefix(kind: CaptureKind, model: str | None = None) -> str:
    """The prefix the records of ``kind`` land under: per model for prediction events.

    Rejected requests and labels of every model share one prefix (their records name
    the model); ``model`` is required for ``events`` and does not narrow the others.

    Raises
    ------
    ValueError
        ``kind`` is ``events`` and no model is given.
    """
    if kind == "events":
        if not model:
            raise ValueError("prediction events are kept per model: give the model")
        return f"{EVENTS_PREFIX}model={model}/"
    return _KIND_PREFIX[kind]


def partitioned_by_model(kind: CaptureKind) -> bool:
    """Whether a kind's prefix holds one model's records only (else readers filter by ``model``)."""
    return kind == "events"


def events_prefix(model: str) -> str:
    """``events/model=<m>/``: the prediction events of one model."""
    return capture_prefix("events", model)


def firehose_prefix(kind: CaptureKind, model: str | None = None) -> str:
    """The S3 prefix a Firehose stream is configured with: partitioned by delivery day and hour."""
    return capture_prefix(kind, model) + _FIREHOSE_HOUR


def firehose_error_prefix(kind: CaptureKind, model: str | None = None) -> str:
    """Where Firehose puts the records of a stream it could not deliver, by error type and day."""
    return ERRORS_PREFIX + capture_prefix(kind, model) + _FIREHOSE_ERROR_TYPE + _FIREHOSE_DAY


def hour_partitions(hour: datetime) -> tuple[str, str]:
    """The partition of one delivery hour in both layouts: Firehose's ``dt=/hour=`` and moto's."""
    moment = hour.astimezone(UTC)
    return moment.strftime("dt=%Y-%m-%d/hour=%H/"), moment.strftime("%Y/%m/%d/%H/")


def delivery_hour(key: str) -> datetime | None:
    """The delivery hour encoded in an object's key, or None when the key has none."""
    match = _HIVE_HOUR.search(key) or _PLAIN_HOUR.search(key)
    if match is None:
        return None
    year, month, day, hour = (int(part) for part in match.groups())
    return datetime(year, month, day, hour, tzinfo=UTC)


def hourly_prefixes(prefix: str, start: datetime, end: datetime) -> Iterator[str]:
    """The prefixes of every delivery hour from ``start``'s hour to ``end``'s, in both layouts."""
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    while hour <= end:
        for partition in hour_partitions(hour):
            yield prefix + partition
        hour += timedelta(hours=1)


def replay_claim_key(event_id: str) -> str:
    """Where the capture replay records that one event is being, or was, put back into Firehose."""
    return f"{CAPTURE_REPLAY_CLAIMS_PREFIX}{event_id}.json"


def profile_key(events_key: str) -> str:
    """Where the profile of one delivered events object is kept."""
    return f"{PROFILES_PREFIX}{events_key}.json"


def report_prefix(job: str, model: str, window_key: str) -> str:
    """The folder of one job's result and reports for one model and window."""
    return f"{REPORTS_PREFIX}model={model}/job={job}/window={window_key}/"


def result_key(job: str, model: str, window_key: str) -> str:
    return report_prefix(job, model, window_key) + "result.json"


def report_page_key(job: str, model: str, window_key: str, version: str) -> str:
    """The HTML report of one version in a job's window."""
    return report_prefix(job, model, window_key) + f"report-version={version}.html"


# --- models bucket -----------------------------------------------------------------------------

MANIFESTS_PREFIX: Final = "manifests"
ARTIFACTS_PREFIX: Final = "models"
MODEL_FILE_SUFFIX: Final[dict[Flavor, str]] = {"sklearn": ".joblib", "onnx": ".onnx"}
VERSION_MANIFEST_FILE: Final = "manifest.json"
REFERENCE_PROFILE_FILE: Final = "reference_profile.json"


def manifest_key(model: str, alias: str, prefix: str = MANIFESTS_PREFIX) -> str:
    """The serving manifest of ``model`` under ``alias``."""
    return f"{prefix.strip('/')}/{model}/{alias}.json"


def manifests_prefix(prefix: str = MANIFESTS_PREFIX) -> str:
    """The key prefix under which every model's serving manifests live (with its slash)."""
    return f"{prefix.strip('/')}/"


def parse_manifest_key(key: str, prefix: str = MANIFESTS_PREFIX) -> tuple[str, str] | None:
    """``(model, alias)`` of a serving manifest's key, or None for any other key."""
    head = manifests_prefix(prefix)
    if not key.startswith(head) or not key.endswith(".json"):
        return None
    parts = key[len(head) : -len(".json")].split("/")
    if len(parts) != 2 or not all(parts):
        return None
    return parts[0], parts[1]


def model_of_manifest_key(key: str, alias: str, prefix: str = MANIFESTS_PREFIX) -> str | None:
    """The model whose ``alias`` manifest is at ``key`` (the inverse of ``manifest_key``), or None."""
    parsed = parse_manifest_key(key, prefix)
    return parsed[0] if parsed and parsed[1] == alias else None


def artifact_key(model: str, version: str, filename: str) -> str:
    """A file of one published version (model file, manifest, reference profile)."""
    return f"{ARTIFACTS_PREFIX}/{model}/{version}/{filename}"


def model_file_key(model: str, version: str, flavor: Flavor) -> str:
    """Where a version's model file is published: ``model.joblib`` or ``model.onnx``."""
    return artifact_key(model, version, "model" + MODEL_FILE_SUFFIX[flavor])


def version_manifest_key(model: str, version: str) -> str:
    """The manifest one version was published with, whatever alias serves it (monitoring reads it)."""
    return artifact_key(model, version, VERSION_MANIFEST_FILE)


def reference_profile_key(model: str, version: str) -> str:
    return artifact_key(model, version, REFERENCE_PROFILE_FILE)


# --- URIs --------------------------------------------------------------------------------------


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` to ``(bucket, key)``; raise ``ValueError`` otherwise."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.strip("/"):
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")
