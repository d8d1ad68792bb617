"""Where everything lives in the platform's two buckets: every S3 key and partition, in one place.

No other module spells a prefix: the CDK stacks (Firehose prefixes, lifecycle rules,
IAM grants), the stores, the jobs and the local harness all take their keys from
here, so changing the layout is a change to this module and to the tests that pin it.
No I/O.

Events bucket (Firehose delivers; the jobs and the metrics export read and write)::

    events/model=<m>/dt=YYYY-MM-DD/hour=HH/<object>     prediction events of model m (gzip)
    rejected/model=<m>/dt=YYYY-MM-DD/hour=HH/<object>   requests to model m that were rejected
    rejected/model=_unrouted/dt=.../hour=.../<object>   rejections naming no served model (any name)
    labels/model=<m>/dt=YYYY-MM-DD/hour=HH/<object>     labels of model m sent to the feedback endpoint
    errors/<kind>/<error type>/dt=YYYY-MM-DD/<object>   records Firehose could not deliver (or partition)
    profiles/<events key>.json                          one profile per delivered events object
    profiles/<events|rejected key>.quality.json         quality counts of one delivered events/rejected object
    reports/model=<m>/job=<job>/window=<start>/         result.json and report-version=<v>.html
    state/metrics_export/serving.json                   the metrics export's cumulative counters
    state/capture_replay/claims/<event id>.json         the capture replay's claim on one event
    state/job_dispatch/dispatched.json                  how far the job dispatcher has dispatched

Models bucket (publishing writes; serving and the jobs read)::

    manifests/<m>/<alias>.json                          the serving manifest of an alias
    models/<m>/<v>/model.<joblib|onnx>                  the version's model file
    models/<m>/<v>/manifest.json                        the manifest the version was published with
    models/<m>/<v>/reference_profile.json               its reference data profile

One Firehose stream per kind, each partitioning dynamically on the record's model
(``firehose_prefix``, ``PARTITION_QUERIES``): every model lands under its own prefix of every
kind without a stream of its own, so a job reads one model's hour prefixes of a window and
nothing else. The model a rejected request names is what the caller typed when serving never
found it served (``unknown_model``, a path that is no route, ...): those rejections share one
fixed partition, ``model=_unrouted``, so made-up names cannot open partitions (Firehose keeps
at most 500 active partitions a stream). ``partition_model`` is the same rule in Python.

Locally, moto's Firehose neither partitions nor evaluates ``!{...}`` expressions: it
appends ``YYYY/MM/DD/HH/`` to a static prefix. The local streams therefore deliver under
``local-delivery/<kind>/`` and the local harness's partitioner re-lays every delivered
object at the keys Firehose would have used (``partitioned_key``, ``partition_error_key``),
so the local layout is the AWS layout and readers know one layout only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal
from urllib.parse import urlparse

from modelwatch.contracts.manifest import Flavor

# --- events bucket -----------------------------------------------------------------------------

EVENTS_PREFIX: Final = "events/"
REJECTED_PREFIX: Final = "rejected/"
LABELS_PREFIX: Final = "labels/"
ERRORS_PREFIX: Final = "errors/"
PROFILES_PREFIX: Final = "profiles/"
REPORTS_PREFIX: Final = "reports/"
QUERY_RESULTS_PREFIX: Final = "query-results/"  # the Athena workgroup's result location (expires)
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

# Dynamic partitioning of every stream: one partition key, the model, read by a JQ 1.6 query
# over one deaggregated JSON line (``PARTITION_QUERIES``; ``partition_model`` is the same rule).
PARTITION_KEY: Final = "model"
_FIREHOSE_MODEL: Final = f"model=!{{partitionKeyFromQuery:{PARTITION_KEY}}}/"

# The one partition of the rejections whose model is not known to be served. Not a model name:
# MODEL_NAME_PATTERN requires a letter or digit first, so no served model is ever called this.
UNROUTED_MODEL: Final = "_unrouted"
# The reasons whose ``model`` is whatever the caller sent, never checked against the served models:
# a name with no manifest, a path that is no route or no method, a body refused before the route
# ran (invalid JSON, too large: the model is read from the path). Rejections for any other reason
# are raised once serving found the model (its schema, its version, its feedback settings).
UNCHECKED_MODEL_REASONS: Final[tuple[str, ...]] = (
    "unknown_model",
    "not_found",
    "method_not_allowed",
    "invalid_body",
    "body_too_large",
)
# ``model_unavailable`` without a version: the manifest could not be read (S3 unreachable), so the
# name was never found to be a model; with a version, a manifest named it.
UNREAD_MANIFEST_REASON: Final = "model_unavailable"


def _jq_rejected_partition() -> str:
    # In parentheses: Firehose embeds each query as an object's value, {"model":<query>}, where
    # JQ 1.6 takes a pipe but not a bare if-expression.
    unchecked = " or ".join(f'.reason == "{reason}"' for reason in UNCHECKED_MODEL_REASONS)
    return (
        f'(if ({unchecked}) or (.reason == "{UNREAD_MANIFEST_REASON}" and .version == null)'
        f' or (.model | type) != "string" or .model == ""'
        f' then "{UNROUTED_MODEL}" else .model end)'
    )


def partition_extraction_query(kind: CaptureKind) -> str:
    """The metadata extraction query of ``kind``'s stream as Firehose is given it: ``{"model":<query>}``."""
    return f'{{"{PARTITION_KEY}":{PARTITION_QUERIES[kind]}}}'


PARTITION_QUERIES: Final[dict[CaptureKind, str]] = {
    "events": f".{PARTITION_KEY}",
    "rejected": _jq_rejected_partition(),
    "labels": f".{PARTITION_KEY}",
}

# The local stand-in: where moto's streams deliver (moto appends YYYY/MM/DD/HH/ itself), and the
# error type the local partitioner gives a line it cannot partition (no model, or not JSON).
LOCAL_DELIVERY_PREFIX: Final = "local-delivery/"
PARTITIONING_FAILED: Final = "partitioning-failed"

_HIVE_HOUR: Final = re.compile(r"dt=(\d{4})-(\d{2})-(\d{2})/hour=(\d{2})/")
_MOTO_DELIVERY: Final = re.compile(
    rf"^{LOCAL_DELIVERY_PREFIX}(events|rejected|labels)/(\d{{4}})/(\d{{2}})/(\d{{2}})/(\d{{2}})/([^/]+)$"
)


def capture_prefix(kind: CaptureKind, model: str) -> str:
    """``<kind>/model=<m>/``: the prefix the records of ``kind`` of one model land under.

    Every kind is partitioned by model; rejections naming no served model are under
    ``model=_unrouted`` (``UNROUTED_MODEL``).

    Raises
    ------
    ValueError
        No model is given.
    """
    if not model:
        raise ValueError(f"{kind} are kept per model: give the model")
    return f"{_KIND_PREFIX[kind]}model={model}/"


def kind_prefix(kind: CaptureKind) -> str:
    """``<kind>/``: the records of ``kind`` of every model (whole-history reads of small buckets, IAM)."""
    return _KIND_PREFIX[kind]


def events_prefix(model: str) -> str:
    """``events/model=<m>/``: the prediction events of one model."""
    return capture_prefix("events", model)


def partition_model(kind: CaptureKind, record: Mapping[str, Any]) -> str:
    """The model partition a record of ``kind`` is delivered to: ``PARTITION_QUERIES[kind]`` in Python.

    Prediction events and labels go to their ``model`` (serving captures them for served models
    only). A rejection goes to its ``model`` unless its reason says the name was never found to
    be served (``UNCHECKED_MODEL_REASONS``, ``model_unavailable`` without a version) or it names
    no model: then to ``UNROUTED_MODEL``.

    Raises
    ------
    ValueError
        An event or label without a model: Firehose sends such a record to the error prefix.
    """
    model = record.get(PARTITION_KEY)
    if kind == "rejected":
        reason = record.get("reason")
        unchecked = reason in UNCHECKED_MODEL_REASONS or (
            reason == UNREAD_MANIFEST_REASON and record.get("version") is None
        )
        if unchecked or not isinstance(model, str) or not model:
            return UNROUTED_MODEL
        return model
    if not isinstance(model, str) or not model:
        raise ValueError(f"a record of {kind} without a model cannot be partitioned")
    return model


def firehose_prefix(kind: CaptureKind) -> str:
    """The S3 prefix the stream of ``kind`` is configured with: by model, delivery day and hour.

    The model is read from each record by dynamic partitioning (``PARTITION_QUERIES[kind]``,
    partition key ``PARTITION_KEY``): one stream of each kind serves every model.
    """
    return _KIND_PREFIX[kind] + _FIREHOSE_MODEL + _FIREHOSE_HOUR


def firehose_error_prefix(kind: CaptureKind) -> str:
    """Where Firehose puts the records of a stream it could not deliver (or partition), by type and day."""
    return ERRORS_PREFIX + _KIND_PREFIX[kind] + _FIREHOSE_ERROR_TYPE + _FIREHOSE_DAY


def hour_partition(hour: datetime) -> str:
    """The ``dt=YYYY-MM-DD/hour=HH/`` partition of one delivery hour (UTC)."""
    return hour.astimezone(UTC).strftime("dt=%Y-%m-%d/hour=%H/")


def capture_partition(model: str, day: str, hour: str) -> str:
    """``model=<m>/dt=<day>/hour=<hour>/``: one partition below a kind's prefix, its values as given.

    Real values (``"fraud"``, ``"2026-11-26"``, ``"07"``) or a table's placeholders (Glue's
    partition projection template: ``"${model}"``, ``"${dt}"``, ``"${hour}"``).
    """
    return f"model={model}/dt={day}/hour={hour}/"


def delivery_hour(key: str) -> datetime | None:
    """The delivery hour encoded in an object's key, or None when the key has none."""
    match = _HIVE_HOUR.search(key)
    if match is None:
        return None
    year, month, day, hour = (int(part) for part in match.groups())
    return datetime(year, month, day, hour, tzinfo=UTC)


def hourly_prefixes(prefix: str, start: datetime, end: datetime) -> Iterator[str]:
    """The prefixes of every delivery hour from ``start``'s hour to ``end``'s."""
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    while hour <= end:
        yield prefix + hour_partition(hour)
        hour += timedelta(hours=1)


def local_delivery_prefix(kind: CaptureKind) -> str:
    """Where the local (moto) stream of ``kind`` delivers, before the local partitioner re-lays it."""
    return f"{LOCAL_DELIVERY_PREFIX}{kind}/"


def parse_local_delivery(key: str) -> tuple[CaptureKind, datetime, str] | None:
    """``(kind, delivery hour, object name)`` of an object a local stream delivered, or None."""
    match = _MOTO_DELIVERY.match(key)
    if match is None:
        return None
    kind, year, month, day, hour, name = match.groups()
    moment = datetime(int(year), int(month), int(day), int(hour), tzinfo=UTC)
    return _capture_kind(kind), moment, name


def partitioned_key(kind: CaptureKind, hour: datetime, name: str, model: str) -> str:
    """The key Firehose gives an object of ``kind`` of ``model`` delivered in ``hour``."""
    return capture_prefix(kind, model) + hour_partition(hour) + name


def partition_error_key(kind: CaptureKind, error_type: str, hour: datetime, name: str) -> str:
    """The key of the records of one delivered object that went to ``kind``'s error prefix."""
    day = hour.astimezone(UTC).strftime("dt=%Y-%m-%d/")
    return f"{ERRORS_PREFIX}{_KIND_PREFIX[kind]}{error_type}/{day}{name}"


def _capture_kind(value: str) -> CaptureKind:
    for kind in CAPTURE_KINDS:
        if kind == value:
            return kind
    raise ValueError(f"not a capture kind: {value!r}")


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


def object_quality_key(source_key: str) -> str:
    """Where the quality counts of one delivered events or rejected object are kept (beside its profile)."""
    return f"{PROFILES_PREFIX}{source_key}.quality.json"


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


ROLLOUTS_STATE_PREFIX: Final = f"{STATE_PREFIX}rollouts/"


def rollout_evidence_key(model: str, rollout_id: str) -> str:
    """The rollout job's accumulated evidence of one rollout (one document, keyed by window inside)."""
    return f"{ROLLOUTS_STATE_PREFIX}{model}/{rollout_id}.json"
