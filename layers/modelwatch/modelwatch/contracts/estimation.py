"""Score statistics for performance estimation without labels (the document): what CBPE merges per window.

The sufficient statistics of a set of predictions (one delivered object, a window, or the
labelled reference) for confidence-based performance estimation
(``modelwatch.monitoring.estimation``). Per class, histograms of the model's score for that
class on ``n_bins`` fixed bins of [0, 1]:

- **binary** (``task="binary"``): one class, the positive one, scored by P(positive). The
  bins are uniform on [0, t) and on [t, 1] (``t`` the decision threshold, always a bin
  edge: ``round(t * n_bins)`` bins below it), so "predicted positive" (``score >= t``) is a
  set of whole bins: ``predicted`` holds the rows at or above ``t`` and ``other`` the rows
  below it.
- **multiclass** (``task="multiclass"``): one entry per class ``c``, uniform bins, scored by
  P(c); ``predicted`` holds P(c) of the rows whose predicted class is ``c`` (the arg max,
  unless the model says otherwise) and ``other`` P(c) of the other rows. That is what the
  one-vs-rest confusion counts of each class need (NannyML's multiclass CBPE is one-vs-rest
  per class, macro-averaged). ``sums_by_predicted`` adds, per predicted class ``d``, the
  sum of P(c) over the rows predicted ``d``: over the classes, the expected confusion
  matrix, which ties the classes' draws together.

Each histogram bin holds the rows' count and the sum of their scores in fixed point
(``round(score * SCORE_SUM_SCALE)``, an integer), so a bin's mean score is exact to
``2**-24`` wherever its rows sit in it; ``positives`` (rows whose label is that class) is
present only for labelled data (the reference, or a window whose labels arrived). Every
field is an integer count, so statistics merge by addition, associative and commutative,
exactly: the statistics of the parts merged equal those of the whole (:func:`merge_statistics`).
Rows with a score that is not a number in [0, 1] are counted in ``invalid`` and left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

ESTIMATION_SCHEMA_VERSION: Final = 1
DEFAULT_SCORE_BINS: Final = 1000
DEFAULT_THRESHOLD: Final = 0.5
SCORE_SUM_SCALE: Final = 2**24

EstimationTask = Literal["binary", "multiclass"]


def threshold_bin(n_bins: int, threshold: float) -> int:
    """The first bin at or above ``threshold``: ``round(threshold * n_bins)`` within [1, n_bins - 1]."""
    return min(max(round(threshold * n_bins), 1), n_bins - 1)


def score_bin_edges(n_bins: int, threshold: float | None) -> list[float]:
    """The ``n_bins + 1`` bin edges on [0, 1]; with a threshold, uniform below it and above it.

    Bin ``i`` is ``[edges[i], edges[i + 1])``; the last bin also holds 1.
    """
    if threshold is None:
        return [i / n_bins for i in range(n_bins + 1)]
    k = threshold_bin(n_bins, threshold)
    below = [threshold * i / k for i in range(k)]
    above = [threshold + (1.0 - threshold) * i / (n_bins - k) for i in range(n_bins - k)]
    return [*below, *above, 1.0]


class ScoreHistogram(BaseModel):
    """Per-bin row counts, fixed-point score sums and, for labelled data, positive labels."""

    model_config = ConfigDict(extra="forbid")

    counts: list[int]
    score_sums: list[int] = Field(description="Per bin, the sum of round(score * 2**24) of its rows.")
    positives: list[int] | None = Field(
        None, description="Per bin, rows labelled this class (labelled only)."
    )

    @model_validator(mode="after")
    def _aligned(self) -> Self:
        if len(self.score_sums) != len(self.counts):
            raise ValueError(f"score_sums has {len(self.score_sums)} bins, counts {len(self.counts)}")
        if self.positives is not None and len(self.positives) != len(self.counts):
            raise ValueError(f"positives has {len(self.positives)} bins, counts {len(self.counts)}")
        return self

    @property
    def n(self) -> int:
        return sum(self.counts)


class ClassScores(BaseModel):
    """The score histograms of one class: rows predicted as it, and the other rows."""

    model_config = ConfigDict(extra="forbid")

    name: str
    predicted: ScoreHistogram
    other: ScoreHistogram
    sums_by_predicted: list[int] | None = Field(
        None,
        description="Multiclass: per predicted class, the fixed-point sum of P(this class) of its rows.",
    )


class ScoreStatistics(BaseModel):
    """The mergeable CBPE statistics of a set of predictions of one model version."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = ESTIMATION_SCHEMA_VERSION
    task: EstimationTask
    n_bins: int = Field(DEFAULT_SCORE_BINS, ge=2)
    threshold: float | None = Field(
        None, description="Binary only: predicted positive is score >= threshold."
    )
    n_rows: int = Field(description="Rows counted in the histograms.")
    invalid: int = Field(0, description="Rows left out: a score that is not a number in [0, 1].")
    classes: list[ClassScores]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.task == "binary":
            if self.threshold is None or not 0.0 < self.threshold < 1.0:
                raise ValueError("threshold: a binary task needs a decision threshold in (0, 1)")
            if len(self.classes) != 1:
                raise ValueError(f"classes: a binary task has one (positive) class, not {len(self.classes)}")
        else:
            if self.threshold is not None:
                raise ValueError("threshold: a multiclass task predicts the arg max, it has no threshold")
            if len(self.classes) < 2:
                raise ValueError("classes: a multiclass task needs at least two classes")
        names = [c.name for c in self.classes]
        if len(set(names)) != len(names):
            raise ValueError(f"classes: names repeat in {names}")
        for scores in self.classes:
            for part, histogram in (("predicted", scores.predicted), ("other", scores.other)):
                if len(histogram.counts) != self.n_bins:
                    raise ValueError(
                        f"classes[{scores.name!r}].{part}: {len(histogram.counts)} bins, "
                        f"n_bins is {self.n_bins}"
                    )
            by_predicted = scores.sums_by_predicted
            if (self.task == "multiclass") != (by_predicted is not None):
                raise ValueError(
                    f"classes[{scores.name!r}].sums_by_predicted: present exactly for multiclass"
                )
            if by_predicted is not None and len(by_predicted) != len(self.classes):
                raise ValueError(f"classes[{scores.name!r}].sums_by_predicted: one sum per class")
            if scores.predicted.n + scores.other.n != self.n_rows:
                raise ValueError(f"classes[{scores.name!r}]: its histograms hold other than n_rows rows")
        return self

    @property
    def labelled(self) -> bool:
        """Whether every histogram carries its positive labels."""
        return all(c.predicted.positives is not None and c.other.positives is not None for c in self.classes)

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    @property
    def edges(self) -> list[float]:
        return score_bin_edges(self.n_bins, self.threshold)

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)

    @classmethod
    def from_json(cls, document: str | bytes) -> ScoreStatistics:
        return cls.model_validate_json(document)


def _add(a: list[int], b: list[int]) -> list[int]:
    return [x + y for x, y in zip(a, b, strict=True)]


def _merge_histograms(a: ScoreHistogram, b: ScoreHistogram) -> ScoreHistogram:
    positives = None
    if a.positives is not None and b.positives is not None:
        positives = _add(a.positives, b.positives)
    return ScoreHistogram(
        counts=_add(a.counts, b.counts), score_sums=_add(a.score_sums, b.score_sums), positives=positives
    )


def _merge_two(a: ScoreStatistics, b: ScoreStatistics) -> ScoreStatistics:
    if (a.task, a.n_bins, a.threshold, a.class_names) != (b.task, b.n_bins, b.threshold, b.class_names):
        raise ValueError(
            "cannot merge score statistics of different shapes: "
            f"({a.task}, {a.n_bins} bins, threshold {a.threshold}, classes {a.class_names}) and "
            f"({b.task}, {b.n_bins} bins, threshold {b.threshold}, classes {b.class_names})"
        )
    return ScoreStatistics(
        task=a.task,
        n_bins=a.n_bins,
        threshold=a.threshold,
        n_rows=a.n_rows + b.n_rows,
        invalid=a.invalid + b.invalid,
        classes=[
            ClassScores(
                name=x.name,
                predicted=_merge_histograms(x.predicted, y.predicted),
                other=_merge_histograms(x.other, y.other),
                sums_by_predicted=None
                if x.sums_by_predicted is None or y.sums_by_predicted is None
                else _add(x.sums_by_predicted, y.sums_by_predicted),
            )
            for x, y in zip(a.classes, b.classes, strict=True)
        ],
    )


def merge_statistics(parts: Iterable[ScoreStatistics]) -> ScoreStatistics:
    """The statistics of the union of ``parts`` (bin by bin sums; labels kept only if every part has them).

    Raises
    ------
    ValueError
        When ``parts`` is empty, or two parts differ in task, bins, threshold or classes.
    """
    merged: ScoreStatistics | None = None
    for part in parts:
        merged = part if merged is None else _merge_two(merged, part)
    if merged is None:
        raise ValueError("no score statistics to merge")
    return merged
