"""Is the labelled reference calibrated? The check, and the isotonic calibrator fitted when it is not.

CBPE reads a calibrated probability as the chance that the row is positive, so it is only
as good as the model's calibration on the reference (labelled data the model was not
trained on). Both parts work on the reference's labelled score statistics
(``modelwatch.contracts.estimation``), one class at a time (binary: the positive class;
multiclass: each class against the rest).

**The check** (:func:`check_calibration`): Hosmer-Lemeshow on ``groups`` (10) groups of
contiguous score bins holding about equal numbers of rows. Per group, observed positives
``O``, expected ``E = sum(p)`` and the null variance ``V = sum(p (1 - p))``;
``H = sum((O - E)^2 / V)`` follows chi-square with one degree of freedom per group under
calibration (the reference is held-out data, so no degree is lost to fitting). The effect
size is the expected calibration error on the same groups, ``ECE = sum(|O - E|) / n``. A
class fails when its p-value (Bonferroni across the classes) is below ``alpha`` (0.05)
**and** its ECE reaches ``ece_floor`` (0.01): significant and meaningful, as for drift, so
a large reference is not failed for a miscalibration too small to move an estimate.

**The calibrator** (:func:`fit_calibrator`): isotonic regression of the label on the score
(pool-adjacent-violators, weighted by rows, on the reference's bins), for the classes that
failed. It is kept as breakpoints (``x`` increasing, ``y`` non-decreasing) and applied by
linear interpolation between them, constant beyond the ends; monotone, so it keeps the
model's ranking of rows and the ROC AUC it implies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelwatch.contracts.estimation import ScoreStatistics
from modelwatch.monitoring.estimation.statistics import class_arrays

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]

CALIBRATOR_SCHEMA_VERSION: Final = 1
DEFAULT_GROUPS: Final = 10
DEFAULT_ALPHA: Final = 0.05
DEFAULT_ECE_FLOOR: Final = 0.01


class ClassCalibration(BaseModel):
    """The check's outcome for one class."""

    model_config = ConfigDict(extra="forbid")

    name: str
    n: int
    groups: int
    statistic: float = Field(description="Hosmer-Lemeshow H.")
    p_value: float = Field(description="Chi-square with `groups` degrees of freedom.")
    p_adjusted: float = Field(description="Bonferroni across the classes.")
    ece: float = Field(description="Expected calibration error on the groups.")
    calibrated: bool


class CalibrationCheck(BaseModel):
    """Whether the reference is calibrated, class by class."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["hosmer_lemeshow"] = "hosmer_lemeshow"
    alpha: float
    ece_floor: float
    classes: list[ClassCalibration]

    @property
    def calibrated(self) -> bool:
        return all(c.calibrated for c in self.classes)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.classes if not c.calibrated]


class Breakpoints(BaseModel):
    """An isotonic map of one class's scores: ``x`` increasing, ``y`` non-decreasing, same length."""

    model_config = ConfigDict(extra="forbid")

    name: str
    x: list[float]
    y: list[float]


class IsotonicCalibrator(BaseModel):
    """Per-class isotonic maps; a class without one keeps its scores."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = CALIBRATOR_SCHEMA_VERSION
    method: Literal["isotonic"] = "isotonic"
    classes: list[Breakpoints]

    @property
    def mapped(self) -> list[str]:
        """The classes this calibrator maps."""
        return [breakpoints.name for breakpoints in self.classes]

    def apply(self, name: str, scores: Any) -> FloatArray:
        """The calibrated probabilities of ``scores`` of class ``name`` (unchanged when it has no map)."""
        import numpy as np

        values = np.asarray(scores, dtype=np.float64)
        for breakpoints in self.classes:
            if breakpoints.name == name:
                return np.interp(values, breakpoints.x, breakpoints.y)
        return values

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, document: str | bytes) -> IsotonicCalibrator:
        return cls.model_validate_json(document)


def _require_labels(reference: ScoreStatistics) -> None:
    if not reference.labelled:
        raise ValueError(
            "the reference's score statistics carry no labels (positives): cannot check calibration"
        )


def _pooled(reference: ScoreStatistics, index: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per bin of one class (predicted and other rows together): rows, score sum and positives."""
    counts, means, positives = class_arrays(reference, index)
    assert positives is not None
    return (
        counts.sum(axis=0).astype(float),
        (counts * means).sum(axis=0),
        positives.sum(axis=0).astype(float),
    )


def _group_bins(counts: FloatArray, groups: int) -> Any:
    """Group label of each bin: contiguous bins, about ``n / groups`` rows a group."""
    import numpy as np

    total = counts.sum()
    before = np.cumsum(counts) - counts
    return np.minimum((before / total * groups).astype(np.int64), groups - 1)


def check_calibration(
    reference: ScoreStatistics,
    *,
    groups: int = DEFAULT_GROUPS,
    alpha: float = DEFAULT_ALPHA,
    ece_floor: float = DEFAULT_ECE_FLOOR,
) -> CalibrationCheck:
    """Hosmer-Lemeshow per class on the labelled reference, with ECE as the effect size.

    Parameters
    ----------
    reference:
        Labelled score statistics of the reference.
    groups:
        Equal-count groups of contiguous bins (fewer when the rows sit in fewer bins).
    alpha:
        Level of the Bonferroni-adjusted test.
    ece_floor:
        The smallest expected calibration error that fails a class.

    Returns
    -------
    CalibrationCheck

    Raises
    ------
    ValueError
        When the statistics carry no labels or hold no rows.
    """
    import numpy as np
    from scipy.stats import chi2

    _require_labels(reference)
    if reference.n_rows == 0:
        raise ValueError("the reference holds no rows: cannot check calibration")
    outcomes = []
    k = len(reference.classes)
    for index, scores in enumerate(reference.classes):
        counts, sums, positives = _pooled(reference, index)
        means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
        variance = counts * means * (1.0 - means)
        label = _group_bins(counts, groups)
        observed = np.bincount(label, weights=positives, minlength=groups)
        expected = np.bincount(label, weights=sums, minlength=groups)
        null_var = np.bincount(label, weights=variance, minlength=groups)
        used = null_var > 0
        statistic = float((((observed - expected) ** 2)[used] / null_var[used]).sum())
        dof = int(used.sum())
        p_value = float(chi2.sf(statistic, dof)) if dof else 1.0
        ece = float(np.abs(observed - expected).sum() / counts.sum())
        p_adjusted = min(1.0, p_value * k)
        outcomes.append(
            ClassCalibration(
                name=scores.name,
                n=int(counts.sum()),
                groups=dof,
                statistic=statistic,
                p_value=p_value,
                p_adjusted=p_adjusted,
                ece=ece,
                calibrated=not (p_adjusted < alpha and ece >= ece_floor),
            )
        )
    return CalibrationCheck(alpha=alpha, ece_floor=ece_floor, classes=outcomes)


def isotonic_fit(x: FloatArray, y: FloatArray, weights: FloatArray) -> tuple[list[float], list[float]]:
    """Weighted isotonic regression of ``y`` on increasing ``x`` (pool adjacent violators).

    Returns the breakpoints: for each pooled block, its first and last ``x`` at the block's value.
    """
    values: list[float] = []
    mass: list[float] = []
    first: list[float] = []
    last: list[float] = []
    for xi, yi, wi in zip(x.tolist(), y.tolist(), weights.tolist(), strict=True):
        values.append(yi)
        mass.append(wi)
        first.append(xi)
        last.append(xi)
        while len(values) > 1 and values[-2] >= values[-1]:
            w = mass[-2] + mass[-1]
            v = (values[-2] * mass[-2] + values[-1] * mass[-1]) / w
            values[-2:] = [v]
            mass[-2:] = [w]
            first[-2:] = [first[-2]]
            last[-2:] = [last[-1]]
    xs: list[float] = []
    ys: list[float] = []
    for v, lo, hi in zip(values, first, last, strict=True):
        xs.extend([lo, hi] if hi > lo else [lo])
        ys.extend([v, v] if hi > lo else [v])
    return xs, ys


def fit_calibrator(reference: ScoreStatistics, classes: list[str] | None = None) -> IsotonicCalibrator:
    """Isotonic maps fitted on the labelled reference, for ``classes`` (default: all).

    Each non-empty bin is one point: its mean score, its share of positives, its rows as weight.

    Raises
    ------
    ValueError
        When the statistics carry no labels, or a class is unknown.
    """
    import numpy as np

    _require_labels(reference)
    wanted = reference.class_names if classes is None else classes
    unknown = [name for name in wanted if name not in reference.class_names]
    if unknown:
        raise ValueError(f"unknown classes {unknown}; known: {reference.class_names}")
    maps = []
    for index, name in enumerate(reference.class_names):
        if name not in wanted:
            continue
        counts, sums, positives = _pooled(reference, index)
        used = counts > 0
        if not used.any():
            continue
        x = sums[used] / counts[used]
        order = np.argsort(x, kind="mergesort")
        xs, ys = isotonic_fit(x[order], (positives[used] / counts[used])[order], counts[used][order])
        maps.append(Breakpoints(name=name, x=xs, y=ys))
    return IsotonicCalibrator(classes=maps)
