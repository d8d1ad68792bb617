"""A light MLflow REST API client (standard library only) for the registry-sync function.

The full MLflow package is 600+ MB and cannot go into a Lambda bundle; the sync
needs five endpoints of the REST API 2.0, called here with ``urllib``:
``registered-models/search``, ``registered-models/get``, ``model-versions/get``,
the two ``set-tag`` calls, and the server's ``model-versions/get-artifact`` route,
which reads a version's files wherever the server stores them (S3 in AWS, a
directory locally).

Connection errors, timeouts, 429 and 5xx answers are retried with exponential
backoff; then ``TrackingServerUnavailable`` names the URI.
"""

from __future__ import annotations

import base64
import json
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, NoReturn

from modelwatch.registry.backend import ModelRecord, VersionRecord, from_millis, redact_uri
from modelwatch.registry.errors import (
    ModelNotFoundError,
    RegistryConfigurationError,
    RegistryError,
    TrackingServerUnavailable,
    VersionNotFoundError,
)

API: Final = "/api/2.0/mlflow"
_RETRIED_STATUS: Final = frozenset({429, 500, 502, 503, 504})
_NOT_PROMPT: Final = "tag.`mlflow.prompt.is_prompt` != 'true'"


class MlflowRestClient:
    """Registry operations over MLflow's REST API; implements ``RegistryBackend``.

    Parameters
    ----------
    tracking_uri:
        ``http(s)://host[:port][/prefix]`` of the tracking server.
    username, password:
        HTTP basic auth (MLflow's basic-auth app); alternatively ``token`` (bearer).
    timeout:
        Seconds per HTTP request.
    max_attempts:
        Attempts per call, with exponential backoff (``backoff * 2**attempt`` seconds) in between.
    sleep:
        Waits between attempts (tests pass a fake).
    """

    def __init__(
        self,
        tracking_uri: str,
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        timeout: float = 10.0,
        max_attempts: int = 4,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urllib.parse.urlsplit(tracking_uri)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise RegistryConfigurationError(
                f"the REST client needs an http(s):// tracking URI, got {redact_uri(tracking_uri)!r}"
            )
        if parts.username and username is None:
            username = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
        self._base = redact_uri(tracking_uri).rstrip("/")
        self._headers = {"Accept": "application/json", "User-Agent": "modelwatch-registry-sync"}
        if username is not None:
            basic = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self._headers["Authorization"] = f"Basic {basic}"
        elif token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._timeout = timeout
        self._max_attempts = max(1, max_attempts)
        self._backoff = backoff
        self._sleep = sleep

    @property
    def uri(self) -> str:
        return self._base

    def _open(self, method: str, path: str, query: Mapping[str, str] | None, body: Any) -> Any:
        url = self._base + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None
        headers = dict(self._headers)
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        last = ""
        for attempt in range(self._max_attempts):
            if attempt:
                self._sleep(self._backoff * 2 ** (attempt - 1))
            try:
                return urllib.request.urlopen(request, timeout=self._timeout)
            except urllib.error.HTTPError as error:
                if error.code not in _RETRIED_STATUS:
                    return error
                last = f"HTTP {error.code}"
                error.close()
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as error:
                reason = getattr(error, "reason", error)
                last = f"{type(reason).__name__}: {reason}"
        raise TrackingServerUnavailable(
            self._base, f"{last} (after {self._max_attempts} attempts with backoff)"
        )

    def _json(
        self,
        method: str,
        endpoint: str,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        not_found: Callable[[], RegistryError] | None = None,
    ) -> dict[str, Any]:
        response = self._open(method, API + endpoint, query, body)
        with response:
            status = getattr(response, "status", None) or response.getcode()
            raw = response.read()
        if status == 200:
            payload: dict[str, Any] = json.loads(raw or b"{}")
            return payload
        self._raise(status, raw, not_found)

    def _raise(self, status: int, raw: bytes, not_found: Callable[[], RegistryError] | None) -> NoReturn:
        try:
            payload = json.loads(raw)
            code, message = str(payload.get("error_code", "")), str(payload.get("message", ""))
        except (json.JSONDecodeError, AttributeError):
            code, message = "", raw[:200].decode(errors="replace")
        if (code == "RESOURCE_DOES_NOT_EXIST" or status == 404) and not_found is not None:
            raise not_found()
        if status in (401, 403):
            raise RegistryError(f"MLflow at {self._base} refused the credentials (HTTP {status})")
        raise RegistryError(f"MLflow at {self._base} answered HTTP {status} {code}: {message}".strip())

    def list_models(self) -> list[ModelRecord]:
        models: list[ModelRecord] = []
        token = ""
        while True:
            query = {"max_results": "1000", "filter": _NOT_PROMPT}
            if token:
                query["page_token"] = token
            page = self._json("GET", "/registered-models/search", query)
            models.extend(_model(item) for item in page.get("registered_models", []))
            token = str(page.get("next_page_token") or "")
            if not token:
                return models

    def get_model(self, name: str) -> ModelRecord:
        payload = self._json(
            "GET", "/registered-models/get", {"name": name}, not_found=lambda: ModelNotFoundError(name)
        )
        return _model(payload["registered_model"])

    def get_version(self, name: str, version: str) -> VersionRecord:
        def missing() -> RegistryError:
            try:
                self.get_model(name)
            except ModelNotFoundError as error:
                return error
            return VersionNotFoundError(name, version)

        payload = self._json(
            "GET", "/model-versions/get", {"name": name, "version": version}, not_found=missing
        )
        return _version(payload["model_version"])

    def download_version_artifact(self, name: str, version: str, path: str, destination: Path) -> Path:
        destination.mkdir(parents=True, exist_ok=True)
        target = destination / Path(path).name
        query = {"name": name, "version": version, "path": path}
        response = self._open("GET", "/model-versions/get-artifact", query, None)
        with response:
            status = getattr(response, "status", None) or response.getcode()
            if status != 200:
                raw = response.read()
                self._raise(
                    status,
                    raw,
                    lambda: RegistryError(
                        f"version {version} of model {name!r} has no artifact {path!r} at {self._base}"
                    ),
                )
            with target.open("wb") as handle:
                shutil.copyfileobj(response, handle, 1 << 20)
        return target

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        body = {"name": name, "version": version, "key": key, "value": value}
        self._json(
            "POST",
            "/model-versions/set-tag",
            body=body,
            not_found=lambda: VersionNotFoundError(name, version),
        )

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        body = {"name": name, "key": key, "value": value}
        self._json(
            "POST", "/registered-models/set-tag", body=body, not_found=lambda: ModelNotFoundError(name)
        )


def _tags(items: Any) -> dict[str, str]:
    return {str(t["key"]): str(t.get("value", "")) for t in items or []}


def _model(item: Mapping[str, Any]) -> ModelRecord:
    return ModelRecord(
        name=str(item["name"]),
        aliases={str(a["alias"]): str(a["version"]) for a in item.get("aliases", []) or []},
        tags=_tags(item.get("tags")),
        description=str(item.get("description", "") or ""),
        updated_at=from_millis(item.get("last_updated_timestamp")),
    )


def _version(item: Mapping[str, Any]) -> VersionRecord:
    return VersionRecord(
        name=str(item["name"]),
        version=str(item["version"]),
        source=str(item.get("source", "")),
        run_id=str(item["run_id"]) if item.get("run_id") else None,
        tags=_tags(item.get("tags")),
        aliases=tuple(str(a) for a in item.get("aliases", []) or []),
        created_at=from_millis(item.get("creation_timestamp")),
        description=str(item.get("description", "") or ""),
    )
