"""The capture replay's claims: one small object per event, written before the event goes back to Firehose.

A claim lives at ``layout.replay_claim_key(event_id)`` in the events bucket and is a
:class:`ReplayClaim`: ``claimed`` (a replay is putting the event), ``replayed`` (Firehose
took it) or ``released`` (the put failed; anyone may claim it again). Taking a claim is a
conditional create (``If-None-Match: *``), and every change of one is conditional on the
version read (``If-Match``), so of two replays racing for an event exactly one holds it.
Why the replay works this way is said in ``modelwatch.jobs.capture_replay``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict

from modelwatch.contracts import layout
from modelwatch.observability import logger
from modelwatch.stores.objects import ObjectNotFound, ObjectStorage, PreconditionFailed

CLAIM_SCHEMA_VERSION: Final = 1
# Longer than a replay ever holds a claim before confirming it (one Firehose put with its retries).
DEFAULT_LEASE_SECONDS: Final = 900.0
_ATTEMPTS: Final = 3

ClaimStatus = Literal["claimed", "replayed", "released"]
ClaimOutcome = Literal["ours", "replayed", "busy", "in_doubt"]


class ReplayClaim(BaseModel):
    """Who claimed an event's line, when, and what became of it (JSON, ``schema_version`` 1)."""

    model_config = ConfigDict(extra="ignore")

    schema_version: Literal[1] = CLAIM_SCHEMA_VERSION
    event_id: str
    stream: str
    run_id: str
    status: ClaimStatus
    claimed_at: float  # Unix time
    replayed_at: float | None = None


@dataclass(frozen=True)
class Claim:
    """The answer to a claim attempt.

    ``ours``: this run holds it and may put the line. ``replayed``: a replay put it already.
    ``busy``: another replay holds it within its lease. ``in_doubt``: a replay claimed it and
    never said how its put ended (it stopped between claim and confirmation): the line may or
    may not be in Firehose.
    """

    event_id: str
    outcome: ClaimOutcome
    document: ReplayClaim | None = None  # ours: what we wrote; else: the holder's
    etag: str | None = None  # the version of the claim object read or written


class ReplayClaims:
    """Claims on events, in ``bucket`` (the events bucket, under ``state/capture_replay/``).

    Parameters
    ----------
    lease_seconds
        How long a ``claimed`` object is taken to mean "a replay is on it"; after that an
        unconfirmed claim is in doubt.
    clock
        Unix time (claims are compared across machines).
    """

    def __init__(
        self,
        storage: ObjectStorage,
        bucket: str,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._storage = storage
        self.bucket = bucket
        self._lease = lease_seconds
        self._clock = clock

    def claim(self, event_id: str, stream: str, run_id: str, *, take_over_in_doubt: bool = False) -> Claim:
        """Claim the event for ``run_id``, unless it is replayed, held, or in doubt.

        A ``released`` claim is taken over; an in-doubt one only with ``take_over_in_doubt``.
        """
        key = layout.replay_claim_key(event_id)
        for _ in range(_ATTEMPTS):
            mine = ReplayClaim(
                event_id=event_id, stream=stream, run_id=run_id, status="claimed", claimed_at=self._clock()
            )
            try:
                return Claim(event_id, "ours", mine, self._write(key, mine, if_none_match="*"))
            except PreconditionFailed:
                pass
            try:
                found = self._storage.get(self.bucket, key)
            except ObjectNotFound:
                continue
            assert found is not None  # an unconditional read returns the object or raises
            holder = ReplayClaim.model_validate_json(found.body)
            if holder.status == "replayed":
                return Claim(event_id, "replayed", holder, found.etag)
            if holder.status == "claimed":
                if holder.run_id == run_id or self._clock() - holder.claimed_at < self._lease:
                    return Claim(event_id, "busy", holder, found.etag)
                if not take_over_in_doubt:
                    return Claim(event_id, "in_doubt", holder, found.etag)
            try:
                return Claim(event_id, "ours", mine, self._write(key, mine, if_match=found.etag))
            except PreconditionFailed:
                continue  # someone changed it since we read it: look again
        return Claim(event_id, "busy")

    def check(self) -> None:
        """Raise unless the claims can be read: the bucket exists and this role may read it.

        One read of a key no event has (an unreadable bucket is a setting to fix, not a
        failure of each message).
        """
        self.lookup("-")

    def lookup(self, event_id: str) -> Claim | None:
        """The event's claim as it stands (no write), classified as :meth:`claim` would; None if none."""
        try:
            found = self._storage.get(self.bucket, layout.replay_claim_key(event_id))
        except ObjectNotFound:
            return None
        assert found is not None
        holder = ReplayClaim.model_validate_json(found.body)
        if holder.status == "released":
            return None
        if holder.status == "replayed":
            return Claim(event_id, "replayed", holder, found.etag)
        live = self._clock() - holder.claimed_at < self._lease
        return Claim(event_id, "busy" if live else "in_doubt", holder, found.etag)

    def confirm(self, claim: Claim) -> bool:
        """Mark a claim of ours ``replayed``; False (logged) if it was taken from us meanwhile."""
        return self._settle(claim, "replayed")

    def release(self, claim: Claim) -> bool:
        """Give a claim of ours up (its put failed), so a later replay can claim the event again."""
        return self._settle(claim, "released")

    def _settle(self, claim: Claim, status: ClaimStatus) -> bool:
        if claim.outcome != "ours" or claim.document is None or claim.etag is None:
            raise ValueError(f"not a claim of ours: {claim.event_id} is {claim.outcome}")
        settled = claim.document.model_copy(
            update={"status": status, "replayed_at": self._clock() if status == "replayed" else None}
        )
        try:
            self._write(layout.replay_claim_key(claim.event_id), settled, if_match=claim.etag)
        except PreconditionFailed:
            logger.warning(
                "replay claim changed under its holder",
                extra={"event_id": claim.event_id, "run_id": claim.document.run_id, "status": status},
            )
            return False
        return True

    def _write(
        self, key: str, claim: ReplayClaim, *, if_match: str | None = None, if_none_match: str | None = None
    ) -> str:
        return self._storage.put(
            self.bucket,
            key,
            claim.model_dump_json().encode(),
            "application/json",
            if_match=if_match,
            if_none_match=if_none_match,
        )
