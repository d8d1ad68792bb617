"""The score-statistics document: bins with the threshold on an edge, exact merges, JSON, clear errors."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from modelwatch.contracts.estimation import (
    ScoreStatistics,
    merge_statistics,
    score_bin_edges,
    threshold_bin,
)
from modelwatch.monitoring.estimation import binary_statistics, multiclass_statistics
from tests.unit.monitoring.estimation.worlds import CLASSES, binary_world, multiclass_world


@pytest.mark.parametrize("threshold", [0.5, 0.3, 0.1234, 0.999])
def test_the_threshold_is_a_bin_edge_and_bins_are_uniform_on_each_side(threshold: float) -> None:
    edges = score_bin_edges(1000, threshold)
    k = threshold_bin(1000, threshold)

    assert len(edges) == 1001 and edges[0] == 0.0 and edges[-1] == 1.0
    assert edges[k] == threshold
    assert np.allclose(np.diff(edges[: k + 1]), threshold / k)
    assert np.allclose(np.diff(edges[k:]), (1 - threshold) / (1000 - k))


def test_statistics_of_parts_merged_equal_the_statistics_of_the_whole() -> None:
    rng = np.random.default_rng(1)
    scores, labels = binary_world(rng, 30_000)
    whole = binary_statistics(scores, labels=labels, threshold=0.37)
    cuts = [0, 1, 9_000, 9_001, 21_500, 30_000]
    parts = [binary_statistics(scores[a:b], labels=labels[a:b], threshold=0.37) for a, b in pairwise(cuts)]

    assert merge_statistics(parts) == whole
    assert merge_statistics(reversed(parts)) == whole
    assert merge_statistics([merge_statistics(parts[:2]), merge_statistics(parts[2:])]) == whole


def test_multiclass_statistics_merge_exactly_too() -> None:
    rng = np.random.default_rng(2)
    p, labels = multiclass_world(rng, 20_000)
    whole = multiclass_statistics(p, CLASSES, labels=labels)
    parts = [multiclass_statistics(p[i::4], CLASSES, labels=labels[i::4]) for i in range(4)]

    assert merge_statistics(parts[::-1]) == whole
    assert [c.predicted.n for c in whole.classes] == [int((p.argmax(1) == c).sum()) for c in range(3)]


def test_json_round_trip_keeps_every_count() -> None:
    rng = np.random.default_rng(3)
    scores, labels = binary_world(rng, 5_000)
    for statistics in (
        binary_statistics(scores),
        binary_statistics(scores, labels=labels),
        multiclass_statistics(*multiclass_world(rng, 2_000)[:1], CLASSES),
    ):
        assert ScoreStatistics.from_json(statistics.to_json()) == statistics


def test_an_unlabelled_part_makes_the_merge_unlabelled() -> None:
    rng = np.random.default_rng(4)
    scores, labels = binary_world(rng, 2_000)
    merged = merge_statistics(
        [binary_statistics(scores[:1000], labels=labels[:1000]), binary_statistics(scores[1000:])]
    )

    assert not merged.labelled and merged.n_rows == 2_000


def test_parts_of_different_shapes_do_not_merge() -> None:
    scores = np.linspace(0, 1, 100)
    with pytest.raises(ValueError, match=r"different shapes.*threshold 0\.5.*threshold 0\.6"):
        merge_statistics([binary_statistics(scores), binary_statistics(scores, threshold=0.6)])
    with pytest.raises(ValueError, match="no score statistics"):
        merge_statistics([])


def test_a_document_that_does_not_add_up_is_refused_naming_the_field() -> None:
    document = binary_statistics(np.linspace(0, 1, 100)).model_dump()
    document["n_rows"] = 99
    with pytest.raises(ValueError, match=r"classes\['1'\].*n_rows"):
        ScoreStatistics.model_validate(document)
    document = binary_statistics(np.linspace(0, 1, 100)).model_dump()
    document["classes"][0]["other"]["score_sums"].pop()
    with pytest.raises(ValueError, match="score_sums has 999 bins"):
        ScoreStatistics.model_validate(document)
    document = binary_statistics(np.linspace(0, 1, 100)).model_dump()
    document["threshold"] = None
    with pytest.raises(ValueError, match="threshold"):
        ScoreStatistics.model_validate(document)


def test_multiclass_classes_carry_their_expected_confusion_row() -> None:
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.5, 0.3, 0.2]])
    statistics = multiclass_statistics(p, CLASSES)

    sums = [c.sums_by_predicted for c in statistics.classes]
    expected = ([1.2, 0.1, 0.0], [0.5, 0.6, 0.0], [0.3, 0.3, 0.0])  # rows predicted a, b, c
    assert sums == [[round(x * 2**24) for x in row] for row in expected]
    document = statistics.model_dump()
    document["classes"][0]["sums_by_predicted"] = None
    with pytest.raises(ValueError, match=r"classes\['a'\].sums_by_predicted"):
        ScoreStatistics.model_validate(document)
