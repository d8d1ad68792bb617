"""The state store: a document saved only if nobody saved it since it was read."""

from __future__ import annotations

import pytest

from modelwatch.metrics.serving_metrics import ServingState
from modelwatch.stores.objects import ObjectStorage
from modelwatch.stores.state import StateConflict, StateStore
from tests.unit.stores.conftest import BUCKET


def test_state_round_trips_and_refuses_stale_writes(storage: ObjectStorage) -> None:
    store = StateStore(storage, BUCKET, "state/metrics_export/serving.json", ServingState)
    state, version = store.load()
    assert version is None and state.counters == {}
    state.add("modelwatch_predictions_total", {"model": "fraud", "version": "1"}, 5)

    store.save(state, version)
    loaded, current = store.load()

    assert loaded.counter("modelwatch_predictions_total", model="fraud", version="1") == 5
    assert current is not None
    with pytest.raises(StateConflict):
        store.save(ServingState(), None)  # someone created it meanwhile
    with pytest.raises(StateConflict):
        store.save(ServingState(), '"stale-etag"')
    loaded.add("modelwatch_predictions_total", {"model": "fraud", "version": "1"}, 1)
    store.save(loaded, current)
    again, newer = store.load()
    assert again.counter("modelwatch_predictions_total", model="fraud", version="1") == 6
    assert newer != current  # a save moves the version on, so the old one is stale now
    with pytest.raises(StateConflict):
        store.save(again, current)
