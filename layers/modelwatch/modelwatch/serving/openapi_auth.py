"""What the prediction API's OpenAPI document says about authentication, from the serving settings.

API Gateway authenticates every call before the app sees it (``api_auth``: IAM or a JWT
authoriser); the app checks nothing itself. The document tells callers, and Swagger UI, how
to authenticate: with ``jwt`` it declares an HTTP bearer (JWT) security scheme required by
every operation, so Swagger UI's "Authorize" takes a token and "Try it out" sends
``Authorization: Bearer <token>``; the predict and feedback operations name the scopes their
routes need. With ``iam`` it says that calls must be signed with SigV4, which Swagger UI
cannot do (there is no OpenAPI security scheme for SigV4). With ``none`` (the local server)
the document is left as FastAPI builds it.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from fastapi import FastAPI

from modelwatch.settings import ServingSettings

JWT_SCHEME: Final = "jwt"
PREDICT_PATH: Final = "/v1/models/{model}/predict"
FEEDBACK_PATH: Final = "/v1/models/{model}/feedback"

SIGV4_NOTE: Final = (
    "**Authentication: AWS SigV4.** Every call must be signed with AWS Signature Version 4 "
    "(service `execute-api`) by a principal allowed `execute-api:Invoke` on the route; unsigned "
    "calls are answered 403 by API Gateway. Swagger UI cannot sign requests, so *Try it out* fails "
    "here: call the API with `awscurl --service execute-api` or `curl --aws-sigv4` instead."
)


def jwt_note(issuer: str) -> str:
    """The document's description of JWT authentication, naming the token issuer."""
    return (
        f"**Authentication: JWT.** Every call needs `Authorization: Bearer <token>`, a JWT issued by "
        f"`{issuer}` for this API's audience; API Gateway answers 401 without one. In Swagger UI, "
        "click *Authorize*, paste the token (without `Bearer `), then *Try it out*."
    )


def _scopes_note(scopes: list[str]) -> str:
    if not scopes:
        return "Any valid token of the issuer and audience is accepted."
    return "The token must carry one of the scopes " + ", ".join(f"`{s}`" for s in scopes) + "."


def with_authentication(document: dict[str, Any], settings: ServingSettings) -> dict[str, Any]:
    """Return a copy of the OpenAPI ``document`` that says how callers authenticate.

    Parameters
    ----------
    document
        The document FastAPI generated (left unchanged).
    settings
        The serving settings; ``api_auth`` decides what is added (nothing for ``none``).

    Returns
    -------
    dict
        With ``jwt``: a bearer security scheme, required by every operation, and the scopes of
        the predict and feedback operations in their descriptions. With ``iam``: the SigV4
        requirement in the description of the API and of every operation.
    """
    if settings.api_auth == "none":
        return document
    result = copy.deepcopy(document)
    info = result.setdefault("info", {})
    operations = [op for path in result.get("paths", {}).values() for op in path.values()]
    if settings.api_auth == "iam":
        info["description"] = _joined(info.get("description"), SIGV4_NOTE)
        for operation in operations:
            operation["description"] = _joined(operation.get("description"), "Needs a SigV4-signed request.")
        return result
    issuer = settings.api_jwt_issuer or ""
    schemes = result.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes[JWT_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": f"A JWT issued by {issuer} for this API's audience, checked by API Gateway.",
    }
    result["security"] = [{JWT_SCHEME: []}]
    info["description"] = _joined(info.get("description"), jwt_note(issuer))
    scoped = {
        PREDICT_PATH: settings.api_jwt_predict_scopes,
        FEEDBACK_PATH: settings.api_jwt_feedback_scopes,
    }
    for path, scopes in scoped.items():
        operation = result.get("paths", {}).get(path, {}).get("post")
        if operation is not None:
            operation["security"] = [{JWT_SCHEME: []}]
            operation["description"] = _joined(operation.get("description"), _scopes_note(list(scopes)))
    return result


def document_authentication(app: FastAPI, settings: ServingSettings) -> None:
    """Make ``app`` serve (and cache) its OpenAPI document with :func:`with_authentication` applied."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = with_authentication(generate(), settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _joined(text: str | None, note: str) -> str:
    return f"{text}\n\n{note}" if text else note
