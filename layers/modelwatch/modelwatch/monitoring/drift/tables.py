"""Reference-versus-current count tables of a feature, and the two-sample chi-square test on them.

Both rows of the table are samples: the current window's counts and the
reference's counts on the same bins (numeric: the reference's quantile bins plus
under- and overflow; categorical: the reference's categories plus one cell for
everything else). The test is the chi-square test of homogeneity of the 2 x k
contingency table, not a goodness-of-fit test against the reference proportions
taken as exact, so the reference's own sampling noise (including the noise of
edges taken from its quantiles) is accounted for.

Cells are merged until every expected count of the smaller sample reaches
``min_expected`` (5 by default, Cochran's rule): adjacent bins for numeric
features, the rarest categories together for categorical ones. The grouping
depends only on the pooled counts, which keeps the test valid under the null.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

from modelwatch.contracts.profile import FeatureProfile
from modelwatch.monitoring.drift.distributions import chi2_sf

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    IntArray = npt.NDArray[np.int64]
    FloatArray = npt.NDArray[np.float64]

OTHER_CELL = "__other__"


@dataclass(frozen=True)
class CountTable:
    """Counts of the reference and the current sample on the same cells."""

    reference: IntArray
    current: IntArray
    labels: list[str]
    ordered: bool

    @property
    def n_reference(self) -> int:
        return int(self.reference.sum())

    @property
    def n_current(self) -> int:
        return int(self.current.sum())


@dataclass(frozen=True)
class ChiSquareResult:
    statistic: float
    df: int
    p_value: float | None
    table: CountTable


def _edge_label(value: float) -> str:
    return f"{value:.4g}"


def count_table(reference: FeatureProfile, current: FeatureProfile) -> CountTable:
    """Align the counts of ``current`` (profiled against ``reference``) with the reference's.

    Raises
    ------
    ValueError
        When the current profile was not made on the reference's bin edges.
    """
    import numpy as np

    if reference.kind == "numeric":
        if reference.numeric is None or current.numeric is None:
            raise ValueError(f"feature {reference.name!r}: numeric profile without bins")
        if reference.numeric.edges != current.numeric.edges:
            raise ValueError(
                f"feature {reference.name!r}: the current profile was not made against this reference's bins"
            )
        edges = reference.numeric.edges
        if edges:
            labels = [f"< {_edge_label(edges[0])}"]
            labels += [f"[{_edge_label(lo)}, {_edge_label(hi)})" for lo, hi in pairwise(edges)]
            labels.append(f">= {_edge_label(edges[-1])}")
        else:
            labels = ["all"]
        return CountTable(
            np.asarray(reference.numeric.counts, dtype=np.int64),
            np.asarray(current.numeric.counts, dtype=np.int64),
            labels,
            ordered=True,
        )
    if reference.categorical is None or current.categorical is None:
        raise ValueError(f"feature {reference.name!r}: categorical profile without counts")
    known = list(reference.categorical.counts)
    current_counts = current.categorical.counts
    new = sum(count for key, count in current_counts.items() if key not in reference.categorical.counts)
    ref = [reference.categorical.counts[key] for key in known] + [reference.categorical.other]
    cur = [current_counts.get(key, 0) for key in known] + [current.categorical.other + new]
    return CountTable(
        np.asarray(ref, dtype=np.int64), np.asarray(cur, dtype=np.int64), [*known, OTHER_CELL], ordered=False
    )


def _groups(totals: FloatArray, ordered: bool, minimum_total: float) -> list[list[int]]:
    """Indices of cells merged so that each group's pooled total reaches ``minimum_total``."""
    import numpy as np

    cells = [int(i) for i in np.flatnonzero(totals > 0)]
    if not ordered:
        cells.sort(key=lambda i: -totals[i])
        big = [[i] for i in cells if totals[i] >= minimum_total]
        small = [i for i in cells if totals[i] < minimum_total]
        if small:
            if sum(totals[i] for i in small) >= minimum_total or not big:
                big.append(small)
            else:
                big[-1] = big[-1] + small
        return big
    groups: list[list[int]] = []
    pending: list[int] = []
    pending_total = 0.0
    for i in cells:
        pending.append(i)
        pending_total += float(totals[i])
        if pending_total >= minimum_total:
            groups.append(pending)
            pending, pending_total = [], 0.0
    if pending:
        if groups:
            groups[-1] = groups[-1] + pending
        else:
            groups.append(pending)
    return groups


def merged_table(table: CountTable, min_expected: float = 5.0) -> CountTable:
    """The table with cells merged until every expected count of the smaller sample is >= ``min_expected``."""
    import numpy as np

    n_ref, n_cur = table.n_reference, table.n_current
    total = n_ref + n_cur
    totals = (table.reference + table.current).astype(np.float64)
    smaller = min(n_ref, n_cur)
    minimum_total = min_expected * total / smaller if smaller else float("inf")
    groups = _groups(totals, table.ordered, minimum_total)
    ref = np.asarray([table.reference[g].sum() for g in groups], dtype=np.int64)
    cur = np.asarray([table.current[g].sum() for g in groups], dtype=np.int64)
    labels = [" + ".join(table.labels[i] for i in g) if len(g) <= 3 else f"{len(g)} cells" for g in groups]
    return CountTable(ref, cur, labels, table.ordered)


def chi_square_test(table: CountTable, min_expected: float = 5.0) -> ChiSquareResult:
    """Chi-square test of homogeneity of the 2 x k table (cells merged first, see ``merged_table``).

    ``p_value`` is None when fewer than two cells remain (nothing to compare) or a
    sample is empty.
    """
    import numpy as np

    merged = merged_table(table, min_expected)
    n_ref, n_cur = merged.n_reference, merged.n_current
    if n_ref == 0 or n_cur == 0 or len(merged.labels) < 2:
        return ChiSquareResult(0.0, 0, None, merged)
    totals = (merged.reference + merged.current).astype(np.float64)
    n = float(n_ref + n_cur)
    expected_ref = totals * n_ref / n
    expected_cur = totals * n_cur / n
    statistic = float(
        np.sum((merged.reference - expected_ref) ** 2 / expected_ref)
        + np.sum((merged.current - expected_cur) ** 2 / expected_cur)
    )
    df = len(merged.labels) - 1
    return ChiSquareResult(statistic, df, chi2_sf(statistic, df), merged)


def proportions(table: CountTable) -> tuple[FloatArray, FloatArray]:
    """Reference and current proportions per cell (zeros for an empty sample)."""
    import numpy as np

    n_ref, n_cur = table.n_reference, table.n_current
    ref = table.reference / n_ref if n_ref else np.zeros(len(table.labels))
    cur = table.current / n_cur if n_cur else np.zeros(len(table.labels))
    return ref.astype(np.float64), cur.astype(np.float64)
