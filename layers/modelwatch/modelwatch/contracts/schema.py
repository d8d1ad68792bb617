"""Input schema of a model, and request-time validation of instances against it.

The schema is one of the documents exchanged between parts (registry, serving,
monitoring); its JSON form is versioned by ``schema_version``. At request time
only what makes an instance unusable by the model is rejected: unknown or
missing features, wrong types, nulls where none are allowed. Out-of-range values
and unseen categories are *data-quality* signals and are served, then measured
by the monitoring jobs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION: Final = 1
# The largest magnitude a number feature may have: float32's, so that no flavour's runtime
# overflows casting it (scikit-learn and onnxruntime both go through float32 somewhere).
MAX_NUMBER: Final = 3.4028234663852886e38
# Integer features are bounded to int64, the widest integer every runtime takes.
MAX_INTEGER: Final = 2**63 - 1
DEFAULT_MAX_STRING_LENGTH: Final = 1024


class FeatureType(StrEnum):
    """JSON-level type of a feature value."""

    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    STRING = "string"


class FeatureSpec(BaseModel):
    """One input feature: its name, type and whether it may be absent or null."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=256)
    type: FeatureType
    required: bool = True
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    allowed_values: list[str] | None = Field(
        None, description="Known categories of a string feature (unseen ones are served)."
    )
    cardinality: int | None = Field(
        None, ge=0, description="Distinct values of a string feature in the training data (informative)."
    )
    max_length: int = Field(
        DEFAULT_MAX_STRING_LENGTH,
        ge=1,
        le=1_048_576,
        description="Longest value of a string feature that is served (characters); longer is rejected.",
    )
    description: str | None = None


class InputSchema(BaseModel):
    """The features a model takes, in the order the model expects them."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    features: list[FeatureSpec] = Field(min_length=1)
    allow_extra_features: bool = Field(
        False, description="Serve instances carrying features the schema does not name."
    )

    @model_validator(mode="after")
    def _unique_names(self) -> InputSchema:
        seen: set[str] = set()
        for feature in self.features:
            if feature.name in seen:
                raise ValueError(f"feature {feature.name!r} is declared twice")
            seen.add(feature.name)
        return self

    @property
    def feature_names(self) -> list[str]:
        return [feature.name for feature in self.features]

    def example_instance(self) -> dict[str, Any]:
        """One instance that every feature accepts: 0 within its bounds, ``False``, a known category.

        Serving scores it before it swaps a new version in, and promotion before it publishes one.
        """
        instance: dict[str, Any] = {}
        for feature in self.features:
            if feature.type in (FeatureType.NUMBER, FeatureType.INTEGER):
                value = 0.0
                if feature.minimum is not None:
                    value = max(value, feature.minimum)
                if feature.maximum is not None:
                    value = min(value, feature.maximum)
                instance[feature.name] = math.ceil(value) if feature.type is FeatureType.INTEGER else value
            elif feature.type is FeatureType.BOOLEAN:
                instance[feature.name] = False
            else:
                instance[feature.name] = feature.allowed_values[0] if feature.allowed_values else ""
        return instance


ViolationCode = Literal[
    "not_an_object", "missing", "null", "type", "too_large", "too_long", "invalid_text", "unexpected"
]


class Violation(BaseModel):
    """Why one instance (by index) cannot be served."""

    index: int
    feature: str | None = Field(description="The feature, or null when the instance is not an object.")
    code: ViolationCode
    message: str


def _type_error(spec: FeatureSpec, value: Any) -> str | None:
    """Return why ``value`` does not fit ``spec.type``, or None when it does (bounds aside)."""
    kind = spec.type
    if kind is FeatureType.NUMBER:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"expected a number, got {type(value).__name__}"
        if isinstance(value, float) and not math.isfinite(value):
            return "expected a finite number"
        return None
    if kind is FeatureType.INTEGER:
        if isinstance(value, bool):
            return "expected an integer, got bool"
        if isinstance(value, int):
            return None
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return None
        return f"expected an integer, got {type(value).__name__}"
    if kind is FeatureType.BOOLEAN:
        return None if isinstance(value, bool) else f"expected a boolean, got {type(value).__name__}"
    return None if isinstance(value, str) else f"expected a string, got {type(value).__name__}"


def _bounds_error(spec: FeatureSpec, value: Any) -> tuple[ViolationCode, str] | None:
    """Why a value of the right type still cannot reach the model (too large, too long, not text)."""
    if spec.type is FeatureType.NUMBER and abs(value) > MAX_NUMBER:
        return "too_large", f"numbers are served up to {MAX_NUMBER:.4g} in magnitude"
    if spec.type is FeatureType.INTEGER and abs(value) > MAX_INTEGER:
        return "too_large", "integers are served up to 2**63 - 1 in magnitude"
    if spec.type is FeatureType.STRING:
        if len(value) > spec.max_length:
            return "too_long", f"strings of this feature are served up to {spec.max_length} characters"
        if not is_text(value):
            return "invalid_text", "not valid Unicode text (a lone surrogate)"
    return None


def is_text(value: str) -> bool:
    """Whether ``value`` encodes as UTF-8 (lone surrogates, as from JSON's ``\\ud800``, do not)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable_name(name: object, limit: int = 128) -> str:
    """A feature name as it can be echoed back: valid text, at most ``limit`` characters."""
    text = str(name)
    if not is_text(text):
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def validate_instances(
    schema: InputSchema, instances: Sequence[Any], max_violations: int = 100
) -> list[Violation]:
    """Check every instance against ``schema``.

    Parameters
    ----------
    schema:
        The model's input schema.
    instances:
        The request's instances, as decoded from JSON.
    max_violations:
        Stop collecting after this many, so a huge bad request gets a bounded answer.

    Returns
    -------
    list[Violation]
        Empty when every instance can be served.
    """
    violations: list[Violation] = []
    known = {feature.name for feature in schema.features}
    for index, instance in enumerate(instances):
        if len(violations) >= max_violations:
            break
        if not isinstance(instance, Mapping):
            violations.append(
                Violation(
                    index=index,
                    feature=None,
                    code="not_an_object",
                    message="each instance must be a JSON object of feature values",
                )
            )
            continue
        for spec in schema.features:
            if spec.name not in instance:
                if spec.required:
                    violations.append(
                        Violation(
                            index=index,
                            feature=spec.name,
                            code="missing",
                            message="required feature is missing",
                        )
                    )
                continue
            value = instance[spec.name]
            if value is None:
                if not spec.nullable:
                    violations.append(
                        Violation(
                            index=index, feature=spec.name, code="null", message="feature is not nullable"
                        )
                    )
                continue
            error = _type_error(spec, value)
            if error is not None:
                violations.append(Violation(index=index, feature=spec.name, code="type", message=error))
                continue
            bounds = _bounds_error(spec, value)
            if bounds is not None:
                violations.append(
                    Violation(index=index, feature=spec.name, code=bounds[0], message=bounds[1])
                )
        if not schema.allow_extra_features:
            for name in instance:
                if name not in known:
                    violations.append(
                        Violation(
                            index=index,
                            feature=printable_name(name),
                            code="unexpected",
                            message="feature is not in the model's input schema",
                        )
                    )
    return violations[:max_violations]


def infer_input_schema(
    rows: Iterable[Mapping[str, Any]], feature_names: Sequence[str] | None = None
) -> InputSchema:
    """Infer a schema from example rows (types, nullability, ranges, categories).

    The columnar inference used by monitoring (``modelwatch schema infer``) is
    ``modelwatch.monitoring.profile.infer_schema``, from a reference profile; this is what
    ``modelwatch publish`` needs to describe a model's input from a few rows.
    """
    rows = list(rows)
    if not rows:
        raise ValueError("cannot infer a schema from no rows")
    names = list(feature_names) if feature_names is not None else list(rows[0].keys())
    features: list[FeatureSpec] = []
    for name in names:
        values = [row.get(name) for row in rows]
        present = [v for v in values if v is not None]
        nullable = len(present) < len(values)
        if not present:
            raise ValueError(f"feature {name!r} has no non-null value to infer a type from")
        if all(isinstance(v, bool) for v in present):
            features.append(FeatureSpec(name=name, type=FeatureType.BOOLEAN, nullable=nullable))
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in present):
            features.append(
                FeatureSpec(
                    name=name,
                    type=FeatureType.INTEGER,
                    nullable=nullable,
                    minimum=min(present),
                    maximum=max(present),
                )
            )
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
            numbers = [float(v) for v in present]
            features.append(
                FeatureSpec(
                    name=name,
                    type=FeatureType.NUMBER,
                    nullable=nullable,
                    minimum=min(numbers),
                    maximum=max(numbers),
                )
            )
        else:
            categories = sorted({str(v) for v in present})
            features.append(
                FeatureSpec(
                    name=name,
                    type=FeatureType.STRING,
                    nullable=nullable,
                    allowed_values=categories,
                    cardinality=len(categories),
                )
            )
    return InputSchema(features=features)
