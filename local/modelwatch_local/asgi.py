"""The prediction app for uvicorn, configured from the environment like the Lambda function.

Capture is sent in a worker thread after uvicorn has written each response, so a caller
can have its answer a moment before its events are in S3. The local harness reads captured
events only once ``GET /_local/capture`` (answered here, never by the Lambda app) says no
request's capture is in flight (``LocalStack.events()``).
"""

import json
from typing import Any

from modelwatch.serving.app import create_app
from modelwatch.serving.context import build_context
from modelwatch.settings import ServingSettings, load_settings

CAPTURE_STATE_PATH = "/_local/capture"

context = build_context(load_settings(ServingSettings))
context.capture.mode = "thread"
serving_app = create_app(context)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The serving app, and the capture state the local harness waits on."""
    if scope["type"] == "http" and scope["path"] == CAPTURE_STATE_PATH and scope["method"] == "GET":
        body = json.dumps({"in_flight": context.capture.in_flight}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    await serving_app(scope, receive, send)
