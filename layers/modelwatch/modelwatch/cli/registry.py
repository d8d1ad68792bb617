"""``modelwatch registry register | list | show | compare | promote``: the model registry from a shell.

Every subcommand prints a readable table, or JSON with ``--json``. The tracking
server comes from ``--tracking-uri`` or ``MLFLOW_TRACKING_URI``; the models bucket
(where promotions publish serving manifests) from ``--bucket`` or
``MODELWATCH_MODELS_BUCKET``. Registry errors are one line and exit code 2.

Against an ``http(s)://`` server the commands use MLflow's REST API directly (MLflow
itself is not imported, so they start quickly), with ``MLFLOW_TRACKING_USERNAME`` /
``MLFLOW_TRACKING_PASSWORD`` or ``MLFLOW_TRACKING_TOKEN`` when set.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from modelwatch.cli.errors import CliError

if TYPE_CHECKING:
    from modelwatch.registry import ModelRegistry


def _registry(args: argparse.Namespace) -> ModelRegistry:
    from modelwatch.registry import ModelRegistry, RegistryError

    try:
        return ModelRegistry(
            tracking_uri=args.tracking_uri, models_bucket=getattr(args, "bucket", None) or None
        )
    except RegistryError as error:
        raise CliError(str(error)) from None


def _guard(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Report the registry's typed errors as one-line CLI errors."""

    def guarded(args: argparse.Namespace) -> int:
        from modelwatch.registry import RegistryError

        try:
            return run(args)
        except RegistryError as error:
            raise CliError(str(error)) from None

    return guarded


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers], *[["-" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _number(value: float | None, digits: int = 4) -> str | None:
    return None if value is None else f"{value:.{digits}f}"


def _percent(value: float | None) -> str | None:
    return None if value is None else f"{value:+.2%}"


def _print_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2, default=str))


def _key_values(items: Sequence[str] | None, what: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"{what} must be KEY=VALUE, got {item!r}")
        pairs[key] = value
    return pairs


def _metrics(items: Sequence[str] | None) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for key, value in _key_values(items, "--metric").items():
        try:
            metrics[key] = float(value)
        except ValueError:
            raise CliError(f"--metric {key}: {value!r} is not a number") from None
    return metrics


def _register(args: argparse.Namespace) -> int:
    registry = _registry(args)
    uri = registry.register_model(
        model_path=args.model,
        name=args.name,
        tags=_key_values(args.tag, "--tag"),
        flavor=args.flavor,
        prediction_type=args.prediction_type,
        input_schema=args.schema,
        training_data=args.training_data,
        training_data_uri=args.training_data_uri,
        metrics=_metrics(args.metric),
        description=args.description or "",
    )
    version = uri.rsplit("/", 1)[-1]
    if args.json:
        _print_json({"model_uri": uri, "name": args.name, "version": version})
    else:
        print(f"registered {uri} (stage development)")
    return 0


def _list(args: argparse.Namespace) -> int:
    registry = _registry(args)
    if args.name:
        versions = registry.list_versions(args.name)
        if args.json:
            _print_json([v.model_dump(mode="json") for v in versions])
            return 0
        rows = [
            [
                v.version,
                v.stage.value,
                ",".join(v.aliases) or None,
                v.flavor,
                ", ".join(f"{k}={_number(val)}" for k, val in sorted(v.metrics.items())) or None,
                v.created_at.strftime("%Y-%m-%d %H:%M") if v.created_at else None,
                v.lineage.get("creator"),
            ]
            for v in versions
        ]
        print(_table(["version", "stage", "aliases", "flavor", "metrics", "created", "creator"], rows))
        return 0
    models = registry.list_models()
    if args.json:
        _print_json([m.model_dump(mode="json") for m in models])
        return 0
    rows = [
        [
            m.name,
            m.latest_version,
            ", ".join(f"{alias}={version}" for alias, version in sorted(m.aliases.items())) or None,
            "yes" if m.managed else "no",
            m.updated_at.strftime("%Y-%m-%d %H:%M") if m.updated_at else None,
        ]
        for m in models
    ]
    print(_table(["model", "latest", "aliases", "modelwatch", "updated"], rows))
    return 0


def _show(args: argparse.Namespace) -> int:
    registry = _registry(args)
    info = registry.get_version(args.name, args.version)
    if args.json:
        _print_json(info.model_dump(mode="json"))
        return 0
    rows: list[list[Any]] = [
        ["model", info.name],
        ["version", info.version],
        ["uri", info.uri],
        ["stage", info.stage.value],
        ["aliases", ", ".join(info.aliases) or None],
        ["flavor", info.flavor],
        ["prediction type", info.prediction_type],
        ["servable", "yes" if info.servable else "no"],
        ["created", info.created_at.isoformat() if info.created_at else None],
        ["source", info.source],
    ]
    rows += [[f"lineage.{k}", v] for k, v in sorted(info.lineage.items())]
    rows += [[f"metric.{k}", _number(v)] for k, v in sorted(info.metrics.items())]
    rows += [[f"tag.{k}", v] for k, v in sorted(info.tags.items())]
    print(_table(["field", "value"], rows))
    if info.history:
        print()
        history = [
            [
                r.at.strftime("%Y-%m-%d %H:%M:%S"),
                r.from_stage.value,
                r.to_stage.value,
                r.actor,
                r.reason or None,
            ]
            for r in info.history
        ]
        print(_table(["when", "from", "to", "who", "why"], history))
    return 0


def _direction_overrides(args: argparse.Namespace) -> dict[str, bool]:
    directions = dict.fromkeys(args.higher_is_better or (), True)
    directions.update(dict.fromkeys(args.lower_is_better or (), False))
    return directions


def _compare(args: argparse.Namespace) -> int:
    from modelwatch.registry import compare_model_versions

    registry = _registry(args)
    directions = _direction_overrides(args)
    gated = args.min_absolute_change is not None or args.min_relative_change is not None
    if len(args.versions) == 2 and len(args.metric) == 1:
        metric = args.metric[0]
        result = compare_model_versions(
            registry,
            model_name=args.name,
            version1=args.versions[0],
            version2=args.versions[1],
            metric=metric,
            higher_is_better=directions.get(metric),
            min_absolute_change=args.min_absolute_change,
            min_relative_change=args.min_relative_change,
        )
        if args.json:
            _print_json(result.model_dump(mode="json"))
        else:
            rows = [
                [
                    result.metric,
                    result.direction,
                    _number(result.value1),
                    _number(result.value2),
                    _number(result.absolute_difference),
                    _percent(result.relative_difference),
                    result.winner or "tie",
                ]
            ]
            headers = [
                "metric",
                "better",
                f"v{result.version1}",
                f"v{result.version2}",
                "diff",
                "rel",
                "winner",
            ]
            print(_table(headers, rows))
            if result.gate is not None:
                verdict = "PASSED" if result.gate.passed else "FAILED"
                print(f"gate {verdict}: {result.gate.reason}")
        return 1 if result.gate is not None and not result.gate.passed else 0
    if gated:
        raise CliError("--min-absolute-change/--min-relative-change gate two versions on one metric")
    table = registry.compare_table(args.name, args.versions, args.metric, directions=directions)
    if args.json:
        _print_json(table.model_dump(mode="json"))
        return 0
    print(format_comparison_table(table))
    return 0


def format_comparison_table(table: Any) -> str:
    """A ``ComparisonTable`` as text: one row per metric, a column per version, the best one named."""
    baseline = table.versions[0]
    headers = ["metric", "better", *[f"v{v}" for v in table.versions], "best"]
    rows = []
    for row in table.rows:
        cells: list[Any] = [row.metric, row.direction]
        for version in table.versions:
            value = _number(row.values[version])
            rel = row.relative_differences[version]
            if value is not None and version != baseline and rel is not None:
                value = f"{value} ({_percent(rel)})"
            cells.append(value)
        cells.append(f"v{row.best_version}" if row.best_version else "tie")
        rows.append(cells)
    return _table(headers, rows)


def _promote(args: argparse.Namespace) -> int:
    registry = _registry(args)
    result = registry.promote(
        args.name,
        args.version,
        args.to,
        reason=args.reason or "",
        force=args.force,
        actor=args.actor,
        check_serves=not args.no_check,
    )
    if args.json:
        _print_json(result.model_dump(mode="json"))
        return 0
    move = result.transition
    forced = " (forced)" if move.forced else ""
    print(f"{args.name} version {result.version}: {move.from_stage.value} -> {move.to_stage.value}{forced}")
    if result.manifest_uri:
        print(f"serving manifest published: {result.manifest_uri}")
    if result.displaced_version:
        print(f"version {result.displaced_version} left {move.to_stage.value}")
    if result.note:
        print(f"note: {result.note}")
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tracking-uri", default=None, help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def add_commands(sub: Any) -> None:
    registry = sub.add_parser("registry", help="register, list, compare and promote model versions (MLflow)")
    commands = registry.add_subparsers(dest="registry_command", required=True, parser_class=type(registry))

    register = commands.add_parser("register", help="register a new version of a model")
    _common(register)
    register.add_argument(
        "--model", required=True, help="model file or dir, s3://..., runs:/..., models:/..."
    )
    register.add_argument("--name", required=True, help="registered model name, e.g. fraud_detection")
    register.add_argument("--flavor", choices=["sklearn", "onnx"], help="default: from the file's suffix")
    register.add_argument(
        "--prediction-type", choices=["probability", "label", "value"], help="default: value"
    )
    register.add_argument("--schema", help="input schema JSON file (default: inferred from --training-data)")
    register.add_argument("--training-data", help=".csv/.json/.jsonl/.parquet file, local or s3://")
    register.add_argument("--training-data-uri", help="lineage: where the training data lives")
    register.add_argument("--tag", action="append", metavar="KEY=VALUE", help="version tag (repeatable)")
    register.add_argument("--metric", action="append", metavar="NAME=VALUE", help="metric (repeatable)")
    register.add_argument("--description", help="version description")
    register.set_defaults(run=_guard(_register))

    listing = commands.add_parser("list", help="list models, or the versions of one model")
    _common(listing)
    listing.add_argument("name", nargs="?", help="list this model's versions")
    listing.set_defaults(run=_guard(_list))

    show = commands.add_parser("show", help="show one version: stage, lineage, metrics, history")
    _common(show)
    show.add_argument("name")
    show.add_argument("version", help="version number or alias (staging, production)")
    show.set_defaults(run=_guard(_show))

    compare = commands.add_parser("compare", help="compare versions on metrics (exit 1 when a gate fails)")
    _common(compare)
    compare.add_argument("name")
    compare.add_argument("versions", nargs="+", help="two or more versions; the first is the baseline")
    compare.add_argument("--metric", action="append", required=True, help="metric name (repeatable)")
    compare.add_argument("--higher-is-better", action="append", metavar="METRIC", help="override direction")
    compare.add_argument("--lower-is-better", action="append", metavar="METRIC", help="override direction")
    compare.add_argument("--min-absolute-change", type=float, help="gate: least improvement (metric units)")
    compare.add_argument("--min-relative-change", type=float, help="gate: least relative improvement (0.02)")
    compare.set_defaults(run=_guard(_compare))

    promote = commands.add_parser("promote", help="move a version to a stage; publishes the serving manifest")
    _common(promote)
    promote.add_argument("name")
    promote.add_argument("version")
    promote.add_argument("--to", required=True, choices=["development", "staging", "production", "archived"])
    promote.add_argument("--reason", help="why (recorded in the version's history)")
    promote.add_argument("--force", action="store_true", help="allow a move the rules refuse")
    promote.add_argument("--actor", help="who (default: $MODELWATCH_USER or the OS user)")
    promote.add_argument(
        "--no-check",
        action="store_true",
        help="publish without first loading the model here and scoring an example instance",
    )
    promote.add_argument("--bucket", help="models bucket (default: $MODELWATCH_MODELS_BUCKET)")
    promote.set_defaults(run=_guard(_promote))
