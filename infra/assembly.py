"""Assembles the modelwatch app from its configuration: the stacks, tags and cdk-nag checks."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra import constants
from infra.config import ModelwatchConfig, parse_config
from infra.stacks.capture_stack import CaptureStack
from infra.stacks.chaos_stack import ChaosStack
from infra.stacks.monitoring_stack import MonitoringStack
from infra.stacks.observability_stack import ObservabilityStack
from infra.stacks.registry_stack import RegistryStack
from infra.stacks.serving_stack import ServingStack


@dataclass(frozen=True)
class Assembly:
    """The app and its stacks, for app.py and the infra tests."""

    app: cdk.App
    config: ModelwatchConfig
    capture: CaptureStack
    serving: ServingStack
    monitoring: MonitoringStack
    observability: ObservabilityStack
    registry: RegistryStack | None = None
    chaos: ChaosStack | None = None


def cdk_json_context(path: Path = constants.REPO_ROOT / "cdk.json") -> dict[str, Any]:
    """Return the ``context`` of cdk.json: the configuration and the feature flags.

    The CDK CLI passes it to the app itself; ``python app.py`` run directly does not,
    so the app starts from it and anything the CLI passes (``-c``) takes precedence.
    """
    context: dict[str, Any] = json.loads(path.read_text()).get("context", {})
    return context


def build_app(app: cdk.App | None = None) -> Assembly:
    """Return the app with every stack, configured from the ``modelwatch`` context.

    Without ``app``, one is created with cdk.json's context as its defaults.

    Raises
    ------
    infra.config.ConfigError
        When the context is invalid, naming the bad entry.
    """
    if app is None:
        # The CLI sets CDK_OUTDIR; run directly, the app writes to cdk.out like the CLI would.
        app = cdk.App(context=cdk_json_context(), outdir=os.environ.get("CDK_OUTDIR", "cdk.out"))
    config = parse_config(app.node.try_get_context(constants.CONTEXT_KEY))
    prefix = config.project.title().replace("-", "")
    capture = CaptureStack(
        app,
        f"{prefix}{constants.CAPTURE_STACK_ID}",
        config=config,
        description="modelwatch data and capture: buckets, Firehose streams, capture DLQ",
    )
    serving = ServingStack(
        app,
        f"{prefix}{constants.SERVING_STACK_ID}",
        config=config,
        models_bucket=capture.models_bucket,
        events_stream=capture.events_stream,
        rejected_stream=capture.rejected_stream,
        labels_stream=capture.labels_stream,
        capture_dlq=capture.capture_dlq,
        description="modelwatch serving: layer, predict functions, HTTP API",
    )
    observability = ObservabilityStack(
        app,
        f"{prefix}{constants.OBSERVABILITY_STACK_ID}",
        config=config,
        events_bucket=capture.events_bucket,
        models_bucket=capture.models_bucket,
        capture_dlq=capture.capture_dlq,
        layer=serving.functions.layer,
        description="modelwatch observability: AMP metrics, rules and alerts, Grafana, metrics export",
    )
    monitoring = MonitoringStack(
        app,
        f"{prefix}{constants.MONITORING_STACK_ID}",
        config=config,
        layer=serving.functions.layer,
        events_bucket=capture.events_bucket,
        models_bucket=capture.models_bucket,
        platform_bus=observability.event_bus,
        metrics_environment=observability.metrics_environment,
        grant_metrics=observability.grant_remote_write,
        capture_dlq=capture.capture_dlq,
        capture_streams=capture.capture_streams,
        alert_topic=observability.alert_topic,
        extra_alert_topics=observability.alarm_topics[1:],
        description=(
            "modelwatch monitoring: profile function, scheduled drift/quality/performance jobs, "
            "capture replay"
        ),
    )
    registry = None
    if config.registry.enabled:
        registry = RegistryStack(
            app,
            f"{prefix}{constants.REGISTRY_STACK_ID}",
            config=config,
            models_bucket=capture.models_bucket,
            access_logs_bucket=capture.access_logs_bucket,
            layer=serving.functions.layer,
            description="modelwatch registry: MLflow on ECS Fargate (RDS PostgreSQL, S3), registry sync",
        )
    chaos = None
    if config.chaos.enabled:
        chaos = ChaosStack(
            app,
            f"{prefix}{constants.CHAOS_STACK_ID}",
            config=config,
            api=serving.api.api,
            predict_functions=serving.functions.model_functions,
            job_functions=monitoring.functions.job_functions,
            capture_streams=[capture.events_stream, capture.rejected_stream],
            models_bucket=capture.models_bucket,
            access_logs_bucket=capture.access_logs_bucket,
            description="modelwatch chaos (optional): AWS FIS experiment templates, stop alarms",
        )
    for key, value in config.all_tags.items():
        cdk.Tags.of(app).add(key, value)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return Assembly(
        app=app,
        config=config,
        capture=capture,
        serving=serving,
        monitoring=monitoring,
        observability=observability,
        registry=registry,
        chaos=chaos,
    )
