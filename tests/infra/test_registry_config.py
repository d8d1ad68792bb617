"""The registry's sizing and switches in cdk.json: Fargate's sizes only, named when wrong."""

from __future__ import annotations

import pytest

from infra import constants
from infra.config import ConfigError, parse_config


def test_the_default_task_is_the_smallest_that_serves_the_registry_with_insights_off() -> None:
    registry = parse_config(None).registry

    assert (registry.task_cpu, registry.task_memory_mb) == (256, 1024)
    assert (registry.task_cpu, registry.task_memory_mb) == (
        constants.DEFAULT_MLFLOW_TASK_CPU,
        constants.DEFAULT_MLFLOW_TASK_MEMORY_MB,
    )
    assert registry.container_insights is False


@pytest.mark.parametrize(
    ("cpu", "memory"), [(256, 512), (256, 2048), (512, 4096), (1024, 2048), (4096, 30720)]
)
def test_every_fargate_size_is_accepted(cpu: int, memory: int) -> None:
    registry = parse_config({"registry": {"task_cpu": cpu, "task_memory_mb": memory}}).registry

    assert (registry.task_cpu, registry.task_memory_mb) == (cpu, memory)


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        (
            {"task_cpu": 256, "task_memory_mb": 4096},
            "task_memory_mb 4096 is not a Fargate size for task_cpu 256",
        ),
        ({"task_cpu": 512, "task_memory_mb": 1536}, "use 1024 to 4096 MiB in steps of 1024"),
        ({"task_cpu": 1024}, "task_memory_mb 1024 is not a Fargate size for task_cpu 1024"),
        ({"task_cpu": 128}, "modelwatch.registry.task_cpu"),
        ({"task_memory_mb": 256}, "modelwatch.registry.task_memory_mb"),
        ({"container_insights": "maybe"}, "modelwatch.registry.container_insights"),
    ],
)
def test_a_size_fargate_does_not_offer_is_named(raw: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        parse_config({"registry": raw})
