"""What performance estimation keeps of a version's labelled reference, and how it is prepared.

``prepare_reference`` runs the calibration check (``calibration.check_calibration``) on the
reference's labelled score statistics and fits the isotonic calibrator for the classes that
failed; the ``EstimationReference`` it returns is one JSON document, meant to be stored with
the model version and read by every window's estimate (``cbpe.estimate_performance``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from modelwatch.contracts.estimation import ScoreStatistics
from modelwatch.monitoring.estimation.calibration import (
    DEFAULT_ALPHA,
    DEFAULT_ECE_FLOOR,
    DEFAULT_GROUPS,
    CalibrationCheck,
    IsotonicCalibrator,
    check_calibration,
    fit_calibrator,
)


class EstimationReference(BaseModel):
    """What performance estimation keeps of a version's labelled reference.

    Its score statistics (the range the window is compared with), the calibration check and,
    when the check failed, the calibrator fitted on it.
    """

    model_config = ConfigDict(extra="forbid")

    statistics: ScoreStatistics
    check: CalibrationCheck
    calibrator: IsotonicCalibrator | None = None

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)

    @classmethod
    def from_json(cls, document: str | bytes) -> EstimationReference:
        return cls.model_validate_json(document)


def prepare_reference(
    reference: ScoreStatistics,
    *,
    groups: int = DEFAULT_GROUPS,
    alpha: float = DEFAULT_ALPHA,
    ece_floor: float = DEFAULT_ECE_FLOOR,
) -> EstimationReference:
    """Check the reference's calibration and fit a calibrator for the classes that failed.

    Raises
    ------
    ValueError
        When the statistics carry no labels or hold no rows.
    """
    check = check_calibration(reference, groups=groups, alpha=alpha, ece_floor=ece_floor)
    calibrator = fit_calibrator(reference, check.failed) if check.failed else None
    return EstimationReference(statistics=reference, check=check, calibrator=calibrator)
