"""The yardstick of ``make load --ramp``: a bare FastAPI app under uvicorn serving the same model file.

No schema validation, no capture, no manifest, no request ids, no error envelope: the model's
own scoring code (``modelwatch.flavors``) behind one route shaped like the platform's, so the
ratio of the two knees is what the platform costs on this machine. The artifact comes from
``MODELWATCH_BARE_ARTIFACT`` (a joblib file of the demo model).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request

from modelwatch.flavors import load_predictor
from modelwatch_local.fraud import FRAUD_SCHEMA


def create_bare_app(artifact: Path) -> FastAPI:
    """One ``POST /v1/models/{model}/predict`` route scoring ``{"instances": [...]}`` with ``artifact``."""
    predictor = load_predictor("sklearn", artifact, FRAUD_SCHEMA, "probability")
    app = FastAPI(title="bare model server", openapi_url="/openapi.json")

    @app.post("/v1/models/{model}/predict")
    async def predict(model: str, request: Request) -> dict[str, Any]:
        body = await request.json()
        return {"model": model, "predictions": predictor.predict(body["instances"])}

    return app


def _app_from_environment() -> FastAPI | None:
    artifact = os.environ.get("MODELWATCH_BARE_ARTIFACT")
    return create_bare_app(Path(artifact)) if artifact else None


app = _app_from_environment()
