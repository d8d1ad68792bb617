"""The prediction API (FastAPI): the same app under Mangum in Lambda and uvicorn locally.

Endpoints are ``async def``: under Mangum they cost a fraction of what plain
``def`` endpoints cost (no thread-pool hop per request). Every rejection is
answered with a precise JSON error, counted, and captured to the rejected stream.
Capture is prepared on the request path and sent after the response (``post_invoke``).

A model whose manifest has an active rollout (``serving.model_cache.LoadedCandidate``) is
served by variant: ``ab`` and ``canary`` route each request by its rollout key
(``serving.routing``) to production or the candidate, whose schema then validates the
instances; the answer's ``variant`` and ``version`` say which served it. ``shadow`` answers
with production and has the candidate score a sampled share after the response
(``serving.shadow``). Without an active rollout a request costs one attribute check more.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelwatch import __version__
from modelwatch.contracts.events import RejectionReason
from modelwatch.contracts.manifest import ServingManifest
from modelwatch.contracts.rollout import Variant
from modelwatch.contracts.schema import Violation, printable_name, validate_instances
from modelwatch.flavors import Predictor
from modelwatch.observability import logger
from modelwatch.serving.api_models import (
    CacheHealth,
    CandidateHealth,
    ErrorResponse,
    FeedbackAccepted,
    FeedbackRequest,
    Health,
    ModelHealth,
    ModelInfo,
    ModelList,
    PredictRequest,
    PredictResponse,
)
from modelwatch.serving.context import ServingContext
from modelwatch.serving.event_capture import (
    body_text,
    capture_candidate_failure,
    capture_deadline,
    capture_labels,
    capture_predictions,
    capture_rejection,
)
from modelwatch.serving.model_cache import (
    FlavorNotServed,
    LoadedCandidate,
    LoadedModel,
    ModelUnavailable,
    UnknownModel,
)
from modelwatch.serving.openapi_auth import document_authentication
from modelwatch.serving.post_invoke import CaptureAfterResponse
from modelwatch.serving.request_id import RequestIdMiddleware, request_id_of
from modelwatch.serving.shadow import ShadowScoring


def retry_after_seconds(context: ServingContext) -> str:
    """``Retry-After`` of a 503: the manifest TTL (the next load attempt), at least a second."""
    return str(max(1, math.ceil(context.settings.manifest_ttl_seconds)))


class Rejection(Exception):
    """A request that is answered with an error, counted and captured."""

    def __init__(
        self,
        status_code: int,
        reason: RejectionReason,
        message: str,
        model: str,
        version: str | None = None,
        violations: list[Violation] | None = None,
        fields: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
        variant: Variant | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.reason = reason
        self.message = message
        self.model = model
        self.version = version
        self.violations = violations
        self.fields = fields
        self.headers = headers
        self.body = body
        self.variant = variant  # the rollout side that refused it (None: not routed)


async def get_context(request: Request) -> ServingContext:
    context: ServingContext = request.app.state.context
    return context


Context = Annotated[ServingContext, Depends(get_context)]

_INTERNAL: dict[int | str, dict[str, Any]] = {
    500: {"model": ErrorResponse, "description": "A defect of the service (see its log)."}
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Unknown model."},
    413: {
        "model": ErrorResponse,
        "description": "More instances than the maximum, or a body over its limit.",
    },
    422: {
        "model": ErrorResponse,
        "description": (
            "Malformed body (not JSON, not UTF-8, nested too deep, numbers too long), instances "
            "violating the schema, or instances the model cannot score."
        ),
    },
    503: {
        "model": ErrorResponse,
        "description": (
            "The model's published version cannot be loaded and none serves (model_unavailable), or "
            "its flavour is served by another function (flavor_not_served); see Retry-After."
        ),
    },
    **_INTERNAL,
}


class _BoundedBodyRoute(APIRoute):
    """A route that refuses a body over ``max_body_bytes`` before reading it (413 ``body_too_large``)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def bounded(request: Request) -> Response:
            limit = request.app.state.context.settings.max_body_bytes
            length = request.headers.get("content-length", "")
            if length.isdigit() and int(length) > limit:
                raise Rejection(
                    413,
                    "body_too_large",
                    f"request body of {int(length)} bytes; at most {limit}",
                    model=_model_from_path(request.url.path),
                )
            return await handler(request)

        return bounded


def _model_from_path(path: str) -> str:
    parts = path.strip("/").split("/")
    if len(parts) >= 3 and parts[0] == "v1" and parts[1] == "models":
        return printable_name(parts[2])
    return ""


def create_app(context: ServingContext) -> FastAPI:
    """Build the prediction API around ``context`` (settings, models, sink, metrics)."""
    app = FastAPI(
        title="modelwatch prediction API",
        version=__version__,
        description=(
            "Predictions from the models served by modelwatch. Every instance is validated "
            "against the model's input schema and captured as an event. Every error is "
            '`{"error": {"code", "message", ...}, "request_id"}` with a status listed here.'
        ),
        redirect_slashes=False,  # a trailing slash is a 404 in the envelope, not a 307
    )
    app.router.route_class = _BoundedBodyRoute
    app.state.context = context
    document_authentication(app, context.settings)  # the scheme API Gateway applies in front
    app.add_middleware(CaptureAfterResponse, queue=context.capture)  # capture once the answer is sent
    app.add_middleware(RequestIdMiddleware)

    async def reject(request: Request, rejection: Rejection, body: Any) -> JSONResponse:
        request_id = request_id_of(request.state)
        # Metric labels stay bounded: a name the caller made up is counted as "unknown".
        served = context.models.is_known(rejection.model) or rejection.model in context.models.model_names()
        context.metrics.rejection(rejection.model if served else "unknown", rejection.reason)
        capture_rejection(
            context,
            request_id,
            rejection.model,
            rejection.version,
            rejection.reason,
            rejection.status_code,
            _errors_of(rejection),
            body_text(body),
            deadline=capture_deadline(context, request.scope.get("aws.context")),
            variant=rejection.variant,
        )
        detail: dict[str, Any] = {"code": rejection.reason, "message": rejection.message}
        if rejection.violations is not None:  # kept whole: a violation's feature may be null
            detail["violations"] = [v.model_dump(mode="json") for v in rejection.violations]
        if rejection.fields is not None:
            detail["fields"] = rejection.fields
        answer = {"error": detail, "request_id": request_id}
        ErrorResponse.model_validate(answer)  # the documented shape, checked
        return JSONResponse(answer, status_code=rejection.status_code, headers=rejection.headers)

    @app.exception_handler(Rejection)
    async def _on_rejection(request: Request, rejection: Rejection) -> JSONResponse:
        return await reject(request, rejection, rejection.body)

    @app.exception_handler(RequestValidationError)
    async def _on_invalid_body(request: Request, error: RequestValidationError) -> JSONResponse:
        fields = [
            {"loc": list(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type", "")}
            for e in error.errors()[:100]
        ]
        rejection = Rejection(
            422,
            "invalid_body",
            "request body is not a valid predict request",
            model=_model_from_path(request.url.path),
            fields=fields,
        )
        return await reject(request, rejection, error.body)

    @app.exception_handler(StarletteHTTPException)
    async def _on_framework_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        path = request.url.path
        model = _model_from_path(path)
        body = await request.body()
        if error.status_code == 400:  # FastAPI could not read the body: not UTF-8, nested too deep, ...
            rejection = Rejection(
                422,
                "invalid_body",
                "request body could not be parsed as JSON",
                model=model,
                fields=[{"loc": ["body"], "message": str(error.detail), "type": "json_invalid"}],
            )
        elif error.status_code == 405:
            rejection = Rejection(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed on {printable_name(path)}",
                model=model,
                headers=dict(error.headers or {}),
            )
        elif error.status_code == 404:
            rejection = Rejection(404, "not_found", f"no such path: {printable_name(path)}", model=model)
        else:  # no other framework error is raised by this app; answered in the envelope all the same
            answer = {
                "error": {"code": "http_error", "message": str(error.detail)},
                "request_id": request_id_of(request.state),
            }
            return JSONResponse(answer, status_code=error.status_code)
        return await reject(request, rejection, body)

    @app.exception_handler(Exception)
    async def _on_unexpected(request: Request, error: Exception) -> JSONResponse:
        request_id = request_id_of(request.state)
        logger.exception("unhandled error", extra={"request_id": request_id})
        return JSONResponse(
            {
                "error": {"code": "internal_error", "message": "internal error; see the service log"},
                "request_id": request_id,
            },
            status_code=500,
            headers={"x-request-id": request_id},
        )

    @app.post(
        "/v1/models/{model}/predict",
        response_model=PredictResponse,
        responses=_ERRORS,
        summary="Score instances with the model's served version",
    )
    async def predict(model: str, body: PredictRequest, request: Request, ctx: Context) -> PredictResponse:
        started = time.perf_counter()
        request_id = request_id_of(request.state)
        instances = body.instances
        raw = {"instances": instances}
        try:
            loaded = ctx.models.get(model)
        except UnknownModel:
            raise Rejection(
                404,
                "unknown_model",
                f"model {printable_name(model)!r} is not served here",
                model=printable_name(model),
                body=raw,
            ) from None
        except ModelUnavailable as error:
            raise Rejection(
                503,
                "model_unavailable",
                f"model {model!r} is not available: {error}",  # a reason, never the error's text
                model=model,
                version=error.failed_version,
                headers={"Retry-After": retry_after_seconds(ctx)},
                body=raw,
            ) from None
        except FlavorNotServed as error:
            raise Rejection(
                503,
                "flavor_not_served",
                f"model {model!r} version {error.version} is a {error.flavor!r} model, which this "
                "function does not serve; its route is being written, retry shortly",
                model=model,
                version=error.version,
                headers={"Retry-After": retry_after_seconds(ctx)},
                body=raw,
            ) from None
        if loaded.candidate is not None:
            return _serve_rollout(ctx, request, model, loaded, loaded.candidate, instances, raw, started)
        version = loaded.manifest.version
        predictions = _score(ctx, model, loaded.manifest, loaded.predictor, instances, raw)
        if predictions is None:
            raise _prediction_failed(model, version, raw, None)
        latency_ms = (time.perf_counter() - started) * 1000.0
        deadline = capture_deadline(ctx, request.scope.get("aws.context"))
        capture_predictions(ctx, request_id, model, version, instances, predictions, latency_ms, deadline)
        return PredictResponse(model=model, version=version, predictions=predictions, request_id=request_id)

    @app.post(
        "/v1/models/{model}/feedback",
        status_code=202,
        response_model=FeedbackAccepted,
        responses={
            404: _ERRORS[404],
            413: _ERRORS[413],
            422: _ERRORS[422],
            501: {"model": ErrorResponse, "description": "No labels stream configured."},
            **_INTERNAL,
        },
        summary="Send the true outcomes (labels) of earlier predictions",
    )
    async def feedback(model: str, body: FeedbackRequest, request: Request, ctx: Context) -> FeedbackAccepted:
        request_id = request_id_of(request.state)
        labels = [label.model_dump() for label in body.labels]
        if not (ctx.models.is_known(model) or model in ctx.models.model_names()):
            raise Rejection(
                404,
                "unknown_model",
                f"model {printable_name(model)!r} is not served here",
                model=printable_name(model),
                body={"labels": labels},
            )
        if ctx.settings.labels_stream is None:
            raise Rejection(
                501,
                "feedback_unavailable",
                "this deployment has no labels stream",
                model=model,
                body={"labels": labels},
            )
        if len(labels) > ctx.settings.max_labels:
            raise Rejection(
                413,
                "too_many_instances",
                f"{len(labels)} labels; at most {ctx.settings.max_labels}",
                model=model,
                body={"labels": labels},
            )
        deadline = capture_deadline(ctx, request.scope.get("aws.context"))
        capture_labels(ctx, ctx.settings.labels_stream, model, labels, deadline)
        return FeedbackAccepted(accepted=len(labels), request_id=request_id)

    @app.get(
        "/v1/models",
        response_model=ModelList,
        responses=_INTERNAL,
        summary="Models served: those whose manifest is published under the serving alias",
    )
    async def list_models(ctx: Context) -> ModelList:
        infos = []
        for name in ctx.models.model_names():
            manifest = ctx.models.manifest(name)
            if manifest is None:
                continue
            infos.append(
                ModelInfo(
                    name=manifest.model,
                    version=manifest.version,
                    flavor=manifest.flavor,
                    prediction_type=manifest.prediction_type,
                    created_at=manifest.created_at,
                    input_schema=manifest.input_schema.model_dump(mode="json"),
                )
            )
        return ModelList(models=infos)

    @app.get(
        "/health",
        response_model=Health,
        responses={
            503: {
                "model": Health,
                "description": "A model whose published version failed to load here has none to serve.",
            },
            **_INTERNAL,
        },
        summary="Readiness: the version each loaded model serves, any it failed to take, and the cache",
    )
    async def health(ctx: Context) -> JSONResponse:
        ctx.models.refresh_tracked()
        states = ctx.models.status()
        stats = ctx.models.stats()
        models = {
            name: ModelHealth(
                state=state.state,
                serving_version=state.serving_version,
                failed_version=state.failed_version,
                reason=state.reason,
                message=state.message,
                candidate=_candidate_health(state.candidate),
            )
            for name, state in states.items()
        }
        ready = all(
            state.state == "ready" and (state.candidate is None or state.candidate.predictor is not None)
            for state in states.values()
        )
        serving = all(state.serving_version is not None for state in states.values())
        cache = CacheHealth(
            models_loaded=stats.models_loaded,
            used_mb=stats.used_mb,
            budget_mb=stats.budget_mb,
            evictions=stats.evictions,
            loads=stats.loads,
            negative_hits=stats.negative_hits,
        )
        payload = Health(status="ok" if ready else "degraded", models=models, cache=cache)
        return JSONResponse(payload.model_dump(mode="json"), status_code=200 if serving else 503)

    return app


def _candidate_health(candidate: LoadedCandidate | None) -> CandidateHealth | None:
    if candidate is None:
        return None
    rollout = candidate.rollout
    return CandidateHealth(
        rollout_id=rollout.id,
        mode=rollout.mode,
        share=rollout.share,
        rollout_state=rollout.state,
        version=candidate.version,
        state="ready" if candidate.predictor is not None else "candidate_unavailable",
        reason=candidate.reason,
        message=candidate.message,
    )


def _score(
    ctx: ServingContext,
    model: str,
    manifest: ServingManifest,
    predictor: Predictor,
    instances: list[Any],
    raw: dict[str, Any],
    variant: Variant | None = None,
) -> list[Any] | None:
    """``predictor``'s predictions of ``instances`` after checking them against ``manifest``'s schema.

    Raises the request's 413 or 422 ``Rejection`` (the caller's instances are at fault); returns
    None when valid instances cannot be scored (logged), which the caller answers or falls back on.
    """
    version = manifest.version
    if len(instances) > ctx.settings.max_instances:
        raise Rejection(
            413,
            "too_many_instances",
            f"{len(instances)} instances; at most {ctx.settings.max_instances}",
            model=model,
            version=version,
            body=raw,
            variant=variant,
        )
    violations = validate_instances(manifest.input_schema, instances)
    if violations:
        bad = len({v.index for v in violations})
        raise Rejection(
            422,
            "schema_violation",
            f"{bad} instance(s) violate the input schema of {model!r}",
            model=model,
            version=version,
            violations=violations,
            body=raw,
            variant=variant,
        )
    try:
        predictions: list[Any] = predictor.predict(instances)
        json.dumps(predictions, allow_nan=False)  # NaN or inf could neither be answered nor captured
    except Exception:  # valid instances the model cannot score: answered, counted, captured
        logger.exception("model failed to score", extra={"model": model, "version": version})
        return None
    return predictions


def _prediction_failed(model: str, version: str, raw: dict[str, Any], variant: Variant | None) -> Rejection:
    return Rejection(
        422,
        "prediction_failed",
        f"version {version} of {model!r} could not score these instances",
        model=model,
        version=version,
        body=raw,
        variant=variant,
    )


def _serve_rollout(
    ctx: ServingContext,
    request: Request,
    model: str,
    loaded: LoadedModel,
    candidate: LoadedCandidate,
    instances: list[Any],
    raw: dict[str, Any],
    started: float,
) -> PredictResponse:
    """Answer a request of a model in an active rollout: routed (ab, canary) or shadowed.

    ab/canary: the request's variant serves it. A candidate that could not be loaded leaves
    production to answer, and the request is captured as ``candidate_failed``
    (``candidate_unavailable``); one that cannot score the instances answers a 422 under
    ``on_candidate_error="error"``, or leaves production to answer (``candidate_failed``,
    ``prediction_failed``). shadow: production answers; the candidate scores a sampled
    request after the response (``ShadowScoring``).
    """
    request_id = request_id_of(request.state)
    rollout = candidate.rollout
    deadline: float | None = None
    scoring: ShadowScoring | None = None
    variant: Variant = "production"
    predictions: list[Any] | None = None
    if rollout.mode == "shadow":  # sampled after the response, with the scoring
        scoring = ShadowScoring(ctx, candidate, request_id, model, instances)
    elif candidate.router.variant(request_id, request.scope["headers"], instances) == "candidate":
        if candidate.predictor is None:
            deadline = capture_deadline(ctx, request.scope.get("aws.context"))
            capture_candidate_failure(
                ctx,
                request_id,
                model,
                candidate.version,
                "candidate_unavailable",
                candidate.message,
                raw,
                deadline,
            )
        else:
            predictions = _score(
                ctx, model, candidate.manifest, candidate.predictor, instances, raw, "candidate"
            )
            if predictions is not None:
                variant = "candidate"
            elif rollout.on_candidate_error == "error":
                raise _prediction_failed(model, candidate.version, raw, "candidate")
            else:
                deadline = capture_deadline(ctx, request.scope.get("aws.context"))
                message = (
                    f"candidate version {candidate.version} of {model!r} could not score these instances"
                )
                capture_candidate_failure(
                    ctx, request_id, model, candidate.version, "prediction_failed", message, raw, deadline
                )
    if variant == "production":
        predictions = _score(ctx, model, loaded.manifest, loaded.predictor, instances, raw, "production")
        if predictions is None:
            raise _prediction_failed(model, loaded.manifest.version, raw, "production")
    assert predictions is not None
    version = candidate.version if variant == "candidate" else loaded.manifest.version
    latency_ms = (time.perf_counter() - started) * 1000.0
    if deadline is None:
        deadline = capture_deadline(ctx, request.scope.get("aws.context"))
    capture_predictions(
        ctx,
        request_id,
        model,
        version,
        instances,
        predictions,
        latency_ms,
        deadline,
        variant=variant,
        shadow=None if scoring is None else scoring.event_lines,
    )
    if scoring is not None:
        scoring.queue_failure_record(deadline)
    return PredictResponse(
        model=model, version=version, predictions=predictions, request_id=request_id, variant=variant
    )


def _errors_of(rejection: Rejection) -> list[dict[str, Any]]:
    if rejection.violations:
        return [v.model_dump() for v in rejection.violations]
    if rejection.fields:
        return rejection.fields
    return [{"message": rejection.message}]
