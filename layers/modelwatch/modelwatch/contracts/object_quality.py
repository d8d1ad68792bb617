"""The quality counts of one delivered object (the document): what the quality job merges per window.

The profile function checks every delivered events object and every rejected-requests
object against the schema of the version that served (or refused) its records, and
stores the counts at ``layout.object_quality_key(<object key>)``. Counts add up across
objects, so the quality job merges one small document per object instead of reading
rows; rates, thresholds and the verdict are applied only at the merge
(``modelwatch.monitoring.quality``).
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelwatch.contracts.schema import FeatureType

OBJECT_QUALITY_SCHEMA_VERSION: Final = 1
MAX_UNSEEN_EXAMPLES: Final = 10

QualitySourceKind = Literal["events", "rejected"]


class FeatureQualityCounts(BaseModel):
    """The mergeable counts of one feature over one object's rows of one version."""

    model_config = ConfigDict(extra="forbid")

    name: str
    type: FeatureType
    nullable: bool
    n: int
    missing: int = 0
    out_of_range: int = 0
    unseen_category: int = 0
    type_error: int = 0
    unseen_examples: list[str] = Field(
        default_factory=list,
        description=f"Up to {MAX_UNSEEN_EXAMPLES} unseen categories, most frequent first.",
    )


class VersionQualityCounts(BaseModel):
    """One object's rows of one (model, version), counted against that version's schema.

    ``checked`` is False when the version had no published manifest (no schema) when the
    object was counted: its rows are counted (``n_rows``), not checked.
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str
    version: str
    n_rows: int
    checked: bool = True
    features: list[FeatureQualityCounts] = Field(default_factory=list)
    absent_features: list[str] = Field(default_factory=list)
    extra_columns: list[str] = Field(default_factory=list)


class ObjectQuality(BaseModel):
    """The quality counts of one delivered events or rejected-requests object, per (model, version).

    For a rejected object only records with ``reason == "schema_violation"`` and a version
    count: their rows are the instances of the request body they carried. An object with
    lines that are not JSON (or a body that cannot be decompressed) counts them in
    ``unreadable_lines`` and is counted on its readable lines.
    """

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = OBJECT_QUALITY_SCHEMA_VERSION
    source_key: str
    source_etag: str
    kind: QualitySourceKind
    n_records: int = Field(description="Readable records of the object, whatever their model.")
    first_timestamp: str | None = None
    last_timestamp: str | None = None
    unreadable_lines: int = 0
    versions: list[VersionQualityCounts] = Field(default_factory=list)

    def of_model(self, model: str) -> list[VersionQualityCounts]:
        """The counts of ``model``'s versions (a rejected object may hold several models' records)."""
        return [counts for counts in self.versions if counts.model == model]
