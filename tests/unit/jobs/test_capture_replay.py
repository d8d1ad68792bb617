"""The capture replay on in-memory stores: each event reaches Firehose once, whatever SQS and crashes do."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import ValidationError

from modelwatch.contracts import layout
from modelwatch.contracts.dead_letters import LinesMessage, encode_message, split_line
from modelwatch.jobs.capture_replay import CaptureReplay, ReplayReport, ReplayRequest
from modelwatch.stores.capture import FirehoseSink
from modelwatch.stores.dead_letter_queue import InMemoryQueue, ReceivedMessage
from modelwatch.stores.objects import InMemoryStorage
from modelwatch.stores.replay_claims import ReplayClaims
from tests.unit.fakes import FakeClock, FakeFirehose, client_error

BUCKET = "events"
EVENTS = "modelwatch-events-fraud"
REJECTED = "modelwatch-rejected"
VISIBILITY = 360
LEASE = 900.0


class Crash(BaseException):
    """The process dies here (not an error the code could handle: nothing after it runs)."""


def event_line(i: int, **extra: Any) -> str:
    return json.dumps({"event_id": f"e{i:05d}", "request_id": f"r{i}", "index": 0, "model": "fraud", **extra})


def lines_body(stream: str, lines: list[str]) -> str:
    return encode_message(
        LinesMessage(stream=stream, reason="ServiceUnavailableException: down", lines=lines)
    )


@dataclass
class Rig:
    """A dead-letter queue, the claims' bucket and Firehose, in memory, with two clocks."""

    clock: FakeClock = field(default_factory=lambda: FakeClock(start=0.0))  # monotonic: queue and run
    wall: FakeClock = field(default_factory=lambda: FakeClock(start=1_800_000_000.0))  # the claims'
    storage: InMemoryStorage = field(default_factory=InMemoryStorage)
    firehose: FakeFirehose = field(default_factory=FakeFirehose)
    queue: InMemoryQueue = field(init=False)

    def __post_init__(self) -> None:
        self.queue = InMemoryQueue(clock=self.clock)

    def replay(self, firehose: Any = None, queue: Any = None, **options: Any) -> CaptureReplay:
        sink = FirehoseSink(firehose or self.firehose, None, sleep=lambda _: None)
        claims = ReplayClaims(self.storage, BUCKET, lease_seconds=LEASE, clock=self.wall)
        options = {"visibility_timeout": VISIBILITY, "receive_wait_seconds": 0, "concurrency": 4} | options
        return CaptureReplay(queue or self.queue, claims, sink, clock=self.clock, **options)

    def later(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.wall.advance(seconds)

    def put(self, firehose: FakeFirehose | None = None) -> list[tuple[str, str]]:
        """Every line Firehose accepted, with its stream, in order."""
        return [
            (stream, line)
            for stream, records in (firehose or self.firehose).calls
            for record in records
            for line in record.decode().splitlines()
        ]


@pytest.fixture
def rig() -> Rig:
    return Rig()


def test_each_line_goes_to_the_stream_its_message_names_and_the_queue_empties(rig: Rig) -> None:
    # Given two messages of prediction events and one of a rejected request
    events = [event_line(i) for i in range(6)]
    rejected = event_line(99, reason="schema_violation")
    rig.queue.send(lines_body(EVENTS, events[:4]))
    rig.queue.send(lines_body(EVENTS, events[4:]))
    rig.queue.send(lines_body(REJECTED, [rejected]))
    # When the queue is replayed
    report = rig.replay().run()
    # Then every line went to its own stream once, and every message is deleted
    assert sorted(rig.put()) == sorted([(EVENTS, line) for line in events] + [(REJECTED, rejected)])
    assert report.replayed == {EVENTS: 6, REJECTED: 1} and report.lines == 7
    assert (report.messages, report.deleted, report.duplicates, report.failures) == (3, 3, 0, 0)
    assert report.clean and report.stopped is None
    assert rig.queue.copies == []
    assert len(rig.storage.keys(BUCKET, layout.CAPTURE_REPLAY_CLAIMS_PREFIX)) == 7


def test_a_mapped_stream_is_replayed_into_the_stream_it_maps_to_fragments_too(rig: Rig) -> None:
    # Given dead letters naming a per-model stream of an earlier deployment, one line in fragments
    old = "modelwatch-events-fraud-per-model"
    big = event_line(7, body="x" * 300_000)
    rig.queue.send(lines_body(old, [event_line(1), event_line(2)]))
    for fragment in split_line(old, "too big", big, max_chars=100_000, line_id="L9"):
        rig.queue.send(encode_message(fragment))
    # When the replay maps it to the one events stream
    report = rig.replay(stream_map={old: EVENTS}).run()
    # Then every line went there, once, and the queue is empty
    assert sorted(rig.put()) == sorted([(EVENTS, event_line(1)), (EVENTS, event_line(2)), (EVENTS, big)])
    assert report.replayed == {EVENTS: 3} and rig.queue.copies == []


def test_one_firehose_call_carries_a_whole_message(rig: Rig) -> None:
    rig.queue.send(lines_body(EVENTS, [event_line(i) for i in range(300)]))

    rig.replay().run()

    assert len(rig.firehose.calls) == 1 and len(rig.firehose.calls[0][1]) == 1


def test_a_message_received_twice_puts_its_events_once(rig: Rig) -> None:
    # Given a message SQS stores twice (two copies of one message id), received together
    lines = [event_line(i) for i in range(5)]
    rig.queue.send(lines_body(EVENTS, lines), copies=2)
    # When replayed
    report = rig.replay().run()
    # Then its events were put once, and both copies deleted
    assert rig.put() == [(EVENTS, line) for line in lines]
    assert report.messages == 2 and report.deleted == 2 and report.lines == 5
    assert rig.queue.copies == []


def test_a_copy_received_by_a_later_replay_is_a_duplicate_it_deletes(rig: Rig) -> None:
    # Given two copies of one message, the second received only after the first was replayed
    lines = [event_line(i) for i in range(5)]
    rig.queue.send(lines_body(EVENTS, lines), copies=2)
    rig.queue.copies[1].visible_at = rig.clock.now + 600
    first = rig.replay().run()
    rig.later(601)
    # When the later replay runs
    second = rig.replay().run()
    # Then it puts nothing, counts the lines as duplicates and deletes the copy
    assert first.lines == 5 and rig.put() == [(EVENTS, line) for line in lines]
    assert second.duplicates == 5 and second.lines == 0 and second.deleted == 1
    assert rig.queue.copies == []


def test_the_same_events_dead_lettered_again_later_are_not_put_again(rig: Rig) -> None:
    lines = [event_line(i) for i in range(3)]
    rig.queue.send(lines_body(EVENTS, lines))
    rig.replay().run()
    # The same events come back in a different message (another batching of them), an hour later
    rig.later(3600)
    rig.queue.send(lines_body(EVENTS, [lines[2], event_line(3), lines[0]]))

    report = rig.replay().run()

    assert rig.put() == [(EVENTS, line) for line in lines] + [(EVENTS, event_line(3))]
    assert report.duplicates == 2 and report.replayed == {EVENTS: 1} and report.deleted == 1


class AcceptThenCrash(FakeFirehose):
    """Firehose takes the records; the replay dies before it hears back."""

    def put_record_batch(self, DeliveryStreamName: str, Records: list[dict[str, bytes]]) -> dict[str, Any]:
        super().put_record_batch(DeliveryStreamName, Records)
        raise Crash


def test_a_crash_between_put_and_confirm_leaves_the_events_in_doubt_and_never_puts_them_twice(
    rig: Rig,
) -> None:
    # Given a replay that dies right after Firehose took a message's lines
    lines = [event_line(i) for i in range(4)]
    rig.queue.send(lines_body(EVENTS, lines))
    crashed = AcceptThenCrash()
    with pytest.raises(Crash):
        rig.replay(firehose=crashed).run()
    assert rig.put(crashed) == [(EVENTS, line) for line in lines]
    # When a replay runs while the dead one's claims are still within their lease
    rig.later(VISIBILITY + 1)
    busy = rig.replay().run()
    # Then it leaves them alone (they look like a replay in progress)
    assert busy.in_progress == 4 and rig.firehose.calls == [] and busy.deleted == 0
    # And once the lease is over, they are in doubt: reported, not put again, kept in the queue
    rig.later(LEASE)
    doubt = rig.replay().run()
    assert rig.firehose.calls == []
    assert doubt.in_doubt == 4 and doubt.in_doubt_event_ids == [f"e{i:05d}" for i in range(4)]
    assert not doubt.clean and doubt.deleted == 0
    assert rig.queue.depth().visible == 1  # made visible again for whoever decides


def test_in_doubt_events_are_put_again_only_when_asked(rig: Rig) -> None:
    # Given a replay that died after claiming and before Firehose got anything
    class CrashBeforePut(FakeFirehose):
        def put_record_batch(
            self, DeliveryStreamName: str, Records: list[dict[str, bytes]]
        ) -> dict[str, Any]:
            raise Crash

    lines = [event_line(i) for i in range(2)]
    rig.queue.send(lines_body(EVENTS, lines))
    with pytest.raises(Crash):
        rig.replay(firehose=CrashBeforePut()).run()
    rig.later(LEASE + VISIBILITY)
    # When someone who checked the events bucket resends the in-doubt events
    report = rig.replay().run(resend_in_doubt=True)
    # Then they are put, once, and the message deleted
    assert rig.put() == [(EVENTS, line) for line in lines]
    assert report.replayed == {EVENTS: 2} and report.in_doubt == 0 and report.deleted == 1
    assert rig.queue.copies == []


def test_a_crash_between_confirm_and_delete_leaves_duplicates_the_next_run_deletes(rig: Rig) -> None:
    # Given a replay that dies when it deletes the message (its lines are in Firehose, confirmed)
    lines = [event_line(i) for i in range(3)]
    rig.queue.send(lines_body(EVENTS, lines))

    class CrashOnDelete(InMemoryQueue):
        def delete(self, message: ReceivedMessage) -> None:
            raise Crash

    crashing = CrashOnDelete(clock=rig.clock)
    crashing.copies = rig.queue.copies
    with pytest.raises(Crash):
        rig.replay(queue=crashing).run()
    # When the message comes back after its visibility timeout
    rig.later(VISIBILITY + 1)
    report = rig.replay().run()
    # Then nothing is put again and the message is deleted
    assert rig.put() == [(EVENTS, line) for line in lines]
    assert report.duplicates == 3 and report.deleted == 1 and rig.queue.copies == []


def test_two_replays_at_once_put_each_event_once(rig: Rig) -> None:
    # Given a message stored twice, and a second replay that starts while the first is putting
    lines = [event_line(i) for i in range(4)]
    rig.queue.send(lines_body(EVENTS, lines), copies=2)
    reports: list[ReplayReport] = []

    class SecondReplayDuringPut(FakeFirehose):
        def put_record_batch(
            self, DeliveryStreamName: str, Records: list[dict[str, bytes]]
        ) -> dict[str, Any]:
            if not reports:
                reports.append(rig.replay().run())  # B receives the other copy and finds A's claims
            return super().put_record_batch(DeliveryStreamName, Records)

    firehose = SecondReplayDuringPut()
    # When the first replay runs (it takes one copy; the second replay receives the other)
    first = rig.replay(firehose=firehose).run(max_messages=1)
    # Then the second saw the events in progress and neither put nor deleted anything
    (second,) = reports
    assert second.in_progress == 4 and second.lines == 0 and second.deleted == 0
    # And the first put them once; the copy the second left goes with the next replay
    assert rig.put(firehose) == [(EVENTS, line) for line in lines]
    assert first.replayed == {EVENTS: 4}
    sweep = rig.replay(firehose=firehose).run()
    assert sweep.duplicates == 4 and rig.queue.copies == []
    assert rig.put(firehose) == [(EVENTS, line) for line in lines]


def test_concurrent_replays_in_threads_put_every_event_exactly_once() -> None:
    # Given 120 messages of 5 events, each stored twice, and four replays started together
    queue = InMemoryQueue()  # real time: visibility timeouts do not expire during the test
    storage = InMemoryStorage()
    firehose = FakeFirehose()
    lock = threading.Lock()
    real_put = firehose.put_record_batch

    def slow_put(DeliveryStreamName: str, Records: list[dict[str, bytes]]) -> dict[str, Any]:
        time.sleep(0.001)  # let the replays interleave
        with lock:
            return real_put(DeliveryStreamName, Records)

    firehose.put_record_batch = slow_put  # type: ignore[method-assign]
    expected = [event_line(i) for i in range(600)]
    for start in range(0, 600, 5):
        queue.send(lines_body(EVENTS, expected[start : start + 5]), copies=2)

    def replay() -> ReplayReport:
        claims = ReplayClaims(storage, BUCKET, lease_seconds=LEASE)
        sink = FirehoseSink(firehose, None, sleep=lambda _: None)
        return CaptureReplay(queue, claims, sink, receive_wait_seconds=0, concurrency=4).run()

    barrier = threading.Barrier(4)
    reports: list[ReplayReport] = []

    def run() -> None:
        barrier.wait()
        reports.append(replay())

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # When a last replay sweeps the copies the others left to each other
    sweep = replay()
    # Then every event reached Firehose exactly once, and the queue is empty
    put = [
        line for _, records in firehose.calls for record in records for line in record.decode().splitlines()
    ]
    assert sorted(put) == sorted(expected)
    assert sum(r.lines for r in [*reports, sweep]) == 600
    assert sum(r.failures + r.in_doubt for r in [*reports, sweep]) == 0
    assert queue.copies == []


def test_a_line_in_fragments_is_joined_across_messages_and_replayed_once(rig: Rig) -> None:
    # Given a large rejected request cut in three fragments, received between other messages, one twice
    big = event_line(7, body="\u00e9" * 5000)
    fragments = [encode_message(m) for m in split_line(REJECTED, "r", big, max_chars=11_000, line_id="L1")]
    assert len(fragments) == 3
    rig.queue.send(fragments[2])
    rig.queue.send(lines_body(EVENTS, [event_line(1)]))
    rig.queue.send(fragments[0], copies=2)
    rig.queue.send(fragments[1])
    # When replayed
    report = rig.replay().run()
    # Then the whole line went to its stream once, and every fragment message is deleted
    assert rig.put() == [(EVENTS, event_line(1)), (REJECTED, big)]
    assert report.replayed == {EVENTS: 1, REJECTED: 1} and report.incomplete_fragment_sets == 0
    assert report.deleted == 5 and rig.queue.copies == []


def test_an_incomplete_fragment_set_is_left_in_the_queue_reported_and_not_an_error(rig: Rig) -> None:
    # Given two of a line's three fragments (serving ran out of time and logged the line instead)
    fragments = split_line(REJECTED, "r", event_line(8, body="x" * 5000), max_chars=2000, line_id="L2")
    rig.queue.send(encode_message(fragments[0]))
    rig.queue.send(encode_message(fragments[2]))
    # When replayed
    report = rig.replay().run()
    # Then nothing was put, the set is reported, and both messages are visible again at once
    assert rig.firehose.calls == []
    assert report.incomplete_fragment_sets == 1 and report.clean
    assert rig.queue.depth().visible == 2
    # And when the missing fragment shows up, the next replay completes the line
    rig.queue.send(encode_message(fragments[1]))
    assert rig.replay().run().replayed == {REJECTED: 1}
    assert rig.queue.copies == []


def test_a_stray_copy_of_a_fragment_whose_line_was_replayed_is_deleted_not_left(rig: Rig) -> None:
    # Given a line in three fragments, one of them stored twice, the copy received only later
    fragments = split_line(REJECTED, "r", event_line(9, body="y" * 5000), max_chars=2000, line_id="L4")
    for fragment in fragments:
        rig.queue.send(encode_message(fragment), copies=2 if fragment.fragment.index == 1 else 1)
    rig.queue.copies[2].visible_at = rig.clock.now + 600
    first = rig.replay().run()
    rig.later(601)
    # When a later replay receives the lone copy
    second = rig.replay().run()
    # Then it knows the line was replayed and deletes the copy instead of leaving an incomplete set
    assert first.replayed == {REJECTED: 1} and len(rig.firehose.calls) == 1
    assert second.incomplete_fragment_sets == 0 and second.deleted == 1 and second.lines == 0
    assert rig.queue.copies == []


def test_a_dry_run_reports_what_it_would_do_and_changes_nothing(rig: Rig) -> None:
    # Given three messages, one of them holding an event a replay already put
    rig.queue.send(lines_body(EVENTS, [event_line(0)]))
    rig.replay().run()
    rig.queue.send(lines_body(EVENTS, [event_line(0), event_line(1), event_line(2)]))
    rig.queue.send(lines_body(REJECTED, [event_line(3)]))
    rig.queue.send(encode_message(split_line(REJECTED, "r", "x" * 30, 10, "L3")[0]))
    puts_before = rig.storage.calls["put"]
    calls_before = len(rig.firehose.calls)
    # When dry-run
    report = rig.replay().run(dry_run=True)
    # Then it reports the lines it would replay, the duplicate and the incomplete set
    assert report.dry_run and report.replayed == {EVENTS: 2, REJECTED: 1}
    assert report.duplicates == 1 and report.incomplete_fragment_sets == 1 and report.messages == 3
    # And sent nothing, claimed nothing, deleted nothing, and left every message visible
    assert len(rig.firehose.calls) == calls_before and rig.storage.calls["put"] == puts_before
    assert report.deleted == 0 and rig.queue.depth().visible == 3


def test_a_dry_run_counts_every_other_line_when_one_claim_cannot_be_read(rig: Rig) -> None:
    # Given a line whose claim cannot be read, and an event that two messages hold
    rig.queue.send(lines_body(EVENTS, [event_line(1), event_line(2)]))
    rig.queue.send(lines_body(EVENTS, [event_line(2)]))
    real_get = rig.storage.get

    def get(bucket: str, key: str, if_none_match: str | None = None) -> Any:
        if key == layout.replay_claim_key("e00001"):
            raise ConnectionError("S3 hiccup")
        return real_get(bucket, key, if_none_match)

    rig.storage.get = get  # type: ignore[method-assign]
    # When dry-run
    report = rig.replay().run(dry_run=True)
    # Then the unreadable line is an error, and the shared event would be replayed once
    assert report.replayed == {EVENTS: 1} and report.duplicates == 1
    assert any("S3 hiccup" in error for error in report.errors)


def test_when_firehose_refuses_the_message_stays_and_the_next_replay_puts_it(rig: Rig) -> None:
    # Given Firehose failing every attempt of the first replay (three attempts)
    lines = [event_line(i) for i in range(3)]
    rig.queue.send(lines_body(EVENTS, lines))
    down = FakeFirehose([client_error("ServiceUnavailableException")] * 3)
    # When replayed
    report = rig.replay(firehose=down).run()
    # Then the message is a failure, left in the queue (visible again), and its claims given back
    assert report.failures == 1 and report.lines == 0 and not report.clean
    assert "ServiceUnavailableException" in report.errors[0]
    assert rig.queue.depth().visible == 1
    # And a replay with Firehose back puts its lines, once
    again = rig.replay().run()
    assert again.replayed == {EVENTS: 3} and rig.put() == [(EVENTS, line) for line in lines]


def test_a_replay_stops_reading_after_failures_in_a_row(rig: Rig) -> None:
    for i in range(6):
        rig.queue.send(lines_body(EVENTS, [event_line(i)]))
    down = FakeFirehose([client_error("ServiceUnavailableException")] * 100)

    report = rig.replay(firehose=down, stop_after_failures=3).run()

    assert report.stopped == "failures" and report.failures >= 3
    assert len(down.calls) == 3 * report.failures  # three attempts for each failed message, no more
    assert rig.queue.depth().visible == 6


def test_a_message_that_is_not_a_dead_letter_is_left_and_reported(rig: Rig) -> None:
    rig.queue.send("hello")
    rig.queue.send(lines_body(EVENTS, [event_line(1)]))

    report = rig.replay().run()

    assert report.invalid == 1 and "not JSON" in report.errors[0] and not report.clean
    assert report.replayed == {EVENTS: 1} and rig.queue.bodies() == ["hello"]


def test_a_line_without_an_event_id_is_still_replayed_once(rig: Rig) -> None:
    rig.queue.send(lines_body(EVENTS, ['{"model": "fraud"}', '{"model": "fraud"}']))
    rig.replay().run()
    rig.queue.send(lines_body(EVENTS, ['{"model": "fraud"}']))

    report = rig.replay().run()

    assert rig.put() == [(EVENTS, '{"model": "fraud"}')] and report.duplicates == 1


def test_max_messages_and_the_deadline_bound_a_run(rig: Rig) -> None:
    for i in range(25):
        rig.queue.send(lines_body(EVENTS, [event_line(i)]))

    bounded = rig.replay().run(max_messages=12)
    late = rig.replay(reserve_seconds=30).run(deadline=rig.clock.now + 10)

    assert bounded.messages == 12 and bounded.stopped == "max_messages" and bounded.deleted == 12
    assert late.messages == 0 and late.stopped == "deadline"
    assert rig.queue.depth().visible == 13


def test_a_run_ends_when_only_messages_it_left_come_back(rig: Rig) -> None:
    # A visibility timeout shorter than the run: what it left behind comes back; it must not loop
    rig.queue.send("not a dead letter")
    receives: list[int] = []

    class Expiring(InMemoryQueue):
        def receive(self, max_messages: int, visibility_timeout: int, wait_seconds: int = 1) -> Any:
            receives.append(1)
            rig.clock.advance(visibility_timeout + 1)
            return super().receive(max_messages, visibility_timeout, wait_seconds)

    queue = Expiring(clock=rig.clock)
    queue.copies = rig.queue.copies
    report = rig.replay(queue=queue).run()

    assert len(receives) == 2 and report.invalid == 1 and report.messages == 2


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({}, ReplayRequest()),
        ({"dry_run": True, "max_messages": 50}, ReplayRequest(dry_run=True, max_messages=50)),
    ],
)
def test_the_replay_request_of_an_invocation(event: dict[str, Any], expected: ReplayRequest) -> None:
    assert ReplayRequest.model_validate(event) == expected


@pytest.mark.parametrize("event", [{"dryrun": True}, {"max_messages": 0}, {"dry_run": "maybe"}])
def test_a_misspelt_or_bad_request_is_refused_rather_than_run(event: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ReplayRequest.model_validate(event)
