"""Fakes of the registry's seams that have no in-memory twin in the library: HTTP, metric sources.

The backend's twin is the library's own ``modelwatch.registry.memory.InMemoryRegistryBackend``.
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from typing import Any

from modelwatch.registry.errors import ModelNotFoundError, VersionNotFoundError


class FakeMetrics:
    """A ``MetricSource``: metrics by (model, version)."""

    def __init__(self, metrics: dict[str, dict[str, float]], name: str = "fraud") -> None:
        self._metrics = metrics
        self._name = name

    def get_metrics(self, name: str, version: str) -> dict[str, float]:
        if name != self._name:
            raise ModelNotFoundError(name)
        if version not in self._metrics:
            raise VersionNotFoundError(name, version, self._metrics)
        return dict(self._metrics[version])


class Response(io.BytesIO):
    def __init__(self, body: bytes, status: int = 200) -> None:
        super().__init__(body)
        self.status = status

    def getcode(self) -> int:
        return self.status


def ok(payload: dict[str, Any]) -> Response:
    return Response(json.dumps(payload).encode())


def http_error(url: str, status: int, payload: dict[str, Any]) -> urllib.error.HTTPError:
    return urllib.error.HTTPError(url, status, "error", {}, io.BytesIO(json.dumps(payload).encode()))  # type: ignore[arg-type]


class FakeServer:
    """Stands in for ``modelwatch.registry.rest.urlopen``: answers from a script, records every request.

    ``bodies`` holds what each request sent (an uploaded file is read, as urllib would).
    """

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.requests: list[urllib.request.Request] = []
        self.bodies: list[bytes | None] = []
        self.timeouts: list[float] = []

    def __call__(self, request: urllib.request.Request, timeout: float) -> Any:
        self.requests.append(request)
        data: Any = request.data
        self.bodies.append(data.read() if hasattr(data, "read") else data)
        self.timeouts.append(timeout)
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer
