"""User-declared custom metrics: counters computed from the prediction events.

A custom metric is declared in the configuration (``custom_metrics`` in cdk.json,
passed to the export function as ``MODELWATCH_CUSTOM_METRICS``; JSON or YAML) or in
Python, and is computed by the same export that derives the serving metrics, so it
reaches Prometheus through the same client, labelled ``model`` and ``version``::

    custom_metrics:
      - name: modelwatch_custom_high_risk_predictions_total
        help: Predictions with a fraud probability above 0.9
        where: [{field: prediction, op: ">", value: 0.9}]
      - name: modelwatch_custom_scored_amount_total
        help: Sum of the amounts scored
        aggregation: sum
        value: features.amount

or ``CustomMetric(name="...", help="...", where=[Condition(field="prediction", op=">", value=0.9)])``.

``aggregation`` is ``count`` (events matching every ``where`` condition) or ``sum``
(of the numeric field ``value`` over them; negative values are not added, as a counter
only grows). Both are cumulative counters, so names end in ``_total``; a per-window
figure is ``increase(name[1h])`` and a mean is the ratio of two such counters.
Fields are dotted paths into the event: ``prediction``, ``prediction.<key or index>``,
``features.<name>``, ``latency_ms``. A malformed declaration fails at ``cdk synth`` and
at the export function's start with a message naming the entry.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from modelwatch.contracts.sample import METRIC_NAME_PATTERN

FIELD_ROOTS: Final = ("prediction", "features", "latency_ms")
_RESERVED_SUFFIXES: Final = ("_bucket", "_count", "_sum")


class CustomMetricError(ValueError):
    """A custom-metric declaration is invalid; the message names the entry."""


class Condition(BaseModel):
    """``field op value``: e.g. ``prediction > 0.9`` or ``features.channel == "online"``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str
    op: Literal[">", ">=", "<", "<=", "==", "!="]
    value: float | bool | str

    @field_validator("field")
    @classmethod
    def _check_field(cls, value: str) -> str:
        return check_field_path(value)

    def holds(self, record: Mapping[str, Any]) -> bool:
        """Whether the condition holds for ``record`` (a missing or incomparable field: no)."""
        found, actual = field_value(record, self.field)
        if not found:
            return False
        expected = self.value
        if self.op == "==":
            return bool(actual == expected)
        if self.op == "!=":
            return bool(actual != expected)
        if (
            isinstance(actual, bool)
            or not isinstance(actual, int | float)
            or isinstance(expected, bool | str)
        ):
            return False
        comparisons = {
            ">": actual > expected,
            ">=": actual >= expected,
            "<": actual < expected,
            "<=": actual <= expected,
        }
        return comparisons[self.op]


class CustomMetric(BaseModel):
    """A counter computed from the prediction events of every model (or of ``models``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=METRIC_NAME_PATTERN)
    help: str = Field(min_length=1, max_length=500)
    aggregation: Literal["count", "sum"] = "count"
    value: str | None = Field(None, description="Field summed by a `sum` metric.")
    where: tuple[Condition, ...] = ()
    models: tuple[str, ...] | None = Field(None, description="Only these models' events (default: all).")

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        from modelwatch.contracts.catalogue import series_names

        if not name.endswith("_total"):
            raise ValueError(f"{name!r} must end in '_total' (custom metrics are counters)")
        if name.endswith(tuple(s + "_total" for s in _RESERVED_SUFFIXES)):
            raise ValueError(f"{name!r} must not end in a histogram suffix")
        if name in series_names():
            raise ValueError(f"{name!r} is already a metric of the catalogue")
        return name

    @field_validator("value")
    @classmethod
    def _check_value(cls, value: str | None) -> str | None:
        return None if value is None else check_field_path(value)

    @model_validator(mode="after")
    def _check_aggregation(self) -> CustomMetric:
        if self.aggregation == "sum" and self.value is None:
            raise ValueError("a 'sum' metric needs 'value' (the field to add up)")
        if self.aggregation == "count" and self.value is not None:
            raise ValueError("a 'count' metric takes no 'value'")
        return self

    def update(self, record: Mapping[str, Any]) -> float | None:
        """Return what ``record`` adds to this counter, or ``None`` when it adds nothing."""
        if self.models is not None and record.get("model") not in self.models:
            return None
        if not all(condition.holds(record) for condition in self.where):
            return None
        if self.aggregation == "count":
            return 1.0
        assert self.value is not None
        found, actual = field_value(record, self.value)
        if not found or isinstance(actual, bool) or not isinstance(actual, int | float):
            return None
        amount = float(actual)
        return amount if math.isfinite(amount) and amount >= 0 else None


def check_field_path(path: str) -> str:
    """Return ``path`` if it is a field path of an event, else raise ``ValueError``."""
    parts = path.split(".")
    if parts[0] not in FIELD_ROOTS or not all(parts) or (parts[0] == "latency_ms" and len(parts) > 1):
        raise ValueError(
            f"field {path!r} must be 'prediction', 'prediction.<key>', 'features.<name>' or 'latency_ms'"
        )
    if parts[0] == "features" and len(parts) != 2:
        raise ValueError(f"field {path!r}: use 'features.<name>'")
    return path


def field_value(record: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """Return ``(found, value)`` of a dotted path in an event record."""
    current: Any = record
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and re.fullmatch(r"\d+", part) and int(part) < len(current):
            current = current[int(part)]
        else:
            return False, None
    return True, current


def custom_metric_updates(
    metrics: Sequence[CustomMetric], record: Mapping[str, Any], labels: Mapping[str, str]
) -> Iterator[tuple[str, dict[str, str], float]]:
    """Yield ``(name, labels, amount)`` for each custom counter ``record`` adds to."""
    for metric in metrics:
        amount = metric.update(record)
        if amount is not None:
            yield metric.name, dict(labels), amount


def _entry_name(raw: Any, index: int) -> str:
    name = raw.get("name") if isinstance(raw, Mapping) else None
    return f"custom_metrics[{index}]" + (f" ({name})" if isinstance(name, str) else "")


def parse_custom_metrics(raw: Any) -> list[CustomMetric]:
    """Return validated custom metrics from a list of declarations, or JSON / YAML text of one.

    Raises
    ------
    CustomMetricError
        Naming the entry and the problem, e.g.
        ``custom_metrics[1] (high_risk_total): where.0.op: Input should be '>', ...``.
    """
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        raw = _load_text(raw)
    if isinstance(raw, Mapping) and "custom_metrics" in raw:
        raw = raw["custom_metrics"]
    if not isinstance(raw, list):
        raise CustomMetricError("custom_metrics: expected a list of declarations")
    metrics: list[CustomMetric] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw):
        try:
            metric = entry if isinstance(entry, CustomMetric) else CustomMetric.model_validate(entry)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg']}" for e in error.errors()
            )
            raise CustomMetricError(f"{_entry_name(entry, index)}: {problems}") from None
        if metric.name in seen:
            raise CustomMetricError(f"{_entry_name(entry, index)}: name declared twice")
        seen.add(metric.name)
        metrics.append(metric)
    return metrics


def _load_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        import yaml
    except ImportError:  # pragma: no cover - yaml is optional in Lambda bundles
        raise CustomMetricError("custom_metrics: not valid JSON (and PyYAML is not installed)") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise CustomMetricError(f"custom_metrics: neither JSON nor YAML: {error}") from None
