"""The cdk.json configuration: defaults, and failures that name the bad entry."""

from __future__ import annotations

import pytest

from infra.assembly import cdk_json_context
from infra.config import ConfigError, JwtAuth, parse_config


def test_defaults_apply_to_empty_context() -> None:
    config = parse_config(None)

    assert config.project == "modelwatch"
    assert config.architecture == "arm64"
    assert config.auth.type == "iam"
    assert (config.throttle.rate_limit, config.throttle.burst_limit) == (50, 100)
    assert config.all_tags == {"project": "modelwatch"}


def test_cdk_json_serves_fraud_detection_with_sklearn() -> None:
    config = parse_config(cdk_json_context()["modelwatch"])

    assert [(m.name, m.flavor, m.memory_mb, m.timeout_s) for m in config.models] == [
        ("fraud_detection", "sklearn", 1024, 15)
    ]


def test_jwt_auth_is_parsed() -> None:
    config = parse_config({"auth": {"type": "jwt", "issuer": "https://id.example.com", "audience": ["api"]}})

    assert isinstance(config.auth, JwtAuth)
    assert config.auth.audience == ["api"]


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"models": [{"name": "-bad", "flavor": "sklearn"}]}, "modelwatch.models.0.name"),
        ({"models": [{"name": "ok", "flavor": "torch"}]}, "modelwatch.models.0.flavor"),
        ({"architecture": "sparc"}, "modelwatch.architecture"),
        ({"auth": {"type": "jwt", "issuer": "https://x"}}, "modelwatch.auth.audience"),
        ({"log_retention_days": 31}, "modelwatch.log_retention_days"),
        ({"unknown": 1}, "modelwatch.unknown"),
        (
            {"models": [{"name": "a.b", "flavor": "onnx"}, {"name": "a_b", "flavor": "onnx"}]},
            "modelwatch.models",
        ),
    ],
)
def test_bad_entry_is_named(raw: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        parse_config(raw)
