"""Drift detection on profiles: registered statistical tests, the decision rule and the report.

Public entry point: ``detect_drift(reference, current, config)``; see
``modelwatch.monitoring.drift.registry`` for the tests and ``modelwatch.monitoring.drift.decision``
for the rule (Benjamini-Hochberg across the run, plus an effect-size floor).
"""

from modelwatch.contracts.monitoring_config import DriftConfig, FeatureDriftConfig
from modelwatch.monitoring.drift.decision import benjamini_hochberg
from modelwatch.monitoring.drift.detect import detect_drift
from modelwatch.monitoring.drift.registry import (
    StatTest,
    TestInput,
    TestOutcome,
    available_tests,
    get_test,
    register,
)
from modelwatch.monitoring.drift.report import DriftReport, FeatureDrift

__all__ = [
    "DriftConfig",
    "DriftReport",
    "FeatureDrift",
    "FeatureDriftConfig",
    "StatTest",
    "TestInput",
    "TestOutcome",
    "available_tests",
    "benjamini_hochberg",
    "detect_drift",
    "get_test",
    "register",
]
