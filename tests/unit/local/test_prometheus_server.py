"""The local Prometheus launcher's pieces that need no process: configuration, binary lookup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from modelwatch_local.prometheus_server import (
    RULES_DIR,
    PrometheusError,
    prometheus_binary,
    rule_files,
    write_config,
)


def test_config_loads_the_deployed_rule_files_and_scrapes_nothing(tmp_path: Path) -> None:
    config = json.loads(write_config(tmp_path / "prometheus.yml", rule_files()).read_text())

    assert config["rule_files"] == [str(p.resolve()) for p in sorted(RULES_DIR.glob("*.yml"))]
    assert len(config["rule_files"]) >= 2
    assert "scrape_configs" not in config


def test_missing_binary_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MODELWATCH_PROMETHEUS_BIN", str(tmp_path / "nope"))

    with pytest.raises(PrometheusError, match="apt-get install prometheus"):
        prometheus_binary()
