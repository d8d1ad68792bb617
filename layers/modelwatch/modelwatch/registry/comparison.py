"""Comparing model versions on their metrics: two versions on one metric, or a table of many.

Which value is better depends on the metric: higher for auc, accuracy, f1,
precision, recall, r2; lower for rmse, mae, mse, logloss. Common prefixes
(``val_``, ``test_``, ``eval_``, ...) are ignored when looking a direction up;
any metric's direction can be given explicitly.

A *gate* turns a comparison into a promotion decision: the candidate
(``version2``) passes when it improves on the baseline (``version1``) by at
least ``min_absolute_change`` and ``min_relative_change``, in the metric's direction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from modelwatch.registry.errors import MetricNotFoundError, UnknownMetricDirectionError

Direction = Literal["higher", "lower"]

HIGHER_IS_BETTER: Final = frozenset(
    {
        "auc",
        "roc_auc",
        "pr_auc",
        "average_precision",
        "accuracy",
        "balanced_accuracy",
        "f1",
        "f1_score",
        "precision",
        "recall",
        "r2",
        "r2_score",
        "ndcg",
        "map",
    }
)
LOWER_IS_BETTER: Final = frozenset(
    {"rmse", "mae", "mse", "mape", "logloss", "log_loss", "loss", "brier", "brier_score", "error"}
)
_IGNORED_PREFIXES: Final = ("val_", "validation_", "test_", "eval_", "holdout_", "train_")


class MetricSource(Protocol):
    """Anything that returns a version's metrics (the registry; a dict in tests)."""

    def get_metrics(self, name: str, version: str) -> dict[str, float]:
        """Return the metrics of ``version`` of model ``name``."""
        ...


def metric_direction(metric: str, higher_is_better: bool | None = None) -> Direction:
    """Return whether higher or lower values of ``metric`` are better.

    Parameters
    ----------
    metric:
        Metric name, e.g. ``auc`` or ``val_rmse``.
    higher_is_better:
        Overrides the built-in direction when given.

    Raises
    ------
    UnknownMetricDirectionError
        The metric is not known and no direction was given.
    """
    if higher_is_better is not None:
        return "higher" if higher_is_better else "lower"
    key = metric.strip().lower()
    for prefix in _IGNORED_PREFIXES:
        if key.startswith(prefix) and key[len(prefix) :]:
            key = key[len(prefix) :]
            break
    if key in HIGHER_IS_BETTER:
        return "higher"
    if key in LOWER_IS_BETTER:
        return "lower"
    raise UnknownMetricDirectionError(metric)


class Gate(BaseModel):
    """The promotion gate's verdict: does the candidate improve enough on the baseline?"""

    model_config = ConfigDict(frozen=True)

    min_absolute_change: float | None
    min_relative_change: float | None
    improvement: float = Field(description="Candidate minus baseline, signed so that positive is better.")
    relative_improvement: float | None = Field(
        description="improvement / |baseline|; None when baseline is 0."
    )
    passed: bool
    reason: str


class VersionComparison(BaseModel):
    """Two versions of one model on one metric."""

    model_config = ConfigDict(frozen=True)

    model_name: str
    metric: str
    direction: Direction
    version1: str = Field(description="The baseline.")
    version2: str = Field(description="The candidate.")
    value1: float
    value2: float
    absolute_difference: float = Field(description="value2 - value1.")
    relative_difference: float | None = Field(
        description="(value2 - value1) / |value1|; None when value1 is 0."
    )
    winner: str | None = Field(description="The better version for the metric's direction; None on a tie.")
    gate: Gate | None = None

    @property
    def improved(self) -> bool:
        """Whether the candidate (version2) is strictly better than the baseline."""
        return self.winner == self.version2


class MetricRow(BaseModel):
    """One metric across versions, in a comparison table."""

    model_config = ConfigDict(frozen=True)

    metric: str
    direction: Direction
    values: dict[str, float | None] = Field(description="Value by version; None when a version lacks it.")
    best_version: str | None = Field(description="None when every present value ties, or none is present.")
    absolute_differences: dict[str, float | None] = Field(
        description="Value minus the baseline's (the first version's), by version."
    )
    relative_differences: dict[str, float | None]


class ComparisonTable(BaseModel):
    """Many versions of one model on many metrics. The first version is the baseline."""

    model_config = ConfigDict(frozen=True)

    model_name: str
    versions: list[str]
    rows: list[MetricRow]
    available_metrics: dict[str, list[str]] = Field(description="Every metric each version has.")

    def row(self, metric: str) -> MetricRow:
        """Return the row of ``metric``; raise ``KeyError`` when it is not in the table."""
        for row in self.rows:
            if row.metric == metric:
                return row
        raise KeyError(metric)


def _relative(delta: float, base: float) -> float | None:
    return None if base == 0 else delta / abs(base)


def _better(a: float, b: float, direction: Direction) -> int:
    """1 when ``a`` is better than ``b``, -1 when worse, 0 on a tie."""
    if a == b:
        return 0
    return 1 if (a > b) == (direction == "higher") else -1


def evaluate_gate(
    value1: float,
    value2: float,
    direction: Direction,
    min_absolute_change: float | None = None,
    min_relative_change: float | None = None,
) -> Gate:
    """Judge whether ``value2`` (candidate) improves on ``value1`` (baseline) by enough.

    Parameters
    ----------
    value1, value2:
        Baseline and candidate values.
    direction:
        ``higher`` or ``lower`` is better.
    min_absolute_change:
        Least improvement in the metric's unit (e.g. 0.01 AUC). None: not checked.
    min_relative_change:
        Least improvement relative to the baseline's magnitude (0.02 is 2 %). None: not checked.

    Returns
    -------
    Gate
        ``passed`` is True when every given threshold is met; with no threshold, when the
        candidate is at least as good as the baseline.
    """
    improvement = (value2 - value1) if direction == "higher" else (value1 - value2)
    relative = _relative(improvement, value1)
    failures: list[str] = []
    if min_absolute_change is None and min_relative_change is None and improvement < 0:
        failures.append(f"candidate is worse by {-improvement:.6g}")
    if min_absolute_change is not None and improvement < min_absolute_change:
        failures.append(f"improvement {improvement:.6g} < required {min_absolute_change:.6g}")
    if min_relative_change is not None:
        if relative is None:
            if improvement <= 0:
                failures.append("baseline is 0 and the candidate does not improve on it")
        elif relative < min_relative_change:
            failures.append(f"relative improvement {relative:.4%} < required {min_relative_change:.4%}")
    passed = not failures
    reason = "; ".join(failures) if failures else f"improvement {improvement:.6g} meets the gate"
    return Gate(
        min_absolute_change=min_absolute_change,
        min_relative_change=min_relative_change,
        improvement=improvement,
        relative_improvement=relative,
        passed=passed,
        reason=reason,
    )


def _metric_value(source: MetricSource, model_name: str, version: str, metric: str) -> float:
    metrics = source.get_metrics(model_name, version)
    if metric not in metrics:
        raise MetricNotFoundError(model_name, version, metric, metrics)
    return metrics[metric]


def compare_model_versions(
    registry: MetricSource,
    model_name: str,
    version1: str | int,
    version2: str | int,
    metric: str,
    *,
    higher_is_better: bool | None = None,
    min_absolute_change: float | None = None,
    min_relative_change: float | None = None,
) -> VersionComparison:
    """Compare two versions of a model on one metric.

    Parameters
    ----------
    registry:
        A ``ModelRegistry`` (or anything with ``get_metrics(name, version)``).
    model_name:
        The registered model.
    version1, version2:
        Baseline and candidate versions.
    metric:
        Metric name, e.g. ``auc``.
    higher_is_better:
        The metric's direction, when the built-in one is wrong or unknown.
    min_absolute_change, min_relative_change:
        A promotion gate; when either is given, ``gate`` holds the verdict.

    Returns
    -------
    VersionComparison
        Both values, absolute and relative difference, the winner and the gate.

    Raises
    ------
    ModelNotFoundError, VersionNotFoundError
        The model or a version does not exist.
    MetricNotFoundError
        A version lacks the metric; the message names the metrics it has.
    UnknownMetricDirectionError
        The metric's direction is unknown and ``higher_is_better`` was not given.
    TrackingServerUnavailable
        The tracking server did not answer.
    """
    direction = metric_direction(metric, higher_is_better)
    v1, v2 = str(version1), str(version2)
    value1 = _metric_value(registry, model_name, v1, metric)
    value2 = _metric_value(registry, model_name, v2, metric)
    delta = value2 - value1
    order = _better(value2, value1, direction)
    winner = None if order == 0 else (v2 if order > 0 else v1)
    gate = (
        evaluate_gate(value1, value2, direction, min_absolute_change, min_relative_change)
        if min_absolute_change is not None or min_relative_change is not None
        else None
    )
    return VersionComparison(
        model_name=model_name,
        metric=metric,
        direction=direction,
        version1=v1,
        version2=v2,
        value1=value1,
        value2=value2,
        absolute_difference=delta,
        relative_difference=_relative(delta, value1),
        winner=winner,
        gate=gate,
    )


def compare_versions(
    registry: MetricSource,
    model_name: str,
    versions: Sequence[str | int],
    metrics: Sequence[str],
    *,
    directions: Mapping[str, bool] | None = None,
) -> ComparisonTable:
    """Compare many versions of a model on many metrics (a table; the first version is the baseline).

    Parameters
    ----------
    registry:
        A ``ModelRegistry`` (or anything with ``get_metrics(name, version)``).
    model_name:
        The registered model.
    versions:
        Two or more versions; the first is the baseline of the differences.
    metrics:
        One or more metric names.
    directions:
        ``{metric: higher_is_better}`` for metrics whose built-in direction is wrong or unknown.

    Returns
    -------
    ComparisonTable
        One row per metric; a version lacking a metric has ``None`` in that row.

    Raises
    ------
    ValueError
        Fewer than two versions, or no metric.
    MetricNotFoundError
        No version has one of the metrics (naming the metrics the first version has).
    UnknownMetricDirectionError, ModelNotFoundError, VersionNotFoundError, TrackingServerUnavailable
        As for :func:`compare_model_versions`.
    """
    names = [str(v) for v in versions]
    if len(names) < 2:
        raise ValueError("compare at least two versions")
    if len(set(names)) != len(names):
        raise ValueError(f"versions are repeated: {names}")
    if not metrics:
        raise ValueError("name at least one metric")
    overrides = dict(directions or {})
    found = {version: registry.get_metrics(model_name, version) for version in names}
    baseline = names[0]
    rows: list[MetricRow] = []
    for metric in metrics:
        direction = metric_direction(metric, overrides.get(metric))
        values: dict[str, float | None] = {v: found[v].get(metric) for v in names}
        present = {v: value for v, value in values.items() if value is not None}
        if not present:
            raise MetricNotFoundError(model_name, baseline, metric, found[baseline])
        best: str | None = None
        if len(set(present.values())) > 1:
            best = max(present, key=lambda v: present[v] if direction == "higher" else -present[v])
        base_value = values[baseline]
        absolute: dict[str, float | None] = {}
        relative: dict[str, float | None] = {}
        for version, value in values.items():
            if value is None or base_value is None:
                absolute[version] = relative[version] = None
            else:
                absolute[version] = value - base_value
                relative[version] = _relative(value - base_value, base_value)
        rows.append(
            MetricRow(
                metric=metric,
                direction=direction,
                values=values,
                best_version=best,
                absolute_differences=absolute,
                relative_differences=relative,
            )
        )
    return ComparisonTable(
        model_name=model_name,
        versions=names,
        rows=rows,
        available_metrics={v: sorted(found[v]) for v in names},
    )
