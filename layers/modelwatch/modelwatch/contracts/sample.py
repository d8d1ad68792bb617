"""One sample of one time series: the unit every metrics sink accepts.

A sample is a metric name, its labels, a value and a timestamp in milliseconds,
exactly what a Prometheus remote-write ``TimeSeries`` carries. Names and label
names are checked against Prometheus' grammar when a sample is made, so a bad
name fails where it is written, not at the receiver.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

METRIC_NAME_PATTERN = r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"
LABEL_NAME_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
_METRIC_NAME = re.compile(METRIC_NAME_PATTERN)
_LABEL_NAME = re.compile(LABEL_NAME_PATTERN)

Labels = tuple[tuple[str, str], ...]


def timestamp_ms(seconds: float) -> int:
    """Return a Unix time in seconds as whole milliseconds (remote write's unit)."""
    return round(seconds * 1000)


@dataclass(frozen=True)
class Sample:
    """One value of one series at one time.

    Parameters
    ----------
    name
        Metric name (``modelwatch_predictions_total``).
    labels
        Label pairs, sorted by name; ``__name__`` is not among them.
    value
        The value (NaN and infinities are valid Prometheus values).
    timestamp_ms
        Unix time in milliseconds.
    """

    name: str
    labels: Labels
    value: float
    timestamp_ms: int

    @classmethod
    def of(
        cls, name: str, value: float, timestamp_s: float, labels: Mapping[str, str] | None = None
    ) -> Sample:
        """Return a checked sample; ``timestamp_s`` is a Unix time in seconds.

        Raises
        ------
        ValueError
            The metric name or a label name breaks Prometheus' grammar, or a label is reserved.
        """
        if not _METRIC_NAME.fullmatch(name):
            raise ValueError(f"invalid metric name {name!r}: must match {METRIC_NAME_PATTERN}")
        pairs = []
        for key, label_value in (labels or {}).items():
            if not _LABEL_NAME.fullmatch(key) or key.startswith("__"):
                raise ValueError(f"invalid label name {key!r} on {name}: must match {LABEL_NAME_PATTERN}")
            pairs.append((key, str(label_value)))
        return cls(name, tuple(sorted(pairs)), float(value), timestamp_ms(timestamp_s))

    @property
    def series_key(self) -> tuple[str, Labels]:
        """What identifies the series: the name and the labels."""
        return (self.name, self.labels)

    @property
    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)

    def is_finite(self) -> bool:
        return math.isfinite(self.value)
