"""SQL over the captured records in AWS: Glue tables from contracts.tables, a workgroup, least privilege."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Template

from infra import constants
from infra.assembly import Assembly
from infra.config import ConfigError, parse_config
from modelwatch.contracts import layout, tables

pytestmark = pytest.mark.infra

CUTOFF = 2 * 1024**3


@pytest.fixture(scope="module")
def assembly(assembly_factory: Callable[..., Assembly]) -> Assembly:
    return assembly_factory({"query": {"bytes_scanned_cutoff_per_query": CUTOFF}})


@pytest.fixture(scope="module")
def template(assembly: Assembly) -> Template:
    return Template.from_stack(assembly.monitoring)


def _resolved(value: Any) -> str:
    """A CloudFormation value with its bucket reference written as <bucket>, for comparisons."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_resolved(part) for part in parts)
    return "<bucket>"  # Fn::ImportValue / Ref of the events bucket's name


def _tables(template: Template) -> dict[str, dict[str, Any]]:
    found = template.find_resources("AWS::Glue::Table")
    return {t["Properties"]["TableInput"]["Name"]: t["Properties"] for t in found.values()}


def test_one_glue_table_per_capture_kind_with_the_contracts_columns(template: Template) -> None:
    (database,) = template.find_resources("AWS::Glue::Database").values()
    name = database["Properties"]["DatabaseInput"]["Name"]
    assert name == "modelwatch_events"
    found = _tables(template)

    assert set(found) == set(tables.TABLES)
    for table_name, table in tables.TABLES.items():
        props = found[table_name]
        assert props["DatabaseName"] == name
        table_input = props["TableInput"]
        descriptor = table_input["StorageDescriptor"]
        assert [(c["Name"], c["Type"]) for c in descriptor["Columns"]] == [
            (c.name, c.type) for c in table.columns
        ]
        assert [k["Name"] for k in table_input["PartitionKeys"]] == list(tables.PARTITION_KEYS)
        assert {k["Type"] for k in table_input["PartitionKeys"]} == {"string"}
        assert descriptor["SerdeInfo"] == {
            "SerializationLibrary": tables.JSON_SERDE,
            "Parameters": tables.serde_parameters(),
        }
        assert _resolved(descriptor["Location"]) == tables.location_root("<bucket>", table)
        assert table_input["TableType"] == "EXTERNAL_TABLE"


def test_partition_projection_needs_no_crawler_and_injects_the_model(template: Template) -> None:
    for table_name, props in _tables(template).items():
        parameters = {k: _resolved(v) for k, v in props["TableInput"]["Parameters"].items()}

        assert parameters == tables.projection_parameters("<bucket>", tables.TABLES[table_name])
        assert parameters["projection.model.type"] == "injected"
        assert parameters["storage.location.template"].endswith("model=${model}/dt=${dt}/hour=${hour}/")
    assert not template.find_resources("AWS::Glue::Crawler")


def test_the_workgroup_enforces_encrypted_results_engine_3_and_the_scan_cutoff(template: Template) -> None:
    (workgroup,) = template.find_resources("AWS::Athena::WorkGroup").values()
    configuration = workgroup["Properties"]["WorkGroupConfiguration"]

    assert workgroup["Properties"]["Name"] == "modelwatch-queries"
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["PublishCloudWatchMetricsEnabled"] is True
    assert configuration["BytesScannedCutoffPerQuery"] == CUTOFF
    assert configuration["EngineVersion"] == {"SelectedEngineVersion": "Athena engine version 3"}
    results = configuration["ResultConfiguration"]
    assert _resolved(results["OutputLocation"]) == f"s3://<bucket>/{layout.QUERY_RESULTS_PREFIX}"
    # The events bucket is SSE-S3 (infra.constructs.storage): the results are encrypted the same way.
    assert results["EncryptionConfiguration"] == {"EncryptionOption": "SSE_S3"}


def test_query_results_expire_after_a_week(assembly: Assembly) -> None:
    buckets = Template.from_stack(assembly.capture).find_resources("AWS::S3::Bucket")
    rules = [
        rule
        for bucket in buckets.values()
        for rule in bucket["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])
    ]
    (rule,) = [r for r in rules if r.get("Prefix") == layout.QUERY_RESULTS_PREFIX]
    assert rule["ExpirationInDays"] == constants.QUERY_RESULTS_RETENTION_DAYS == 7
    assert rule["Status"] == "Enabled"


def _function(template: Template, job: str) -> dict[str, Any]:
    (found,) = [
        r["Properties"]
        for r in template.find_resources("AWS::Lambda::Function").values()
        if r["Properties"].get("Description") == f"modelwatch monitoring: {job}"
    ]
    return found


def _statements(template: Template, function: dict[str, Any]) -> list[dict[str, Any]]:
    role = function["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def _resources(statement: dict[str, Any]) -> list[str]:
    resource = statement["Resource"]
    return [_resolved(r) for r in (resource if isinstance(resource, list) else [resource])]


@pytest.mark.parametrize("job", ["performance", "rollout"])
def test_only_the_performance_and_rollout_jobs_may_query_and_get_the_workgroup_in_their_environment(
    template: Template, job: str
) -> None:
    querying = _function(template, job)
    env = querying["Environment"]["Variables"]
    assert env["MODELWATCH_QUERY_ENGINE"] == "athena"
    assert env["MODELWATCH_ATHENA_WORKGROUP"] == "modelwatch-queries"
    assert env["MODELWATCH_ATHENA_DATABASE"] == "modelwatch_events"
    for other_job in ("drift", "quality", "profile"):
        other = _function(template, other_job)
        assert "MODELWATCH_QUERY_ENGINE" not in other["Environment"]["Variables"]
        actions = {a for s in _statements(template, other) for a in _actions(s)}
        assert not any(a.startswith(("athena:", "glue:")) for a in actions), other_job


@pytest.mark.parametrize("job", ["performance", "rollout"])
def test_the_querying_jobs_grants_are_scoped_to_the_workgroup_tables_and_prefixes(
    template: Template, job: str
) -> None:
    statements = _statements(template, _function(template, job))
    by_service: dict[str, list[str]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for action in _actions(statement):
            assert "*" not in action, action
            service = action.split(":")[0]
            by_service.setdefault(service, []).extend(_resources(statement))

    assert by_service["athena"] and all(
        r.endswith(":workgroup/modelwatch-queries") for r in by_service["athena"]
    )
    glue = set(by_service["glue"])
    assert {r.rsplit(":", 1)[-1] for r in glue} == {
        "catalog",
        "database/modelwatch_events",
        *(f"table/modelwatch_events/{name}" for name in tables.TABLES),
    }
    assert not any("*" in r for r in by_service["athena"] + by_service["glue"])
    object_wildcards = {r.split("/", 1)[1] for r in by_service["s3"] if "/" in r}
    allowed = {
        f"{p}*"
        for p in (
            layout.EVENTS_PREFIX,
            layout.REJECTED_PREFIX,
            layout.LABELS_PREFIX,
            layout.PROFILES_PREFIX,
            layout.REPORTS_PREFIX,
            layout.QUERY_RESULTS_PREFIX,
        )
    } | {f"{layout.ARTIFACTS_PREFIX}/*"}
    if job == "rollout":  # it rolls back and advances the rollout in the manifest, and keeps its evidence
        allowed |= {
            f"{layout.manifests_prefix()}*",
            f"{layout.ARTIFACTS_PREFIX}/*/{layout.VERSION_MANIFEST_FILE}",
            f"{layout.ROLLOUTS_STATE_PREFIX}*",
        }
    assert object_wildcards <= allowed, object_wildcards - allowed
    writes = {r.split("/", 1)[1] for s in statements if "s3:PutObject" in _actions(s) for r in _resources(s)}
    assert f"{layout.QUERY_RESULTS_PREFIX}*" in writes
    assert layout.EVENTS_PREFIX + "*" not in writes  # the captures stay read-only


def test_people_get_a_query_readers_policy_and_the_names_as_outputs(template: Template) -> None:
    outputs = template.find_outputs("*")
    assert {"QueryWorkgroupName", "QueryDatabaseName", "QueryReadersPolicyArn"} <= set(outputs)
    (policy,) = template.find_resources("AWS::IAM::ManagedPolicy").values()
    actions = {a for s in policy["Properties"]["PolicyDocument"]["Statement"] for a in _actions(s)}
    assert {"athena:StartQueryExecution", "glue:GetTable", "s3:GetObject"} <= actions
    assert not any(a.endswith("*") for a in actions)
    assert json.dumps(policy).count("workgroup/modelwatch-queries") == 1


def test_the_cutoff_below_athenas_minimum_is_refused_naming_the_entry() -> None:
    with pytest.raises(ConfigError, match=r"modelwatch\.query\.bytes_scanned_cutoff_per_query"):
        parse_config({"query": {"bytes_scanned_cutoff_per_query": 1_000_000}})
    with pytest.raises(ConfigError, match=r"modelwatch\.query\.database_name"):
        parse_config({"query": {"database_name": "Model-Watch"}})


def test_the_names_default_from_the_project() -> None:
    config = parse_config({"project": "acme-ml"})

    assert config.query.database(config.project) == "acme_ml_events"
    assert config.query.workgroup(config.project) == "acme-ml-queries"
    assert config.query.bytes_scanned_cutoff_per_query == 10 * 1024**3
