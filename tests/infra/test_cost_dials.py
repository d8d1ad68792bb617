"""The dials docs/cost.md points at: log format and levels, tracing, API access logs, the export's queue."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from modelwatch_local.cost.calculator import Inputs, per_million_predictions
from modelwatch_local.cost.prices import load_prices
from modelwatch_local.cost.templates import summarise

from infra import constants
from infra.assembly import Assembly
from infra.config import ConfigError, parse_config

pytestmark = pytest.mark.infra

OVERRIDES = {
    "tracing": {"predict": "Active", "functions": "Active"},
    "logging": {"format": "Text"},
    "api_access_logs": {"enabled": False},
}


@pytest.fixture(scope="module")
def default(assembly_factory: Callable[..., Assembly]) -> dict[str, dict[str, Any]]:
    return _templates(assembly_factory())


@pytest.fixture(scope="module")
def turned(assembly_factory: Callable[..., Assembly]) -> dict[str, dict[str, Any]]:
    return _templates(assembly_factory(OVERRIDES))


def _templates(assembly: Assembly) -> dict[str, dict[str, Any]]:
    cloud = assembly.app.synth()
    return {stack.stack_name: stack.template for stack in cloud.stacks}


def _functions(templates: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every function modelwatch builds (the ones with Powertools settings), by stack/logical id."""
    return {
        f"{stack}/{name}": resource["Properties"]
        for stack, template in templates.items()
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
        and "POWERTOOLS_SERVICE_NAME" in resource["Properties"].get("Environment", {}).get("Variables", {})
    }


def _stage(templates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    serving = next(t for name, t in templates.items() if name.endswith("Serving"))
    stages = [r for r in serving["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Stage"]
    assert len(stages) == 1
    properties: dict[str, Any] = stages[0]["Properties"]
    return properties


def test_every_function_logs_json_with_no_platform_lines_by_default(default: dict[str, Any]) -> None:
    functions = _functions(default)

    assert len(functions) >= 8
    for name, props in functions.items():
        logging = props["LoggingConfig"]
        assert logging["LogFormat"] == "JSON", name
        assert logging["SystemLogLevel"] == "WARN", name  # no START/END/REPORT lines
        assert logging["ApplicationLogLevel"] == "INFO", name
        assert props["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] == "INFO", name
        assert "LogGroup" in logging, name


def test_tracing_is_pass_through_by_default(default: dict[str, Any]) -> None:
    for name, props in _functions(default).items():
        assert props.get("TracingConfig", {"Mode": "PassThrough"}) == {"Mode": "PassThrough"}, name


def test_access_log_is_trimmed_to_the_configured_fields(default: dict[str, Any]) -> None:
    log_format = json.loads(_stage(default)["AccessLogSettings"]["Format"])

    assert list(log_format) == list(constants.DEFAULT_API_ACCESS_LOG_FIELDS)
    assert log_format["requestId"] == "$context.requestId"
    assert log_format["status"] == "$context.status"


def test_the_dials_turn(turned: dict[str, Any]) -> None:
    functions = _functions(turned)

    for name, props in functions.items():
        assert props["TracingConfig"] == {"Mode": "Active"}, name
        assert props["LoggingConfig"].get("LogFormat", "Text") == "Text", name
        assert "SystemLogLevel" not in props["LoggingConfig"], name
    assert "AccessLogSettings" not in _stage(turned)
    serving = next(t for name, t in turned.items() if name.endswith("Serving"))
    groups = [n for n, r in serving["Resources"].items() if r["Type"] == "AWS::Logs::LogGroup"]
    assert not any("AccessLogs" in n for n in groups)


def test_make_cost_sees_the_dials(default: dict[str, Any], turned: dict[str, Any]) -> None:
    prices = load_prices()
    quiet = {i.name: i.usd for i in per_million_predictions(summarise(default), Inputs(), prices).items}
    loud = {i.name: i.usd for i in per_million_predictions(summarise(turned), Inputs(), prices).items}

    assert quiet["xray_traces"] == 0 and loud["xray_traces"] == pytest.approx(0.345)
    assert quiet["logs_function_ingestion"] < loud["logs_function_ingestion"]  # no platform lines
    assert quiet["logs_access_ingestion"] > 0 and loud["logs_access_ingestion"] == 0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"logging": {"application_log_level": "WARN"}}, "modelwatch.logging.application_log_level"),
        ({"logging": {"system_log_level": "ERROR"}}, "modelwatch.logging.system_log_level"),
        ({"tracing": {"predict": "On"}}, "modelwatch.tracing.predict"),
        ({"api_access_logs": {"fields": ["requestId", "body"]}}, "unknown field(s) ['body']"),
        ({"api_access_logs": {"fields": []}}, "modelwatch.api_access_logs.fields"),
    ],
)
def test_bad_dials_fail_the_synth_naming_the_entry(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config(raw)


def _observability(templates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    resources: dict[str, Any] = next(t for n, t in templates.items() if n.endswith("Observability"))[
        "Resources"
    ]
    return resources


def test_the_metrics_export_is_fed_by_delivered_objects_not_listing(default: dict[str, Any]) -> None:
    resources = _observability(default)
    export_id, export = next(
        (n, r["Properties"])
        for n, r in resources.items()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"].get("Description", "").startswith("modelwatch metrics export")
    )

    # Object Created under events/ and rejected/ of the events bucket go to a queue ...
    (rule,) = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Events::Rule"
        and "EventPattern" in r["Properties"]
        and r["Properties"]["EventPattern"].get("detail-type") == ["Object Created"]
    ]
    assert rule["EventPattern"]["detail"]["object"]["key"] == [{"prefix": "events/"}, {"prefix": "rejected/"}]
    queue_id = rule["Targets"][0]["Arn"]["Fn::GetAtt"][0]
    queue = resources[queue_id]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * export["Timeout"]
    assert "RedrivePolicy" in queue and queue["SqsManagedSseEnabled"] is True
    # ... which the export reads a batch a minute, two at a time at most
    (mapping,) = [
        r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"
    ]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert mapping["FunctionName"] == {"Ref": export_id}
    assert mapping["BatchSize"] == constants.METRICS_EXPORT_BATCH_SIZE
    assert mapping["MaximumBatchingWindowInSeconds"] == 60
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 2}
    # and its schedule (every minute: every series, its health) lists nothing
    assert export["Environment"]["Variables"]["MODELWATCH_EXPORT_KEYS_FROM"] == "events"
    assert export["Environment"]["Variables"]["MODELWATCH_EXPORT_SCHEDULE_SECONDS"] == "60"


def test_make_cost_prices_the_export_without_listing(default: dict[str, Any]) -> None:
    from modelwatch_local.cost.calculator import idle_month

    prices = load_prices()
    one = {
        i.name: i.usd for i in idle_month(summarise(default), Inputs(models=1), prices, registry=False).items
    }
    hundred = {
        i.name: i.usd
        for i in idle_month(summarise(default), Inputs(models=100), prices, registry=False).items
    }

    export = next(v for k, v in one.items() if k.startswith("scheduled export"))
    export_100 = next(v for k, v in hundred.items() if k.startswith("scheduled export"))
    assert export < 1.5  # listing every minute cost $3.69 a month at one model
    assert export_100 < 40  # and $151 at 100
    assert one["sqs_event_source_polling"] > 0
