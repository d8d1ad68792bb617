"""Profiles: compact, JSON-serialisable and mergeable summaries of a dataset's columns.

A *reference profile* is computed once from the training data and stored with the
model version. Each feature keeps its kind, counts of missing, non-finite and
wrongly typed values, and:

- numeric features: bin edges taken from the reference's quantiles (atoms such as
  a frequent 0 get a bin of their own), the count of values per bin plus an
  underflow and an overflow bin (so current values outside the reference range are
  counted), and moments (count, mean, M2, min, max) merged with Chan's formula;
- categorical features: the count of each category, at most ``max_categories``
  of them (the most frequent); values of the remaining categories are counted in
  ``other``.

A *window profile* is computed against the reference (``profile_against``): the
same bin edges, the same categories (plus the window's new ones). Profiles of
disjoint batches profiled against the same reference add up, exactly for every
count and to float precision for the moments, to the profile of their union
(``merge_profiles``), so a scheduled job merges one small profile per delivered
object instead of re-reading rows. The model's output (column ``prediction``) is
profiled as a feature of its own with ``role="prediction"``.

The documents (``DatasetProfile`` ...) are in ``modelwatch.contracts.profile``.
Columns may be numpy arrays, pyarrow arrays (as read by ``modelwatch.monitoring.datasets``)
or plain sequences of JSON values (as read from captured events).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from modelwatch.contracts.profile import (
    DEFAULT_BINS,
    DEFAULT_MAX_CATEGORIES,
    PREDICTION_COLUMN,
    CategoricalSummary,
    DatasetProfile,
    FeatureProfile,
    Kind,
    Moments,
    NumericSummary,
    Role,
)
from modelwatch.contracts.schema import FeatureSpec, FeatureType, InputSchema

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]

EDGE_SAMPLE_MAX: Final = 100_000
# Extra quantiles in the tails: the tail bins stay narrow, which keeps the binned
# Wasserstein distance close to the exact one and makes tail changes visible.
DISCRETE_MAX: Final = 50
TAIL_PROBABILITIES: Final = (0.001, 0.005, 0.01, 0.025, 0.975, 0.99, 0.995, 0.999)

_NUMERIC_TYPES = (FeatureType.NUMBER, FeatureType.INTEGER)


# ----------------------------------------------------------------------------- column values


@dataclass
class NumericValues:
    """A column read as numbers: the finite values and what was set aside."""

    values: FloatArray
    count: int
    missing: int
    non_finite: int
    invalid: int
    value_type: FeatureType


@dataclass
class CategoricalValues:
    """A column read as categories: counts per canonical category string."""

    counts: dict[str, int]
    count: int
    missing: int
    value_type: FeatureType


def category_key(value: Any) -> str:
    """The canonical string of a category value (``true``/``false`` for booleans, ``3`` for 3 and 3.0)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if hasattr(value, "item"):
        return category_key(value.item())
    return json.dumps(value, sort_keys=True, default=str)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _is_pyarrow(values: Any) -> bool:
    return type(values).__module__.startswith("pyarrow")


def _kind_of_type(value_type: FeatureType) -> Kind:
    return "numeric" if value_type in _NUMERIC_TYPES else "categorical"


def _split_python(values: Iterable[Any]) -> tuple[list[float], list[Any], list[Any], int, bool]:
    """Sort Python values into numbers, booleans and others; also count missing."""
    numbers: list[float] = []
    booleans: list[Any] = []
    others: list[Any] = []
    missing = 0
    all_int = True
    for value in values:
        if _is_missing(value):
            missing += 1
        elif isinstance(value, bool) or type(value).__name__ == "bool_":
            booleans.append(value)
        elif not isinstance(value, str) and (
            isinstance(value, (int, float)) or type(value).__module__ == "numpy"
        ):
            try:
                number = float(value)
            except (TypeError, ValueError):
                others.append(value)
                continue
            if all_int and not (isinstance(value, int) or type(value).__name__.startswith("int")):
                all_int = False
            numbers.append(number)
        else:
            others.append(value)
    return numbers, booleans, others, missing, all_int


def _finite(values: FloatArray) -> tuple[FloatArray, int, int]:
    """The finite values, the NaN count and the +-inf count."""
    import numpy as np

    finite = np.isfinite(values)
    if finite.all():
        return values, 0, 0
    missing = int(np.isnan(values).sum())
    return values[finite], missing, int(values.size - finite.sum()) - missing


def _array_to_numpy(array: Any) -> Any:
    """One pyarrow array as numpy: zero-copy from the data buffer for null-free numbers.

    pyarrow's own ``to_numpy`` goes through its pandas shim, which imports pandas when it
    is installed (0.3 s of a 1.5 s drift run); a primitive array without nulls needs none of it.
    """
    import numpy as np
    import pyarrow as pa

    kind = array.type
    if array.null_count == 0 and (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        dtype = np.dtype(
            f"{'f' if pa.types.is_floating(kind) else ('i' if pa.types.is_signed_integer(kind) else 'u')}"
            f"{kind.bit_width // 8}"
        )
        return np.frombuffer(
            array.buffers()[1], dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize
        )
    return array.to_numpy(zero_copy_only=False)


def chunked_to_numpy(values: Any) -> Any:
    """A pyarrow (chunked) array as one numpy array, chunk by chunk (see ``_array_to_numpy``)."""
    import numpy as np

    chunks = getattr(values, "chunks", None)
    if chunks is None:
        return _array_to_numpy(values)
    if not chunks:
        return np.empty(0)
    if len(chunks) == 1:
        return _array_to_numpy(chunks[0])
    return np.concatenate([_array_to_numpy(chunk) for chunk in chunks])


def read_column(values: Any, kind: Kind | None = None) -> NumericValues | CategoricalValues:
    """Read a column as numbers or categories.

    Parameters
    ----------
    values:
        A numpy array, a pyarrow (chunked) array or a sequence of JSON values.
    kind:
        Force the kind (from a schema or a reference); None infers it: numbers
        are numeric, booleans and strings categorical, and a mix is numeric
        when most values are numbers (the others then count as invalid).

    Returns
    -------
    NumericValues | CategoricalValues
    """
    import numpy as np

    if _is_pyarrow(values):
        return _read_arrow(values, kind)
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        dtype_kind = values.dtype.kind
        if dtype_kind == "b":
            value_type = FeatureType.BOOLEAN
        elif dtype_kind in "iu":
            value_type = FeatureType.INTEGER
        else:
            value_type = FeatureType.NUMBER
        if kind == "categorical" or (kind is None and dtype_kind == "b"):
            return _categorical_from_numpy(values, value_type)
        array = values.astype(np.float64, copy=False).ravel()
        finite, missing, non_finite = _finite(array)
        if value_type is FeatureType.BOOLEAN:
            value_type = FeatureType.INTEGER
        return NumericValues(finite, int(array.size), missing, non_finite, 0, value_type)
    return _read_python(list(values), kind)


def _categorical_from_numpy(values: Any, value_type: FeatureType) -> CategoricalValues:
    import numpy as np

    array = values.ravel()
    missing = 0
    if array.dtype.kind == "f":
        nan = np.isnan(array)
        missing = int(nan.sum())
        array = array[~nan]
    uniques, counts = np.unique(array, return_counts=True)
    out: Counter[str] = Counter()
    for value, count in zip(uniques.tolist(), counts.tolist(), strict=True):
        out[category_key(value)] += int(count)
    return CategoricalValues(dict(out), int(values.size), missing, value_type)


def _read_arrow(values: Any, kind: Kind | None) -> NumericValues | CategoricalValues:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(values, pa.Array):
        values = pa.chunked_array([values])
    arrow_type = values.type
    if pa.types.is_dictionary(arrow_type) and kind != "numeric":
        return _categorical_from_dictionary(values)
    if pa.types.is_dictionary(arrow_type):
        values = values.cast(arrow_type.value_type)
        arrow_type = values.type
    is_number = pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)
    is_bool = pa.types.is_boolean(arrow_type)
    is_text = pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
    count = len(values)
    if is_number and kind != "categorical":
        value_type = FeatureType.INTEGER if pa.types.is_integer(arrow_type) else FeatureType.NUMBER
        nulls = values.null_count
        if nulls or not pa.types.is_float64(arrow_type):
            values = values.cast(pa.float64())
        if nulls:
            values = pc.fill_null(values, math.nan)
        array = chunked_to_numpy(values)
        finite, missing, non_finite = _finite(np.asarray(array, dtype=np.float64))
        return NumericValues(finite, count, missing, non_finite, 0, value_type)
    if (is_bool or is_text or is_number) and kind != "numeric":
        value_type = FeatureType.BOOLEAN if is_bool else FeatureType.STRING
        if is_number:
            value_type = FeatureType.INTEGER if pa.types.is_integer(arrow_type) else FeatureType.NUMBER
        counted = pc.value_counts(values)
        keys = counted.field(0).to_pylist()
        numbers = counted.field(1).to_pylist()
        counts: Counter[str] = Counter()
        missing = 0
        for key, number in zip(keys, numbers, strict=True):
            if _is_missing(key):
                missing += int(number)
            else:
                counts[category_key(key)] += int(number)
        return CategoricalValues(dict(counts), count, missing, value_type)
    return _read_python(values.to_pylist(), kind)


def _categorical_from_dictionary(values: Any) -> CategoricalValues:
    """Categories of a dictionary-encoded arrow column, counted on its indices (no string is built)."""
    import numpy as np
    import pyarrow as pa

    counts: Counter[str] = Counter()
    missing = 0
    value_type = FeatureType.STRING
    for chunk in values.chunks:
        dictionary = chunk.dictionary
        if pa.types.is_boolean(dictionary.type):
            value_type = FeatureType.BOOLEAN
        missing += chunk.null_count
        indices = chunk.indices
        if chunk.null_count:
            indices = indices.drop_null()
        array = np.asarray(_array_to_numpy(indices))
        if array.size == 0:
            continue
        per_index = np.bincount(array, minlength=len(dictionary))
        for key, number in zip(dictionary.to_pylist(), per_index.tolist(), strict=False):
            if number and not _is_missing(key):
                counts[category_key(key)] += int(number)
    return CategoricalValues(dict(counts), len(values), missing, value_type)


def _read_python(values: list[Any], kind: Kind | None) -> NumericValues | CategoricalValues:
    import numpy as np

    numbers, booleans, others, missing, all_int = _split_python(values)
    count = len(values)
    if kind is None:
        present = len(numbers) + len(booleans) + len(others)
        if booleans and not numbers and not others:
            kind = "categorical"
        elif numbers and len(numbers) * 2 > present:
            kind = "numeric"
        else:
            kind = "categorical"
    if kind == "numeric":
        array, nan, non_finite = _finite(np.asarray(numbers, dtype=np.float64))
        value_type = FeatureType.INTEGER if all_int and numbers else FeatureType.NUMBER
        invalid = len(booleans) + len(others)
        return NumericValues(array, count, missing + nan, non_finite, invalid, value_type)
    counts = Counter(category_key(value) for value in values if not _is_missing(value))
    if booleans and not others and not numbers:
        value_type = FeatureType.BOOLEAN
    elif numbers and not others and not booleans:
        value_type = FeatureType.INTEGER if all_int else FeatureType.NUMBER
    else:
        value_type = FeatureType.STRING
    return CategoricalValues(dict(counts), count, missing, value_type)


def numeric_values(values: Any) -> FloatArray:
    """The finite numbers of a column (what exact tests such as KS use)."""
    column = read_column(values, "numeric")
    assert isinstance(column, NumericValues)
    return column.values


# ----------------------------------------------------------------------------- binning


def quantile_edges(values: FloatArray, n_bins: int = DEFAULT_BINS) -> FloatArray:
    """Bin edges from the quantiles of ``values`` (finite), deduplicated.

    A feature with fewer than ``DISCRETE_MAX`` distinct values gets one bin per
    value. Otherwise edges are the quantiles at ``n_bins`` equal steps plus
    ``TAIL_PROBABILITIES``.
    Quantiles are taken on at most ``EDGE_SAMPLE_MAX`` evenly strided values (the
    counts are always exact; the edges only need to be fixed and sensible). A
    value repeated across several quantiles is a point mass: it gets a bin of its
    own, ``[v, nextafter(v))``. The last edge is just above the maximum, so the
    maximum falls in the last interior bin.
    """
    import numpy as np

    if values.size == 0:
        return np.empty(0, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    step = max(1, math.ceil(values.size / EDGE_SAMPLE_MAX))
    sample = np.sort(values[::step])
    distinct = np.flatnonzero(np.diff(sample)) + 1
    if distinct.size < DISCRETE_MAX:
        # Few distinct values (hours, counts, flags): one bin per value.
        values_seen = np.concatenate([sample[:1], sample[distinct]])
        return np.unique(np.concatenate([values_seen, [low, np.nextafter(high, np.inf)]])).astype(np.float64)
    probabilities = np.union1d(np.linspace(0.0, 1.0, n_bins + 1), TAIL_PROBABILITIES)
    # The "inverted CDF" quantile: the smallest value whose empirical CDF reaches p.
    positions = np.clip(np.ceil(probabilities * sample.size).astype(np.int64) - 1, 0, sample.size - 1)
    quantiles = sample[positions]
    quantiles[0], quantiles[-1] = low, high
    uniques, repeats = np.unique(quantiles, return_counts=True)
    atoms = uniques[repeats > 1]
    top = np.nextafter(high, np.inf)
    if high not in atoms:
        uniques = uniques[uniques < high]
    edges = np.unique(np.concatenate([uniques, np.nextafter(atoms, np.inf), [low, top]]))
    return edges.astype(np.float64)


def bin_counts(values: FloatArray, edges: Sequence[float] | FloatArray) -> list[int]:
    """Counts of ``values`` in the underflow bin, each interior bin and the overflow bin."""
    import numpy as np

    full = np.concatenate([[-np.inf], np.asarray(edges, dtype=np.float64), [np.inf]])
    counts, _ = np.histogram(values, bins=full)
    return [int(c) for c in counts]


def compute_moments(values: FloatArray) -> Moments:
    """Moments of finite ``values``."""
    import numpy as np

    if values.size == 0:
        return Moments()
    count = int(values.size)
    mean = float(values.mean())
    # M2 from the sum of squares (no temporary array) unless cancellation would
    # lose more than ~6 digits, e.g. for large values with a small spread.
    sum_squares = float(np.einsum("i,i->", values, values))
    m2 = sum_squares - count * mean * mean
    if not m2 > 1e-6 * sum_squares:
        deviations = values - mean
        m2 = float(np.einsum("i,i->", deviations, deviations))
    return Moments(count=count, mean=mean, m2=max(m2, 0.0), min=float(values.min()), max=float(values.max()))


def merge_moments(a: Moments, b: Moments) -> Moments:
    """Moments of the union of two disjoint samples (Chan et al.'s parallel formula)."""
    if a.count == 0:
        return b.model_copy()
    if b.count == 0:
        return a.model_copy()
    count = a.count + b.count
    delta = b.mean - a.mean
    mean = a.mean + delta * b.count / count
    m2 = a.m2 + b.m2 + delta * delta * a.count * b.count / count
    lows = [v for v in (a.min, b.min) if v is not None]
    highs = [v for v in (a.max, b.max) if v is not None]
    return Moments(
        count=count, mean=mean, m2=m2, min=min(lows) if lows else None, max=max(highs) if highs else None
    )


def _cap(
    counts: Mapping[str, int], max_categories: int, keep_first: Sequence[str] = ()
) -> tuple[dict[str, int], int]:
    """Keep at most ``max_categories`` categories (``keep_first`` before the most frequent)."""
    if len(counts) <= max_categories:
        return {key: counts[key] for key in sorted(counts)}, 0
    first = set(keep_first)
    ordered = sorted(counts, key=lambda key: (key not in first, -counts[key], key))
    kept = ordered[:max_categories]
    other = sum(counts[key] for key in ordered[max_categories:])
    return {key: counts[key] for key in sorted(kept)}, other


# ----------------------------------------------------------------------------- profiles


def _numeric_profile(name: str, role: Role, column: NumericValues, edges: FloatArray) -> FeatureProfile:
    return FeatureProfile(
        name=name,
        kind="numeric",
        role=role,
        value_type=column.value_type,
        count=column.count,
        missing=column.missing,
        non_finite=column.non_finite,
        invalid=column.invalid,
        numeric=NumericSummary(
            edges=[float(e) for e in edges],
            counts=bin_counts(column.values, edges),
            moments=compute_moments(column.values),
        ),
    )


def _categorical_profile(
    name: str, role: Role, column: CategoricalValues, max_categories: int, keep_first: Sequence[str] = ()
) -> FeatureProfile:
    counts, other = _cap(column.counts, max_categories, keep_first)
    return FeatureProfile(
        name=name,
        kind="categorical",
        role=role,
        value_type=column.value_type,
        count=column.count,
        missing=column.missing,
        categorical=CategoricalSummary(counts=counts, other=other),
    )


def _role(name: str, prediction_column: str | None) -> Role:
    return "prediction" if name == prediction_column else "feature"


def _row_count(columns: Mapping[str, Any]) -> int:
    lengths = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns have different lengths: {sorted(lengths)}")
    return lengths.pop() if lengths else 0


def profile_dataset(
    columns: Mapping[str, Any],
    schema: InputSchema | None = None,
    *,
    n_bins: int = DEFAULT_BINS,
    max_categories: int = DEFAULT_MAX_CATEGORIES,
    prediction_column: str | None = PREDICTION_COLUMN,
) -> DatasetProfile:
    """Profile a dataset (typically the training data): this is a *reference* profile.

    Parameters
    ----------
    columns:
        Column name to values (numpy array, pyarrow array or sequence of JSON values),
        all of the same length.
    schema:
        When given, only its features are profiled (absent ones as all-missing) and
        their kind follows the schema (number/integer: numeric; boolean/string:
        categorical); the prediction column is profiled too when present.
    n_bins:
        Number of quantile bins of numeric features (before deduplication).
    max_categories:
        Categories kept per categorical feature; the others are counted in ``other``.
    prediction_column:
        The column holding the model's output, profiled with ``role="prediction"``.

    Returns
    -------
    DatasetProfile

    Raises
    ------
    ValueError
        When columns have different lengths.
    """
    n_rows = _row_count(columns)
    specs: list[tuple[str, Kind | None]]
    if schema is not None:
        specs = [(spec.name, _kind_of_type(spec.type)) for spec in schema.features]
        if prediction_column is not None and prediction_column in columns:
            specs.append((prediction_column, None))
    else:
        specs = [(name, None) for name in columns]
    features: list[FeatureProfile] = []
    for name, kind in specs:
        values = columns[name] if name in columns else [None] * n_rows
        column = read_column(values, kind)
        role = _role(name, prediction_column)
        if isinstance(column, NumericValues):
            features.append(_numeric_profile(name, role, column, quantile_edges(column.values, n_bins)))
        else:
            features.append(_categorical_profile(name, role, column, max_categories))
    if schema is not None:
        by_name = {spec.name: spec for spec in schema.features}
        for feature in features:
            spec = by_name.get(feature.name)
            if spec is not None and feature.kind == _kind_of_type(spec.type):
                feature.value_type = spec.type
    return DatasetProfile(n_rows=n_rows, n_bins=n_bins, max_categories=max_categories, features=features)


def profile_against(reference: DatasetProfile, columns: Mapping[str, Any]) -> DatasetProfile:
    """Profile a batch (a window, or one delivered events object) on the reference's bins and categories.

    Parameters
    ----------
    reference:
        The reference profile; its features, kinds and numeric bin edges are reused.
    columns:
        Column name to values. Features of the reference absent from ``columns`` are
        left out of the result (a partial batch is not all-missing).

    Returns
    -------
    DatasetProfile
        Mergeable with every other profile made against the same reference.
    """
    n_rows = _row_count(columns)
    features: list[FeatureProfile] = []
    for ref in reference.features:
        if ref.name not in columns:
            continue
        column = read_column(columns[ref.name], ref.kind)
        if isinstance(column, NumericValues):
            import numpy as np

            edges = np.asarray(ref.numeric.edges if ref.numeric else [], dtype=np.float64)
            profile = _numeric_profile(ref.name, ref.role, column, edges)
        else:
            known = list(ref.categorical.counts) if ref.categorical else []
            profile = _categorical_profile(ref.name, ref.role, column, reference.max_categories, known)
        profile.value_type = ref.value_type
        features.append(profile)
    return DatasetProfile(
        n_rows=n_rows, n_bins=reference.n_bins, max_categories=reference.max_categories, features=features
    )


def _merge_feature(a: FeatureProfile, b: FeatureProfile, max_categories: int) -> FeatureProfile:
    if a.kind != b.kind:
        raise ValueError(f"feature {a.name!r} is {a.kind} in one profile and {b.kind} in another")
    merged = FeatureProfile(
        name=a.name,
        kind=a.kind,
        role=a.role,
        value_type=a.value_type
        if a.value_type == b.value_type
        else FeatureType.NUMBER
        if a.kind == "numeric"
        else FeatureType.STRING,
        count=a.count + b.count,
        missing=a.missing + b.missing,
        non_finite=a.non_finite + b.non_finite,
        invalid=a.invalid + b.invalid,
    )
    if a.numeric is not None and b.numeric is not None:
        if a.numeric.edges != b.numeric.edges:
            raise ValueError(
                f"feature {a.name!r}: cannot merge profiles with different bin edges "
                "(profile each batch against the same reference)"
            )
        merged.numeric = NumericSummary(
            edges=list(a.numeric.edges),
            counts=[x + y for x, y in zip(a.numeric.counts, b.numeric.counts, strict=True)],
            moments=merge_moments(a.numeric.moments, b.numeric.moments),
        )
    elif a.categorical is not None and b.categorical is not None:
        counts: Counter[str] = Counter(a.categorical.counts)
        counts.update(b.categorical.counts)
        kept, other = _cap(counts, max_categories)
        merged.categorical = CategoricalSummary(
            counts=kept, other=other + a.categorical.other + b.categorical.other
        )
    return merged


def merge_profiles(profiles: Iterable[DatasetProfile]) -> DatasetProfile:
    """Merge the profiles of disjoint batches into the profile of their union.

    Features present in only some of the profiles are merged over those. Numeric
    features must share their bin edges (profile batches against one reference).

    Parameters
    ----------
    profiles:
        At least one profile.

    Returns
    -------
    DatasetProfile

    Raises
    ------
    ValueError
        With no profiles, or when bin edges or kinds disagree.
    """
    merged: DatasetProfile | None = None
    for profile in profiles:
        if merged is None:
            merged = profile.model_copy(deep=True)
            continue
        by_name = {feature.name: feature for feature in merged.features}
        for feature in profile.features:
            if feature.name in by_name:
                by_name[feature.name] = _merge_feature(by_name[feature.name], feature, merged.max_categories)
            else:
                by_name[feature.name] = feature.model_copy(deep=True)
        merged = DatasetProfile(
            n_rows=merged.n_rows + profile.n_rows,
            n_bins=merged.n_bins,
            max_categories=merged.max_categories,
            features=list(by_name.values()),
        )
    if merged is None:
        raise ValueError("merge_profiles needs at least one profile")
    return merged


def infer_schema(profile: DatasetProfile, max_allowed_values: int = DEFAULT_MAX_CATEGORIES) -> InputSchema:
    """The input schema implied by a reference profile (type, nullable, range, categories, cardinality).

    Parameters
    ----------
    profile:
        A reference profile (``profile_dataset``); the prediction column is left out.
    max_allowed_values:
        String features with more distinct values than this get no ``allowed_values``.

    Returns
    -------
    InputSchema

    Raises
    ------
    ValueError
        When the profile has no feature.
    """
    specs: list[FeatureSpec] = []
    for feature in profile.features:
        if feature.role != "feature":
            continue
        nullable = feature.missing > 0
        if feature.kind == "numeric" and feature.numeric is not None:
            moments = feature.numeric.moments
            value_type = feature.value_type if feature.value_type in _NUMERIC_TYPES else FeatureType.NUMBER
            specs.append(
                FeatureSpec(
                    name=feature.name,
                    type=value_type,
                    nullable=nullable,
                    minimum=moments.min,
                    maximum=moments.max,
                )
            )
            continue
        summary = feature.categorical or CategoricalSummary(counts={})
        complete = summary.other == 0
        if feature.value_type is FeatureType.BOOLEAN:
            specs.append(FeatureSpec(name=feature.name, type=FeatureType.BOOLEAN, nullable=nullable))
            continue
        categories = sorted(summary.counts)
        specs.append(
            FeatureSpec(
                name=feature.name,
                type=FeatureType.STRING,
                nullable=nullable,
                allowed_values=categories if complete and len(categories) <= max_allowed_values else None,
                cardinality=len(categories) if complete else None,
            )
        )
    if not specs:
        raise ValueError("the profile has no feature to infer a schema from")
    return InputSchema(features=specs)
