"""Monitoring configuration, as the deployment declares it and the jobs read it.

``DriftConfig`` (how features are tested and when drift is declared), ``QualityThresholds``
(the highest acceptable rate of each data-quality check) and ``PerformanceThresholds``
(the floors and ceilings of performance metrics). ``cdk.json`` declares them, the CDK
app validates them at synth, the monitoring functions receive them as JSON settings.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field


class FeatureDriftConfig(BaseModel):
    """Overrides for one feature."""

    model_config = ConfigDict(extra="forbid")

    method: str | None = Field(None, description="A registered test name (ks, wasserstein, chi2, psi, ...).")
    threshold: float | None = Field(None, ge=0, description="Effect-size floor; default: the method's.")
    enabled: bool = True


class DriftConfig(BaseModel):
    """How features are tested and when drift is declared (defaults documented in docs/monitoring.md)."""

    model_config = ConfigDict(extra="forbid")

    fdr_q: float = Field(0.05, gt=0, lt=1, description="Benjamini-Hochberg false-discovery rate.")
    drift_share: float = Field(
        0.5, gt=0, le=1, description="Dataset drift when at least this share of features drifted."
    )
    small_sample_max: int = Field(
        5000, ge=0, description="KS on raw values when the smaller sample is at most this size."
    )
    numeric_method: str | None = Field(None, description="Default method for numeric features.")
    categorical_method: str | None = Field(None, description="Default method for categorical features.")
    missing_threshold: float = Field(0.05, ge=0, description="Floor of the missing-share change (absolute).")
    unseen_threshold: float = Field(
        0.01,
        ge=0,
        description="Floor of the increase in the share of values outside the reference categories.",
    )
    min_expected: float = Field(5.0, gt=0, description="Cells merged until expected counts reach this.")
    features: dict[str, FeatureDriftConfig] = Field(default_factory=dict)


Check = Literal["missing", "out_of_range", "unseen_category", "type_error"]
CHECKS: Final[tuple[Check, ...]] = ("missing", "out_of_range", "unseen_category", "type_error")


class FeatureThresholds(BaseModel):
    """Per-feature overrides of the thresholds (None keeps the default)."""

    model_config = ConfigDict(extra="forbid")

    missing: float | None = Field(None, ge=0, le=1)
    out_of_range: float | None = Field(None, ge=0, le=1)
    unseen_category: float | None = Field(None, ge=0, le=1)
    type_error: float | None = Field(None, ge=0, le=1)


class QualityThresholds(BaseModel):
    """Highest acceptable rate of each check (a rate above it is a violation)."""

    model_config = ConfigDict(extra="forbid")

    missing: float = Field(0.05, ge=0, le=1, description="Nullable features.")
    missing_not_nullable: float = Field(
        0.0, ge=0, le=1, description="Features the schema says are not nullable."
    )
    out_of_range: float = Field(0.01, ge=0, le=1)
    unseen_category: float = Field(0.01, ge=0, le=1)
    type_error: float = Field(0.0, ge=0, le=1)
    features: dict[str, FeatureThresholds] = Field(default_factory=dict)

    def for_feature(self, name: str, nullable: bool) -> dict[Check, float]:
        """The thresholds that apply to feature ``name``."""
        values: dict[Check, float] = {
            "missing": self.missing if nullable else self.missing_not_nullable,
            "out_of_range": self.out_of_range,
            "unseen_category": self.unseen_category,
            "type_error": self.type_error,
        }
        override = self.features.get(name)
        if override is not None:
            for check in CHECKS:
                value = getattr(override, check)
                if value is not None:
                    values[check] = value
        return values


class PerformanceThresholds(BaseModel):
    """Alert when a performance metric falls below its floor (``min``) or rises above its ceiling (``max``).

    For example ``{"min": {"auc": 0.7}, "max": {"rmse": 3.0}}``; metrics without a
    threshold are reported, never alerted on.
    """

    model_config = ConfigDict(extra="forbid")

    min: dict[str, float] = Field(default_factory=dict, description="Floors, e.g. {'auc': 0.7}.")
    max: dict[str, float] = Field(default_factory=dict, description="Ceilings, e.g. {'rmse': 3.0}.")

    def breaches(self, measured: dict[str, Any]) -> list[dict[str, Any]]:
        """The metrics of ``measured`` beyond a threshold: ``{"metric", "value", "min" (or "max")}``."""
        found: list[dict[str, Any]] = []
        for name, floor in self.min.items():
            value = measured.get(name)
            if value is not None and value < floor:
                found.append({"metric": name, "value": value, "min": floor})
        for name, ceiling in self.max.items():
            value = measured.get(name)
            if value is not None and value > ceiling:
                found.append({"metric": name, "value": value, "max": ceiling})
        return found
