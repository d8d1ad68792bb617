"""``modelwatch publish``: upload a model file and publish its serving manifest."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from modelwatch.cli.errors import CliError, validation_message


def _run(args: argparse.Namespace) -> int:
    from modelwatch.contracts.schema import InputSchema
    from modelwatch.registry.publishing import publish_model

    schema_path = Path(args.schema)
    try:
        schema = InputSchema.model_validate_json(schema_path.read_text())
    except OSError as error:
        raise CliError(f"cannot read schema {schema_path}: {error.strerror or error}") from None
    except ValidationError as error:
        raise CliError(f"invalid schema {schema_path}: {validation_message(error)}") from None
    profile_json = None
    if args.reference_profile:
        profile_path = Path(args.reference_profile)
        try:
            profile_json = profile_path.read_text()
        except OSError as error:
            raise CliError(
                f"cannot read reference profile {profile_path}: {error.strerror or error}"
            ) from None
    manifest = publish_model(
        model_file=args.model_file,
        name=args.name,
        version=args.version,
        flavor=args.flavor,
        input_schema=schema,
        bucket=args.bucket,
        alias=args.alias,
        prediction_type=args.prediction_type,
        reference_profile_json=profile_json,
        monitoring_window_minutes=args.monitoring_window_minutes,
    )
    print(json.dumps({"published": manifest.model_dump(mode="json", exclude={"input_schema"})}, indent=2))
    return 0


def add_commands(sub: Any) -> None:
    publish = sub.add_parser("publish", help="upload a model file and publish its serving manifest")
    publish.add_argument("--model-file", required=True, help="joblib/pickle (sklearn) or .onnx file")
    publish.add_argument("--name", required=True, help="model name, e.g. fraud_detection")
    publish.add_argument("--version", required=True, help="version label, e.g. 3")
    publish.add_argument("--flavor", required=True, choices=["sklearn", "onnx"])
    publish.add_argument("--schema", required=True, help="input schema JSON file")
    publish.add_argument("--bucket", required=True, help="models bucket (deployment output ModelsBucketName)")
    publish.add_argument("--alias", default="production", help="alias to publish under (default: production)")
    publish.add_argument("--prediction-type", default="value", choices=["probability", "label", "value"])
    publish.add_argument(
        "--reference-profile", help="reference data profile JSON (from `modelwatch profile`), for monitoring"
    )
    publish.add_argument(
        "--monitoring-window-minutes",
        type=_window_minutes,
        help="this model's monitoring window, 5 to 10080 (default: the deployment's window_minutes)",
    )
    publish.set_defaults(run=_run)


def _window_minutes(value: str) -> int:
    try:
        minutes = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of minutes: {value!r}") from None
    if not 5 <= minutes <= 10_080:
        raise argparse.ArgumentTypeError(f"must be 5 to 10080 minutes, got {minutes}")
    return minutes
