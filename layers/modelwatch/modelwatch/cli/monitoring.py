"""Monitoring subcommands on local files: ``profile``, ``schema infer``, ``validate`` and ``drift``.

Data files are CSV, Parquet or JSON Lines (by extension). Results are JSON on
stdout. Exit codes: 0 whatever the verdict; 3 (``EXIT_CHECK_FAILED``) with
``--fail-on-drift`` when dataset drift is declared, or with
``--fail-on-violation`` when a quality check fails; 2 for bad input (one line on
stderr).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from modelwatch.cli.errors import CliError, validation_message

if TYPE_CHECKING:
    from modelwatch.contracts.profile import DatasetProfile

EXIT_CHECK_FAILED = 3


def _column_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise CliError("--columns needs at least one column name")
    return list(dict.fromkeys(names))


def _read_data(path: str, columns: list[str] | None = None) -> dict[str, Any]:
    from modelwatch.monitoring.datasets import DatasetError, read_columns, row_count

    try:
        data = read_columns(path, columns)
    except DatasetError as error:
        raise CliError(str(error)) from None
    if not data:
        raise CliError(f"{path}: no columns")
    if row_count(data) == 0:
        raise CliError(f"{path}: no rows")
    return data


def _load_model(path: str, model: type[BaseModel], what: str) -> Any:
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise CliError(f"cannot read {what} {path}: {error.strerror or error}") from None
    try:
        return model.model_validate_json(text)
    except ValidationError as error:
        raise CliError(f"invalid {what} {path}: {validation_message(error)}") from None


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text)
    except OSError as error:
        raise CliError(f"cannot write {path}: {error.strerror or error}") from None


def _print_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2, allow_nan=False))


def _run_profile(args: argparse.Namespace) -> int:
    from modelwatch.monitoring.profile import profile_dataset

    data = _read_data(args.data, _column_list(args.columns))
    profile = profile_dataset(data, n_bins=args.bins, max_categories=args.max_categories)
    text = profile.model_dump_json()
    _write(args.output, text)
    _print_json(
        {
            "output": args.output,
            "n_rows": profile.n_rows,
            "features": profile.feature_names,
            "bytes": len(text),
        }
    )
    return 0


def _run_schema_infer(args: argparse.Namespace) -> int:
    from modelwatch.monitoring.profile import infer_schema, profile_dataset

    data = _read_data(args.data, _column_list(args.columns))
    data.pop(args.prediction_column, None)
    if not data:
        raise CliError(f"{args.data}: no feature column")
    schema = infer_schema(profile_dataset(data, prediction_column=None))
    text = schema.model_dump_json(indent=2, exclude_none=True)
    _write(args.output, text)
    _print_json({"output": args.output, "features": schema.feature_names})
    return 0


def _run_validate(args: argparse.Namespace) -> int:
    from modelwatch.contracts.monitoring_config import QualityThresholds
    from modelwatch.contracts.schema import InputSchema
    from modelwatch.monitoring.quality import check_quality

    schema: InputSchema = _load_model(args.schema, InputSchema, "schema")
    thresholds = (
        _load_model(args.thresholds, QualityThresholds, "thresholds")
        if args.thresholds
        else QualityThresholds()
    )
    data = _read_data(args.data)
    report = check_quality(schema, data, thresholds)
    _print_json(report.model_dump(mode="json"))
    return EXIT_CHECK_FAILED if args.fail_on_violation and not report.passed else 0


def _load_reference_profile(path: str) -> DatasetProfile | None:
    """The profile in ``path`` when it is a profile JSON file, else None (a data file)."""
    from modelwatch.contracts.profile import DatasetProfile

    if not path.lower().endswith(".json"):
        return None
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096).lstrip()
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror or error}") from None
    if not head.startswith(b"{") or b'"n_rows"' not in Path(path).read_bytes()[:1_000_000]:
        return None
    try:
        document = json.loads(Path(path).read_text())
    except ValueError:
        return None
    if not isinstance(document, dict) or "n_rows" not in document or "features" not in document:
        return None
    try:
        return DatasetProfile.model_validate(document)
    except ValidationError as error:
        raise CliError(f"invalid profile {path}: {validation_message(error)}") from None


def _run_drift(args: argparse.Namespace) -> int:
    from modelwatch.monitoring.datasets import parquet_row_count, row_count
    from modelwatch.monitoring.drift import DriftConfig, detect_drift
    from modelwatch.monitoring.profile import profile_against, profile_dataset

    columns = _column_list(args.columns)
    config: DriftConfig = (
        _load_model(args.config, DriftConfig, "drift config") if args.config else DriftConfig()
    )
    if args.drift_share is not None:
        config = config.model_copy(update={"drift_share": args.drift_share})
    reference = _load_reference_profile(args.reference)
    reference_columns: dict[str, Any] | None = None
    if reference is None:
        reference_columns = _read_data(args.reference, columns)
        reference = profile_dataset(reference_columns)
        current_rows = parquet_row_count(args.current)
        if min(reference.n_rows, current_rows or 0) > config.small_sample_max:
            reference_columns = None  # no exact test will need raw values: free the memory now
    elif columns is not None:
        unknown = [name for name in columns if name not in reference.feature_names]
        if unknown:
            raise CliError(f"{args.reference}: unknown column(s): {', '.join(unknown)}")
        reference = reference.model_copy(
            update={"features": [f for f in reference.features if f.name in columns]}
        )
    current_columns = _read_data(args.current, columns)
    common = [name for name in reference.feature_names if name in current_columns]
    if not common:
        raise CliError(f"no columns in common between {args.reference} and {args.current}")
    current_columns = {name: current_columns[name] for name in common}
    current = profile_against(reference, current_columns)
    smaller = min(reference.n_rows, row_count(current_columns))
    use_raw = reference_columns is not None and smaller <= config.small_sample_max
    report = detect_drift(
        reference,
        current,
        config,
        reference_columns=reference_columns if use_raw else None,
        current_columns=current_columns if use_raw else None,
    )
    if args.html:
        from modelwatch.monitoring.html_report import render_drift_html

        _write(
            args.html,
            render_drift_html(
                report,
                reference,
                current,
                title=f"Drift: {Path(args.current).name} vs {Path(args.reference).name}",
            ),
        )
    _print_json(report.model_dump(mode="json"))
    return EXIT_CHECK_FAILED if args.fail_on_drift and report.dataset_drift else 0


def add_commands(sub: Any) -> None:
    columns_help = "comma-separated column names (default: all)"

    profile = sub.add_parser("profile", help="profile a data file (the reference profile of a model version)")
    profile.add_argument("--data", required=True, help="CSV, Parquet or JSON Lines file")
    profile.add_argument("--output", required=True, help="profile JSON file to write")
    profile.add_argument("--columns", help=columns_help)
    profile.add_argument(
        "--bins", type=int, default=20, help="quantile bins per numeric feature (default 20)"
    )
    profile.add_argument("--max-categories", type=int, default=200, help="categories kept per feature (200)")
    profile.set_defaults(run=_run_profile)

    schema = sub.add_parser("schema", help="input schemas")
    schema_sub = schema.add_subparsers(dest="schema_command", required=True)
    infer = schema_sub.add_parser("infer", help="infer an input schema from a data file")
    infer.add_argument("--data", required=True, help="CSV, Parquet or JSON Lines file")
    infer.add_argument("--output", required=True, help="schema JSON file to write")
    infer.add_argument("--columns", help=columns_help)
    infer.add_argument("--prediction-column", default="prediction", help="column left out of the schema")
    infer.set_defaults(run=_run_schema_infer)

    validate = sub.add_parser("validate", help="data-quality check of a data file against a schema")
    validate.add_argument("--schema", required=True, help="input schema JSON file")
    validate.add_argument("--data", required=True, help="CSV, Parquet or JSON Lines file")
    validate.add_argument("--thresholds", help="QualityThresholds JSON file (default thresholds otherwise)")
    validate.add_argument(
        "--fail-on-violation", action="store_true", help=f"exit {EXIT_CHECK_FAILED} when a check fails"
    )
    validate.set_defaults(run=_run_validate)

    drift = sub.add_parser("drift", help="compare a current data file with a reference (file or profile)")
    drift.add_argument(
        "--reference", required=True, help="data file, or a profile JSON from `modelwatch profile`"
    )
    drift.add_argument("--current", required=True, help="CSV, Parquet or JSON Lines file")
    drift.add_argument("--columns", help=columns_help)
    drift.add_argument("--html", help="also write a self-contained HTML report here")
    drift.add_argument("--config", help="DriftConfig JSON file (methods, thresholds, per-feature overrides)")
    drift.add_argument(
        "--drift-share", type=float, help="share of drifted features that is dataset drift (0.5)"
    )
    drift.add_argument(
        "--fail-on-drift",
        action="store_true",
        help=f"exit {EXIT_CHECK_FAILED} when dataset drift is declared",
    )
    drift.set_defaults(run=_run_drift)
