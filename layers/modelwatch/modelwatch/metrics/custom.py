"""Custom metrics declared in a file (the declarations: ``modelwatch.contracts.custom_metrics``)."""

from __future__ import annotations

from pathlib import Path

from modelwatch.contracts.custom_metrics import CustomMetric, CustomMetricError, parse_custom_metrics


def load_custom_metrics_file(path: str | Path) -> list[CustomMetric]:
    """Return the custom metrics declared in a JSON or YAML file (a list, or ``{custom_metrics: [...]}``).

    Raises
    ------
    CustomMetricError
        Naming the file and the bad entry.
    """
    try:
        return parse_custom_metrics(Path(path).read_text())
    except CustomMetricError as error:
        raise CustomMetricError(f"{path}: {error}") from None
