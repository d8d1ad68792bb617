"""The result of a drift run: one ``FeatureDrift`` per feature and the dataset-level verdict."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelwatch.contracts.profile import Kind, Role

DRIFT_REPORT_SCHEMA_VERSION: Final = 1


class FeatureDrift(BaseModel):
    """Drift of one feature: the distribution test and the missing-share and unseen-category signals."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Kind
    role: Role = "feature"
    method: str = Field(description="Registered test name, or 'none' when nothing could be tested.")
    effect_measure: str | None = None
    statistic: float | None
    p_value: float | None
    p_value_adjusted: float | None = None
    effect_size: float | None
    threshold: float = Field(description="Effect-size floor of the method.")
    drift_detected: bool = Field(description="Any of the three signals below.")
    distribution_drift: bool = False
    missing_share_reference: float
    missing_share_current: float
    missing_p_value: float | None = None
    missing_drift: bool = False
    unseen_share: float | None = Field(
        None, description="Share of current values outside the reference's categories."
    )
    unseen_categories: list[str] = Field(default_factory=list, description="Up to 10, most frequent first.")
    unseen_p_value: float | None = None
    unseen_drift: bool = False
    n_reference: int = Field(description="Values of the reference taking part in the test.")
    n_current: int = Field(description="Values of the window taking part in the test.")
    note: str | None = None


class DriftReport(BaseModel):
    """Drift of a window against the reference."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = DRIFT_REPORT_SCHEMA_VERSION
    dataset_drift: bool
    drift_share: float = Field(description="Share of input features (not the prediction) with drift.")
    drift_share_threshold: float
    n_features: int
    n_drifted_features: int
    prediction_drift: bool | None = Field(None, description="None when the prediction is not profiled.")
    n_reference: int
    n_current: int
    fdr_q: float
    features: list[FeatureDrift]
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @property
    def drifted_features(self) -> list[str]:
        return [feature.name for feature in self.features if feature.drift_detected]
