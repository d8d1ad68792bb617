"""One way to build a modelwatch Lambda function: Python 3.11, the layer, traced, logged, acknowledged.

Every function of the platform (predict, monitoring, observability, registry sync)
is built here, so runtime, architecture, Powertools settings, log format and levels,
tracing, log retention and the cdk-nag acknowledgments every function shares are stated once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import bundling, constants
from infra.config import ModelwatchConfig
from infra.constructs.log_retention import retention_days
from infra.nag import acknowledge

ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}


def build_modelwatch_layer(
    scope: Construct, config: ModelwatchConfig, description: str
) -> lambda_.LayerVersion:
    """The layer every function uses: the ``modelwatch`` library and its runtime dependencies."""
    return lambda_.LayerVersion(
        scope,
        "ModelwatchLayer",
        code=bundling.bundled_code(bundling.layer_spec(config.architecture), constants.LIBRARY_PACKAGE_DIR),
        compatible_runtimes=[lambda_.Runtime.PYTHON_3_11],
        compatible_architectures=[ARCHITECTURES[config.architecture]],
        description=description,
        removal_policy=RemovalPolicy.RETAIN,
    )


TRACING = {"Active": lambda_.Tracing.ACTIVE, "PassThrough": lambda_.Tracing.PASS_THROUGH}
SYSTEM_LOG_LEVELS = {
    "DEBUG": lambda_.SystemLogLevel.DEBUG,
    "INFO": lambda_.SystemLogLevel.INFO,
    "WARN": lambda_.SystemLogLevel.WARN,
}
APPLICATION_LOG_LEVELS = {
    "TRACE": lambda_.ApplicationLogLevel.TRACE,
    "DEBUG": lambda_.ApplicationLogLevel.DEBUG,
    "INFO": lambda_.ApplicationLogLevel.INFO,
}
# Powertools' name of the level (Python's logging has no TRACE).
_POWERTOOLS_LEVELS = {"TRACE": "DEBUG"}


def powertools_environment(config: ModelwatchConfig | None = None) -> dict[str, str]:
    level = constants.POWERTOOLS_LOG_LEVEL
    if config is not None and config.logging.format == "JSON":
        application = config.logging.application_log_level
        level = _POWERTOOLS_LEVELS.get(application, application)
    return {
        "POWERTOOLS_SERVICE_NAME": constants.POWERTOOLS_SERVICE_NAME,
        "POWERTOOLS_METRICS_NAMESPACE": constants.POWERTOOLS_METRICS_NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": level,
    }


def logging_props(config: ModelwatchConfig) -> dict[str, Any]:
    """Lambda's log format and levels: JSON at system level WARN writes no START/END/REPORT lines."""
    if config.logging.format == "Text":
        return {"logging_format": lambda_.LoggingFormat.TEXT}
    return {
        "logging_format": lambda_.LoggingFormat.JSON,
        "system_log_level_v2": SYSTEM_LOG_LEVELS[config.logging.system_log_level],
        "application_log_level_v2": APPLICATION_LOG_LEVELS[config.logging.application_log_level],
    }


def tracing_of(config: ModelwatchConfig, code_dir: Path) -> lambda_.Tracing:
    """The predict path (every function running the predict handler) has its own tracing dial."""
    on_predict_path = code_dir.resolve() == constants.PREDICT_FUNCTION_DIR.resolve()
    return TRACING[config.tracing.predict if on_predict_path else config.tracing.functions]


def build_python_function(
    scope: Construct,
    construct_id: str,
    *,
    config: ModelwatchConfig,
    spec: bundling.BundleSpec,
    code_dir: Path,
    layer: lambda_.ILayerVersion,
    memory_mb: int,
    timeout_s: int,
    description: str,
    environment: dict[str, str],
    **function_props: Any,
) -> lambda_.Function:
    """Return the function running ``handler.handler`` from the bundle ``spec``, with its log group.

    ``function_props`` are passed on to ``lambda_.Function`` (VPC, retries, destinations, ...).
    """
    log_group = logs.LogGroup(
        scope,
        f"{construct_id}Logs",
        retention=retention_days(config.log_retention_days),
        removal_policy=RemovalPolicy.DESTROY,
    )
    function = lambda_.Function(
        scope,
        construct_id,
        runtime=lambda_.Runtime.PYTHON_3_11,
        architecture=ARCHITECTURES[config.architecture],
        handler=constants.HANDLER,
        code=bundling.bundled_code(spec, code_dir),
        layers=[layer],
        memory_size=memory_mb,
        timeout=Duration.seconds(timeout_s),
        description=description,
        tracing=tracing_of(config, code_dir),
        log_group=log_group,
        environment={**powertools_environment(config), **environment},
        **{**logging_props(config), **function_props},
    )
    acknowledge_platform_findings(function)
    return function


def acknowledge_platform_findings(construct: Construct) -> None:
    """Acknowledge what every modelwatch function carries: basic logging role, X-Ray, Python 3.11."""
    acknowledge(
        construct,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        "AWSLambdaBasicExecutionRole only lets the function write its own CloudWatch logs.",
    )
    acknowledge(
        construct,
        "AwsSolutions-IAM5[Resource::*]",
        "X-Ray (PutTraceSegments, PutTelemetryRecords) and CloudWatch ListMetrics/GetMetricData do not "
        "support resource-level permissions.",
    )
    acknowledge(
        construct,
        "AwsSolutions-L1",
        "Python 3.11 is pinned on purpose: it matches the Python that builds the bundles (valid .pyc).",
    )
