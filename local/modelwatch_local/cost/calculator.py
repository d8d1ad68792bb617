"""Cost of a deployment from its templates, measured per-request figures and list prices.

Three figures, each a list of line items (docs/cost.md explains every one):

- ``per_million_predictions``: one million predictions at a request rate and a number of
  instances per request, all-in (API, the predict function, its logs and traces, capture, the
  objects Firehose delivers and what reacts to them, their storage over their retention);
- ``idle_month``: a month without traffic, with and without the registry;
- ``registry_idle_month``: the registry stack's share of it, line by line, each line from a
  resource of its template (no NAT line without a NAT gateway), and ``registry_image_build``:
  what building its image costs, once per deploy that changes ``infra/docker/mlflow``;
- ``monitoring_per_model_month``: the drift, quality and performance jobs of one model at an
  hourly schedule.

Bytes are GiB-based (2**30), as AWS bills data; a month is 730 hours.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from modelwatch_local.cost.prices import Prices
from modelwatch_local.cost.templates import Deployment, Function, Schedule

GIB = float(2**30)
KIB = 1024.0
API_METERING_BYTES = 512 * 1024  # HTTP API requests are metered in 512 KB increments
FIREHOSE_MAX_RECORD_BYTES = 1000 * 1024  # serving packs a request's lines into records of at most this

# Lambda's own lines per invocation, by log format (known sizes, not measured here):
# Text: START (~75 B), END (~45 B), REPORT (~180 B; ~250 B with an X-Ray trace id).
# JSON at system level INFO: platform.start (~160 B) and platform.report (~400 B).
PLATFORM_BYTES = {"Text": 300.0, "JSON": 560.0}

JOB_ROLES = ("job",)


@dataclass(frozen=True)
class Inputs:
    """What the templates cannot say: traffic, measured per-request figures, per-run work.

    Defaults are measurements (docs/cost.md names the command of each) or stated assumptions.
    """

    rate: float = 50.0  # requests a second
    instances_per_request: int = 1
    models: int = 1
    # The predict path, per request (python -m modelwatch_local.cost.measure).
    billed_ms_per_request: float = 30.0
    billed_ms_per_extra_instance: float = 0.05
    log_bytes_per_request: float = 0.0  # nothing on success (measured; was the 278 B EMF line)
    request_bytes_per_instance: float = 136.0
    capture_bytes_per_event: float = 410.0  # 373 before the rollout fields variant and served
    # What reacts to a delivered events object.
    profile_billed_ms_per_object: float = 400.0
    export_reads_per_object: int = 1
    jq_ms_per_record: float = 0.01
    # The rejected and labels streams (partitioned by model too): their traffic per request (assumptions).
    rejected_per_request: float = 0.01  # 1 % of requests rejected
    rejected_bytes_per_record: float = 600.0  # the reason, the errors and the body as received
    labels_per_instance: float = 1.0  # every prediction labelled, sooner or later
    label_bytes_per_record: float = 160.0
    emf_custom_metrics: int = 0  # custom metrics a successful request emits (none since the EMF line went)
    # Scheduled functions, per run at idle.
    export_billed_ms: float = 600.0
    export_lists_per_prefix: int = 6  # each model's events and rejected prefixes, and the unrouted rejections
    export_samples_per_model: int = 40
    export_log_bytes: float = 450.0
    sync_billed_ms: float = 400.0
    sync_log_bytes: float = 300.0
    job_billed_ms: float = 800.0
    job_s3_lists: int = 8  # a one-hour window's four hour prefixes of each kind it reads (two)
    job_s3_gets: int = 2
    job_s3_puts: int = 2
    job_samples: int = 20
    job_log_bytes: float = 600.0
    dispatcher_billed_ms: float = 200.0
    rule_evaluations_per_month: float = 43_800.0  # every minute
    rule_samples_per_evaluation: float = 200.0
    grafana_editors: int = 1
    grafana_viewers: int = 0
    flow_log_gb_month: float = 0.05
    alb_lcu: float = 0.0  # idle: no capacity units used
    # The registry (docs/cost.md names the source of each).
    mlflow_image_gb: float = 0.29  # compressed MLflow image: its pip layer gzipped (0.243, measured) + base
    image_build_minutes: float = 6.0  # one CodeBuild run of the Dockerfile (assumption)
    endpoint_gb_month: float = 0.01  # Secrets Manager calls through the interface endpoint (assumption)
    container_insights_metrics: int = 24  # Container Insights metrics of one Fargate service (assumption)
    sqs_pollers: int = 5  # Lambda's pollers of an SQS event source at idle (assumption)
    sqs_poll_seconds: float = 20.0  # each a long poll of 20 s (assumption)

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError("rate must be above 0 requests a second")
        if self.instances_per_request < 1:
            raise ValueError("instances_per_request must be at least 1")
        if self.models < 1:
            raise ValueError("models must be at least 1")


@dataclass
class LineItem:
    name: str
    usd: float
    detail: str


@dataclass
class Figure:
    """A total and the line items it sums."""

    items: list[LineItem] = field(default_factory=list)

    def add(self, name: str, usd: float, detail: str) -> None:
        self.items.append(LineItem(name, usd, detail))

    @property
    def total(self) -> float:
        return sum(item.usd for item in self.items)

    def as_dict(self) -> dict[str, Any]:
        return {
            "total_usd": round(self.total, 4),
            "items": [asdict(i) | {"usd": round(i.usd, 4)} for i in self.items],
        }


def _lambda_compute(prices: Prices, function: Function, billed_ms: float) -> float:
    return (
        function.memory_mb
        / 1024
        * billed_ms
        / 1000
        * prices.unit(f"lambda_gb_second_{function.architecture}")
    )


def xray_traced_fraction(prices: Prices, rate: float) -> float:
    """Share of requests X-Ray's default rule records at ``rate`` a second (reservoir, then a rate)."""
    reservoir = prices.unit("xray_sampling_reservoir_per_second")
    sampled = min(rate, reservoir) + prices.unit("xray_sampling_rate") * max(rate - reservoir, 0.0)
    return sampled / rate


def access_log_bytes(log_format: str) -> float:
    """Bytes of one access-log line: the format with each ``$context`` variable at a typical size."""
    typical = {
        "requestId": 16, "sourceIp": 13, "requestTime": 26, "requestTimeEpoch": 10, "httpMethod": 4,
        "routeKey": 40, "path": 36, "status": 3, "protocol": 8, "responseLength": 3, "responseLatency": 2,
        "integrationLatency": 2, "caller": 1, "user": 1, "integrationErrorMessage": 1, "error": 1,
    }  # fmt: skip
    line = log_format
    for variable in sorted(set(_context_variables(log_format)), key=len, reverse=True):
        line = line.replace(variable, "x" * typical.get(variable.rsplit(".", 1)[-1], 8))
    return float(len(line) + 1)


def _context_variables(log_format: str) -> list[str]:
    import re

    return re.findall(r"\$context(?:\.[A-Za-z]+)+", log_format)


def _log_retention_months(days: int | None) -> float:
    return (days or 3653) / 30.0


def _logs(prices: Prices, gib: float, retention_days: int | None) -> tuple[float, float]:
    """Ingestion and lifetime storage of ``gib`` of log data kept ``retention_days``."""
    ingestion = gib * prices.unit("logs_ingestion_gb")
    storage = (
        gib
        * prices.unit("logs_storage_compression")
        * prices.unit("logs_storage_gb_month")
        * _log_retention_months(retention_days)
    )
    return ingestion, storage


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def per_million_predictions(deployment: Deployment, inputs: Inputs, prices: Prices) -> Figure:
    """The cost of one million predictions at ``inputs.rate`` requests a second, all-in."""
    figure = Figure()
    predict = deployment.by_role("predict")
    if not predict:
        raise ValueError("the templates have no function behind a .../predict route")
    k = inputs.instances_per_request
    requests = 1e6 / k
    seconds = requests / inputs.rate  # how long a million predictions take at the rate
    month_requests = inputs.rate * 3600 * prices.unit("hours_per_month")
    # Traffic is spread evenly over the predict functions (one per model, or per flavour).
    memory = _mean([f.memory_mb for f in predict])
    arch_price = _mean([prices.unit(f"lambda_gb_second_{f.architecture}") for f in predict])

    metered = math.ceil(k * inputs.request_bytes_per_instance / API_METERING_BYTES)
    figure.add(
        "api_gateway_requests",
        requests * metered * prices.unit("apigw_http_request"),
        f"{requests:,.0f} HTTP API requests x {metered} (512 KB metering)",
    )
    figure.add(
        "lambda_requests",
        requests * prices.unit("lambda_request"),
        f"{requests:,.0f} invocations of the predict function",
    )
    billed_ms = inputs.billed_ms_per_request + inputs.billed_ms_per_extra_instance * (k - 1)
    figure.add(
        "lambda_compute",
        requests * memory / 1024 * billed_ms / 1000 * arch_price,
        f"{memory:.0f} MB x {billed_ms:g} ms billed a request "
        f"({'/'.join(sorted({f.architecture for f in predict}))})",
    )

    platform = _mean([PLATFORM_BYTES[f.log_format] if f.platform_lines_logged else 0.0 for f in predict])
    retention = max((f.log_retention_days or 0) for f in predict) or None
    function_gib = requests * (inputs.log_bytes_per_request + platform) / GIB
    ingestion, storage = _logs(prices, function_gib, retention)
    figure.add(
        "logs_function_ingestion",
        ingestion,
        f"{inputs.log_bytes_per_request:g} B logged + {platform:g} B of Lambda's platform lines a request",
    )
    figure.add("logs_function_storage", storage, f"kept {retention} days, stored compressed")
    if deployment.access_log is not None:
        line = access_log_bytes(deployment.access_log.format)
        ingestion, storage = _logs(prices, requests * line / GIB, deployment.access_log.retention_days)
        figure.add("logs_access_ingestion", ingestion, f"one {line:.0f} B access-log line a request")
        figure.add("logs_access_storage", storage, f"kept {deployment.access_log.retention_days} days")
    else:
        figure.add("logs_access_ingestion", 0.0, "API access logs off")

    traced = _mean([1.0 if f.tracing == "Active" else 0.0 for f in predict])
    fraction = xray_traced_fraction(prices, inputs.rate)
    figure.add(
        "xray_traces",
        requests * traced * fraction * prices.unit("xray_trace_recorded"),
        f"tracing Active on {traced:.0%} of predict functions; default sampling traces {fraction:.1%} at "
        f"{inputs.rate:g} req/s"
        if traced
        else "tracing PassThrough on the predict path (the HTTP API sends no trace header): no traces",
    )

    request_bytes = k * inputs.capture_bytes_per_event
    records = max(1, math.ceil(request_bytes / FIREHOSE_MAX_RECORD_BYTES))
    record_bytes = request_bytes / records
    rounding = prices.unit("firehose_record_rounding_bytes")
    billed_bytes = records * math.ceil(record_bytes / rounding) * rounding
    figure.add(
        "firehose_ingestion",
        requests * billed_bytes / GIB * prices.unit("firehose_ingested_gb"),
        f"{records} record(s) of {record_bytes:,.0f} B a request, "
        f"billed as {billed_bytes:,.0f} B (5 KB rounding)",
    )
    events_streams = [s for s in deployment.streams if s.carries_events]
    partitioned = any(s.dynamic_partitioning for s in events_streams)
    buffer_seconds = min((s.buffer_seconds for s in events_streams), default=60)
    buffer_mb = min((s.buffer_mb for s in events_streams), default=5)
    # Each active model's partition delivers an object per buffer interval (or per full buffer).
    raw_gib = requests * request_bytes / GIB
    objects = max(
        seconds / buffer_seconds * inputs.models,
        requests * request_bytes / (buffer_mb * 1024 * 1024),
    )
    if partitioned:
        jq = any(s.jq for s in events_streams)
        figure.add(
            "firehose_dynamic_partitioning",
            raw_gib * prices.unit("firehose_dynamic_partitioning_gb")
            + objects * prices.unit("firehose_dynamic_partitioning_objects")
            + (
                requests * records * inputs.jq_ms_per_record / 3.6e6 * prices.unit("firehose_jq_hour")
                if jq
                else 0.0
            ),
            f"{raw_gib:.2f} GiB partitioned, {objects:,.0f} objects" + (", JQ key extraction" if jq else ""),
        )
    else:
        figure.add("firehose_dynamic_partitioning", 0.0, "static prefixes: no dynamic partitioning")
    side_streams = (
        # Rejections go to their model's partition, or to the one unrouted partition.
        (
            "rejected",
            requests * inputs.rejected_per_request,
            inputs.rejected_bytes_per_record,
            inputs.models + 1,
        ),
        ("labels", requests * k * inputs.labels_per_instance, inputs.label_bytes_per_record, inputs.models),
    )
    for kind, kind_records, record_bytes, partitions in side_streams:
        _side_stream_partitioning(
            figure, deployment, prices, inputs, kind, kind_records, record_bytes, partitions, seconds
        )
    figure.add(
        "s3_delivered_objects",
        objects * prices.unit("s3_put_request"),
        f"{objects:,.0f} objects ({inputs.models} model(s) x one per {buffer_seconds} s buffer over "
        f"{seconds / 3600:.1f} h)",
    )
    profile = deployment.by_role("profile")
    if profile:
        fn = profile[0]
        figure.add(
            "profile_per_object",
            objects
            * (
                prices.unit("lambda_request")
                + _lambda_compute(prices, fn, inputs.profile_billed_ms_per_object)
                + prices.unit("s3_get_request")
                + prices.unit("s3_put_request")
            ),
            f"the profile function once per object ({fn.memory_mb} MB x "
            f"{inputs.profile_billed_ms_per_object:g} ms, 1 GET, 1 PUT)",
        )
    for export in deployment.by_role("export"):
        queue_fed = export.logical_id in deployment.queue_consumers
        # From a queue: one message per object (send, receive, delete) and an invocation a batch.
        batches = seconds / 60.0 if queue_fed else 0.0
        figure.add(
            "export_reads_per_object",
            objects * inputs.export_reads_per_object * prices.unit("s3_get_request")
            + (objects * 3 * prices.unit("sqs_request") if queue_fed else 0.0)
            + batches * _scheduled_run_cost(prices, inputs, export, {"billed_ms": inputs.export_billed_ms}),
            f"the metrics export reads each object {inputs.export_reads_per_object} time(s)"
            + (
                f"; fed by a queue: 3 SQS requests an object, {batches:,.0f} batch invocations"
                if queue_fed
                else ""
            ),
        )
    stored_gib = raw_gib * prices.unit("s3_events_gzip_ratio")
    retention_months = 365 / 30
    standard_months = 1.0
    figure.add(
        "s3_events_storage",
        stored_gib
        * (
            standard_months * prices.unit("s3_standard_gb_month")
            + (retention_months - standard_months) * prices.unit("s3_standard_ia_gb_month")
        ),
        f"{stored_gib * 1024:.1f} MiB gzip kept 365 days (30 in Standard, then Infrequent Access)",
    )
    if inputs.log_bytes_per_request and inputs.emf_custom_metrics:
        figure.add(
            "cloudwatch_emf_metrics",
            inputs.emf_custom_metrics * prices.unit("cloudwatch_metric_month") * requests / month_requests,
            f"{inputs.emf_custom_metrics} custom metrics a month, spread over {month_requests:,.0f} requests",
        )
    return figure


def _side_stream_partitioning(
    figure: Figure,
    deployment: Deployment,
    prices: Prices,
    inputs: Inputs,
    kind: str,
    records: float,
    record_bytes: float,
    partitions: int,
    seconds: float,
) -> None:
    """Dynamic partitioning of the rejected or labels stream, charged as the events stream's is.

    Per GB processed, per object delivered (one per buffer interval per active model partition,
    never more than the records), JQ time per record, and the S3 PUT of each object.
    """
    streams = [s for s in deployment.streams if s.kind == kind and s.dynamic_partitioning]
    name = f"firehose_{kind}_partitioning"
    if not streams:
        figure.add(name, 0.0, f"{kind}: static prefix, no dynamic partitioning")
        return
    stream = streams[0]
    gib = records * record_bytes / GIB
    objects = min(
        records,
        max(
            seconds / stream.buffer_seconds * partitions,
            records * record_bytes / (stream.buffer_mb * 1024 * 1024),
        ),
    )
    jq = records * inputs.jq_ms_per_record / 3.6e6 * prices.unit("firehose_jq_hour") if stream.jq else 0.0
    figure.add(
        name,
        gib * prices.unit("firehose_dynamic_partitioning_gb")
        + objects * (prices.unit("firehose_dynamic_partitioning_objects") + prices.unit("s3_put_request"))
        + jq,
        f"{records:,.0f} {kind} records of {record_bytes:g} B, {gib:.3f} GiB partitioned, "
        f"{objects:,.0f} objects over {partitions} partition(s)"
        + (", JQ key extraction" if stream.jq else ""),
    )


def _runs_per_month(prices: Prices, schedule: Schedule) -> float:
    return prices.unit("hours_per_month") * 3600 / schedule.every_seconds


def _scheduled_run_cost(
    prices: Prices, inputs: Inputs, function: Function, per_run: dict[str, float]
) -> float:
    """One run of a scheduled function: request, compute, logs, trace, S3 and AMP work."""
    log_bytes = per_run.get("log_bytes", 0.0) + (
        PLATFORM_BYTES[function.log_format] if function.platform_lines_logged else 0.0
    )
    ingestion, storage = _logs(prices, log_bytes / GIB, function.log_retention_days)
    return (
        prices.unit("lambda_request")
        + _lambda_compute(prices, function, per_run.get("billed_ms", 0.0))
        + ingestion
        + storage
        + (prices.unit("xray_trace_recorded") if function.tracing == "Active" else 0.0)
        + per_run.get("lists", 0.0) * prices.unit("s3_put_request")
        + per_run.get("puts", 0.0) * prices.unit("s3_put_request")
        + per_run.get("gets", 0.0) * prices.unit("s3_get_request")
        + per_run.get("samples", 0.0) * prices.unit("amp_samples_ingested")
        + per_run.get("cloudwatch_api", 0.0) * prices.unit("cloudwatch_api_request")
        + per_run.get("sqs", 0.0) * prices.unit("sqs_request")
    )


def _per_run(inputs: Inputs, role: str, *, queue_fed: bool = False) -> dict[str, float]:
    m = inputs.models
    if role == "export":
        return {
            "billed_ms": inputs.export_billed_ms,
            "log_bytes": inputs.export_log_bytes,
            # fed by Object Created messages, a scheduled run lists nothing
            "lists": 0 if queue_fed else inputs.export_lists_per_prefix * (2 * m + 1),
            "gets": 1 + m,  # the state, each model's manifest
            "puts": 1,  # the state
            "samples": inputs.export_samples_per_model * m,
            "cloudwatch_api": 1,  # ListMetrics of the capture failures
            "sqs": 1,  # the dead-letter queue's depth
        }
    if role == "sync":
        return {"billed_ms": inputs.sync_billed_ms, "log_bytes": inputs.sync_log_bytes, "gets": m}
    if role == "dispatcher":
        return {"billed_ms": inputs.dispatcher_billed_ms, "log_bytes": 300.0, "gets": m, "lists": 1}
    return {
        "billed_ms": inputs.job_billed_ms,
        "log_bytes": inputs.job_log_bytes,
        "lists": inputs.job_s3_lists,
        "gets": inputs.job_s3_gets,
        "puts": inputs.job_s3_puts,
        "samples": inputs.job_samples,
    }


def idle_month(deployment: Deployment, inputs: Inputs, prices: Prices, *, registry: bool) -> Figure:
    """A month without a prediction: what runs on schedules and what is billed by the hour or unit.

    With ``registry``, the lines of :func:`registry_idle_month` are added.
    """
    figure = Figure()
    for schedule in deployment.schedules:
        if not schedule.stack.endswith("Registry"):
            _add_schedule(figure, deployment, inputs, prices, schedule)
    if deployment.event_source_queues:
        polls = inputs.sqs_pollers * 3600 * prices.unit("hours_per_month") / inputs.sqs_poll_seconds
        figure.add(
            "sqs_event_source_polling",
            deployment.event_source_queues * polls * prices.unit("sqs_request"),
            f"{deployment.event_source_queues} queue(s) Lambda polls: {inputs.sqs_pollers} long polls of "
            f"{inputs.sqs_poll_seconds:g} s at a time, {polls:,.0f} ReceiveMessage a month each",
        )
    scheduled = {s.target for s in deployment.schedules}
    queue_fed_jobs = [f for f in deployment.by_role("job") if f.logical_id not in scheduled]
    if queue_fed_jobs:
        monitoring = monitoring_per_model_month(deployment, inputs, prices)
        jobs = {f.logical_id for f in queue_fed_jobs}
        usd = sum(i.usd for i in monitoring.items if i.name.removeprefix("job ") in jobs)
        figure.add(
            "jobs fed by the dispatcher",
            usd * inputs.models,
            f"{len(jobs)} job function(s) run hourly for {inputs.models} model(s), as monitoring per model",
        )
    if deployment.grafana_workspaces:
        figure.add(
            "grafana_users",
            deployment.grafana_workspaces
            * (
                max(inputs.grafana_editors, 1) * prices.unit("grafana_editor_month")
                + inputs.grafana_viewers * prices.unit("grafana_viewer_month")
            ),
            f"{max(inputs.grafana_editors, 1)} editor(s), {inputs.grafana_viewers} viewer(s) a workspace",
        )
    if deployment.amp_workspaces and deployment.amp_rule_namespaces:
        samples = inputs.rule_evaluations_per_month * inputs.rule_samples_per_evaluation
        figure.add(
            "amp_rule_queries",
            samples * prices.unit("amp_query_samples"),
            f"rule evaluation: {samples:,.0f} query samples",
        )
    secrets = deployment.secrets - (deployment.registry.secrets if deployment.registry else 0)
    figure.add(
        "kms_keys", deployment.kms_keys * prices.unit("kms_key_month"), f"{deployment.kms_keys} key(s)"
    )
    figure.add(
        "cloudwatch_alarms", deployment.alarms * prices.unit("cloudwatch_alarm_month"), f"{deployment.alarms}"
    )
    figure.add("secrets", secrets * prices.unit("secrets_manager_secret_month"), f"{secrets} secret(s)")
    if registry:
        figure.items.extend(registry_idle_month(deployment, inputs, prices).items)
    return figure


def _add_schedule(
    figure: Figure, deployment: Deployment, inputs: Inputs, prices: Prices, schedule: Schedule
) -> None:
    function = deployment.function(schedule.target or "")
    runs = _runs_per_month(prices, schedule)
    if function is None:
        figure.add(f"schedule {schedule.logical_id}", 0.0, "target is not a function: not priced")
        return
    per_run = _per_run(inputs, function.role, queue_fed=function.logical_id in deployment.queue_consumers)
    cost = runs * _scheduled_run_cost(prices, inputs, function, per_run)
    if schedule.scheduler:
        cost += runs * prices.unit("eventbridge_scheduler_invocation")
    figure.add(
        f"scheduled {function.role}: {schedule.logical_id}",
        cost,
        f"{runs:,.0f} runs ({function.memory_mb} MB, tracing {function.tracing}, "
        f"logs {function.log_format}{'/' + (function.system_log_level or 'INFO')})",
    )


def registry_idle_month(deployment: Deployment, inputs: Inputs, prices: Prices) -> Figure:
    """The registry stack's idle month: one line per kind of billed resource its template declares.

    A line appears only when the template has the resource it prices (no NAT line without a NAT
    gateway, no load balancer line without one). Empty when there is no registry stack.
    """
    figure = Figure()
    r = deployment.registry
    if r is None:
        return figure
    hours = prices.unit("hours_per_month")
    registry_schedules = [s for s in deployment.schedules if s.stack.endswith("Registry")]
    for schedule in registry_schedules:
        _add_schedule(figure, deployment, inputs, prices, schedule)
    figure.add(
        "registry_secrets",
        r.secrets * prices.unit("secrets_manager_secret_month"),
        f"{r.secrets} secret(s) in Secrets Manager",
    )
    if r.nat_gateways or r.public_ips:
        figure.add(
            "registry_nat_gateways",
            r.nat_gateways * hours * prices.unit("nat_gateway_hour")
            + r.public_ips * hours * prices.unit("public_ipv4_hour"),
            f"{r.nat_gateways} NAT gateway(s), {r.public_ips} Elastic IP address(es)",
        )
    if r.interface_endpoints:
        azs = sum(count for _, count in r.interface_endpoints)
        figure.add(
            "registry_interface_endpoints",
            azs * hours * prices.unit("vpc_interface_endpoint_hour")
            + inputs.endpoint_gb_month * prices.unit("vpc_interface_endpoint_gb"),
            ", ".join(f"{service} in {count} AZ(s)" for service, count in r.interface_endpoints)
            + f"; {inputs.endpoint_gb_month:g} GB a month through them",
        )
    public_tasks = sum(t.count for t in r.fargate_tasks if t.public_ip)
    if public_tasks:
        figure.add(
            "registry_task_public_ipv4",
            public_tasks * hours * prices.unit("public_ipv4_hour"),
            f"{public_tasks} task(s) with a public IPv4 address (AssignPublicIp)",
        )
    if r.load_balancers:
        figure.add(
            "registry_load_balancer",
            r.load_balancers
            * hours
            * (prices.unit("alb_hour") + inputs.alb_lcu * prices.unit("alb_lcu_hour")),
            f"{r.load_balancers} ALB(s), {inputs.alb_lcu:g} LCU",
        )
    instances = sum(t.count for t in r.fargate_tasks if t.cloud_map)
    if r.cloud_map_namespaces or instances:
        lookups = sum(_runs_per_month(prices, s) for s in registry_schedules)
        figure.add(
            "registry_cloud_map",
            r.cloud_map_namespaces * prices.unit("route53_hosted_zone_month")
            + instances * prices.unit("cloud_map_resource_month")
            + lookups * prices.unit("route53_query"),
            f"{r.cloud_map_namespaces} private DNS namespace(s) (a hosted zone each), {instances} "
            f"registered task(s), {lookups:,.0f} lookups (one per scheduled run)",
        )
    if r.hosted_zones:
        figure.add(
            "registry_hosted_zones",
            r.hosted_zones * prices.unit("route53_hosted_zone_month"),
            f"{r.hosted_zones} private hosted zone(s) (the load balancer's name)",
        )
    figure.add(
        "registry_fargate",
        sum(
            t.count
            * hours
            * (
                t.vcpu * prices.unit(f"fargate_vcpu_hour_{t.architecture}")
                + t.memory_gb * prices.unit(f"fargate_gb_hour_{t.architecture}")
            )
            for t in r.fargate_tasks
        ),
        ", ".join(
            f"{t.count} task(s) of {t.vcpu:g} vCPU / {t.memory_gb:g} GB {t.architecture}"
            for t in r.fargate_tasks
        )
        or "none",
    )
    if r.container_insights_clusters:
        figure.add(
            "registry_container_insights",
            r.container_insights_clusters
            * inputs.container_insights_metrics
            * prices.unit("cloudwatch_metric_month"),
            f"{r.container_insights_clusters} cluster(s) x {inputs.container_insights_metrics} metrics",
        )
    figure.add(
        "registry_database",
        sum(
            (2 if multi_az else 1)
            * (
                hours * prices.unit_of("rds_instance_hour", kind)
                + gb * prices.unit_of("rds_storage_gb_month", storage)
            )
            for kind, gb, multi_az, storage in r.databases
        ),
        ", ".join(f"{k} with {g} GB {t}{' Multi-AZ' if m else ''}" for k, g, m, t in r.databases) or "none",
    )
    if r.image_repositories:
        images = sum(r.image_repositories)
        figure.add(
            "registry_image_storage",
            images * inputs.mlflow_image_gb * prices.unit("ecr_storage_gb_month"),
            f"up to {images} image(s) of {inputs.mlflow_image_gb:g} GB kept in ECR (lifecycle rule)",
        )
    if r.flow_logs_to_cloudwatch:
        figure.add(
            "registry_flow_logs",
            r.flow_logs_to_cloudwatch * inputs.flow_log_gb_month * prices.unit("logs_ingestion_gb"),
            f"{r.flow_logs_to_cloudwatch} VPC flow log(s) to CloudWatch, "
            f"{inputs.flow_log_gb_month:g} GB a month",
        )
    return figure


def registry_image_build(deployment: Deployment, inputs: Inputs, prices: Prices) -> Figure:
    """Building the MLflow image in CodeBuild: once per deploy that changes its directory, not monthly."""
    figure = Figure()
    builds = deployment.registry.image_builds if deployment.registry else 0
    if builds:
        figure.add(
            "codebuild_arm_small",
            builds * inputs.image_build_minutes * prices.unit("codebuild_arm_small_minute"),
            f"{builds} image(s) x {inputs.image_build_minutes:g} build minutes on an ARM host",
        )
    return figure


def monitoring_per_model_month(deployment: Deployment, inputs: Inputs, prices: Prices) -> Figure:
    """The drift, quality and performance jobs of one model, each run hourly for a month."""
    figure = Figure()
    runs = prices.unit("hours_per_month")
    for function in deployment.by_role("job"):
        queue = function.logical_id in deployment.queue_consumers
        per_run = _per_run(inputs, "job") | ({"sqs": 3.0} if queue else {})
        figure.add(
            f"job {function.logical_id}",
            runs * _scheduled_run_cost(prices, inputs, function, per_run),
            f"{runs:,.0f} hourly runs, {function.memory_mb} MB x {inputs.job_billed_ms:g} ms, "
            f"tracing {function.tracing}" + (", one queue message (send, receive, delete)" if queue else ""),
        )
    return figure


def cost_report(deployment: Deployment, inputs: Inputs, prices: Prices) -> dict[str, Any]:
    """The JSON document ``make cost`` writes: inputs, sources, the figures and their goals."""
    million = per_million_predictions(deployment, inputs, prices)
    idle_without = idle_month(deployment, inputs, prices, registry=False)
    idle_with = idle_month(deployment, inputs, prices, registry=True)
    monitoring = monitoring_per_model_month(deployment, inputs, prices)
    return {
        "inputs": asdict(inputs),
        "prices": {"file": str(prices.path), "region": prices.region, "checked": prices.checked},
        "stacks": deployment.stacks,
        "per_million_predictions": million.as_dict() | {"goal_usd": 1.50},
        "idle_month_without_registry": idle_without.as_dict() | {"goal_usd": 12.00},
        "idle_month_with_registry": idle_with.as_dict(),
        "registry_idle_month": registry_idle_month(deployment, inputs, prices).as_dict()
        | {"goal_usd": 50.00},
        "registry_image_build": registry_image_build(deployment, inputs, prices).as_dict(),
        "monitoring_per_model_month": monitoring.as_dict(),
    }
