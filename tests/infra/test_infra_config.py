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


def test_cdk_json_declares_no_model_models_are_published() -> None:
    config = parse_config(cdk_json_context()["modelwatch"])

    assert config.models == [] and config.dedicated_models == []
    assert config.default_flavor == "sklearn"
    assert config.serving_flavors == ("sklearn", "onnx")


def test_a_dedicated_model_keeps_its_memory_timeout_and_concurrency() -> None:
    entry = {"name": "big", "flavor": "onnx", "dedicated": True, "memory_mb": 3008, "reserved_concurrency": 5}
    config = parse_config({"models": [entry], "default_flavor": "onnx"})

    ((model,),) = [config.dedicated_models]
    assert (model.name, model.flavor, model.memory_mb, model.timeout_s, model.reserved_concurrency) == (
        "big", "onnx", 3008, 15, 5,
    )  # fmt: skip
    assert config.serving_flavors == ("onnx", "sklearn")


def test_a_model_entry_that_is_not_dedicated_is_refused_naming_it() -> None:
    # Models are data: an entry that is not dedicated would otherwise be silently ignored.
    with pytest.raises(ConfigError, match=r"modelwatch\.models\.1: .*'churn' is not dedicated.*registry"):
        parse_config(
            {
                "models": [
                    {"name": "big", "flavor": "onnx", "dedicated": True},
                    {"name": "churn", "flavor": "onnx"},
                ]
            }
        )


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
        ({"models": [{"name": "-bad", "flavor": "sklearn", "dedicated": True}]}, "modelwatch.models.0.name"),
        ({"models": [{"name": "ok", "flavor": "torch", "dedicated": True}]}, "modelwatch.models.0.flavor"),
        ({"default_flavor": "torch"}, "modelwatch.default_flavor"),
        (
            {"models": [{"name": "ok", "flavor": "onnx", "dedicated": True, "reserved_concurrency": 0}]},
            "modelwatch.models.0.reserved_concurrency",
        ),
        ({"architecture": "sparc"}, "modelwatch.architecture"),
        ({"auth": {"type": "jwt", "issuer": "https://x"}}, "modelwatch.auth.audience"),
        ({"log_retention_days": 31}, "modelwatch.log_retention_days"),
        ({"unknown": 1}, "modelwatch.unknown"),
        (
            {
                "models": [
                    {"name": "a.b", "flavor": "onnx", "dedicated": True},
                    {"name": "a_b", "flavor": "onnx", "dedicated": True},
                ]
            },
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
