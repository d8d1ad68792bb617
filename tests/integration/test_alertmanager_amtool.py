"""The alert manager definition checked by amtool, and its SNS attributes rendered by amtool.

amtool (Debian's prometheus-alertmanager) validates the configuration as Alertmanager loads it,
and renders the attribute templates with Alertmanager's own template engine and data, so the
``group`` attribute (the notify function's dedup key) is shown equal for a group's firing and
resolved notifications, and ``model`` is never empty (SNS refuses empty attribute values).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelwatch.notifications.alert import notification_from_sns

REPO = Path(__file__).resolve().parents[2]
ALERTMANAGER = REPO / "dashboards" / "alertmanager.yml"
AMTOOL = shutil.which("amtool")
pytestmark = pytest.mark.skipif(
    AMTOOL is None, reason="amtool is not installed (apt-get install prometheus-alertmanager ships it)"
)
STARTED = "2027-01-15T08:00:00Z"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:modelwatch-alerts"


def _config_text() -> str:
    text = yaml.safe_load(ALERTMANAGER.read_text())["alertmanager_config"]
    return str(text).replace("${SNS_TOPIC_ARN}", TOPIC).replace("${AWS::Region}", "eu-west-1")


def _sns_config() -> dict[str, Any]:
    config = yaml.safe_load(_config_text())
    (sns,) = config["receivers"][0]["sns_configs"]
    return dict(sns)


def _data(status: str, labels: dict[str, str], group_by: list[str]) -> dict[str, Any]:
    return {
        "receiver": "sns",
        "status": status,
        "alerts": [{"status": status, "labels": labels, "annotations": {}, "startsAt": STARTED}],
        "groupLabels": {name: labels[name] for name in group_by if name in labels},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example",
    }


def _render(tmp_path: Path, template: str, data: dict[str, Any]) -> str:
    assert AMTOOL is not None
    (tmp_path / "none.tmpl").write_text("")
    data_file = tmp_path / "data.json"
    data_file.write_text(json.dumps(data))
    result = subprocess.run(
        [
            AMTOOL,
            "template",
            "render",
            f"--template.glob={tmp_path / 'none.tmpl'}",
            f"--template.data={data_file}",
            f"--template.text={template}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.rstrip("\n")


def test_amtool_accepts_the_alert_manager_definition(tmp_path: Path) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text(_config_text())

    assert AMTOOL is not None
    result = subprocess.run([AMTOOL, "check-config", str(path)], capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stdout + result.stderr


def test_group_attribute_is_equal_for_firing_and_resolved_and_differs_across_groups(tmp_path: Path) -> None:
    sns = _sns_config()
    group_by = yaml.safe_load(_config_text())["route"]["group_by"]
    fraud = {"alertname": "ModelwatchDatasetDrift", "model": "fraud", "version": "2", "severity": "critical"}
    churn = {**fraud, "model": "churn"}

    firing = _render(tmp_path, sns["attributes"]["group"], _data("firing", fraud, group_by))
    resolved = _render(tmp_path, sns["attributes"]["group"], _data("resolved", fraud, group_by))
    other = _render(tmp_path, sns["attributes"]["group"], _data("firing", churn, group_by))

    assert firing == resolved == "alertname=ModelwatchDatasetDrift;model=fraud;version=2;"
    assert other != firing


def test_rendered_attributes_become_the_notification_the_channels_get(tmp_path: Path) -> None:
    sns = _sns_config()
    group_by = yaml.safe_load(_config_text())["route"]["group_by"]
    platform = {"alertname": "ModelwatchCaptureFailures", "severity": "critical"}  # about no one model
    records = []
    for status in ("firing", "resolved"):
        data = _data(status, platform, group_by)
        attributes = {name: _render(tmp_path, text, data) for name, text in sns["attributes"].items()}
        assert all(attributes.values()), attributes  # SNS refuses an empty attribute value
        records.append(
            {
                "Sns": {
                    "Subject": _render(tmp_path, sns["subject"], data),
                    "Message": _render(tmp_path, sns["message"], data),
                    "MessageAttributes": {k: {"Type": "String", "Value": v} for k, v in attributes.items()},
                }
            }
        )

    firing, resolved = (notification_from_sns(record) for record in records)

    assert (firing.status, resolved.status) == ("firing", "resolved")
    assert firing.model == "" and firing.severity == "critical"
    assert firing.dedup_key == resolved.dedup_key
    assert firing.subject == "[FIRING] ModelwatchCaptureFailures "
