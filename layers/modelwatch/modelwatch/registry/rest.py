"""``MlflowRestClient``: the registry backend over MLflow's REST API, with the standard library only.

The full MLflow package is 600+ MB and takes ~1.5 s to import; the registry-sync
function cannot bundle it, and ``ModelRegistry`` has no need of it against a tracking
server. This client calls the REST API 2.0 (``/api/2.0/mlflow/...``: registered models,
model versions, aliases, experiments, runs, metrics) with ``urllib``, and the server's
artifact proxy (``/api/2.0/mlflow-artifacts/artifacts/...``) to upload, list and download
run artifacts. Both servers this project runs proxy artifacts (``--artifacts-destination``),
so run artifact URIs are ``mlflow-artifacts:/...``; a run whose artifacts live elsewhere
(a server started with ``--default-artifact-root s3://...`` and ``--no-serve-artifacts``)
raises ``RegistryConfigurationError``. A version's single files are read through the
server's ``model-versions/get-artifact`` route, which works wherever the server keeps them.

Connection errors, timeouts, 429 and 5xx answers are retried with exponential
backoff; then ``TrackingServerUnavailable`` names the URI.

Redirects are followed as ``urllib`` follows them, with two exceptions: the
``Authorization`` header (the basic-auth credentials or the token) is dropped on a
redirect to another origin (scheme, host or port), and a redirect from ``https`` to
``http`` is refused (``InsecureRedirectError``) before anything is sent. ``urllib``'s own
handler copies every header to wherever the server points.
"""

from __future__ import annotations

import base64
import functools
import http.client
import json
import mimetypes
import posixpath
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Final, NoReturn

from modelwatch.registry.backend import (
    ModelRecord,
    RunRecord,
    RunStatus,
    VersionRecord,
    from_millis,
    redact_uri,
)
from modelwatch.registry.errors import (
    ArtifactNotFoundError,
    CredentialsRefused,
    ModelNotFoundError,
    RegistryConfigurationError,
    RegistryError,
    TrackingServerUnavailable,
    VersionNotFoundError,
)

API: Final = "/api/2.0/mlflow"
ARTIFACTS_API: Final = "/api/2.0/mlflow-artifacts/artifacts"
_RETRIED_STATUS: Final = frozenset({429, 500, 502, 503, 504})
_NOT_PROMPT: Final = "tag.`mlflow.prompt.is_prompt` != 'true'"
_PENDING: Final = "PENDING_REGISTRATION"


class MlflowApiError(RegistryError):
    """MLflow answered with an error (``error_code`` is MLflow's, e.g. ``RESOURCE_ALREADY_EXISTS``)."""

    def __init__(self, message: str, status: int, error_code: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


class InsecureRedirectError(RegistryError):
    """The server redirected an ``https`` request to ``http``; nothing was sent there."""


class _Absent(RegistryError):
    """Raised for a 404 that means "create it"."""


class MlflowRestClient:
    """Registry operations over MLflow's REST API; implements ``RegistryBackend``.

    Parameters
    ----------
    tracking_uri:
        ``http(s)://[user:password@]host[:port][/prefix]`` of the tracking server.
    username, password:
        HTTP basic auth (MLflow's basic-auth app); used instead of the URI's. Alternatively
        ``token`` (bearer).
    timeout:
        Seconds per HTTP request.
    max_attempts:
        Attempts per call, with exponential backoff (``backoff * 2**attempt`` seconds) in between.
    await_creation_for, poll_interval:
        Seconds to wait for a new version to become READY, and between looks.
    sleep, clock:
        Waits between attempts and looks, and the time (default: ``time.sleep``, ``time.monotonic``).

    Raises
    ------
    RegistryConfigurationError
        The URI is not ``http(s)://``.
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
        await_creation_for: float = 300.0,
        poll_interval: float = 3.0,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
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
        self._headers = {"Accept": "application/json", "User-Agent": "modelwatch"}
        if username is not None:
            basic = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self._headers["Authorization"] = f"Basic {basic}"
        elif token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._timeout = timeout
        self._max_attempts = max(1, max_attempts)
        self._backoff = backoff
        self._await_creation_for = await_creation_for
        self._poll_interval = poll_interval
        self._sleep = sleep or time.sleep
        self._clock = clock or time.monotonic

    @property
    def uri(self) -> str:
        return self._base

    # -- HTTP -----------------------------------------------------------------------------------

    def _open(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        upload: Path | None = None,
    ) -> Any:
        """The response to one request (an ``HTTPError`` is a response too), after retries."""
        url = self._base + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = dict(self._headers)
        data: bytes | None = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif upload is not None:
            headers["Content-Type"] = mimetypes.guess_type(upload.name)[0] or "application/octet-stream"
            headers["Content-Length"] = str(upload.stat().st_size)
        last = ""
        for attempt in range(self._max_attempts):
            if attempt:
                self._sleep(self._backoff * 2 ** (attempt - 1))
            try:
                with _payload(data, upload) as payload:
                    request = urllib.request.Request(url, data=payload, method=method, headers=headers)
                    return urlopen(request, timeout=self._timeout)
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
            status = _status(response)
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
        if not_found is not None and _is_not_found(status, code, message):
            raise not_found()
        if status in (401, 403):
            raise CredentialsRefused(f"MLflow at {self._base} refused the credentials (HTTP {status})")
        raise MlflowApiError(
            f"MLflow at {self._base} answered HTTP {status} {code}: {message}".strip(), status, code
        )

    def _download(self, path: str, query: Mapping[str, str] | None, target: Path, missing: str) -> Path:
        response = self._open("GET", path, query)
        with response:
            status = _status(response)
            if status != 200:
                self._raise(status, response.read(), lambda: ArtifactNotFoundError(missing))
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as handle:
                shutil.copyfileobj(response, handle, 1 << 20)
        return target

    # -- registered models ----------------------------------------------------------------------

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

    def create_or_tag_model(self, name: str, tags: Mapping[str, str]) -> None:
        try:
            self._json("POST", "/registered-models/create", body={"name": name, "tags": _tag_list(tags)})
        except MlflowApiError as error:
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            for key, value in tags.items():
                self.set_model_tag(name, key, value)

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        body = {"name": name, "key": key, "value": value}
        self._json(
            "POST", "/registered-models/set-tag", body=body, not_found=lambda: ModelNotFoundError(name)
        )

    # -- versions -------------------------------------------------------------------------------

    def version_numbers(self, name: str) -> list[str]:
        numbers: list[str] = []
        token = ""
        while True:
            query = {"filter": f"name = '{name}'", "max_results": "10000"}
            if token:
                query["page_token"] = token
            page = self._json("GET", "/model-versions/search", query)
            numbers.extend(str(item["version"]) for item in page.get("model_versions", []))
            token = str(page.get("next_page_token") or "")
            if not token:
                return sorted(numbers, key=lambda v: (len(v), v))

    def _missing_version(self, name: str, version: str) -> Callable[[], RegistryError]:
        def missing() -> RegistryError:
            try:
                self.get_model(name)
            except ModelNotFoundError as error:
                return error
            return VersionNotFoundError(name, version, self.version_numbers(name))

        return missing

    def get_version(self, name: str, version: str) -> VersionRecord:
        missing = self._missing_version(name, version)
        if version.isdigit():
            query = {"name": name, "version": version}
            payload = self._json("GET", "/model-versions/get", query, not_found=missing)
        else:
            query = {"name": name, "alias": version}
            payload = self._json("GET", "/registered-models/alias", query, not_found=missing)
        return _version(payload["model_version"])

    def create_version(
        self, name: str, source: str, run_id: str, tags: Mapping[str, str], description: str = ""
    ) -> VersionRecord:
        body: dict[str, Any] = {"name": name, "source": source, "run_id": run_id, "tags": _tag_list(tags)}
        if description:
            body["description"] = description
        payload = self._json(
            "POST", "/model-versions/create", body=body, not_found=lambda: ModelNotFoundError(name)
        )
        item = payload["model_version"]
        deadline = self._clock() + self._await_creation_for
        while item.get("status") == _PENDING:  # wait until READY, as MlflowClient does
            if self._clock() > deadline:
                raise RegistryError(
                    f"version {item['version']} of model {name!r} is still {_PENDING} after "
                    f"{self._await_creation_for:.0f} s at {self._base}"
                )
            query = {"name": name, "version": str(item["version"])}
            item = self._json("GET", "/model-versions/get", query)["model_version"]
            if item.get("status") != _PENDING:
                break
            self._sleep(self._poll_interval)
        status = item.get("status", "READY")
        if status != "READY":
            raise RegistryError(
                f"creating version {item['version']} of model {name!r} failed with status {status}: "
                f"{item.get('status_message', '')}".rstrip(": ")
            )
        return _version(item)

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        body = {"name": name, "version": version, "key": key, "value": value}
        self._json(
            "POST",
            "/model-versions/set-tag",
            body=body,
            not_found=lambda: VersionNotFoundError(name, version),
        )

    def download_version_artifact(self, name: str, version: str, path: str, destination: Path) -> Path:
        missing = f"version {version} of model {name!r} has no artifact {path!r} at {self._base}"
        query = {"name": name, "version": version, "path": path}
        return self._download("/model-versions/get-artifact", query, destination / Path(path).name, missing)

    def download_version_files(self, name: str, version: str, path: str, destination: Path) -> Path:
        payload = self._json(
            "GET",
            "/model-versions/get-download-uri",
            {"name": name, "version": version},
            not_found=self._missing_version(name, version),
        )
        uri = str(payload.get("artifact_uri", ""))
        if uri.startswith("runs:/"):
            run_id, _, below = uri.removeprefix("runs:/").partition("/")
            root = _join(self._run_artifact_root(run_id), below)
        else:
            root = self._proxied_path(uri, f"version {version} of model {name!r}")
        return self._download_tree(_join(root, path), destination)

    # -- aliases --------------------------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: str) -> None:
        body = {"name": name, "alias": alias, "version": version}
        self._json(
            "POST", "/registered-models/alias", body=body, not_found=self._missing_version(name, version)
        )

    def delete_alias(self, name: str, alias: str) -> None:
        body = {"name": name, "alias": alias}
        self._json(
            "DELETE", "/registered-models/alias", body=body, not_found=lambda: ModelNotFoundError(name)
        )

    # -- experiments and runs -------------------------------------------------------------------

    def get_or_create_experiment(self, name: str) -> str:
        def find() -> str | None:
            try:
                payload = self._json(
                    "GET", "/experiments/get-by-name", {"experiment_name": name}, not_found=_Absent
                )
            except _Absent:
                return None
            return str(payload["experiment"]["experiment_id"])

        found = find()
        if found is not None:
            return found
        try:
            return str(self._json("POST", "/experiments/create", body={"name": name})["experiment_id"])
        except MlflowApiError as error:
            found = find()  # created concurrently
            if error.error_code != "RESOURCE_ALREADY_EXISTS" or found is None:
                raise
            return found

    def create_run(self, experiment_id: str, run_name: str, tags: Mapping[str, str]) -> RunRecord:
        body = {
            "experiment_id": experiment_id,
            "run_name": run_name,
            "start_time": _now_millis(),
            "tags": _tag_list(tags),
        }
        info = self._json("POST", "/runs/create", body=body)["run"]["info"]
        return RunRecord(str(info["run_id"]), str(info["experiment_id"]), str(info["artifact_uri"]))

    def _get_run(self, run_id: str) -> dict[str, Any]:
        payload = self._json(
            "GET", "/runs/get", {"run_id": run_id}, not_found=lambda: RegistryError(f"run {run_id} not found")
        )
        run: dict[str, Any] = payload["run"]
        return run

    def log_artifacts(self, run_id: str, local_dir: Path, artifact_path: str) -> None:
        root = _join(self._run_artifact_root(run_id), artifact_path)
        for local in sorted(p for p in local_dir.rglob("*") if p.is_file()):
            remote = _join(root, local.relative_to(local_dir).as_posix())
            response = self._open("PUT", _artifact_url(remote), upload=local)
            with response:
                status = _status(response)
                raw = response.read()
            if status != 200:
                self._raise(status, raw, None)

    def log_metric(self, run_id: str, key: str, value: float) -> None:
        body = {"run_id": run_id, "key": key, "value": float(value), "timestamp": _now_millis(), "step": 0}
        self._json(
            "POST", "/runs/log-metric", body=body, not_found=lambda: RegistryError(f"run {run_id} not found")
        )

    def finish_run(self, run_id: str, status: RunStatus = "FINISHED") -> None:
        body = {"run_id": run_id, "status": status, "end_time": _now_millis()}
        self._json(
            "POST", "/runs/update", body=body, not_found=lambda: RegistryError(f"run {run_id} not found")
        )

    def get_run_metrics(self, run_id: str) -> dict[str, float]:
        metrics = self._get_run(run_id).get("data", {}).get("metrics", []) or []
        return {str(m["key"]): float(m["value"]) for m in metrics}

    def download_run_artifacts(self, run_id: str, path: str, destination: Path) -> Path:
        return self._download_tree(_join(self._run_artifact_root(run_id), path), destination)

    # -- the artifact proxy ---------------------------------------------------------------------

    def _run_artifact_root(self, run_id: str) -> str:
        uri = str(self._get_run(run_id)["info"].get("artifact_uri", ""))
        return self._proxied_path(uri, f"run {run_id}")

    def _proxied_path(self, uri: str, owner: str) -> str:
        """The proxy's path of ``uri`` (``mlflow-artifacts:/1/<run>/artifacts``: ``1/<run>/artifacts``)."""
        parts = urllib.parse.urlsplit(uri)
        if parts.scheme == "mlflow-artifacts":
            return parts.path.strip("/")
        proxy = self._base + ARTIFACTS_API + "/"
        if uri.startswith(proxy):
            return uri.removeprefix(proxy).strip("/")
        raise RegistryConfigurationError(
            f"{owner} keeps its artifacts at {redact_uri(uri)!r}, which the REST client cannot reach: "
            f"it reads artifacts through the tracking server's proxy (mlflow-artifacts:/, a server "
            f"started with --artifacts-destination); use a tracking URI that MLflow's own client "
            f"can read these artifacts with"
        )

    def _list(self, path: str) -> list[tuple[str, bool]]:
        """``(name, is_dir)`` of each entry of the proxied directory ``path`` (none for a file)."""
        payload = self._open("GET", ARTIFACTS_API, {"path": path})
        with payload:
            status = _status(payload)
            raw = payload.read()
        if status != 200:
            self._raise(status, raw, None)
        files = json.loads(raw or b"{}").get("files", []) or []
        entries = [(str(f["path"]), bool(f.get("is_dir", False))) for f in files]
        name = posixpath.basename(path)
        if len(entries) == 1 and not entries[0][1] and entries[0][0] == name:
            return []  # some stores list a file as itself
        for entry, _ in entries:
            if entry in ("", ".", "..") or "/" in entry:
                raise RegistryError(f"MLflow at {self._base} listed an unsafe artifact path {entry!r}")
        return entries

    def _download_tree(self, path: str, destination: Path) -> Path:
        """Download the proxied file or directory ``path`` into ``destination``; return what was written."""
        target = destination / (posixpath.basename(path) or "artifacts")
        entries = self._list(path)
        if not entries:
            return self._download(
                _artifact_url(path), None, target, f"no artifacts at {path!r} on {self._base}"
            )
        target.mkdir(parents=True, exist_ok=True)
        for entry, is_dir in entries:
            if is_dir:
                self._download_tree(f"{path}/{entry}", target)
            else:
                self._download(_artifact_url(f"{path}/{entry}"), None, target / entry, f"{path}/{entry}")
        return target


_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` of ``url``, the port made explicit (RFC 6454)."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


class SameOriginCredentials(urllib.request.HTTPRedirectHandler):
    """``urllib``'s redirect handling, but credentials stay on their origin and https stays https.

    A hop to another origin is made without ``Authorization`` (and every later hop of
    the chain too, since each copies the headers of the one before); an ``https`` to
    ``http`` hop raises ``InsecureRedirectError`` instead of being made.
    """

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        redirected = super().redirect_request(req, fp, code, msg, headers, newurl)
        if redirected is None:
            return None
        before, after = _origin(req.full_url), _origin(redirected.full_url)
        if before[0] == "https" and after[0] != "https":
            fp.close()
            raise InsecureRedirectError(
                f"MLflow at {redact_uri(req.full_url)} redirected (HTTP {code}) to "
                f"{redact_uri(redirected.full_url)}: an https request is never downgraded to http"
            )
        if after != before:
            redirected.remove_header("Authorization")
        return redirected


@functools.cache
def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(SameOriginCredentials())


def urlopen(request: urllib.request.Request, timeout: float) -> Any:
    """Send ``request``, following redirects by the rule of ``SameOriginCredentials``.

    The one place the client touches the network: unit tests replace it.
    """
    return _opener().open(request, timeout=timeout)


@contextmanager
def _payload(data: bytes | None, upload: Path | None) -> Iterator[bytes | IO[bytes] | None]:
    """The request body: JSON bytes, or the file to upload (opened afresh for every attempt)."""
    if upload is None:
        yield data
        return
    with upload.open("rb") as handle:
        yield handle


def _status(response: Any) -> int:
    status: int = getattr(response, "status", None) or response.getcode()
    return status


def _is_not_found(status: int, code: str, message: str) -> bool:
    if code == "RESOURCE_DOES_NOT_EXIST" or status == 404:
        return True
    lowered = message.lower()
    return code == "INVALID_PARAMETER_VALUE" and "alias" in lowered and "not found" in lowered


def _artifact_url(path: str) -> str:
    return f"{ARTIFACTS_API}/{urllib.parse.quote(path.strip('/'))}"


def _join(root: str, path: str) -> str:
    parts = [p for p in (root.strip("/"), path.strip("/")) if p]
    return "/".join(parts)


def _now_millis() -> int:
    return int(time.time() * 1000)


def _tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": str(k), "value": str(v)} for k, v in tags.items()]


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
