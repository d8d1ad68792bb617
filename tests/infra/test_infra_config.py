"""The cdk.json configuration: defaults, and failures that name the bad entry."""

from __future__ import annotations

import pytest

from infra.assembly import cdk_json_context
from infra.config import ConfigError, JwtAuth, parse_config

ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"


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


def test_registry_https_is_off_by_default_and_on_with_a_certificate_and_a_name() -> None:
    assert parse_config(None).registry.https is False

    registry = parse_config(
        {"registry": {"certificate_arn": ARN, "domain_name": "mlflow.internal.example.com"}}
    ).registry

    assert registry.https is True
    assert (registry.certificate_arn, registry.domain_name) == (ARN, "mlflow.internal.example.com")


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
        ({"registry": {"certificate_arn": "arn:aws:acm:x"}}, "modelwatch.registry.certificate_arn"),
        (
            {"registry": {"domain_name": "MLflow_host", "certificate_arn": ARN}},
            "modelwatch.registry.domain_name",
        ),
        (
            {"registry": {"certificate_arn": ARN}},
            "modelwatch.registry: Value error, certificate_arn and domain_name",
        ),
        (
            {"registry": {"domain_name": "mlflow.example.com"}},
            "modelwatch.registry: Value error, certificate_arn",
        ),
    ],
)
def test_bad_entry_is_named(raw: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        parse_config(raw)
