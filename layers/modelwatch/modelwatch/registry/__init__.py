"""The model registry: MLflow versions, comparison, promotion, rollouts, and the sync serving follows.

The public names below are loaded on first use (PEP 562), so importing one module of
the package (``modelwatch.registry.tags``, ``.sync``, ``.rest``: what the registry-sync
function needs) does not import the client, comparison or training data. MLflow itself
is imported only by ``mlflow_client``, for tracking URIs other than ``http(s)://``.

>>> from modelwatch.registry import ModelRegistry, compare_model_versions
>>> registry = ModelRegistry(tracking_uri="http://127.0.0.1:5000")  # doctest: +SKIP
>>> uri = registry.register_model(model_path="model.joblib", name="fraud_detection")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from modelwatch.registry.backend import ModelRecord, RegistryBackend, RunRecord, VersionRecord
    from modelwatch.registry.client import ModelRegistry
    from modelwatch.registry.comparison import (
        ComparisonTable,
        Gate,
        MetricRow,
        VersionComparison,
        compare_model_versions,
        compare_versions,
        metric_direction,
    )
    from modelwatch.registry.errors import (
        ArtifactNotFoundError,
        CredentialsRefused,
        IllegalTransitionError,
        MetricNotFoundError,
        ModelNotFoundError,
        NotServableError,
        PromotionError,
        RegistryConfigurationError,
        RegistryError,
        RolloutError,
        TrackingServerUnavailable,
        UnknownMetricDirectionError,
        VersionNotFoundError,
    )
    from modelwatch.registry.memory import InMemoryRegistryBackend
    from modelwatch.registry.promotion import PromotionResult
    from modelwatch.registry.queries import ModelSummary, ModelVersionInfo
    from modelwatch.registry.rollouts import RolloutRecord, RolloutStatus
    from modelwatch.registry.stages import Stage, TransitionRecord

_MODULE_OF: Final = {
    "ModelRecord": "backend",
    "RegistryBackend": "backend",
    "RunRecord": "backend",
    "VersionRecord": "backend",
    "ModelRegistry": "client",
    "ComparisonTable": "comparison",
    "Gate": "comparison",
    "MetricRow": "comparison",
    "VersionComparison": "comparison",
    "compare_model_versions": "comparison",
    "compare_versions": "comparison",
    "metric_direction": "comparison",
    "ArtifactNotFoundError": "errors",
    "CredentialsRefused": "errors",
    "IllegalTransitionError": "errors",
    "MetricNotFoundError": "errors",
    "ModelNotFoundError": "errors",
    "NotServableError": "errors",
    "PromotionError": "errors",
    "RegistryConfigurationError": "errors",
    "RegistryError": "errors",
    "RolloutError": "errors",
    "TrackingServerUnavailable": "errors",
    "UnknownMetricDirectionError": "errors",
    "VersionNotFoundError": "errors",
    "InMemoryRegistryBackend": "memory",
    "PromotionResult": "promotion",
    "ModelSummary": "queries",
    "ModelVersionInfo": "queries",
    "RolloutRecord": "rollouts",
    "RolloutStatus": "rollouts",
    "Stage": "stages",
    "TransitionRecord": "stages",
}

__all__ = [
    "ArtifactNotFoundError",
    "ComparisonTable",
    "CredentialsRefused",
    "Gate",
    "IllegalTransitionError",
    "InMemoryRegistryBackend",
    "MetricNotFoundError",
    "MetricRow",
    "ModelNotFoundError",
    "ModelRecord",
    "ModelRegistry",
    "ModelSummary",
    "ModelVersionInfo",
    "NotServableError",
    "PromotionError",
    "PromotionResult",
    "RegistryBackend",
    "RegistryConfigurationError",
    "RegistryError",
    "RolloutError",
    "RolloutRecord",
    "RolloutStatus",
    "RunRecord",
    "Stage",
    "TrackingServerUnavailable",
    "TransitionRecord",
    "UnknownMetricDirectionError",
    "VersionComparison",
    "VersionNotFoundError",
    "VersionRecord",
    "compare_model_versions",
    "compare_versions",
    "metric_direction",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
