"""Replay claims: one holder per event, on both object storages; replayed, busy, in doubt, released."""

from __future__ import annotations

import threading

import pytest

from modelwatch.contracts import layout
from modelwatch.stores.objects import InMemoryStorage, ObjectStorage
from modelwatch.stores.replay_claims import ReplayClaim, ReplayClaims
from tests.unit.fakes import FakeClock
from tests.unit.stores.conftest import BUCKET

LEASE = 900.0


@pytest.fixture
def wall() -> FakeClock:
    return FakeClock(start=1_800_000_000.0)


def test_the_first_claim_wins_and_a_second_run_sees_it_busy_then_replayed(
    storage: ObjectStorage, wall: FakeClock
) -> None:
    claims = ReplayClaims(storage, BUCKET, lease_seconds=LEASE, clock=wall)

    mine = claims.claim("e1", "fraud-events", "run-a")
    other = claims.claim("e1", "fraud-events", "run-b")

    assert mine.outcome == "ours" and mine.etag
    assert other.outcome == "busy" and other.document is not None and other.document.run_id == "run-a"
    assert claims.confirm(mine)
    replayed = claims.claim("e1", "fraud-events", "run-b")
    assert replayed.outcome == "replayed"
    assert replayed.document is not None and replayed.document.replayed_at == wall.now
    stored = ReplayClaim.model_validate_json(storage.get(BUCKET, layout.replay_claim_key("e1")).body)  # type: ignore[union-attr]
    assert stored.status == "replayed" and stored.stream == "fraud-events"


def test_a_claim_never_confirmed_goes_in_doubt_after_its_lease_and_is_taken_over_only_when_asked(
    storage: ObjectStorage, wall: FakeClock
) -> None:
    claims = ReplayClaims(storage, BUCKET, lease_seconds=LEASE, clock=wall)
    stale = claims.claim("e1", "s", "run-a")
    wall.advance(LEASE + 1)

    doubt = claims.claim("e1", "s", "run-b")
    taken = claims.claim("e1", "s", "run-b", take_over_in_doubt=True)

    assert doubt.outcome == "in_doubt"
    assert taken.outcome == "ours" and taken.document is not None and taken.document.run_id == "run-b"
    # the old holder can no longer settle what it lost
    assert not claims.confirm(stale)
    assert claims.lookup("e1") is not None and claims.lookup("e1").outcome == "busy"  # type: ignore[union-attr]


def test_a_released_claim_is_free_for_the_next_run(storage: ObjectStorage, wall: FakeClock) -> None:
    claims = ReplayClaims(storage, BUCKET, lease_seconds=LEASE, clock=wall)
    failed = claims.claim("e1", "s", "run-a")

    assert claims.release(failed)
    assert claims.lookup("e1") is None
    again = claims.claim("e1", "s", "run-b")
    assert again.outcome == "ours"
    with pytest.raises(ValueError, match="not a claim of ours"):
        claims.confirm(claims.claim("e1", "s", "run-c"))


def test_lookup_writes_nothing(wall: FakeClock) -> None:
    storage = InMemoryStorage()
    claims = ReplayClaims(storage, BUCKET, lease_seconds=LEASE, clock=wall)

    assert claims.lookup("e1") is None
    assert storage.calls.get("put", 0) == 0 and storage.keys(BUCKET) == []


def test_of_many_threads_claiming_one_event_exactly_one_holds_it(wall: FakeClock) -> None:
    claims = ReplayClaims(InMemoryStorage(), BUCKET, lease_seconds=LEASE, clock=wall)
    start = threading.Barrier(16)
    outcomes: list[str] = []

    def claim(run: int) -> None:
        start.wait()
        outcomes.append(claims.claim("e1", "s", f"run-{run}").outcome)

    threads = [threading.Thread(target=claim, args=(run,)) for run in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["busy"] * 15 + ["ours"]
