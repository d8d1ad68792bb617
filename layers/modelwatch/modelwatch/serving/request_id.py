"""Request ids: honour a caller's ``x-request-id``, or make one; echo it on every response."""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-request-id"
_ACCEPTABLE = re.compile(r"^[\x21-\x7e]{1,128}$")


class RequestIdMiddleware:
    """Plain ASGI middleware (cheaper per request than Starlette's BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        for name, value in scope["headers"]:
            if name == HEADER:
                candidate = value.decode("latin-1")
                if _ACCEPTABLE.match(candidate):
                    request_id = candidate
                break
        if request_id is None:
            request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        encoded = request_id.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (HEADER, encoded)]
            await send(message)

        await self.app(scope, receive, send_with_id)


def request_id_of(scope_state: Any) -> str:
    """The request id the middleware stored in the request's state."""
    return str(getattr(scope_state, "request_id", "") or uuid.uuid4().hex)
