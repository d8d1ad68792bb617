"""The model registry: MLflow versions, comparison, promotion, and the sync that serving follows.

``import modelwatch.registry`` does not import MLflow (the registry-sync function
runs without it); ``ModelRegistry`` imports it when created.

>>> from modelwatch.registry import ModelRegistry, compare_model_versions
>>> registry = ModelRegistry(tracking_uri="http://127.0.0.1:5000")  # doctest: +SKIP
>>> uri = registry.register_model(model_path="model.joblib", name="fraud_detection")  # doctest: +SKIP
"""

from modelwatch.registry.client import ModelRegistry, ModelSummary, ModelVersionInfo, PromotionResult
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
    IllegalTransitionError,
    MetricNotFoundError,
    ModelNotFoundError,
    NotServableError,
    PromotionError,
    RegistryConfigurationError,
    RegistryError,
    TrackingServerUnavailable,
    UnknownMetricDirectionError,
    VersionNotFoundError,
)
from modelwatch.registry.memory import InMemoryRegistryBackend
from modelwatch.registry.stages import Stage, TransitionRecord

__all__ = [
    "ArtifactNotFoundError",
    "ComparisonTable",
    "Gate",
    "IllegalTransitionError",
    "InMemoryRegistryBackend",
    "MetricNotFoundError",
    "MetricRow",
    "ModelNotFoundError",
    "ModelRegistry",
    "ModelSummary",
    "ModelVersionInfo",
    "NotServableError",
    "PromotionError",
    "PromotionResult",
    "RegistryConfigurationError",
    "RegistryError",
    "Stage",
    "TrackingServerUnavailable",
    "TransitionRecord",
    "UnknownMetricDirectionError",
    "VersionComparison",
    "VersionNotFoundError",
    "compare_model_versions",
    "compare_versions",
    "metric_direction",
]
