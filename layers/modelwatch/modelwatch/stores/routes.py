"""The routes of the prediction API (an API Gateway HTTP API): listed, created, updated, deleted.

The model-routes logic (``modelwatch.registry.routes``) writes a literal predict route per
model of a non-default flavour through this port: :class:`ApiGatewayRoutes` in AWS (the
``apigatewayv2`` API), :class:`InMemoryRoutes` in unit tests.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol


@dataclass(frozen=True)
class RouteAuthorization:
    """How callers of a route are authorised: ``AWS_IAM``, or ``JWT`` with an authoriser and scopes."""

    authorization_type: str = "AWS_IAM"
    authorizer_id: str | None = None
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Route:
    """One route of the API: its key (``POST /v1/models/x/predict``), target and authorisation."""

    route_id: str
    route_key: str
    target: str | None
    authorization: RouteAuthorization = field(default_factory=RouteAuthorization)


class RoutesApi(Protocol):
    """What the model-routes logic needs of an HTTP API's routes."""

    def routes(self) -> list[Route]:
        """Every route of the API."""
        ...

    def create(self, route_key: str, target: str, authorization: RouteAuthorization) -> Route:
        """Create a route; raise ``RouteConflict`` when its key exists."""
        ...

    def update(self, route_id: str, target: str, authorization: RouteAuthorization) -> None:
        """Point an existing route at ``target`` with ``authorization``."""
        ...

    def delete(self, route_id: str) -> None:
        """Delete a route (deleting one that is gone is not an error)."""
        ...


class RouteConflict(RuntimeError):
    """A route with this key already exists (another writer got there first)."""


def integration_target(integration_id: str) -> str:
    """The ``Target`` of a route that sends requests to integration ``integration_id``."""
    return f"integrations/{integration_id}"


def _authorization_arguments(authorization: RouteAuthorization) -> dict[str, Any]:
    arguments: dict[str, Any] = {"AuthorizationType": authorization.authorization_type}
    if authorization.authorizer_id is not None:
        arguments["AuthorizerId"] = authorization.authorizer_id
    if authorization.scopes:
        arguments["AuthorizationScopes"] = list(authorization.scopes)
    return arguments


def _route(item: dict[str, Any]) -> Route:
    return Route(
        route_id=item["RouteId"],
        route_key=item["RouteKey"],
        target=item.get("Target"),
        authorization=RouteAuthorization(
            authorization_type=item.get("AuthorizationType") or "NONE",
            authorizer_id=item.get("AuthorizerId"),
            scopes=tuple(item.get("AuthorizationScopes") or ()),
        ),
    )


class ApiGatewayRoutes:
    """The routes of one HTTP API, through the ``apigatewayv2`` client."""

    def __init__(self, client: Any, api_id: str) -> None:
        self._client = client
        self.api_id = api_id

    def routes(self) -> list[Route]:
        return list(self._pages())

    def _pages(self) -> Iterator[Route]:
        token: str | None = None
        while True:
            page = self._client.get_routes(ApiId=self.api_id, **({"NextToken": token} if token else {}))
            yield from (_route(item) for item in page.get("Items", []))
            token = page.get("NextToken")
            if not token:
                return

    def create(self, route_key: str, target: str, authorization: RouteAuthorization) -> Route:
        try:
            created = self._client.create_route(
                ApiId=self.api_id,
                RouteKey=route_key,
                Target=target,
                **_authorization_arguments(authorization),
            )
        except self._client.exceptions.ConflictException as error:
            raise RouteConflict(f"route {route_key!r} already exists on API {self.api_id}") from error
        return _route(created)

    def update(self, route_id: str, target: str, authorization: RouteAuthorization) -> None:
        self._client.update_route(
            ApiId=self.api_id, RouteId=route_id, Target=target, **_authorization_arguments(authorization)
        )

    def delete(self, route_id: str) -> None:
        try:
            self._client.delete_route(ApiId=self.api_id, RouteId=route_id)
        except self._client.exceptions.NotFoundException:
            return


class InMemoryRoutes:
    """An HTTP API's routes in memory, for unit tests; ``calls`` records every write."""

    def __init__(self, routes: list[Route] | None = None) -> None:
        self._ids = (f"r{n}" for n in itertools.count(1))
        self._routes: dict[str, Route] = {route.route_id: route for route in routes or []}
        self.calls: list[tuple[str, str]] = []

    def routes(self) -> list[Route]:
        return list(self._routes.values())

    def create(self, route_key: str, target: str, authorization: RouteAuthorization) -> Route:
        if any(route.route_key == route_key for route in self._routes.values()):
            raise RouteConflict(f"route {route_key!r} already exists")
        route = Route(next(self._ids), route_key, target, authorization)
        self._routes[route.route_id] = route
        self.calls.append(("create", route_key))
        return route

    def update(self, route_id: str, target: str, authorization: RouteAuthorization) -> None:
        route = self._routes[route_id]
        self._routes[route_id] = replace(route, target=target, authorization=authorization)
        self.calls.append(("update", route.route_key))

    def delete(self, route_id: str) -> None:
        route = self._routes.pop(route_id, None)
        if route is not None:
            self.calls.append(("delete", route.route_key))

    def by_key(self) -> dict[str, Route]:
        """The routes by their key."""
        return {route.route_key: route for route in self._routes.values()}
