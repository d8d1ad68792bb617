"""In-memory fakes of the library's seams: manifest source, artifacts, clock, predictors, AWS clients."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from modelwatch.contracts.manifest import ServingManifest
from modelwatch.flavors import ModelLoadError
from modelwatch.stores.manifests import ManifestNotFound, ManifestRead


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeManifestSource:
    """Manifests kept in a dict, with S3's conditional-read behaviour (ETag per write)."""

    def __init__(self) -> None:
        self._manifests: dict[tuple[str, str], ManifestRead] = {}
        self._etags = itertools.count(1)
        self.reads: list[tuple[str, str, str | None]] = []
        self.listings = 0
        self.error: Exception | None = None

    def publish(self, manifest: ServingManifest, at: tuple[str, str] | None = None) -> str:
        """Write ``manifest`` at its own (model, alias) key, or at ``at``; return its new ETag."""
        etag = f'"etag-{next(self._etags)}"'
        self._manifests[at or (manifest.model, manifest.alias)] = ManifestRead(manifest, etag)
        return etag

    def remove(self, model: str, alias: str = "production") -> None:
        del self._manifests[(model, alias)]

    def models(self, alias: str) -> list[str]:
        self.listings += 1
        if self.error is not None:
            raise self.error
        return sorted(model for model, at in self._manifests if at == alias)

    def read(self, model: str, alias: str, if_none_match: str | None = None) -> ManifestRead | None:
        self.reads.append((model, alias, if_none_match))
        if self.error is not None:
            raise self.error
        current = self._manifests.get((model, alias))
        if current is None:
            raise ManifestNotFound(f"no manifest for {model}/{alias}")
        if if_none_match is not None and if_none_match == current.etag:
            return None
        return current


class RecordingFetcher:
    """Artifact URIs are local paths; every fetch is recorded."""

    def __init__(self) -> None:
        self.fetched: list[str] = []

    def fetch(self, uri: str) -> Path:
        self.fetched.append(uri)
        return Path(uri)


class ConstantPredictor:
    """Predicts its version label for every row."""

    def __init__(self, version: str) -> None:
        self.version = version

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        return [self.version for _ in rows]


class FakeLoader:
    """A model loader: ``broken`` versions do not load, ``unscorable`` ones load but fail the check.

    Pass ``check=loader.check`` to the cache with it (its predictors answer version labels,
    which the real check would refuse for a probability model).
    """

    def __init__(self) -> None:
        self.attempts: list[str] = []
        self.checked: list[str] = []
        self.broken: set[str] = set()
        self.unscorable: set[str] = set()

    def __call__(self, manifest: ServingManifest, path: Path) -> ConstantPredictor:
        self.attempts.append(manifest.version)
        if manifest.version in self.broken:
            raise ModelLoadError(f"artifact of version {manifest.version} is corrupt at s3://secret-bucket/x")
        return ConstantPredictor(manifest.version)

    def check(self, predictor: Any, manifest: ServingManifest) -> None:
        self.checked.append(manifest.version)
        if manifest.version in self.unscorable:
            raise ModelLoadError("X has 3 features, but the model is expecting 6 features as input")


def client_error(code: str, operation: str = "PutRecordBatch", status: int = 400) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} happened"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        operation,
    )


class FakeFirehose:
    """Records ``put_record_batch`` calls; answers from a script of responses or exceptions.

    Each scripted item is either an exception to raise, a set of record positions to fail
    (with ``ServiceUnavailableException``), or None for full success. Once the script is
    exhausted every call succeeds.
    """

    def __init__(self, script: Sequence[Exception | set[int] | None] = ()) -> None:
        self.calls: list[tuple[str, list[bytes]]] = []
        self._script = list(script)

    def put_record_batch(self, DeliveryStreamName: str, Records: list[dict[str, bytes]]) -> dict[str, Any]:
        data = [record["Data"] for record in Records]
        self.calls.append((DeliveryStreamName, data))
        step = self._script.pop(0) if self._script else None
        if isinstance(step, Exception):
            raise step
        failing = step or set()
        responses: list[dict[str, str]] = []
        for position in range(len(data)):
            if position in failing:
                responses.append({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "slow down"})
            else:
                responses.append({"RecordId": f"id-{position}"})
        return {"FailedPutCount": len(failing), "Encrypted": False, "RequestResponses": responses}


class RecordingDeadLetter:
    """Takes every record (or raises ``error``); ``unsent`` lines are refused, as past a deadline."""

    def __init__(self, error: Exception | None = None, unsent: Sequence[str] = ()) -> None:
        self.sent: list[tuple[str, list[bytes], str]] = []
        self.deadlines: list[float | None] = []
        self._error = error
        self._unsent = list(unsent)

    def send(
        self, stream: str, records: Sequence[bytes], reason: str, deadline: float | None = None
    ) -> list[str]:
        self.deadlines.append(deadline)
        if self._error is not None:
            raise self._error
        self.sent.append((stream, list(records), reason))
        return list(self._unsent)


class FakeSqs:
    def __init__(self) -> None:
        self.messages: list[dict[str, str]] = []

    def send_message(self, QueueUrl: str, MessageBody: str) -> dict[str, str]:
        self.messages.append({"QueueUrl": QueueUrl, "MessageBody": MessageBody})
        return {"MessageId": str(len(self.messages))}


class RaisingSink:
    """An event sink that always raises (a bug or an outage in the capture path)."""

    def __init__(self) -> None:
        self.calls = 0

    def emit(self, stream: str, lines: Sequence[str], deadline: float | None = None) -> Any:
        self.calls += 1
        raise RuntimeError("sink exploded")
