"""Model routes: a literal predict route for each model of a non-default flavour, idempotently."""

from __future__ import annotations

from typing import Any

import pytest

from modelwatch.contracts import layout
from modelwatch.registry.routes import FLEET_PREDICT_ROUTE_KEY, RoutesFailed, RouteWriter, predict_route_key
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import InMemoryStorage
from modelwatch.stores.routes import InMemoryRoutes, Route, RouteAuthorization

BUCKET = "models"
JWT = RouteAuthorization("JWT", "auth1", ("modelwatch/predict",))
STACK_ROUTES = [
    Route("t", FLEET_PREDICT_ROUTE_KEY, "integrations/sk", JWT),
    Route("f", "POST /v1/models/{model}/feedback", "integrations/cat", JWT),
    Route("d", "$default", "integrations/cat", RouteAuthorization("NONE")),
    Route("k", predict_route_key("big"), "integrations/big", JWT),  # a dedicated model's
]


@pytest.fixture
def storage() -> InMemoryStorage:
    return InMemoryStorage()


@pytest.fixture
def routes() -> InMemoryRoutes:
    return InMemoryRoutes(list(STACK_ROUTES))


def writer(routes: InMemoryRoutes, storage: InMemoryStorage) -> RouteWriter:
    return RouteWriter(
        routes,
        storage,
        BUCKET,
        serving_alias="production",
        default_flavor="sklearn",
        integrations={"onnx": "onnx1"},
        dedicated=["big"],
    )


def publish(storage: InMemoryStorage, make_manifest: Any, model: str, flavor: str, **kw: Any) -> None:
    ManifestStore(storage, BUCKET).write(make_manifest(model=model, flavor=flavor, **kw))


def test_a_model_of_another_flavour_gets_a_literal_route_with_the_stack_routes_authorisation(
    routes: InMemoryRoutes, storage: InMemoryStorage, make_manifest: Any
) -> None:
    # Given an onnx model published under the served alias
    publish(storage, make_manifest, "churn", "onnx")

    # When the writer handles its manifest's key
    route_writer = writer(routes, storage)
    report = route_writer.apply(route_writer.models_of_keys([layout.manifest_key("churn", "production")]))

    # Then the literal route targets the onnx integration, authorised like POST /v1/models/{model}/predict
    route = routes.by_key()["POST /v1/models/churn/predict"]
    assert route.target == "integrations/onnx1"
    assert route.authorization == JWT
    assert [(c.model, c.action, c.flavor) for c in report.changes] == [("churn", "created", "onnx")]


def test_applying_twice_changes_nothing_the_second_time(
    routes: InMemoryRoutes, storage: InMemoryStorage, make_manifest: Any
) -> None:
    publish(storage, make_manifest, "churn", "onnx")
    route_writer = writer(routes, storage)
    route_writer.apply(["churn"])
    routes.calls.clear()

    report = route_writer.apply(["churn"])

    assert routes.calls == []
    assert [c.action for c in report.changes] == ["unchanged"]


def test_a_model_of_the_default_flavour_needs_no_route_and_a_flavour_change_removes_it(
    routes: InMemoryRoutes, storage: InMemoryStorage, make_manifest: Any
) -> None:
    # A default-flavour model is served through {model}: no route is written
    publish(storage, make_manifest, "fraud", "sklearn")
    route_writer = writer(routes, storage)
    assert [c.action for c in route_writer.apply(["fraud"]).changes] == ["unchanged"]
    assert routes.calls == []
    # A model promoted from onnx to sklearn loses its literal route
    publish(storage, make_manifest, "churn", "onnx")
    route_writer.apply(["churn"])
    publish(storage, make_manifest, "churn", "sklearn", version="2")

    report = route_writer.apply(["churn"])

    assert [c.action for c in report.changes] == ["deleted"]
    assert "POST /v1/models/churn/predict" not in routes.by_key()


def test_a_deleted_manifest_deletes_the_route(
    routes: InMemoryRoutes, storage: InMemoryStorage, make_manifest: Any
) -> None:
    publish(storage, make_manifest, "churn", "onnx")
    route_writer = writer(routes, storage)
    route_writer.apply(["churn"])
    del storage.objects[(BUCKET, layout.manifest_key("churn", "production"))]

    assert [c.action for c in route_writer.apply(["churn"]).changes] == ["deleted"]
    assert "POST /v1/models/churn/predict" not in routes.by_key()


def test_other_aliases_and_other_keys_are_not_models_to_route(
    routes: InMemoryRoutes, storage: InMemoryStorage
) -> None:
    keys = [
        layout.manifest_key("churn", "staging"),
        layout.version_manifest_key("churn", "3"),
        "manifests/churn/production.json.tmp",
        layout.manifest_key("churn", "production"),
        layout.manifest_key("churn", "production"),
    ]
    assert writer(routes, storage).models_of_keys(keys) == ["churn"]


def test_the_stacks_routes_are_never_touched(
    routes: InMemoryRoutes, storage: InMemoryStorage, make_manifest: Any
) -> None:
    # A dedicated model's manifest of another flavour: its route is the stack's
    publish(storage, make_manifest, "big", "onnx")
    route_writer = writer(routes, storage)
    report = route_writer.reconcile()

    assert routes.calls == []
    assert [(c.model, c.action) for c in report.changes] == [("big", "skipped")]
    assert routes.by_key()[predict_route_key("big")].target == "integrations/big"


def test_a_route_someone_else_made_is_reported_not_overwritten(
    storage: InMemoryStorage, make_manifest: Any
) -> None:
    foreign = Route("x", predict_route_key("churn"), "integrations/elsewhere", JWT)
    routes = InMemoryRoutes([*STACK_ROUTES, foreign])
    publish(storage, make_manifest, "churn", "onnx")

    report = writer(routes, storage).apply(["churn"])

    assert routes.calls == [] and report.changes[0].action == "skipped"


def test_a_route_with_stale_authorisation_is_updated(storage: InMemoryStorage, make_manifest: Any) -> None:
    stale = Route("x", predict_route_key("churn"), "integrations/onnx1", RouteAuthorization("AWS_IAM"))
    routes = InMemoryRoutes([*STACK_ROUTES, stale])
    publish(storage, make_manifest, "churn", "onnx")

    report = writer(routes, storage).apply(["churn"])

    assert [c.action for c in report.changes] == ["updated"]
    assert routes.by_key()[predict_route_key("churn")].authorization == JWT


def test_reconcile_writes_missing_routes_and_deletes_orphans(
    routes: InMemoryRoutes, storage: InMemoryStorage, make_manifest: Any
) -> None:
    # Given two onnx models published, one sklearn, and a route left over for a model now gone
    for model in ("a", "b"):
        publish(storage, make_manifest, model, "onnx")
    publish(storage, make_manifest, "c", "sklearn")
    routes.create(predict_route_key("gone"), "integrations/onnx1", JWT)
    routes.calls.clear()

    report = writer(routes, storage).reconcile()

    assert sorted(routes.calls) == [
        ("create", "POST /v1/models/a/predict"),
        ("create", "POST /v1/models/b/predict"),
        ("delete", "POST /v1/models/gone/predict"),
    ]
    assert report.count("created") == 2 and report.count("deleted") == 1 and not report.failures


def test_an_unreadable_manifest_is_a_failure_naming_the_model_and_leaves_its_route(
    routes: InMemoryRoutes, storage: InMemoryStorage, make_manifest: Any
) -> None:
    publish(storage, make_manifest, "churn", "onnx")
    route_writer = writer(routes, storage)
    route_writer.apply(["churn"])
    storage.put(BUCKET, layout.manifest_key("churn", "production"), b"{not json", "application/json")

    report = route_writer.apply(["churn"])

    assert set(report.failures) == {"churn"}
    assert predict_route_key("churn") in routes.by_key()
    with pytest.raises(RoutesFailed, match="churn"):
        report.raise_for_failures()


def test_an_api_without_the_fleet_route_is_refused(storage: InMemoryStorage) -> None:
    with pytest.raises(RoutesFailed, match=r"POST /v1/models/\{model\}/predict"):
        writer(InMemoryRoutes([]), storage).apply(["churn"])
