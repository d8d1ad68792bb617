"""Statistical tests as registered objects, and the choice of a default by kind and sample size.

Each test lives in its own module and registers a ``StatTest``: its name, the
column kinds it accepts, the effect size it reports and that measure's default
floor (``default_threshold``), whether it needs raw values, and a function
returning statistic, p-value and effect size.

Defaults (``default_test``):

- numeric, raw values of both samples available and the smaller sample at most
  ``small_sample_max`` values: ``ks`` (exact two-sample Kolmogorov-Smirnov, scipy);
- numeric otherwise (large samples, or profiles only): ``wasserstein``;
- categorical: ``chi2``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelwatch.contracts.profile import FeatureProfile, Kind
from modelwatch.monitoring.drift.tables import CountTable

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]

TEST_MODULES = (
    "modelwatch.monitoring.drift.ks",
    "modelwatch.monitoring.drift.wasserstein",
    "modelwatch.monitoring.drift.chi2",
    "modelwatch.monitoring.drift.psi",
    "modelwatch.monitoring.drift.jensenshannon",
)


@dataclass(frozen=True)
class TestInput:
    """What a test gets: both profiles, their aligned count table and, when available, raw values."""

    __test__ = False  # not a pytest test class

    reference: FeatureProfile
    current: FeatureProfile
    table: CountTable
    reference_values: FloatArray | None = None
    current_values: FloatArray | None = None
    min_expected: float = 5.0


@dataclass(frozen=True)
class TestOutcome:
    """A test's answer; ``p_value`` and ``effect_size`` are None when it cannot be computed."""

    __test__ = False

    statistic: float
    p_value: float | None
    effect_size: float | None


@dataclass(frozen=True)
class StatTest:
    """A registered drift test."""

    name: str
    kinds: frozenset[Kind]
    effect_measure: str
    default_threshold: float
    needs_raw: bool
    func: Callable[[TestInput], TestOutcome]
    description: str

    def __call__(self, data: TestInput) -> TestOutcome:
        return self.func(data)


_REGISTRY: dict[str, StatTest] = {}


def register(test: StatTest) -> StatTest:
    """Add ``test`` to the registry (its name must be new)."""
    if test.name in _REGISTRY and _REGISTRY[test.name] is not test:
        raise ValueError(f"a drift test named {test.name!r} is already registered")
    _REGISTRY[test.name] = test
    return test


def _load() -> None:
    for module in TEST_MODULES:
        importlib.import_module(module)


def available_tests() -> dict[str, StatTest]:
    """Every registered test by name."""
    _load()
    return dict(_REGISTRY)


def get_test(name: str) -> StatTest:
    """The test registered as ``name``.

    Raises
    ------
    ValueError
        When no test has that name.
    """
    tests = available_tests()
    if name not in tests:
        raise ValueError(f"unknown drift method {name!r}; known: {', '.join(sorted(tests))}")
    return tests[name]


def default_test(kind: Kind, smaller_sample: int, raw_available: bool, small_sample_max: int) -> StatTest:
    """The default test for a feature of ``kind`` given the smaller sample size and raw-value availability."""
    if kind == "categorical":
        return get_test("chi2")
    if raw_available and smaller_sample <= small_sample_max:
        return get_test("ks")
    return get_test("wasserstein")
