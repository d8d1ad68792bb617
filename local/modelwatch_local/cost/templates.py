"""What the synthesised CloudFormation templates say that costs money, read into a ``Deployment``.

Only the templates are read (``cdk.out/*.template.json`` or an in-process synthesis): memory
sizes, architectures, tracing and log settings of every function; log retention; schedules;
the HTTP API's access-log format; the capture streams' buffering and partitioning; the fixed
resources (Grafana, AMP, KMS keys, alarms, secrets) and the registry's parts: NAT gateways and
public addresses, interface endpoints, load balancers, Fargate tasks (size, architecture, public
IPv4, Cloud Map), Container Insights, RDS, ECR repositories and the images built at deploy.
A function's role (predict, catalog, job, ...) comes from how the template wires it: the
functions behind a ``.../predict`` route are the predict path, the API's ``$default`` target is
the catalog; the others are named by their logical ids.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelwatch.contracts import layout

Template = Mapping[str, Any]

# Roles named by the logical id of a function (first match wins); predict and catalog come from routes.
_ROLE_PATTERNS = (
    ("export", re.compile(r"MetricsExport", re.I)),
    ("sync", re.compile(r"Sync", re.I)),
    ("profile", re.compile(r"Profile", re.I)),
    ("dispatcher", re.compile(r"Dispatch", re.I)),
    ("job", re.compile(r"Drift|Quality|Performance", re.I)),
    ("replay", re.compile(r"Replay", re.I)),
)
_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


class TemplateError(ValueError):
    """The templates cannot be read or say something the calculator cannot price."""


@dataclass(frozen=True)
class Function:
    """One Lambda function as the template declares it."""

    stack: str
    logical_id: str
    role: str
    memory_mb: int
    architecture: str
    tracing: str  # "Active" or "PassThrough"
    log_format: str  # "Text" or "JSON"
    system_log_level: str | None
    application_log_level: str | None
    log_retention_days: int | None

    @property
    def platform_lines_logged(self) -> bool:
        """Whether Lambda writes its START/END/REPORT (or platform.*) lines for each invocation."""
        return not (self.log_format == "JSON" and self.system_log_level in ("WARN", "ERROR", "FATAL"))


@dataclass(frozen=True)
class Schedule:
    """A scheduled invocation: an EventBridge rule or a Scheduler schedule with a ``rate(...)``."""

    stack: str
    logical_id: str
    every_seconds: float
    target: str | None  # logical id of the target function, when it is one
    scheduler: bool  # EventBridge Scheduler (billed per invocation) rather than a rule (free)


@dataclass(frozen=True)
class Stream:
    """A Firehose delivery stream to S3."""

    stack: str
    logical_id: str
    prefix: str
    buffer_seconds: int
    buffer_mb: int
    dynamic_partitioning: bool
    jq: bool

    @property
    def carries_events(self) -> bool:
        return self.prefix.startswith(layout.EVENTS_PREFIX)

    @property
    def kind(self) -> str | None:
        """The capture kind the stream delivers (``events``, ``rejected``, ``labels``), from its prefix."""
        return next((k for k in layout.CAPTURE_KINDS if self.prefix.startswith(layout.kind_prefix(k))), None)


@dataclass(frozen=True)
class AccessLog:
    """The HTTP API stage's access log (``None`` in ``Deployment.access_log`` when off)."""

    format: str
    retention_days: int | None


@dataclass(frozen=True)
class FargateTasks:
    """The always-running tasks of one ECS service, as its task definition sizes them."""

    vcpu: float
    memory_gb: float
    architecture: str
    count: int  # the service's desired count
    public_ip: bool  # each task has a public IPv4 address (AssignPublicIp)
    cloud_map: bool  # each task is a Cloud Map instance (ServiceRegistries)


@dataclass(frozen=True)
class Registry:
    """The registry stack's always-on parts: what its template declares, resource by resource."""

    nat_gateways: int
    public_ips: int  # Elastic IPs (a NAT gateway's)
    load_balancers: int
    fargate_tasks: tuple[FargateTasks, ...]
    databases: tuple[tuple[str, int, bool, str], ...]  # (instance class, GB, multi-AZ, storage type)
    secrets: int
    flow_logs_to_cloudwatch: int
    interface_endpoints: tuple[tuple[str, int], ...] = ()  # (service, AZs: its subnets)
    cloud_map_namespaces: int = 0  # private DNS namespaces (a Route 53 private hosted zone each)
    hosted_zones: int = 0  # Route 53 hosted zones of the stack's own
    container_insights_clusters: int = 0  # ECS clusters with Container Insights on
    image_repositories: tuple[int, ...] = ()  # ECR repositories: the images each keeps (lifecycle rule)
    image_builds: int = 0  # container images built by CodeBuild at deploy time


@dataclass
class Deployment:
    """Everything priced, from the templates."""

    functions: list[Function] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)
    streams: list[Stream] = field(default_factory=list)
    access_log: AccessLog | None = None
    has_api: bool = False
    grafana_workspaces: int = 0
    amp_workspaces: int = 0
    amp_rule_namespaces: int = 0
    kms_keys: int = 0
    alarms: int = 0
    secrets: int = 0
    queues: dict[str, int] = field(default_factory=dict)  # stack -> queues
    event_source_queues: int = 0  # SQS event source mappings (Lambda polls each)
    queue_consumers: list[str] = field(default_factory=list)  # functions fed by them
    registry: Registry | None = None
    stacks: list[str] = field(default_factory=list)

    def by_role(self, role: str) -> list[Function]:
        return [f for f in self.functions if f.role == role]

    def function(self, logical_id: str) -> Function | None:
        return next((f for f in self.functions if f.logical_id == logical_id), None)


def read_templates(directory: Path) -> dict[str, Template]:
    """Return every ``*.template.json`` of ``directory`` by stack name.

    Raises
    ------
    TemplateError
        When there are none or one is not JSON.
    """
    files = sorted(directory.glob("*.template.json"))
    if not files:
        raise TemplateError(f"no *.template.json in {directory}: run `make synth` first, or pass --synth")
    templates: dict[str, Template] = {}
    for path in files:
        try:
            templates[path.name.removesuffix(".template.json")] = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise TemplateError(f"{path}: not JSON ({error})") from None
    return templates


def _ref(value: Any) -> str | None:
    """The logical id a ``Ref`` or ``Fn::GetAtt`` points at, if it is one."""
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            return value["Ref"]
        get_att = value.get("Fn::GetAtt")
        if isinstance(get_att, list) and get_att and isinstance(get_att[0], str):
            return get_att[0]
        join = value.get("Fn::Join")
        if isinstance(join, list) and len(join) == 2 and isinstance(join[1], list):
            for part in join[1]:
                if (found := _ref(part)) is not None:
                    return found
    return None


def _rate_seconds(expression: str) -> float | None:
    """Seconds between runs of a ``rate(...)`` or, on average, of a ``cron(...)`` expression."""
    expression = expression.strip()
    match = _RATE.match(expression)
    if match is not None:
        return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]
    if expression.startswith("cron(") and expression.endswith(")"):
        return _cron_seconds(expression[5:-1].split())
    return None


def _field_count(field: str, size: int) -> float | None:
    """How many values of ``size`` a cron field selects (``*``, ``a``, ``a,b``, ``a-b``, ``a/n``, ``*/n``)."""
    if field in ("*", "?"):
        return float(size)
    total = 0.0
    for part in field.split(","):
        base, _, step = part.partition("/")
        if base in ("*", "?"):
            span = size
        elif "-" in base:
            low, _, high = base.partition("-")
            if not (low.isdigit() and high.isdigit()):
                return None
            span = int(high) - int(low) + 1
        elif base.isdigit():
            span = size - int(base) if step else 1
        else:
            return None
        total += math.ceil(span / int(step)) if step.isdigit() else span
    return total


def _cron_seconds(fields: list[str]) -> float | None:
    """Average seconds between runs of ``cron(minutes hours day-of-month month day-of-week year)``.

    Minutes, hours and days of the week are counted; days of the month as a share of 30.4 days;
    months and years are taken as every one (``L``, ``W`` and ``#`` are not priced).
    """
    if len(fields) != 6:
        return None
    minutes, hours = _field_count(fields[0], 60), _field_count(fields[1], 24)
    weekdays = _field_count(_WEEKDAYS.sub(lambda m: str(_DAY_NUMBERS[m.group(0)]), fields[4].upper()), 7)
    month_days = _field_count(fields[2], 31)
    if None in (minutes, hours, weekdays, month_days) or not minutes or not hours:
        return None
    assert minutes is not None and hours is not None and weekdays is not None and month_days is not None
    if fields[4] not in ("*", "?"):
        share = weekdays / 7.0
    elif fields[2] not in ("*", "?"):
        share = month_days / (365.0 / 12.0)
    else:
        share = 1.0
    runs_a_day = minutes * hours * share
    return 86400.0 / runs_a_day if runs_a_day else None


_DAY_NUMBERS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_WEEKDAYS = re.compile("|".join(_DAY_NUMBERS))


def _is_queue(source: Any, resources: Mapping[str, Any]) -> bool:
    """Whether an event source mapping reads an SQS queue (of this stack or imported)."""
    target = _ref(source)
    if target is not None and target in resources:
        return bool(resources[target]["Type"] == "AWS::SQS::Queue")
    return "sqs" in json.dumps(source).lower()


def _api_roles(resources: Mapping[str, Any]) -> dict[str, str]:
    """Function logical id -> ``predict`` or ``catalog``, from the HTTP API's routes."""
    integrations = {
        name: _ref(r["Properties"].get("IntegrationUri"))
        for name, r in resources.items()
        if r["Type"] == "AWS::ApiGatewayV2::Integration"
    }
    roles: dict[str, str] = {}
    for route in (r for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Route"):
        props = route["Properties"]
        function = integrations.get(_ref(props.get("Target")) or "")
        if function is None:
            continue
        key = str(props.get("RouteKey", ""))
        if key.rstrip("/").endswith("/predict"):
            roles[function] = "predict"
        elif key == "$default":
            roles.setdefault(function, "catalog")
    return roles


def _role(logical_id: str, api_roles: Mapping[str, str]) -> str:
    if logical_id in api_roles:
        return api_roles[logical_id]
    for role, pattern in _ROLE_PATTERNS:
        if pattern.search(logical_id):
            return role
    return "other"


def _endpoint_service(name: Any) -> str:
    """``secretsmanager`` from ``com.amazonaws.<region>.secretsmanager``, literal or ``Fn::Join``ed."""
    if isinstance(name, dict) and "Fn::Join" in name:
        name = "".join(p for p in name["Fn::Join"][1] if isinstance(p, str))
    return str(name).rsplit(".", 1)[-1] if name else "unknown"


def _images_kept(repository: Mapping[str, Any]) -> int:
    """The most images a repository's lifecycle rules keep (1 without a count rule: the one deployed)."""
    text = repository.get("LifecyclePolicy", {}).get("LifecyclePolicyText")
    if not isinstance(text, str):
        return 1
    counts = [
        int(rule["selection"]["countNumber"])
        for rule in json.loads(text).get("rules", [])
        if rule.get("selection", {}).get("countType") == "imageCountMoreThan"
    ]
    return min(counts) if counts else 1


def summarise(templates: Mapping[str, Template]) -> Deployment:
    """Return what the templates declare that the calculator prices."""
    deployment = Deployment(stacks=sorted(templates))
    for stack, template in sorted(templates.items()):
        resources: Mapping[str, Any] = template.get("Resources", {})
        api_roles = _api_roles(resources)
        retention = {
            name: r.get("Properties", {}).get("RetentionInDays")
            for name, r in resources.items()
            if r["Type"] == "AWS::Logs::LogGroup"
        }
        registry_parts: dict[str, Any] = {
            "nat": 0,
            "eip": 0,
            "alb": 0,
            "tasks": [],
            "db": [],
            "flow": 0,
            "endpoints": [],
            "namespaces": 0,
            "zones": 0,
            "insights": 0,
            "repositories": [],
            "builds": 0,
        }
        task_defs: dict[str, tuple[float, float, str]] = {}
        services: list[tuple[str | None, int, bool, bool]] = []
        is_registry = stack.endswith("Registry")
        for name, resource in resources.items():
            kind = resource["Type"]
            props: Mapping[str, Any] = resource.get("Properties", {})
            if kind == "AWS::Lambda::Function":
                logging_config = props.get("LoggingConfig", {})
                log_group = _ref(logging_config.get("LogGroup"))
                deployment.functions.append(
                    Function(
                        stack=stack,
                        logical_id=name,
                        role=_role(name, api_roles),
                        memory_mb=int(props.get("MemorySize", 128)),
                        architecture=(props.get("Architectures") or ["x86_64"])[0],
                        tracing=props.get("TracingConfig", {}).get("Mode", "PassThrough"),
                        log_format=logging_config.get("LogFormat", "Text"),
                        system_log_level=logging_config.get("SystemLogLevel"),
                        application_log_level=logging_config.get("ApplicationLogLevel"),
                        log_retention_days=retention.get(log_group) if log_group else None,
                    )
                )
            elif kind in ("AWS::Events::Rule", "AWS::Scheduler::Schedule"):
                expression = props.get("ScheduleExpression")
                if not isinstance(expression, str):
                    continue  # an event pattern: priced with what it reacts to
                every = _rate_seconds(expression)
                if every is None:
                    raise TemplateError(f"{stack}/{name}: cannot price schedule {expression!r}")
                targets = props.get("Targets") or ([props["Target"]] if "Target" in props else [])
                target = _ref(targets[0].get("Arn")) if targets else None
                deployment.schedules.append(
                    Schedule(stack, name, every, target, scheduler=kind == "AWS::Scheduler::Schedule")
                )
            elif kind == "AWS::KinesisFirehose::DeliveryStream":
                s3 = props.get("ExtendedS3DestinationConfiguration", {})
                hints = s3.get("BufferingHints", {})
                processors = s3.get("ProcessingConfiguration", {}).get("Processors", [])
                prefix = s3.get("Prefix", "")
                deployment.streams.append(
                    Stream(
                        stack=stack,
                        logical_id=name,
                        prefix=prefix if isinstance(prefix, str) else json.dumps(prefix),
                        buffer_seconds=int(hints.get("IntervalInSeconds", 300)),
                        buffer_mb=int(hints.get("SizeInMBs", 5)),
                        dynamic_partitioning=bool(
                            s3.get("DynamicPartitioningConfiguration", {}).get("Enabled")
                        ),
                        jq=any(p.get("Type") == "MetadataExtraction" for p in processors),
                    )
                )
            elif kind == "AWS::ApiGatewayV2::Api":
                deployment.has_api = True
            elif kind == "AWS::ApiGatewayV2::Stage":
                settings = props.get("AccessLogSettings")
                if settings and settings.get("Format"):
                    deployment.access_log = AccessLog(
                        format=str(settings["Format"]),
                        retention_days=retention.get(_ref(settings.get("DestinationArn")) or ""),
                    )
            elif kind == "AWS::Grafana::Workspace":
                deployment.grafana_workspaces += 1
            elif kind == "AWS::APS::Workspace":
                deployment.amp_workspaces += 1
            elif kind == "AWS::APS::RuleGroupsNamespace":
                deployment.amp_rule_namespaces += 1
            elif kind == "AWS::KMS::Key":
                deployment.kms_keys += 1
            elif kind == "AWS::CloudWatch::Alarm":
                deployment.alarms += 1
            elif kind == "AWS::SecretsManager::Secret":
                deployment.secrets += 1
            elif kind == "AWS::SQS::Queue":
                deployment.queues[stack] = deployment.queues.get(stack, 0) + 1
            elif kind == "AWS::Lambda::EventSourceMapping" and _is_queue(
                props.get("EventSourceArn"), resources
            ):
                deployment.event_source_queues += 1
                consumer = _ref(props.get("FunctionName"))
                if consumer is not None:
                    deployment.queue_consumers.append(consumer)
            elif kind == "AWS::EC2::NatGateway":
                registry_parts["nat"] += 1
            elif kind == "AWS::EC2::EIP":
                registry_parts["eip"] += 1
            elif kind == "AWS::ElasticLoadBalancingV2::LoadBalancer":
                registry_parts["alb"] += 1
            elif kind == "AWS::ECS::TaskDefinition":
                platform = props.get("RuntimePlatform", {})
                arch = "arm64" if platform.get("CpuArchitecture") == "ARM64" else "x86_64"
                task_defs[name] = (
                    int(props.get("Cpu", 256)) / 1024,
                    int(props.get("Memory", 512)) / 1024,
                    arch,
                )
            elif kind == "AWS::ECS::Service":
                network = props.get("NetworkConfiguration", {}).get("AwsvpcConfiguration", {})
                services.append(
                    (
                        _ref(props.get("TaskDefinition")),
                        int(props.get("DesiredCount", 1)),
                        network.get("AssignPublicIp") == "ENABLED",
                        bool(props.get("ServiceRegistries")),
                    )
                )
            elif kind == "AWS::ECS::Cluster":
                settings = {s.get("Name"): s.get("Value") for s in props.get("ClusterSettings", [])}
                if settings.get("containerInsights") in ("enabled", "enhanced"):
                    registry_parts["insights"] += 1
            elif kind == "AWS::RDS::DBInstance":
                registry_parts["db"].append(
                    (
                        str(props.get("DBInstanceClass")),
                        int(props.get("AllocatedStorage", 20)),
                        bool(props.get("MultiAZ", False)),
                        str(props.get("StorageType", "gp2")),
                    )
                )
            elif kind == "AWS::EC2::VPCEndpoint" and props.get("VpcEndpointType") == "Interface":
                registry_parts["endpoints"].append(
                    (_endpoint_service(props.get("ServiceName")), len(props.get("SubnetIds") or [None]))
                )
            elif kind == "AWS::ServiceDiscovery::PrivateDnsNamespace":
                registry_parts["namespaces"] += 1
            elif kind == "AWS::Route53::HostedZone":
                registry_parts["zones"] += 1
            elif kind == "AWS::ECR::Repository":
                registry_parts["repositories"].append(_images_kept(props))
            elif kind == "Custom::CDKContainerImageBuild":
                registry_parts["builds"] += 1
            elif kind == "AWS::EC2::FlowLog" and props.get("LogDestinationType", "cloud-watch-logs") == (
                "cloud-watch-logs"
            ):
                registry_parts["flow"] += 1
        for task_def, count, public_ip, cloud_map in services:
            if task_def in task_defs:
                registry_parts["tasks"].append(
                    FargateTasks(*task_defs[task_def], count, public_ip, cloud_map)
                )
        if is_registry:
            deployment.registry = Registry(
                nat_gateways=registry_parts["nat"],
                public_ips=registry_parts["eip"],
                load_balancers=registry_parts["alb"],
                fargate_tasks=tuple(registry_parts["tasks"]),
                databases=tuple(registry_parts["db"]),
                secrets=sum(1 for r in resources.values() if r["Type"] == "AWS::SecretsManager::Secret"),
                flow_logs_to_cloudwatch=registry_parts["flow"],
                interface_endpoints=tuple(registry_parts["endpoints"]),
                cloud_map_namespaces=registry_parts["namespaces"],
                hosted_zones=registry_parts["zones"],
                container_insights_clusters=registry_parts["insights"],
                image_repositories=tuple(registry_parts["repositories"]),
                image_builds=registry_parts["builds"],
            )
    return deployment
