"""``detect_drift``: compare a window's profile with the reference profile, feature by feature."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelwatch.contracts.monitoring_config import DriftConfig, FeatureDriftConfig
from modelwatch.contracts.profile import DatasetProfile, FeatureProfile
from modelwatch.monitoring.drift.decision import benjamini_hochberg, dataset_drift, is_flagged
from modelwatch.monitoring.drift.proportion import ProportionTest, two_proportion_test
from modelwatch.monitoring.drift.registry import StatTest, TestInput, TestOutcome, default_test, get_test
from modelwatch.monitoring.drift.report import DriftReport, FeatureDrift
from modelwatch.monitoring.drift.tables import count_table
from modelwatch.monitoring.profile import numeric_values


@dataclass
class _Pending:
    reference: FeatureProfile
    current: FeatureProfile
    test: StatTest
    outcome: TestOutcome
    threshold: float
    missing: ProportionTest
    unseen: ProportionTest | None
    unseen_categories: list[str]
    notes: list[str] = field(default_factory=list)


def _choose_test(
    reference: FeatureProfile,
    smaller: int,
    raw_available: bool,
    config: DriftConfig,
    override: FeatureDriftConfig | None,
    notes: list[str],
) -> StatTest:
    name = override.method if override and override.method else None
    if name is None:
        name = config.numeric_method if reference.kind == "numeric" else config.categorical_method
    if name is None:
        return default_test(reference.kind, smaller, raw_available, config.small_sample_max)
    test = get_test(name)
    if reference.kind not in test.kinds:
        raise ValueError(
            f"feature {reference.name!r}: method {name!r} does not accept {reference.kind} features"
        )
    if test.needs_raw and not raw_available:
        fallback = default_test(reference.kind, smaller, False, config.small_sample_max)
        notes.append(f"{name} needs raw values, which were not given: used {fallback.name}")
        return fallback
    return test


def _unseen(reference: FeatureProfile, current: FeatureProfile) -> tuple[ProportionTest | None, list[str]]:
    if reference.categorical is None or current.categorical is None:
        return None, []
    known = reference.categorical.counts
    new = {key: count for key, count in current.categorical.counts.items() if key not in known and count}
    outside_current = current.categorical.other + sum(new.values())
    test = two_proportion_test(reference.categorical.other, reference.valid, outside_current, current.valid)
    names = sorted(new, key=lambda key: (-new[key], key))[:10]
    return test, names


def _feature(
    reference: FeatureProfile,
    current: FeatureProfile,
    config: DriftConfig,
    reference_columns: Mapping[str, Any] | None,
    current_columns: Mapping[str, Any] | None,
) -> _Pending:
    if reference.kind != current.kind:
        raise ValueError(
            f"feature {reference.name!r} is {reference.kind} in the reference "
            f"and {current.kind} in the window"
        )
    override = config.features.get(reference.name)
    notes: list[str] = []
    raw_available = (
        reference.kind == "numeric"
        and reference_columns is not None
        and current_columns is not None
        and reference.name in reference_columns
        and reference.name in current_columns
    )
    smaller = min(reference.valid, current.valid)
    test = _choose_test(reference, smaller, raw_available, config, override, notes)
    reference_values = current_values = None
    if test.needs_raw and reference_columns is not None and current_columns is not None:
        reference_values = numeric_values(reference_columns[reference.name])
        current_values = numeric_values(current_columns[reference.name])
    data = TestInput(
        reference=reference,
        current=current,
        table=count_table(reference, current),
        reference_values=reference_values,
        current_values=current_values,
        min_expected=config.min_expected,
    )
    outcome = test(data)
    if outcome.p_value is None:
        if reference.valid == 0:
            notes.append("the reference has no values")
        elif current.valid == 0:
            notes.append("the window has no values")
        else:
            notes.append("too few values to test")
    threshold = override.threshold if override and override.threshold is not None else test.default_threshold
    missing = two_proportion_test(reference.missing, reference.count, current.missing, current.count)
    unseen, unseen_names = _unseen(reference, current)
    return _Pending(reference, current, test, outcome, threshold, missing, unseen, unseen_names, notes)


def detect_drift(
    reference: DatasetProfile,
    current: DatasetProfile,
    config: DriftConfig | None = None,
    reference_columns: Mapping[str, Any] | None = None,
    current_columns: Mapping[str, Any] | None = None,
) -> DriftReport:
    """Test every feature of ``current`` (profiled against ``reference``) for drift.

    Parameters
    ----------
    reference:
        The reference profile (``profile_dataset`` of the training data).
    current:
        The window's profile, made with ``profile_against(reference, ...)`` (or a
        merge of such profiles). Only features present in both are tested.
    config:
        Decision-rule parameters and per-feature overrides; defaults when None.
    reference_columns, current_columns:
        Optional raw columns; when both are given, small numeric samples are
        tested with the exact KS test.

    Returns
    -------
    DriftReport
        Per-feature method, statistic, p-value, effect size, threshold and verdict,
        the missing-share and unseen-category signals, and the dataset verdict.

    Raises
    ------
    ValueError
        When the window was not profiled against the reference (bins or kinds
        differ) or a configured method is unknown or does not fit the feature.
    """
    config = config or DriftConfig()
    current_by_name = {feature.name: feature for feature in current.features}
    pending: list[_Pending] = []
    for ref in reference.features:
        override = config.features.get(ref.name)
        if ref.name not in current_by_name or (override is not None and not override.enabled):
            continue
        pending.append(_feature(ref, current_by_name[ref.name], config, reference_columns, current_columns))

    family: list[float] = []
    slots: list[tuple[int, str]] = []
    for position, item in enumerate(pending):
        for signal, p in (
            ("distribution", item.outcome.p_value),
            ("missing", item.missing.p_value),
            ("unseen", item.unseen.p_value if item.unseen else None),
        ):
            if p is not None:
                family.append(p)
                slots.append((position, signal))
    adjusted_by_slot = dict(zip(slots, benjamini_hochberg(family), strict=True))

    q = config.fdr_q
    results: list[FeatureDrift] = []
    for position, item in enumerate(pending):
        p_dist = adjusted_by_slot.get((position, "distribution"))
        p_missing = adjusted_by_slot.get((position, "missing"))
        p_unseen = adjusted_by_slot.get((position, "unseen"))
        distribution = is_flagged(p_dist, item.outcome.effect_size, item.threshold, q)
        missing = is_flagged(p_missing, abs(item.missing.difference), config.missing_threshold, q)
        unseen = item.unseen is not None and is_flagged(
            p_unseen, item.unseen.difference, config.unseen_threshold, q
        )
        results.append(
            FeatureDrift(
                name=item.reference.name,
                kind=item.reference.kind,
                role=item.reference.role,
                method=item.test.name,
                effect_measure=item.test.effect_measure,
                statistic=item.outcome.statistic,
                p_value=item.outcome.p_value,
                p_value_adjusted=p_dist,
                effect_size=item.outcome.effect_size,
                threshold=item.threshold,
                drift_detected=distribution or missing or unseen,
                distribution_drift=distribution,
                missing_share_reference=item.missing.share_reference,
                missing_share_current=item.missing.share_current,
                missing_p_value=item.missing.p_value,
                missing_drift=missing,
                unseen_share=item.unseen.share_current if item.unseen else None,
                unseen_categories=item.unseen_categories,
                unseen_p_value=item.unseen.p_value if item.unseen else None,
                unseen_drift=unseen,
                n_reference=item.reference.valid,
                n_current=item.current.valid,
                note="; ".join(item.notes) or None,
            )
        )
    inputs = [result for result in results if result.role == "feature"]
    predictions = [result for result in results if result.role == "prediction"]
    n_drifted = sum(result.drift_detected for result in inputs)
    drifted, share = dataset_drift(n_drifted, len(inputs), config.drift_share)
    return DriftReport(
        dataset_drift=drifted,
        drift_share=share,
        drift_share_threshold=config.drift_share,
        n_features=len(inputs),
        n_drifted_features=n_drifted,
        prediction_drift=any(result.drift_detected for result in predictions) if predictions else None,
        n_reference=reference.n_rows,
        n_current=current.n_rows,
        fdr_q=q,
        features=results,
    )
