"""`make cost`'s calculator on a small hand-written template: each line item answers to its input."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from modelwatch_local.cost.__main__ import main
from modelwatch_local.cost.calculator import (
    Inputs,
    cost_report,
    idle_month,
    monitoring_per_model_month,
    per_million_predictions,
    registry_idle_month,
    registry_image_build,
)
from modelwatch_local.cost.prices import PRICES_FILE, PriceError, load_prices
from modelwatch_local.cost.templates import TemplateError, summarise

PRICES = load_prices()


def _function(
    memory: int = 1024, tracing: str = "Active", log_config: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "MemorySize": memory,
            "Architectures": ["arm64"],
            "TracingConfig": {"Mode": tracing},
            "LoggingConfig": {"LogGroup": {"Ref": "PredictLogs"}, **(log_config or {})},
        },
    }


def _serving(**predict: Any) -> dict[str, Any]:
    return {
        "Resources": {
            "PredictLogs": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 30}},
            "AccessLogs": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 30}},
            "Predict": _function(**predict),
            "Catalog": _function(memory=512),
            "Api": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {}},
            "PredictIntegration": {
                "Type": "AWS::ApiGatewayV2::Integration",
                "Properties": {"IntegrationUri": {"Fn::GetAtt": ["Predict", "Arn"]}},
            },
            "CatalogIntegration": {
                "Type": "AWS::ApiGatewayV2::Integration",
                "Properties": {"IntegrationUri": {"Fn::GetAtt": ["Catalog", "Arn"]}},
            },
            "PredictRoute": {
                "Type": "AWS::ApiGatewayV2::Route",
                "Properties": {
                    "RouteKey": "POST /v1/models/m/predict",
                    "Target": {"Fn::Join": ["", ["integrations/", {"Ref": "PredictIntegration"}]]},
                },
            },
            "DefaultRoute": {
                "Type": "AWS::ApiGatewayV2::Route",
                "Properties": {
                    "RouteKey": "$default",
                    "Target": {"Fn::Join": ["", ["integrations/", {"Ref": "CatalogIntegration"}]]},
                },
            },
            "Stage": {
                "Type": "AWS::ApiGatewayV2::Stage",
                "Properties": {
                    "AccessLogSettings": {
                        "DestinationArn": {"Fn::GetAtt": ["AccessLogs", "Arn"]},
                        "Format": '{"requestId":"$context.requestId","status":"$context.status",'
                        '"routeKey":"$context.routeKey","path":"$context.path"}',
                    }
                },
            },
        }
    }


def _stream(prefix: str, dynamic_partitioning: bool) -> dict[str, Any]:
    config: dict[str, Any] = {
        "Prefix": prefix,
        "BufferingHints": {"IntervalInSeconds": 60, "SizeInMBs": 64 if dynamic_partitioning else 5},
    }
    if dynamic_partitioning:
        config["DynamicPartitioningConfiguration"] = {"Enabled": True}
        config["ProcessingConfiguration"] = {"Processors": [{"Type": "MetadataExtraction"}]}
    return {
        "Type": "AWS::KinesisFirehose::DeliveryStream",
        "Properties": {"ExtendedS3DestinationConfiguration": config},
    }


def _capture(
    dynamic_partitioning: bool = False, side_streams_partitioned: bool | None = None
) -> dict[str, Any]:
    """The events stream, and the rejected and labels streams (partitioned like it unless told)."""
    side = dynamic_partitioning if side_streams_partitioned is None else side_streams_partitioned
    return {
        "Resources": {
            "Events": _stream("events/model=m/dt=!{timestamp:yyyy-MM-dd}/", dynamic_partitioning),
            "Rejected": _stream("rejected/model=m/dt=!{timestamp:yyyy-MM-dd}/", side),
            "Labels": _stream("labels/model=m/dt=!{timestamp:yyyy-MM-dd}/", side),
        }
    }


def _observability(every: str = "rate(1 minute)", tracing: str = "Active") -> dict[str, Any]:
    return {
        "Resources": {
            "MetricsExportFunction": _function(memory=512, tracing=tracing),
            "MetricsExportSchedule": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "ScheduleExpression": every,
                    "Targets": [{"Arn": {"Fn::GetAtt": ["MetricsExportFunction", "Arn"]}}],
                },
            },
            "Grafana": {"Type": "AWS::Grafana::Workspace", "Properties": {}},
            "Key": {"Type": "AWS::KMS::Key", "Properties": {}},
        }
    }


def _monitoring() -> dict[str, Any]:
    return {
        "Resources": {
            "FunctionsDrift": _function(),
            "FunctionsQuality": _function(),
            "DriftSchedule": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "ScheduleExpression": "rate(1 hour)",
                    "Targets": [{"Arn": {"Fn::GetAtt": ["FunctionsDrift", "Arn"]}}],
                },
            },
        }
    }


def _registry() -> dict[str, Any]:
    return {
        "Resources": {
            "Nat": {"Type": "AWS::EC2::NatGateway", "Properties": {}},
            "Eip": {"Type": "AWS::EC2::EIP", "Properties": {}},
            "Alb": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": {}},
            "TaskDef": {"Type": "AWS::ECS::TaskDefinition", "Properties": {"Cpu": "1024", "Memory": "2048"}},
            "Service": {
                "Type": "AWS::ECS::Service",
                "Properties": {"TaskDefinition": {"Ref": "TaskDef"}, "DesiredCount": 1},
            },
            "Db": {
                "Type": "AWS::RDS::DBInstance",
                "Properties": {"DBInstanceClass": "db.t4g.micro", "AllocatedStorage": "20"},
            },
            "Secret": {"Type": "AWS::SecretsManager::Secret", "Properties": {}},
        }
    }


def templates(**overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    base = {
        "MwServing": _serving(),
        "MwCapture": _capture(),
        "MwObservability": _observability(),
        "MwMonitoring": _monitoring(),
        "MwRegistry": _registry(),
    }
    return {**base, **overrides}


def items(figure: Any) -> dict[str, float]:
    return {item.name: item.usd for item in figure.items}


def million(inputs: Inputs | None = None, **overrides: dict[str, Any]) -> dict[str, float]:
    return items(per_million_predictions(summarise(templates(**overrides)), inputs or Inputs(), PRICES))


def test_doubling_memory_doubles_lambda_compute_and_nothing_else() -> None:
    small = million(MwServing=_serving(memory=512))
    large = million(MwServing=_serving(memory=1024))

    assert large["lambda_compute"] == pytest.approx(2 * small["lambda_compute"])
    assert {k: v for k, v in large.items() if k != "lambda_compute"} == {
        k: v for k, v in small.items() if k != "lambda_compute"
    }


def test_billed_duration_drives_lambda_compute() -> None:
    assert million(Inputs(billed_ms_per_request=60))["lambda_compute"] == pytest.approx(
        2 * million(Inputs(billed_ms_per_request=30))["lambda_compute"]
    )


def test_tracing_pass_through_removes_xray() -> None:
    active = million(MwServing=_serving(tracing="Active"))
    passthrough = million(MwServing=_serving(tracing="PassThrough"))

    # X-Ray's default rule at 50 req/s: 1 a second plus 5 % of the other 49.
    assert active["xray_traces"] == pytest.approx(1e6 * (1 + 0.05 * 49) / 50 * 5e-6)
    assert passthrough["xray_traces"] == 0


def test_low_rate_traces_almost_every_request() -> None:
    slow = million(Inputs(rate=1))
    fast = million(Inputs(rate=50))

    assert slow["xray_traces"] == pytest.approx(5.0)
    assert fast["xray_traces"] < slow["xray_traces"] / 10


def test_json_logs_at_system_level_warn_drop_the_platform_lines() -> None:
    text = million(Inputs(log_bytes_per_request=278))
    quiet = million(
        Inputs(log_bytes_per_request=278),
        MwServing=_serving(log_config={"LogFormat": "JSON", "SystemLogLevel": "WARN"}),
    )
    no_app_lines = million(
        Inputs(log_bytes_per_request=0),
        MwServing=_serving(log_config={"LogFormat": "JSON", "SystemLogLevel": "WARN"}),
    )

    gib = 1e6 / 2**30 * 0.5  # $ of one byte a request for a million requests
    assert text["logs_function_ingestion"] == pytest.approx((278 + 300) * gib)
    assert quiet["logs_function_ingestion"] == pytest.approx(278 * gib)
    assert no_app_lines["logs_function_ingestion"] == 0


def test_access_logs_are_priced_by_their_format_and_free_when_off() -> None:
    serving = _serving()
    with_logs = million(MwServing=serving)
    trimmed = copy.deepcopy(serving)
    trimmed["Resources"]["Stage"]["Properties"]["AccessLogSettings"]["Format"] = (
        '{"status":"$context.status"}'
    )
    off = copy.deepcopy(serving)
    del off["Resources"]["Stage"]["Properties"]["AccessLogSettings"]

    assert 0 < million(MwServing=trimmed)["logs_access_ingestion"] < with_logs["logs_access_ingestion"]
    assert million(MwServing=off)["logs_access_ingestion"] == 0
    assert "logs_access_storage" not in million(MwServing=off)


def test_firehose_bills_each_record_as_at_least_5_kb() -> None:
    tiny = million(Inputs(capture_bytes_per_event=100))
    bigger = million(Inputs(capture_bytes_per_event=5000))
    over = million(Inputs(capture_bytes_per_event=5121))

    assert tiny["firehose_ingestion"] == pytest.approx(1e6 * 5120 / 2**30 * 0.029)
    assert bigger["firehose_ingestion"] == tiny["firehose_ingestion"]
    assert over["firehose_ingestion"] == pytest.approx(2 * tiny["firehose_ingestion"])


def test_instances_per_request_divide_the_per_request_items() -> None:
    one = million(Inputs(instances_per_request=1))
    ten = million(Inputs(instances_per_request=10))

    assert ten["api_gateway_requests"] == pytest.approx(one["api_gateway_requests"] / 10)
    assert ten["lambda_requests"] == pytest.approx(one["lambda_requests"] / 10)
    # ten 373 B events fit one 5 KB increment: a tenth of the records, so a tenth of the bill
    assert ten["firehose_ingestion"] == pytest.approx(one["firehose_ingestion"] / 10)


def test_dynamic_partitioning_adds_its_charges() -> None:
    static = million()
    dynamic = million(MwCapture=_capture(dynamic_partitioning=True))

    assert static["firehose_dynamic_partitioning"] == 0
    objects = 1e6 / 50 / 60  # one object a minute for as long as a million requests take
    assert dynamic["firehose_dynamic_partitioning"] > objects * 0.005 / 1000


def test_partitioned_rejected_and_labels_streams_are_charged_like_the_events_stream() -> None:
    static = million(MwCapture=_capture(dynamic_partitioning=True, side_streams_partitioned=False))
    dynamic = million(MwCapture=_capture(dynamic_partitioning=True))

    assert static["firehose_rejected_partitioning"] == static["firehose_labels_partitioning"] == 0
    # a million predictions take 20,000 s at 50 req/s: one object a minute per partition
    intervals = 1e6 / 50 / 60
    labels_gib = 1e6 * 160 / 2**30
    assert dynamic["firehose_labels_partitioning"] >= labels_gib * 0.02 + intervals * (0.005 + 0.005) / 1000
    # rejections: the model's partition and the unrouted one, but never more objects than records
    rejections = 1e6 * 0.01
    assert (
        dynamic["firehose_rejected_partitioning"]
        >= rejections * 600 / 2**30 * 0.02 + min(rejections, 2 * intervals) * (0.005 + 0.005) / 1000
    )
    ten = million(Inputs(models=10), MwCapture=_capture(dynamic_partitioning=True))
    assert ten["firehose_rejected_partitioning"] > dynamic["firehose_rejected_partitioning"]
    none = million(Inputs(rejected_per_request=0.0, labels_per_instance=0.0), MwCapture=_capture(True))
    assert none["firehose_rejected_partitioning"] == none["firehose_labels_partitioning"] == 0


def test_every_line_item_is_in_the_json(tmp_path: Path) -> None:
    report = cost_report(summarise(templates()), Inputs(), PRICES)

    names = {i["name"] for i in report["per_million_predictions"]["items"]}
    assert {
        "api_gateway_requests",
        "lambda_requests",
        "lambda_compute",
        "logs_function_ingestion",
        "logs_access_ingestion",
        "xray_traces",
        "firehose_ingestion",
        "s3_delivered_objects",
        "s3_events_storage",
    } <= names
    total = sum(i["usd"] for i in report["per_million_predictions"]["items"])
    assert report["per_million_predictions"]["total_usd"] == pytest.approx(total, abs=1e-3)
    assert report["per_million_predictions"]["goal_usd"] == 1.5
    assert report["idle_month_without_registry"]["goal_usd"] == 12.0


def test_idle_follows_the_schedule_and_excludes_the_registry_when_asked() -> None:
    minute = idle_month(summarise(templates()), Inputs(), PRICES, registry=False)
    five = idle_month(
        summarise(templates(MwObservability=_observability("rate(5 minutes)"))),
        Inputs(),
        PRICES,
        registry=False,
    )
    with_registry = idle_month(summarise(templates()), Inputs(), PRICES, registry=True)

    export = next(v for k, v in items(minute).items() if "MetricsExportSchedule" in k)
    export_five = next(v for k, v in items(five).items() if "MetricsExportSchedule" in k)
    assert export_five == pytest.approx(export / 5)
    assert items(minute)["grafana_users"] == 9.0 and items(minute)["kms_keys"] == 1.0
    assert not any(k.startswith("registry_") for k in items(minute))
    registry = items(with_registry)
    assert registry["registry_fargate"] == pytest.approx(730 * (0.04048 + 2 * 0.004445))
    assert registry["registry_database"] == pytest.approx(730 * 0.016 + 20 * 0.115)
    assert registry["registry_secrets"] == 0.4 and registry["secrets"] == items(minute)["secrets"] == 0


def test_export_listing_grows_with_models_and_tracing_costs_per_run() -> None:
    one = items(idle_month(summarise(templates()), Inputs(models=1), PRICES, registry=False))
    ten = items(idle_month(summarise(templates()), Inputs(models=10), PRICES, registry=False))
    untraced = items(
        idle_month(
            summarise(templates(MwObservability=_observability(tracing="PassThrough"))),
            Inputs(),
            PRICES,
            registry=False,
        )
    )

    def key(d: dict[str, float]) -> float:
        return next(v for k, v in d.items() if "MetricsExportSchedule" in k)

    assert key(ten) > 4 * key(one)
    assert key(one) - key(untraced) == pytest.approx(730 * 60 * 5e-6)


def test_monitoring_per_model_counts_every_job_hourly() -> None:
    figure = monitoring_per_model_month(summarise(templates()), Inputs(), PRICES)

    assert len(figure.items) == 2  # drift and quality in this template
    assert figure.total > 0
    slower = monitoring_per_model_month(summarise(templates()), Inputs(job_billed_ms=1600), PRICES)
    assert slower.total > figure.total


def test_cli_writes_json_and_prints_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name, template in templates().items():
        (tmp_path / f"{name}.template.json").write_text(json.dumps(template))
    output = tmp_path / "out" / "cost.json"

    assert main(["--templates", str(tmp_path), "--output", str(output), "--rate", "10"]) == 0

    report = json.loads(output.read_text())
    assert report["inputs"]["rate"] == 10
    assert "per million predictions at 10 req/s" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rate", "0"], "rate must be above 0"),
        (["--rate", "fast"], "invalid float value"),
        (["--instances-per-request", "0"], "at least 1"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    for name, template in templates().items():
        (tmp_path / f"{name}.template.json").write_text(json.dumps(template))

    with pytest.raises(SystemExit) as exited:
        raise SystemExit(main(["--templates", str(tmp_path), *argv]))

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_without_templates_says_how_to_get_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--templates", str(tmp_path)]) == 2
    assert "run `make synth` first, or pass --synth" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("expression", "runs_a_month"),
    [
        ("rate(1 minute)", 43_800),
        ("rate(5 minutes)", 8_760),
        ("cron(0 * * * ? *)", 730),
        ("cron(0/15 * * * ? *)", 2_920),
        ("cron(0 6,18 * * ? *)", 60.83),
        ("cron(0 9 ? * MON-FRI *)", 730 / 24 * 5 / 7),
        ("cron(30 2 1 * ? *)", 12 / 12),  # once a month
    ],
)
def test_schedules_are_priced_from_rate_or_cron(expression: str, runs_a_month: float) -> None:
    every = summarise(templates(MwObservability=_observability(expression))).schedules
    export = next(s for s in every if s.logical_id == "MetricsExportSchedule")

    assert 730 * 3600 / export.every_seconds == pytest.approx(runs_a_month, rel=1e-3)


def test_unpriceable_schedule_names_the_resource() -> None:
    with pytest.raises(TemplateError, match="MwObservability/MetricsExportSchedule"):
        summarise(templates(MwObservability=_observability("at(2026-12-01T00:00:00)")))


def _fan_out_monitoring() -> dict[str, Any]:
    """Jobs fed by a queue a dispatcher fills on one schedule (no per-model rule)."""
    resources = {
        "FunctionsDrift": _function(),
        "FunctionsQuality": _function(),
        "FunctionsDispatcher": _function(memory=256),
        "DispatchSchedule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "ScheduleExpression": "rate(5 minutes)",
                "Targets": [{"Arn": {"Fn::GetAtt": ["FunctionsDispatcher", "Arn"]}}],
            },
        },
        "JobsQueue": {"Type": "AWS::SQS::Queue", "Properties": {}},
    }
    for job in ("FunctionsDrift", "FunctionsQuality"):
        resources[f"{job}Source"] = {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {
                "EventSourceArn": {"Fn::GetAtt": ["JobsQueue", "Arn"]},
                "FunctionName": {"Ref": job},
            },
        }
    return {"Resources": resources}


def test_jobs_fed_by_a_queue_count_in_the_idle_month_per_model_with_the_polling() -> None:
    deployment = summarise(templates(MwMonitoring=_fan_out_monitoring()))

    one = items(idle_month(deployment, Inputs(models=1), PRICES, registry=False))
    ten = items(idle_month(deployment, Inputs(models=10), PRICES, registry=False))
    per_model = monitoring_per_model_month(deployment, Inputs(), PRICES)

    assert "scheduled dispatcher: DispatchSchedule" in one
    assert one["jobs fed by the dispatcher"] == pytest.approx(per_model.total)
    assert ten["jobs fed by the dispatcher"] == pytest.approx(10 * per_model.total)
    # two mappings, each polled by 5 long polls of 20 s: 657,000 ReceiveMessage a month
    assert one["sqs_event_source_polling"] == pytest.approx(2 * 5 * 3 * 60 * 730 * 0.4e-6)
    # each queue-fed run also pays its message: send, receive, delete
    scheduled = monitoring_per_model_month(summarise(templates()), Inputs(), PRICES)
    assert per_model.items[0].usd - scheduled.items[0].usd == pytest.approx(730 * 3 * 0.4e-6)


def test_every_price_has_a_source_and_a_bad_file_is_refused(tmp_path: Path) -> None:
    raw = json.loads(PRICES_FILE.read_text())
    assert raw["region"] == "us-east-1" and raw["checked"]
    assert all(item["source"].startswith("https://") for item in raw["items"].values())

    del raw["items"]["lambda_request"]["source"]
    bad = tmp_path / "prices.json"
    bad.write_text(json.dumps(raw))
    with pytest.raises(PriceError, match="lambda_request"):
        load_prices(bad)


# -- the registry stack's idle month: one line per billed resource of its template ---------------------


def _registry_without_nat(*, https: bool = False, insights: bool = False) -> dict[str, Any]:
    """The registry as it deploys now: arm64 task with a public IPv4, Cloud Map or an ALB, one endpoint."""
    resources: dict[str, Any] = {
        "Endpoint": {
            "Type": "AWS::EC2::VPCEndpoint",
            "Properties": {
                "VpcEndpointType": "Interface",
                "ServiceName": {
                    "Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".secretsmanager"]]
                },
                "SubnetIds": [{"Ref": "Isolated1"}],
            },
        },
        "S3Endpoint": {"Type": "AWS::EC2::VPCEndpoint", "Properties": {"VpcEndpointType": "Gateway"}},
        "Cluster": {
            "Type": "AWS::ECS::Cluster",
            "Properties": {
                "ClusterSettings": [
                    {"Name": "containerInsights", "Value": "enabled" if insights else "disabled"}
                ]
            },
        },
        "TaskDef": {
            "Type": "AWS::ECS::TaskDefinition",
            "Properties": {"Cpu": "256", "Memory": "1024", "RuntimePlatform": {"CpuArchitecture": "ARM64"}},
        },
        "Service": {
            "Type": "AWS::ECS::Service",
            "Properties": {
                "TaskDefinition": {"Ref": "TaskDef"},
                "DesiredCount": 1,
                "NetworkConfiguration": {"AwsvpcConfiguration": {"AssignPublicIp": "ENABLED"}},
                **({} if https else {"ServiceRegistries": [{"RegistryArn": {"Fn::GetAtt": ["Map", "Arn"]}}]}),
            },
        },
        "Db": {
            "Type": "AWS::RDS::DBInstance",
            "Properties": {"DBInstanceClass": "db.t4g.micro", "AllocatedStorage": "20", "StorageType": "gp3"},
        },
        "Repository": {
            "Type": "AWS::ECR::Repository",
            "Properties": {
                "LifecyclePolicy": {
                    "LifecyclePolicyText": json.dumps(
                        {"rules": [{"selection": {"countType": "imageCountMoreThan", "countNumber": 3}}]}
                    )
                }
            },
        },
        "Image": {"Type": "Custom::CDKContainerImageBuild", "Properties": {}},
        "Secret": {"Type": "AWS::SecretsManager::Secret", "Properties": {}},
    }
    if https:
        resources["Alb"] = {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": {}}
        resources["Zone"] = {"Type": "AWS::Route53::HostedZone", "Properties": {}}
    else:
        resources["Namespace"] = {"Type": "AWS::ServiceDiscovery::PrivateDnsNamespace", "Properties": {}}
    return {"Resources": resources}


def registry_items(template: dict[str, Any], inputs: Inputs | None = None) -> dict[str, float]:
    return items(registry_idle_month(summarise(templates(MwRegistry=template)), inputs or Inputs(), PRICES))


def test_the_registry_lines_follow_the_resources_of_its_template() -> None:
    before = registry_items(_registry())
    after = registry_items(_registry_without_nat())

    assert before["registry_nat_gateways"] == pytest.approx(730 * (0.045 + 0.005))
    assert "registry_nat_gateways" not in after  # no NAT gateway, no Elastic IP: no line
    assert "registry_load_balancer" not in after and "registry_interface_endpoints" not in before
    assert after["registry_interface_endpoints"] == pytest.approx(730 * 0.01 + 0.01 * 0.01)  # one AZ
    assert after["registry_task_public_ipv4"] == pytest.approx(730 * 0.005)
    assert after["registry_fargate"] == pytest.approx(730 * (0.25 * 0.03238 + 1 * 0.00356))
    assert after["registry_database"] == pytest.approx(730 * 0.016 + 20 * 0.115)  # gp3
    assert after["registry_image_storage"] == pytest.approx(3 * 0.29 * 0.10)  # the lifecycle rule's 3
    assert after["registry_cloud_map"] == pytest.approx(0.50 + 0.10)  # no schedule here: no lookups
    assert after["registry_secrets"] == 0.4
    assert "registry_container_insights" not in after


def test_the_https_variant_pays_for_its_load_balancer_and_zone_not_cloud_map() -> None:
    https = registry_items(_registry_without_nat(https=True))

    assert https["registry_load_balancer"] == pytest.approx(730 * 0.0225)
    assert https["registry_hosted_zones"] == 0.5
    assert "registry_cloud_map" not in https


def test_container_insights_is_priced_only_when_the_cluster_turns_it_on() -> None:
    on = registry_items(_registry_without_nat(insights=True), Inputs(container_insights_metrics=10))

    assert on["registry_container_insights"] == pytest.approx(10 * 0.30)


def test_cloud_map_lookups_follow_the_registry_schedules() -> None:
    template = _registry_without_nat()
    template["Resources"]["SyncFunction"] = _function(512)
    template["Resources"]["SyncSchedule"] = {
        "Type": "AWS::Events::Rule",
        "Properties": {
            "ScheduleExpression": "rate(1 minute)",
            "Targets": [{"Arn": {"Fn::GetAtt": ["SyncFunction", "Arn"]}}],
        },
    }

    lines = registry_items(template)

    assert lines["registry_cloud_map"] == pytest.approx(0.5 + 0.1 + 43_800 * 0.4e-6)
    assert any(name.startswith("scheduled sync: SyncSchedule") for name in lines)


def test_the_image_build_is_a_one_off_not_part_of_the_month() -> None:
    deployment = summarise(templates(MwRegistry=_registry_without_nat()))

    build = registry_image_build(deployment, Inputs(image_build_minutes=10), PRICES)
    month = items(registry_idle_month(deployment, Inputs(), PRICES))

    assert items(build) == {"codebuild_arm_small": pytest.approx(10 * 0.0034)}
    assert not any("codebuild" in name for name in month)
    assert registry_image_build(summarise(templates()), Inputs(), PRICES).items == []


def test_the_report_states_the_registry_month_against_its_goal_and_sums_it_into_the_total() -> None:
    deployment = summarise(templates(MwRegistry=_registry_without_nat()))

    report = cost_report(deployment, Inputs(), PRICES)

    registry = report["registry_idle_month"]
    assert registry["goal_usd"] == 50.0
    assert registry["total_usd"] == pytest.approx(
        report["idle_month_with_registry"]["total_usd"] - report["idle_month_without_registry"]["total_usd"],
        abs=1e-3,
    )
    assert report["registry_image_build"]["items"][0]["name"] == "codebuild_arm_small"
