"""Alert rules checked and unit-tested with promtool; the AMP alert manager definition parsed and checked."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RULES = sorted((REPO / "dashboards" / "rules").glob("*.yml"))
RULE_TESTS = sorted((REPO / "dashboards" / "rules" / "tests").glob("*.yml"))
ALERTMANAGER = REPO / "dashboards" / "alertmanager.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (apt-get install prometheus ships it)"
)
REQUIRED_ALERTS = {
    "ModelwatchFeatureDrift",
    "ModelwatchDatasetDrift",
    "ModelwatchHighRejectionRate",
    "ModelwatchPredictionLatencyHigh",
    "ModelwatchPerformanceBelowThreshold",
    "ModelwatchMonitoringJobLate",
    "ModelwatchCaptureFailures",
    "ModelwatchCaptureDeadLetters",
}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120, check=False)


def _alerts() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


@needs_promtool
def test_rule_files_pass_promtool_check() -> None:
    result = _promtool("check", "rules", *map(str, RULES))

    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
@pytest.mark.parametrize("test_file", RULE_TESTS, ids=lambda p: p.name)
def test_rule_unit_tests_pass(test_file: Path) -> None:
    result = _promtool("test", "rules", str(test_file))

    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rule_file_has_a_unit_test_and_every_required_alert_exists() -> None:
    tested = {
        (test.parent / rule_file).resolve()
        for test in RULE_TESTS
        for rule_file in yaml.safe_load(test.read_text())["rule_files"]
    }
    assert tested == {path.resolve() for path in RULES}
    assert {rule["alert"] for rule in _alerts()} >= REQUIRED_ALERTS


def test_every_alert_has_a_for_duration_severity_summary_and_runbook() -> None:
    alerts_doc = (REPO / "docs" / "alerts.md").read_text().lower()
    for rule in _alerts():
        assert rule.get("for"), rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        anchor = rule["annotations"]["runbook"].split("#")[1]
        assert anchor == rule["alert"].lower() and f"## {rule['alert'].lower()}" in alerts_doc


def test_alert_manager_definition_routes_every_alert_to_the_sns_topic() -> None:
    definition = yaml.safe_load(ALERTMANAGER.read_text())
    assert set(definition) == {"alertmanager_config"}
    config = yaml.safe_load(definition["alertmanager_config"])

    receivers = {r["name"]: r for r in config["receivers"]}
    route = config["route"]
    assert route["receiver"] in receivers
    assert all(sub["receiver"] in receivers for sub in route.get("routes", []))
    for receiver in receivers.values():
        assert set(receiver) == {"name", "sns_configs"}  # AMP supports SNS receivers only
        for sns in receiver["sns_configs"]:
            assert sns["topic_arn"] == "${SNS_TOPIC_ARN}"
            assert sns["sigv4"] == {"region": "${AWS::Region}"}
            assert set(sns["attributes"]) == {"severity", "status", "alertname", "model", "group"}
            # the dedup key's source: every group_by label, in the template data's sorted pairs
            assert sns["attributes"]["group"] == (
                "{{ range .GroupLabels.SortedPairs }}{{ .Name }}={{ .Value }};{{ end }}"
            )
            assert "CommonLabels.model" in sns["attributes"]["model"]
    assert set(route["group_by"]) >= {"alertname", "model"}


def test_alert_manager_definition_has_no_other_substitutions() -> None:
    import re

    text = ALERTMANAGER.read_text()
    body = text[text.index("alertmanager_config:") :]

    assert set(re.findall(r"\$\{([^}]+)\}", body)) == {"SNS_TOPIC_ARN", "AWS::Region"}
