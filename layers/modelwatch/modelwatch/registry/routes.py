"""Model routes: a literal predict route for each model whose flavour is not the API's default.

The prediction API sends ``POST /v1/models/{model}/predict`` to the default flavour's
function. A model of another flavour needs ``POST /v1/models/<name>/predict`` to its
flavour's integration; HTTP APIs match the most specific route first, so that literal
route wins over ``{model}``. :class:`RouteWriter` derives the route a model needs from its
serving manifest (under the served alias) and makes the API hold exactly that, idempotently:

- a manifest of a non-default flavour: the route exists and targets that flavour's integration;
- a manifest of the default flavour, or none: no literal route (one left over is deleted);
- a ``dedicated`` model: never touched (its route belongs to the stack).

Only routes whose target is one of the flavour integrations are ever changed or deleted,
so the stack's own routes are safe whatever a manifest says. New routes copy the
authorisation (IAM, or the JWT authoriser and scopes) of the stack's ``{model}`` route.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import ValidationError

from modelwatch.contracts import layout
from modelwatch.contracts.manifest import Flavor
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import ObjectStorage
from modelwatch.stores.routes import (
    Route,
    RouteAuthorization,
    RouteConflict,
    RoutesApi,
    integration_target,
)

FLEET_PREDICT_ROUTE_KEY = "POST /v1/models/{model}/predict"

RouteAction = Literal["created", "updated", "deleted", "unchanged", "skipped"]


def predict_route_key(model: str) -> str:
    """The literal route key of a model's predict route."""
    return f"POST /v1/models/{model}/predict"


def _model_of(route_key: str) -> str | None:
    head, tail = "POST /v1/models/", "/predict"
    if not (route_key.startswith(head) and route_key.endswith(tail)):
        return None
    model = route_key[len(head) : -len(tail)]
    return model if model and "/" not in model and not model.startswith("{") else None


@dataclass(frozen=True)
class RouteChange:
    """What the writer did for one model, and why."""

    model: str
    action: RouteAction
    flavor: str | None = None
    reason: str = ""


@dataclass
class RoutesReport:
    """The outcome of one run: a change per model, and the models that could not be handled."""

    changes: list[RouteChange] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)

    def count(self, action: RouteAction) -> int:
        return sum(1 for change in self.changes if change.action == action)

    def raise_for_failures(self) -> None:
        """Raise ``RoutesFailed`` naming each model that failed (the invocation is retried)."""
        if self.failures:
            details = "; ".join(f"{model}: {problem}" for model, problem in sorted(self.failures.items()))
            raise RoutesFailed(f"{len(self.failures)} model route(s) not written: {details}")

    def as_dict(self) -> dict[str, object]:
        return {
            "changes": [change.__dict__ for change in self.changes],
            "failures": dict(self.failures),
        }


class RoutesFailed(RuntimeError):
    """At least one model's route could not be derived or written."""


class RouteWriter:
    """Keeps the API's literal predict routes in line with the serving manifests.

    Parameters
    ----------
    routes
        The API's routes.
    storage, bucket, manifest_prefix
        Where the serving manifests are.
    serving_alias
        The alias the serving functions serve: its manifest's flavour decides the route.
    default_flavor
        The flavour served through ``{model}``: its models need no route.
    integrations
        The integration id of each other flavour's serving function.
    dedicated
        Models whose route the stack owns.
    """

    def __init__(
        self,
        routes: RoutesApi,
        storage: ObjectStorage,
        bucket: str,
        *,
        serving_alias: str,
        default_flavor: Flavor,
        integrations: Mapping[Flavor, str],
        dedicated: Iterable[str] = (),
        manifest_prefix: str = layout.MANIFESTS_PREFIX,
    ) -> None:
        self._routes = routes
        self._storage = storage
        self._bucket = bucket
        self._manifests = ManifestStore(storage, bucket, manifest_prefix)
        self._prefix = manifest_prefix
        self._alias = serving_alias
        self._default_flavor = default_flavor
        self._targets: dict[str, str] = {f: integration_target(i) for f, i in integrations.items()}
        self._dedicated = frozenset(dedicated)

    def models_of_keys(self, keys: Iterable[str]) -> list[str]:
        """The models whose manifest under the served alias is among ``keys`` (S3 object keys)."""
        models: list[str] = []
        for key in keys:
            parsed = layout.parse_manifest_key(key, self._prefix)
            if parsed is not None and parsed[1] == self._alias and parsed[0] not in models:
                models.append(parsed[0])
        return models

    def apply(self, models: Iterable[str]) -> RoutesReport:
        """Make the routes of ``models`` match their manifests now."""
        report = RoutesReport()
        current = self._routes.routes()
        authorization = self._template_authorization(current)
        by_key = {route.route_key: route for route in current}
        for model in models:
            try:
                report.changes.append(self._apply_one(model, by_key, authorization))
            except (ValidationError, ValueError, RouteConflict) as error:
                report.failures[model] = str(error).splitlines()[0]
        return report

    def reconcile(self) -> RoutesReport:
        """Make every route match: each published model's, and delete those no manifest needs."""
        listing = self._storage.list_objects(self._bucket, layout.manifests_prefix(self._prefix))
        published = self.models_of_keys(info.key for info in listing)
        routed = [
            model
            for route in self._routes.routes()
            if route.target in self._targets.values() and (model := _model_of(route.route_key)) is not None
        ]
        return self.apply(dict.fromkeys([*published, *routed]))

    def _template_authorization(self, routes: list[Route]) -> RouteAuthorization:
        for route in routes:
            if route.route_key == FLEET_PREDICT_ROUTE_KEY:
                return route.authorization
        raise RoutesFailed(
            f"the API has no route {FLEET_PREDICT_ROUTE_KEY!r} to copy the authorisation from: "
            "is this the modelwatch prediction API?"
        )

    def _apply_one(
        self, model: str, by_key: dict[str, Route], authorization: RouteAuthorization
    ) -> RouteChange:
        if model in self._dedicated:
            return RouteChange(model, "skipped", reason="dedicated: the stack owns its route")
        key = predict_route_key(model)
        existing = by_key.get(key)
        if existing is not None and existing.target not in self._targets.values():
            return RouteChange(model, "skipped", reason=f"route {key!r} is not the model-routes function's")
        manifest = self._manifests.current(model, self._alias)
        flavor = manifest.flavor if manifest is not None else None
        if flavor is None or flavor == self._default_flavor:
            if existing is None:
                return RouteChange(model, "unchanged", flavor, "served through {model}")
            self._routes.delete(existing.route_id)
            del by_key[key]
            why = "no manifest" if flavor is None else "default flavour"
            return RouteChange(model, "deleted", flavor, why)
        target = self._targets.get(flavor)
        if target is None:
            served = sorted(self._targets)
            raise ValueError(f"flavour {flavor!r} has no serving function (integrations: {served})")
        if existing is None:
            try:
                by_key[key] = self._routes.create(key, target, authorization)
                return RouteChange(model, "created", flavor)
            except RouteConflict:  # another invocation wrote it meanwhile: converge on what is there
                by_key.update({route.route_key: route for route in self._routes.routes()})
                existing = by_key[key]
        if existing.target == target and existing.authorization == authorization:
            return RouteChange(model, "unchanged", flavor)
        self._routes.update(existing.route_id, target, authorization)
        by_key[key] = Route(existing.route_id, key, target, authorization)
        return RouteChange(model, "updated", flavor)
