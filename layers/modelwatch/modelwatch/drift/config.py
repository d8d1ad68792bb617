"""Configuration of a drift run: the decision rule's parameters and per-feature overrides."""

from __future__ import annotations

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
