"""Typed errors of the model registry: each names what went wrong and what exists instead.

The command line turns every ``RegistryError`` into one line on stderr and exit code 2;
Python callers catch the specific class they can handle.
"""

from __future__ import annotations

from collections.abc import Iterable


class RegistryError(Exception):
    """Base class of every error the registry raises on purpose."""


class RegistryConfigurationError(RegistryError, ValueError):
    """The tracking URI (or another setting) cannot be used as given."""


class TrackingServerUnavailable(RegistryError, ConnectionError):
    """The tracking server did not answer, after retries with backoff."""

    def __init__(self, uri: str, detail: str = "") -> None:
        self.uri = uri
        message = f"MLflow tracking server {uri} is unreachable"
        if detail:
            message += f": {detail}"
        super().__init__(message)


class CredentialsRefused(RegistryError, PermissionError):
    """The tracking server refused the credentials (HTTP 401 or 403)."""


class ModelNotFoundError(RegistryError, LookupError):
    """No registered model has this name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"model {name!r} is not registered")


class VersionNotFoundError(RegistryError, LookupError):
    """The model exists but has no such version (or alias)."""

    def __init__(self, name: str, version: str, known: Iterable[str] = ()) -> None:
        self.name = name
        self.version = version
        self.known = sorted(known, key=_version_sort_key)
        message = f"model {name!r} has no version {version!r}"
        if self.known:
            message += f" (versions: {', '.join(self.known)})"
        super().__init__(message)


class ArtifactNotFoundError(RegistryError, LookupError):
    """A version or run has no artifact at the path asked for."""


class MetricNotFoundError(RegistryError, LookupError):
    """A version lacks the metric asked for; the message names the metrics it has."""

    def __init__(self, name: str, version: str, metric: str, available: Iterable[str]) -> None:
        self.name = name
        self.version = version
        self.metric = metric
        self.available = sorted(available)
        has = ", ".join(self.available) if self.available else "none"
        super().__init__(f"version {version} of model {name!r} has no metric {metric!r} (it has: {has})")


class UnknownMetricDirectionError(RegistryError, ValueError):
    """Whether higher or lower is better is not known for a metric and was not given."""

    def __init__(self, metric: str) -> None:
        self.metric = metric
        super().__init__(
            f"direction of metric {metric!r} is unknown: say whether higher is better "
            "(higher_is_better=True/False, or --higher-is-better/--lower-is-better on the command line)"
        )


class IllegalTransitionError(RegistryError, ValueError):
    """A stage transition breaks the rules (e.g. development straight to production)."""


class NotServableError(RegistryError, ValueError):
    """A version cannot be served: it lacks a flavour, a model file or an input schema."""


class PromotionError(RegistryError):
    """Publishing the serving manifest failed; the previous manifest keeps serving."""


class RolloutError(RegistryError, ValueError):
    """A rollout cannot be started, stopped or promoted as asked; nothing was changed.

    For example: no production manifest to compare with, a candidate that is production's
    own version, a share outside [0, 1], a key the model's schema does not have, a second
    rollout while one is running, or no running rollout to stop.
    """


def _version_sort_key(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (1 << 62, version)
