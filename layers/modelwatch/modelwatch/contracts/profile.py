"""Profiles: compact, JSON-serialisable, mergeable summaries of a dataset's columns (the documents).

A *reference profile* is computed once from the training data and stored with the
model version; a *window profile* is computed against it and merged across the
objects of a window. How profiles are computed and merged is
``modelwatch.monitoring.profile``; this module holds what is stored and exchanged:
``DatasetProfile`` and the per-object ``ObjectProfile`` of the drift job.
"""

from __future__ import annotations

import math
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelwatch.contracts.schema import FeatureType

PROFILE_SCHEMA_VERSION: Final = 1
OBJECT_PROFILE_SCHEMA_VERSION: Final = 1
DEFAULT_BINS: Final = 20
DEFAULT_MAX_CATEGORIES: Final = 200
PREDICTION_COLUMN: Final = "prediction"

Kind = Literal["numeric", "categorical"]
Role = Literal["feature", "prediction"]


class Moments(BaseModel):
    """Count, mean, sum of squared deviations (M2), min and max of the finite values."""

    model_config = ConfigDict(extra="forbid")

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float | None = None
    max: float | None = None

    @property
    def variance(self) -> float:
        """Population variance (``m2 / count``); 0 when there are no values."""
        return self.m2 / self.count if self.count else 0.0

    @property
    def std(self) -> float:
        return math.sqrt(max(self.variance, 0.0))


class NumericSummary(BaseModel):
    """Binned counts of a numeric feature.

    ``edges`` are increasing; interior bin ``i`` is ``[edges[i], edges[i+1])``.
    ``counts`` has ``len(edges) + 1`` entries: the underflow bin (values below
    ``edges[0]``), the interior bins, then the overflow bin (values at or above
    ``edges[-1]``). With no edges (a reference without values), ``counts`` is one bin.
    """

    model_config = ConfigDict(extra="forbid")

    edges: list[float]
    counts: list[int]
    moments: Moments


class CategoricalSummary(BaseModel):
    """Counts of the kept categories; ``other`` counts the values of the categories beyond the cap."""

    model_config = ConfigDict(extra="forbid")

    counts: dict[str, int]
    other: int = 0


class FeatureProfile(BaseModel):
    """Profile of one column."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Kind
    role: Role = "feature"
    value_type: FeatureType
    count: int = Field(description="Rows, whatever their value.")
    missing: int = Field(0, description="Absent, null or NaN values.")
    non_finite: int = Field(0, description="+inf or -inf in a numeric feature.")
    invalid: int = Field(0, description="Values of another type (a string in a numeric feature).")
    numeric: NumericSummary | None = None
    categorical: CategoricalSummary | None = None

    @property
    def valid(self) -> int:
        """Values that take part in the distribution (finite numbers, or categories)."""
        return self.count - self.missing - self.non_finite - self.invalid

    @property
    def missing_share(self) -> float:
        return self.missing / self.count if self.count else 0.0


class DatasetProfile(BaseModel):
    """Profiles of the columns of one dataset (training data, or a window of served events)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = PROFILE_SCHEMA_VERSION
    n_rows: int
    n_bins: int = DEFAULT_BINS
    max_categories: int = DEFAULT_MAX_CATEGORIES
    features: list[FeatureProfile]

    @property
    def feature_names(self) -> list[str]:
        return [feature.name for feature in self.features]

    def feature(self, name: str) -> FeatureProfile:
        """The profile of feature ``name`` (KeyError when absent)."""
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)


class ObjectProfile(BaseModel):
    """Profiles of one delivered events object, by the version that served its events.

    Stored at ``layout.profile_key(<events key>)``; the drift job merges the profiles of
    its window's objects, so its cost grows with the number of objects, not rows.
    """

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = OBJECT_PROFILE_SCHEMA_VERSION
    source_key: str
    source_etag: str
    n_events: int
    first_timestamp: str | None = None
    last_timestamp: str | None = None
    versions: dict[str, DatasetProfile] = Field(default_factory=dict)
    unprofiled: dict[str, int] = Field(
        default_factory=dict, description="Events per version that has no reference profile."
    )
    unreadable_lines: int = Field(
        0, description="Lines of the object that are not JSON (1 for a body that cannot be decompressed)."
    )
