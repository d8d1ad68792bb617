"""The capture replay: the capture dead-letter queue drained back into Firehose, each event at most once.

Serving dead-letters a request's event lines to SQS when Firehose refuses them after its
retries (``stores.dead_letters``; the format is ``contracts.dead_letters``). A replay
receives those messages, joins fragmented lines back together, puts every line into the
Firehose stream its message names, and deletes a message once all of its lines are in
Firehose. ``modelwatch capture replay`` and the ``capture_replay`` function both run
:meth:`CaptureReplay.run`.

Idempotent by event id
----------------------
SQS delivers at least once: a message comes back after its visibility timeout, two replays
running at once may both receive it (or two copies of it), and a replay may stop between
the Firehose put and the delete. None of these may put an event into Firehose twice, so the
replay does not trust the queue to say what was done; it keeps a **claim per event id**
(``stores.replay_claims``, at ``layout.replay_claim_key``) and follows, for every line:

1. *claim* the event id with a conditional create (``If-None-Match: *``); if the claim
   exists, read it: ``replayed`` means a replay already put the line (a duplicate: skip it),
   ``claimed`` within its lease means another replay is putting it right now (leave the
   message to it), ``claimed`` past its lease means a replay stopped after claiming and
   before confirming: the line is **in doubt**;
2. *put* the claimed lines (``FirehoseSink.emit``, without a dead letter: a failure leaves
   the message where it is), one Firehose record per call, so a call is all or nothing;
3. *confirm* (``replayed``) the claims of a record Firehose took, or *release* those of a
   record it refused, so a later replay can try them again;
4. *delete* the message, when every line of it is replayed or a duplicate.

The claim is written **before** the put, and only its holder puts. So a replay that stops
anywhere after its put, at worst, leaves claims that make every later replay skip the line:
stopped between confirm and delete, the message comes back and its lines are duplicates;
stopped between claim and confirm (during the put, or just after), its claims go in doubt,
and an in-doubt line is *not* put again on its own: it is reported with its event id and
its message stays in the queue, because the replay cannot tell whether Firehose got it.
Someone who has checked (the event ids are in the report; the events bucket shows whether
they arrived) runs the replay with ``resend_in_doubt`` (``--resend-in-doubt``), which takes
such claims over. Writing the record after the put instead would leave a window (put done,
record not yet written) in which a stop means a second put, which is what must not happen.

Why one small object per event rather than one state document (like the metrics export's):
an incident can dead-letter hundreds of thousands of events; one document would grow with
them and be rewritten whole for every batch, and two replays running at once would conflict
on every save. A conditional create of a key per event is an atomic lock that needs no
coordination and no retry loop; it costs two S3 PUTs per event, made ``concurrency`` at a
time. Why not the SQS message id: a message is a batch of lines, a fragmented line spans
several messages, and the same event in two messages would not be recognised. Claims expire
with the events bucket's lifecycle rule on ``state/capture_replay/``, a day after the queue's
own retention, when no copy of a message can come back.

Fragments: the fragments of one line (``line_id``) are collected across the messages a run
receives; a complete set is replayed as its line and its messages deleted together, and the
set itself is marked replayed (``fragment_set_id``), so a stray copy of one of its fragments
received later is deleted rather than left as an incomplete set. An incomplete set is left in
the queue and reported: either its other fragments are still to be received, or serving ran
out of time sending them and logged the whole line instead (so it is not an error).

The messages of one receive (up to ten) are replayed at once, each on its own thread, and the
claims of a message ``concurrency`` at a time: what bounds a replay is S3's latency, two PUTs
per event. Copies of one message received together are one unit, deleted together. Every
message a run leaves in the queue is made visible again when the run ends, so the next replay
sees it at once; a dry run reads, looks up claims, reports what it would do, and leaves every
message there without sending, claiming or deleting anything.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from modelwatch.contracts.dead_letters import (
    Fragment,
    InvalidDeadLetter,
    LinesMessage,
    decode_message,
    fragment_set_id,
    join_fragments,
    line_event_id,
    missing_fragments,
)
from modelwatch.observability import logger
from modelwatch.settings.capture_replay import CaptureReplaySettings
from modelwatch.stores import aws
from modelwatch.stores.capture import MAX_RECORD_BYTES, EventSink, FirehoseSink
from modelwatch.stores.dead_letter_queue import MAX_RECEIVE, DeadLetterQueue, ReceivedMessage, SqsQueue
from modelwatch.stores.objects import S3Storage
from modelwatch.stores.replay_claims import Claim, ReplayClaims

MAX_LISTED: Final = 100  # event ids and errors listed in a report
DEFAULT_MAX_MESSAGES: Final = 10_000
RECEIVE_WAIT_SECONDS: Final = 1  # SQS long poll: an empty answer means an empty queue, not a sample

Item = TypeVar("Item")
Result = TypeVar("Result")
StopReason = Literal["max_messages", "deadline", "failures"]


class ReplayRequest(BaseModel):
    """What an invocation of the ``capture_replay`` function may ask; ``{}`` is a plain replay.

    Unknown keys are refused, so a misspelt ``"dry_run"`` cannot start a real replay.
    """

    model_config = ConfigDict(extra="forbid")

    dry_run: bool = False
    max_messages: int | None = Field(None, ge=1, le=1_000_000)
    resend_in_doubt: bool = False


class ReplayReport(BaseModel):
    """What one replay did (a dry run: what it would do). Counts of lines unless said otherwise."""

    dry_run: bool = False
    run_id: str = ""
    messages: int = Field(0, description="Messages read (a message received twice counts twice).")
    deleted: int = Field(0, description="Messages deleted: all their lines are in Firehose.")
    replayed: dict[str, int] = Field(
        default_factory=dict, description="Lines put to Firehose by stream (a dry run: lines it would put)."
    )
    duplicates: int = Field(0, description="Lines skipped: a replay already put them.")
    incomplete_fragment_sets: int = Field(0, description="Fragmented lines not complete in what was read.")
    failures: int = Field(0, description="Messages left in the queue because a put (or a claim) failed.")
    in_progress: int = Field(0, description="Lines another running replay holds (left to it).")
    in_doubt: int = Field(0, description="Lines whose replay stopped between claim and confirmation.")
    in_doubt_event_ids: list[str] = Field(default_factory=list, description="The first of them.")
    invalid: int = Field(0, description="Messages that are not capture dead letters (left in the queue).")
    stopped: StopReason | None = Field(None, description="Why reading stopped before the queue was empty.")
    errors: list[str] = Field(default_factory=list, description="The first errors met.")
    seconds: float = 0.0

    @property
    def lines(self) -> int:
        """Lines put to Firehose (would be, in a dry run), all streams together."""
        return sum(self.replayed.values())

    @property
    def clean(self) -> bool:
        """Nothing needs a person: no failure, nothing in doubt, no foreign message."""
        return self.failures == 0 and self.in_doubt == 0 and self.invalid == 0

    def add_error(self, error: str) -> None:
        if len(self.errors) < MAX_LISTED:
            self.errors.append(error)


@dataclass
class _FragmentSet:
    stream: str
    line_id: str
    fragments: list[Fragment] = field(default_factory=list)
    messages: list[ReceivedMessage] = field(default_factory=list)


@dataclass
class _Unit:
    """Lines deleted together: one message (every copy of it received), or a complete fragment set."""

    stream: str
    lines: list[str]
    messages: list[ReceivedMessage]
    marker: str | None = None  # a fragment set's own id, marked replayed with its line


@dataclass
class _Outcome:
    """What replaying one unit did; the reading thread adds it to the report."""

    stream: str
    replayed: int = 0
    duplicates: int = 0
    in_progress: int = 0
    in_doubt: list[str] = field(default_factory=list)
    failed: bool = False
    deleted: int = 0
    held: list[ReceivedMessage] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class CaptureReplay:
    """Replays the capture dead-letter queue into Firehose through claims on event ids.

    Parameters
    ----------
    queue
        The capture dead-letter queue.
    claims
        Where claims on event ids are kept (``ReplayClaims`` over the events bucket).
    sink
        Firehose, with no dead letter behind it (a failure must leave the message in the queue).
    visibility_timeout
        Seconds a received message stays hidden from other readers; longer than a run.
    concurrency
        Claims written at once.
    parallel_messages
        Messages (of one receive) replayed at once.
    reserve_seconds
        With a deadline: stop reading this long before it, to finish what was read.
    receive_wait_seconds
        SQS long-poll wait of each receive (an empty answer then means an empty queue).
    stop_after_failures
        Stop reading after this many failed messages in a row (Firehose is down: retry later).
    stream_map
        Streams named by dead letters, mapped to the stream to replay them into: the per-model
        events streams of before the one partitioned events stream, to that stream. Unmapped
        streams are replayed into as named.
    clock
        Monotonic seconds, the clock of ``deadline``.
    """

    def __init__(
        self,
        queue: DeadLetterQueue,
        claims: ReplayClaims,
        sink: EventSink,
        *,
        visibility_timeout: int = 360,
        concurrency: int = 16,
        parallel_messages: int = MAX_RECEIVE,
        reserve_seconds: float = 30.0,
        receive_wait_seconds: int = RECEIVE_WAIT_SECONDS,
        stop_after_failures: int = 3,
        stream_map: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.queue = queue
        self.claims = claims
        self.sink = sink
        self.visibility_timeout = visibility_timeout
        self.concurrency = concurrency
        self.parallel_messages = parallel_messages
        self.reserve_seconds = reserve_seconds
        self.receive_wait_seconds = receive_wait_seconds
        self.stop_after_failures = stop_after_failures
        self.stream_map = dict(stream_map or {})
        self.clock = clock

    def run(
        self,
        *,
        dry_run: bool = False,
        max_messages: int = DEFAULT_MAX_MESSAGES,
        deadline: float | None = None,
        resend_in_doubt: bool = False,
    ) -> ReplayReport:
        """Drain the queue (up to ``max_messages`` read, or until ``deadline``) into Firehose.

        Parameters
        ----------
        dry_run
            Read and report only: no claim, no put, no delete; every message is made visible again.
        max_messages
            Messages to read at most.
        deadline
            ``clock()`` time by which the run must be over (a Lambda invocation's end).
        resend_in_doubt
            Put in-doubt lines again (after checking they are not in the events bucket).

        Returns
        -------
        ReplayReport
            The counts; never raises for a message it cannot replay (it stays in the queue).

        Raises
        ------
        modelwatch.stores.dead_letter_queue.QueueNotFound
            The queue does not exist.
        Exception
            The claims' bucket cannot be read (missing, or no permission): before anything is read.
        """
        self.claims.check()
        run = _Run(self, dry_run=dry_run, deadline=deadline, resend_in_doubt=resend_in_doubt)
        started = self.clock()
        with (
            ThreadPoolExecutor(self.concurrency, thread_name_prefix="replay-claims") as claims_pool,
            ThreadPoolExecutor(self.parallel_messages, thread_name_prefix="replay-messages") as unit_pool,
        ):
            run.claims_pool, run.unit_pool = claims_pool, unit_pool
            try:
                run.read(max_messages)
            finally:
                run.finish()
        run.report.seconds = round(self.clock() - started, 3)
        logger.info("capture replay", extra={"report": run.report.model_dump(mode="json")})
        return run.report


class _Run:
    """One replay: the reading thread reads and merges; units are replayed on the pools."""

    def __init__(
        self, replay: CaptureReplay, *, dry_run: bool, deadline: float | None, resend_in_doubt: bool
    ) -> None:
        self.replay = replay
        self.dry_run = dry_run
        self.deadline = deadline
        self.resend_in_doubt = resend_in_doubt
        self.run_id = uuid.uuid4().hex
        self.report = ReplayReport(dry_run=dry_run, run_id=self.run_id)
        self.claims_pool: ThreadPoolExecutor | None = None
        self.unit_pool: ThreadPoolExecutor | None = None
        self.held: list[ReceivedMessage] = []  # read, not deleted: made visible again at the end
        self.fragment_sets: dict[tuple[str, str], _FragmentSet] = {}
        self.seen: set[str] = set()
        self.would_replay: set[str] = set()  # dry run: event ids counted as to be replayed
        self.would_replay_lock = threading.Lock()
        self.failures_in_a_row = 0

    # --- reading (one thread) ----------------------------------------------------------------------

    def read(self, max_messages: int) -> None:
        replay = self.replay
        while True:
            stop = self._stop_reason(max_messages)
            if stop is not None:
                self.report.stopped = stop
                return
            batch = replay.queue.receive(
                min(MAX_RECEIVE, max_messages - self.report.messages),
                replay.visibility_timeout,
                replay.receive_wait_seconds,
            )
            if not batch:
                return
            self.report.messages += len(batch)
            fresh = [m for m in batch if m.message_id not in self.seen]
            self.seen.update(m.message_id for m in batch)
            if not fresh:  # only messages this run left in the queue came back: nothing new to read
                self.held.extend(batch)
                return
            assert self.unit_pool is not None
            for outcome in self.unit_pool.map(self._replay, self._units(batch)):
                self._merge(outcome)

    def _stop_reason(self, max_messages: int) -> StopReason | None:
        if self.report.messages >= max_messages:
            return "max_messages"
        if self.failures_in_a_row >= self.replay.stop_after_failures:
            return "failures"
        if self.deadline is not None and self.replay.clock() + self.replay.reserve_seconds > self.deadline:
            return "deadline"
        return None

    def _units(self, batch: Sequence[ReceivedMessage]) -> list[_Unit]:
        """The batch's messages as units: copies of one message together, fragment sets once complete."""
        units: list[_Unit] = []
        by_id: dict[str, _Unit] = {}
        for message in batch:
            if message.message_id in by_id:  # a copy of a message of this batch: deleted with it
                by_id[message.message_id].messages.append(message)
                continue
            try:
                decoded = decode_message(message.body)
            except InvalidDeadLetter as error:
                self._invalid(message, str(error))
                continue
            stream = self.replay.stream_map.get(decoded.stream, decoded.stream)
            if isinstance(decoded, LinesMessage):
                by_id[message.message_id] = _Unit(stream, decoded.lines, [message])
                units.append(by_id[message.message_id])
                continue
            fragment = decoded.fragment
            key = (stream, fragment.line_id)
            found = self.fragment_sets.get(key) or _FragmentSet(stream, fragment.line_id)
            try:
                missing = missing_fragments([*found.fragments, fragment])
            except InvalidDeadLetter as error:
                self._invalid(message, str(error))
                continue
            found.fragments.append(fragment)
            found.messages.append(message)
            self.fragment_sets[key] = found
            if not missing:
                del self.fragment_sets[key]
                line = join_fragments(found.fragments)
                units.append(_Unit(found.stream, [line], found.messages, fragment_set_id(found.line_id)))
        return units

    def _invalid(self, message: ReceivedMessage, error: str) -> None:
        self.report.invalid += 1
        self.report.add_error(f"message {message.message_id}: {error}")
        self.held.append(message)

    def _merge(self, outcome: _Outcome) -> None:
        report = self.report
        if outcome.replayed:
            report.replayed[outcome.stream] = report.replayed.get(outcome.stream, 0) + outcome.replayed
        report.duplicates += outcome.duplicates
        report.in_progress += outcome.in_progress
        report.in_doubt += len(outcome.in_doubt)
        room = MAX_LISTED - len(report.in_doubt_event_ids)
        report.in_doubt_event_ids.extend(outcome.in_doubt[: max(0, room)])
        report.deleted += outcome.deleted
        self.held.extend(outcome.held)
        for error in outcome.errors:
            report.add_error(error)
        if outcome.failed:
            report.failures += len(outcome.held)
            self.failures_in_a_row += 1
        else:
            self.failures_in_a_row = 0

    # --- replaying one unit (on the unit pool) -------------------------------------------------------

    def _replay(self, unit: _Unit) -> _Outcome:
        """Replay a unit's lines; delete its messages once all are in Firehose."""
        outcome = _Outcome(unit.stream)
        unique: dict[str, str] = {}
        for line in unit.lines:
            unique.setdefault(line_event_id(line), line)
        outcome.duplicates += len(unit.lines) - len(unique)
        if self.dry_run:
            self._look_up(unique, outcome)
            outcome.held.extend(unit.messages)
            return outcome
        ids = [*unique, *([unit.marker] if unit.marker else [])]
        claims, errors = self._map(
            lambda event_id: self.replay.claims.claim(
                event_id, unit.stream, self.run_id, take_over_in_doubt=self.resend_in_doubt
            ),
            ids,
        )
        ours = [claim for claim in claims if claim.outcome == "ours"]
        if errors:  # the claims' storage failed: give back what we got and leave the messages
            self._settle(ours, outcome, confirm=False)
            return self._failed(unit, outcome, f"claims not written: {errors[0]}")
        lines = [claim for claim in ours if claim.event_id in unique]
        others = [claim for claim in claims if claim.event_id in unique and claim.outcome != "ours"]
        self._count_others(others, outcome)
        if not self._put(unit.stream, [(claim, unique[claim.event_id]) for claim in lines], outcome):
            self._settle([claim for claim in ours if claim.event_id not in unique], outcome, confirm=False)
            return self._failed(unit, outcome, None)
        self._settle([claim for claim in ours if claim.event_id not in unique], outcome, confirm=True)
        if any(claim.outcome in ("busy", "in_doubt") for claim in others):
            outcome.held.extend(unit.messages)
            return outcome
        self._delete(unit.messages, outcome)
        return outcome

    def _look_up(self, unique: dict[str, str], outcome: _Outcome) -> None:
        found, errors = self._map(
            lambda event_id: (event_id, self.replay.claims.lookup(event_id)), list(unique)
        )
        outcome.errors.extend(f"claim not read: {error}" for error in errors)
        for event_id, claim in found:
            if claim is not None:
                self._count_others([claim], outcome)
                continue
            with self.would_replay_lock:
                new = event_id not in self.would_replay
                self.would_replay.add(event_id)
            if new:
                outcome.replayed += 1
            else:
                outcome.duplicates += 1

    @staticmethod
    def _count_others(claims: Iterable[Claim], outcome: _Outcome) -> None:
        for claim in claims:
            if claim.outcome == "replayed":
                outcome.duplicates += 1
            elif claim.outcome == "busy":
                outcome.in_progress += 1
            elif claim.outcome == "in_doubt":
                outcome.in_doubt.append(claim.event_id)

    def _put(self, stream: str, claimed: list[tuple[Claim, str]], outcome: _Outcome) -> bool:
        """Put the claimed lines, one Firehose record per call; confirm or release each record's claims."""
        groups = _record_groups(claimed)
        for position, group in enumerate(groups):
            sent = self.replay.sink.emit(stream, [line for _, line in group], deadline=self.deadline)
            if sent.records and sent.delivered == sent.records:
                self._settle([claim for claim, _ in group], outcome, confirm=True)
                outcome.replayed += len(group)
                continue
            rest = [claim for later in groups[position:] for claim, _ in later]
            self._settle(rest, outcome, confirm=False)
            outcome.errors.append(f"{stream}: {sent.errors[-1] if sent.errors else 'Firehose took nothing'}")
            return False
        return True

    def _settle(self, claims: list[Claim], outcome: _Outcome, *, confirm: bool) -> None:
        settle = self.replay.claims.confirm if confirm else self.replay.claims.release
        _, errors = self._map(settle, claims)
        for error in errors:  # a claim left "claimed" goes in doubt: never a second put
            outcome.errors.append(f"claim not {'confirmed' if confirm else 'released'}: {error}")

    def _delete(self, messages: list[ReceivedMessage], outcome: _Outcome) -> None:
        for message in messages:
            try:
                self.replay.queue.delete(message)
            except Exception as error:  # its lines are in Firehose and confirmed: the next run deletes it
                outcome.errors.append(f"message {message.message_id} not deleted: {error}")
                outcome.held.append(message)
            else:
                outcome.deleted += 1

    @staticmethod
    def _failed(unit: _Unit, outcome: _Outcome, error: str | None) -> _Outcome:
        if error is not None:
            outcome.errors.append(error)
        outcome.failed = True
        outcome.held.extend(unit.messages)
        return outcome

    def _map(self, function: Callable[[Item], Result], items: list[Item]) -> tuple[list[Result], list[str]]:
        """``function`` over ``items`` on the claims pool; the results, and the errors as text."""
        assert self.claims_pool is not None
        futures = [self.claims_pool.submit(function, item) for item in items]
        results: list[Result] = []
        errors: list[str] = []
        for future in futures:
            try:
                results.append(future.result())
            except Exception as error:
                errors.append(f"{type(error).__name__}: {error}")
        return results, errors

    # --- the end (the reading thread) ----------------------------------------------------------------

    def finish(self) -> None:
        """Settle what is left: stray fragments of lines already replayed go; the rest is made visible."""
        for key, found in list(self.fragment_sets.items()):
            if not self.dry_run and self._line_replayed(found):
                del self.fragment_sets[key]
                outcome = _Outcome(found.stream)
                self._delete(found.messages, outcome)
                self._merge(outcome)
        self.report.incomplete_fragment_sets = len(self.fragment_sets)
        left = [*self.held, *(m for found in self.fragment_sets.values() for m in found.messages)]
        if left:
            self.replay.queue.release(left)

    def _line_replayed(self, found: _FragmentSet) -> bool:
        try:
            claim = self.replay.claims.lookup(fragment_set_id(found.line_id))
        except Exception as error:
            self.report.add_error(f"fragment set {found.line_id} not looked up: {error}")
            return False
        return claim is not None and claim.outcome == "replayed"


def _record_groups(claimed: list[tuple[Claim, str]]) -> list[list[tuple[Claim, str]]]:
    """The lines as ``FirehoseSink`` packs them: each group is one record (at most 1,000 KiB)."""
    groups: list[list[tuple[Claim, str]]] = []
    size = 0
    for item in claimed:
        cost = len(item[1].encode()) + 1
        if groups and size + cost <= MAX_RECORD_BYTES:
            groups[-1].append(item)
            size += cost
        else:
            groups.append([item])
            size = cost
    return groups


def build_capture_replay(settings: CaptureReplaySettings) -> CaptureReplay:
    """Wire the production implementations: SQS, S3 (the claims) and Firehose, with bounded calls.

    Firehose gets one attempt per call (the sink retries with backoff); SQS and S3 get botocore's
    standard retries. No dead letter is behind the sink: a refused line stays in its message.
    """
    connect, read = settings.replay_connect_timeout_seconds, settings.replay_read_timeout_seconds
    firehose_limits = aws.CallLimits(connect, read)
    retried = aws.CallLimits(connect, read + RECEIVE_WAIT_SECONDS, attempts=3)
    threads = MAX_RECEIVE + 1  # the messages of a receive at once, and the reading thread
    sink = FirehoseSink(
        aws.client("firehose", firehose_limits, max_pool_connections=threads),
        None,
        attempt_seconds=firehose_limits.longest_call_seconds,
    )
    storage = S3Storage(aws.client("s3", retried, max_pool_connections=settings.replay_concurrency))
    return CaptureReplay(
        SqsQueue(aws.client("sqs", retried, max_pool_connections=threads), settings.capture_dlq_url),
        ReplayClaims(storage, settings.events_bucket, lease_seconds=settings.replay_claim_lease_seconds),
        sink,
        visibility_timeout=settings.replay_visibility_timeout_seconds,
        concurrency=settings.replay_concurrency,
        reserve_seconds=settings.replay_reserve_seconds,
        stream_map=settings.replay_stream_map,
    )
