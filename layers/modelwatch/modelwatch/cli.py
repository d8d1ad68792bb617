"""The ``modelwatch`` command line.

Errors a user can fix (bad arguments, missing files, unreachable endpoints) are
one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from pydantic import ValidationError

EXIT_USAGE = 2


class CliError(Exception):
    """An error reported as one line on stderr with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"modelwatch: error: {message}\n")


def _validation_message(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "input"
    return f"{where}: {first.get('msg', 'invalid')}"


def _cmd_publish(args: argparse.Namespace) -> int:
    from modelwatch.publish import publish_model
    from modelwatch.schema import InputSchema

    schema_path = Path(args.schema)
    try:
        schema = InputSchema.model_validate_json(schema_path.read_text())
    except OSError as error:
        raise CliError(f"cannot read schema {schema_path}: {error.strerror or error}") from None
    except ValidationError as error:
        raise CliError(f"invalid schema {schema_path}: {_validation_message(error)}") from None
    manifest = publish_model(
        model_file=args.model_file,
        name=args.name,
        version=args.version,
        flavor=args.flavor,
        input_schema=schema,
        bucket=args.bucket,
        alias=args.alias,
        prediction_type=args.prediction_type,
    )
    print(json.dumps({"published": manifest.model_dump(mode="json", exclude={"input_schema"})}, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="modelwatch", description="Serve, capture and watch ML models on AWS.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    publish = sub.add_parser("publish", help="upload a model file and publish its serving manifest")
    publish.add_argument("--model-file", required=True, help="joblib/pickle (sklearn) or .onnx file")
    publish.add_argument("--name", required=True, help="model name, e.g. fraud_detection")
    publish.add_argument("--version", required=True, help="version label, e.g. 3")
    publish.add_argument("--flavor", required=True, choices=["sklearn", "onnx"])
    publish.add_argument("--schema", required=True, help="input schema JSON file")
    publish.add_argument("--bucket", required=True, help="models bucket (deployment output ModelsBucketName)")
    publish.add_argument("--alias", default="production", help="alias to publish under (default: production)")
    publish.add_argument("--prediction-type", default="value", choices=["probability", "label", "value"])
    publish.set_defaults(run=_cmd_publish)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except CliError as error:
        return _fail(str(error))
    except ValidationError as error:
        return _fail(_validation_message(error))
    except FileNotFoundError as error:
        return _fail(str(error))
    except Exception as error:  # botocore and OS errors: one line, no traceback
        return _fail(f"{type(error).__name__}: {error}")


def _fail(message: str) -> int:
    print(f"modelwatch: error: {message}", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
