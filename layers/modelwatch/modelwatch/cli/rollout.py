"""``modelwatch rollout start | status | promote | stop``: a candidate against production, live.

The registry options are those of ``modelwatch registry``: the tracking server from
``--tracking-uri`` or ``MLFLOW_TRACKING_URI``, the models bucket (whose production manifest
carries the rollout) from ``--bucket`` or ``MODELWATCH_MODELS_BUCKET``; ``status`` reads the
rollout job's latest evaluation from ``--events-bucket`` or ``MODELWATCH_EVENTS_BUCKET``.
Every subcommand prints a readable table, or JSON with ``--json``. Bad input and the
registry's errors are one line on stderr and exit code 2. See ``docs/rollouts.md``.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from modelwatch.cli.arguments import whole_number
from modelwatch.cli.errors import CliError
from modelwatch.cli.registry import _guard, _print_json, _table

if TYPE_CHECKING:
    from modelwatch.contracts.rollout import Rollout
    from modelwatch.registry import ModelRegistry, RolloutStatus

BUILTIN_METRICS = ("accuracy", "log_loss", "squared_error", "absolute_error")
DEFAULT_EXPRESSION_METRIC = "business_metric"


def _registry(args: argparse.Namespace) -> ModelRegistry:
    from modelwatch.registry import ModelRegistry, RegistryError

    try:
        return ModelRegistry(
            tracking_uri=args.tracking_uri,
            models_bucket=args.bucket or None,
            events_bucket=getattr(args, "events_bucket", None) or None,
        )
    except RegistryError as error:
        raise CliError(str(error)) from None


def _share(text: str) -> float:
    """An argparse ``type``: a share in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be within [0, 1], got {value}")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def _steps(args: argparse.Namespace) -> list[dict[str, Any]] | None:
    """The canary steps from ``--steps`` (default: the library's), each held as ``--step-*`` say."""
    held: dict[str, Any] = {}
    if args.step_minutes is not None:
        held["min_minutes"] = args.step_minutes
    if args.step_requests is not None:
        held["min_requests"] = args.step_requests
    if args.mode != "canary":
        if args.steps or held:
            raise CliError(f"--steps, --step-minutes and --step-requests are for a canary, not {args.mode}")
        return None
    if args.steps is None and not held:
        return None
    from modelwatch.contracts.rollout import DEFAULT_CANARY_STEPS

    shares: list[float] = list(DEFAULT_CANARY_STEPS)
    if args.steps is not None:
        try:
            shares = [float(part) for part in args.steps.split(",") if part.strip()]
        except ValueError:
            raise CliError(
                f"--steps must be comma-separated shares, e.g. 0.05,0.25,0.5,1; got {args.steps!r}"
            ) from None
    return [{"share": share, **held} for share in shares]


def _guardrails(args: argparse.Namespace) -> dict[str, Any] | None:
    """Only the limits given on the command line; the others keep their defaults."""
    given = {
        "max_error_rate": args.max_error_rate,
        "max_p99_latency_ms": args.max_p99_ms,
        "max_latency_ratio": args.max_latency_ratio,
        "max_prediction_drift": args.max_drift,
        "min_requests": args.min_requests,
    }
    limits: dict[str, Any] = {name: value for name, value in given.items() if value is not None}
    if args.no_metric_guardrail:
        limits["metric_worse"] = False
    return limits or None


def _metric(args: argparse.Namespace) -> dict[str, Any] | str | None:
    if args.metric_expression is None:
        if args.higher_is_better is not None and args.metric is None:
            raise CliError("--higher-is-better/--lower-is-better go with --metric or --metric-expression")
        if args.metric is None:
            return None
        if args.metric not in BUILTIN_METRICS:
            raise CliError(
                f"--metric {args.metric!r} is not a builtin ({', '.join(BUILTIN_METRICS)}): "
                "give --metric-expression SQL to name an expression metric"
            )
        if args.higher_is_better is None:
            return str(args.metric)
        return {"name": args.metric, "builtin": args.metric, "higher_is_better": args.higher_is_better}
    if args.higher_is_better is None:
        raise CliError("--metric-expression needs --higher-is-better or --lower-is-better")
    return {
        "name": args.metric or DEFAULT_EXPRESSION_METRIC,
        "builtin": None,
        "expression": args.metric_expression,
        "higher_is_better": args.higher_is_better,
    }


def _start(args: argparse.Namespace) -> int:
    registry = _registry(args)
    rollout = registry.start_rollout(
        args.model,
        args.version,
        mode=args.mode,
        share=args.share,
        key=args.key,
        steps=_steps(args),
        guardrails=_guardrails(args),
        metric=_metric(args),
        alpha=args.alpha,
        on_candidate_error=args.on_candidate_error,
        reason=args.reason or "",
        actor=args.actor,
        check_serves=not args.no_check,
    )
    if args.json:
        _print_json(rollout.model_dump(mode="json"))
        return 0
    print(
        f"rollout {rollout.id} started: {args.model} version {rollout.candidate.version} beside production "
        f"version {rollout.production_version}, {rollout.mode} at {_pct(rollout.share)}, key {rollout.key}"
    )
    return 0


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{share:.0%}" if share * 100 == round(share * 100) else f"{share:.1%}"


def _num(value: float | None) -> str | None:
    return None if value is None else f"{value:.4g}"


def _step(rollout: Rollout) -> str | None:
    if rollout.mode != "canary":
        return None
    step = rollout.steps[rollout.step]
    return (
        f"{rollout.step + 1} of {len(rollout.steps)} ({', '.join(_pct(s.share) for s in rollout.steps)}); "
        f"held {step.min_minutes:g} min and {step.min_requests} requests"
    )


# Each declared guardrail and the name of the rollout job's check of it.
_LIMITS = (
    ("error_rate", "max_error_rate"),
    ("p99_latency_ms", "max_p99_latency_ms"),
    ("latency_ratio", "max_latency_ratio"),
    ("prediction_drift", "max_prediction_drift"),
)


def format_status(status: RolloutStatus) -> str:
    """A ``RolloutStatus`` as text: the rollout, its guardrails, the always-valid tests, its history."""
    rollout = status.rollout
    if rollout is None:
        served = f" (production: version {status.production_version})" if status.production_version else ""
        return f"{status.model}: no rollout{served}" + (f"; {status.note}" if status.note else "")
    evaluation = status.evaluation
    rows: list[list[Any]] = [
        ["rollout", rollout.id],
        ["candidate", f"version {rollout.candidate.version}"],
        ["production", f"version {rollout.production_version}"],
        ["mode", rollout.mode],
        ["share", _pct(rollout.share)],
        ["step", _step(rollout)],
        ["state", rollout.state.replace("_", " ")],
        ["key", rollout.key],
        ["started", f"{rollout.started_at:%Y-%m-%d %H:%M:%S} UTC by {rollout.started_by}"],
        ["reason", rollout.reason or None],
        ["alpha", f"{rollout.alpha:g}"],
    ]
    if evaluation is not None:
        rows.append(
            [
                "last evaluation",
                f"{evaluation.action}: {evaluation.reason or '-'} ({evaluation.windows} windows)",
            ]
        )
    elif status.note:
        rows.append(["evaluation", status.note])
    else:
        rows.append(["evaluation", "none yet (the rollout job has not evaluated this rollout)"])
    parts = [_table(["field", "value"], rows)]

    checks = {check.name: check for check in evaluation.guardrails} if evaluation else {}
    rails = rollout.guardrails
    guard_rows: list[list[Any]] = []
    for name, field in _LIMITS:
        limit = getattr(rails, field)
        if limit is not None:
            check = checks.pop(name, None)
            guard_rows.append(
                [
                    name,
                    _num(limit),
                    check.state if check else "waiting",
                    _num(check.value) if check else None,
                    check.detail if check else None,
                ]
            )
    if rails.metric_worse:
        name = f"{rollout.metric.name}_worse"
        check = checks.pop(name, None)
        guard_rows.append(
            [
                name,
                "worse with confidence",
                check.state if check else "waiting",
                _num(check.value) if check else None,
                check.detail if check else None,
            ]
        )
    guard_rows += [[c.name, _num(c.limit), c.state, _num(c.value), c.detail] for c in checks.values()]
    parts.append(_table(["guardrail", "limit", "state", "value", "detail"], guard_rows))

    if evaluation is not None and evaluation.totals:
        variant_rows = [
            [
                variant,
                totals.version,
                totals.requests,
                totals.errors,
                _num(totals.error_rate),
                _num(totals.latency_p99_ms),
                _num(totals.metric_mean),
                totals.labelled,
            ]
            for variant, totals in sorted(evaluation.totals.items(), key=lambda item: item[0] != "production")
        ]
        headers = ["variant", "version", "requests", "errors", "error rate", "p99 ms", "metric", "labelled"]
        parts.append(_table(headers, variant_rows))
    if evaluation is not None and evaluation.tests:
        test_rows = [
            [
                name,
                _num(test.estimate),
                f"[{_num(test.low) or '-'}, {_num(test.high) or '-'}]",
                test.decision,
                test.n_candidate,
                test.n_production,
            ]
            for name, test in evaluation.tests.items()
        ]
        parts.append(
            _table(
                ["test", "estimate", "always-valid interval", "decision", "n candidate", "n production"],
                test_rows,
            )
        )
    history = [
        [
            f"{t.at:%Y-%m-%d %H:%M:%S}",
            t.action,
            f"{_pct(t.from_share)} -> {_pct(t.to_share)}",
            t.actor,
            t.reason or None,
        ]
        for t in rollout.history
    ]
    parts.append(_table(["when", "action", "share", "who", "why"], history))
    return "\n\n".join(parts)


def _status(args: argparse.Namespace) -> int:
    status = _registry(args).rollout_status(args.model)
    if args.json:
        _print_json(status.model_dump(mode="json"))
    else:
        print(format_status(status))
    return 0


def _promote(args: argparse.Namespace) -> int:
    result = _registry(args).promote_rollout(
        args.model,
        reason=args.reason or "",
        actor=args.actor,
        force=args.force,
        check_serves=not args.no_check,
    )
    if args.json:
        _print_json(result.model_dump(mode="json"))
        return 0
    ended = f" (rollout {result.rollout.id} promoted)" if result.rollout else ""
    print(f"{args.model} version {result.version} promoted to production{ended}")
    if result.manifest_uri:
        print(f"serving manifest published: {result.manifest_uri}")
    if result.displaced_version:
        print(f"version {result.displaced_version} left production")
    return 0


def _stop(args: argparse.Namespace) -> int:
    rollout = _registry(args).stop_rollout(args.model, reason=args.reason or "", actor=args.actor)
    if args.json:
        _print_json(rollout.model_dump(mode="json"))
        return 0
    print(f"rollout {rollout.id} stopped: production version {rollout.production_version} serves all traffic")
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tracking-uri", default=None, help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI)"
    )
    parser.add_argument("--bucket", help="models bucket (default: $MODELWATCH_MODELS_BUCKET)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _acting(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", help="why (recorded in the rollout's history)")
    parser.add_argument("--actor", help="who (default: $MODELWATCH_USER or the OS user)")


def add_commands(sub: Any) -> None:
    rollout = sub.add_parser(
        "rollout", help="shadow, A/B and canary rollouts of a candidate beside production"
    )
    commands = rollout.add_subparsers(dest="rollout_command", required=True, parser_class=type(rollout))

    start = commands.add_parser("start", help="start a rollout of VERSION beside the production version")
    _common(start)
    _acting(start)
    start.add_argument("model")
    start.add_argument("version")
    start.add_argument("--mode", required=True, choices=["shadow", "ab", "canary"])
    start.add_argument(
        "--share", type=_share, help="candidate's share (default: shadow 1, ab 0.5, canary: first step)"
    )
    start.add_argument("--key", default="request_id", help="request_id, header:<name> or feature:<name>")
    start.add_argument("--steps", help="canary shares, comma-separated (default 0.05,0.25,0.5,1)")
    start.add_argument(
        "--step-minutes", type=_positive, help="canary: least minutes at each step (default 10)"
    )
    start.add_argument(
        "--step-requests",
        type=whole_number(0),
        help="canary: least candidate requests per step (default 200)",
    )
    start.add_argument(
        "--max-error-rate", type=_share, help="guardrail: candidate's error rate (default 0.05)"
    )
    start.add_argument(
        "--max-p99-ms", type=_positive, help="guardrail: candidate's p99 latency in ms (default: none)"
    )
    start.add_argument(
        "--max-latency-ratio", type=_positive, help="guardrail: p99 over production's (default 2)"
    )
    start.add_argument(
        "--max-drift",
        type=_positive,
        help="guardrail: PSI of predictions against production's (default 0.25)",
    )
    start.add_argument(
        "--min-requests",
        type=whole_number(1),
        help="guardrails judge from this many candidate requests (default 100)",
    )
    start.add_argument(
        "--no-metric-guardrail",
        action="store_true",
        help="do not roll back when the labelled metric is worse",
    )
    start.add_argument(
        "--metric", help=f"labelled metric: {', '.join(BUILTIN_METRICS)}; or the name of --metric-expression"
    )
    start.add_argument(
        "--metric-expression",
        metavar="SQL",
        help="a metric per labelled instance over prediction, label, features",
    )
    direction = start.add_mutually_exclusive_group()
    direction.add_argument("--higher-is-better", dest="higher_is_better", action="store_true", default=None)
    direction.add_argument("--lower-is-better", dest="higher_is_better", action="store_false")
    start.add_argument(
        "--alpha", type=float, default=0.05, help="error level of the always-valid tests (default 0.05)"
    )
    start.add_argument(
        "--on-candidate-error",
        choices=["production", "error"],
        default="production",
        help="ab/canary: a request the candidate fails gets production's answer (default) or the error",
    )
    start.add_argument(
        "--no-check",
        action="store_true",
        help="start without first loading the candidate here and scoring an example instance",
    )
    start.set_defaults(run=_guard(_start))

    status = commands.add_parser("status", help="the rollout, its guardrails and the always-valid tests")
    _common(status)
    status.add_argument("model")
    status.add_argument(
        "--events-bucket",
        help="where the rollout job keeps its evidence (default: $MODELWATCH_EVENTS_BUCKET)",
    )
    status.set_defaults(run=_guard(_status))

    promote = commands.add_parser("promote", help="promote the candidate to production (through the stages)")
    _common(promote)
    _acting(promote)
    promote.add_argument("model")
    promote.add_argument(
        "--force", action="store_true", help="allow a move the stage rules refuse, or a rolled-back candidate"
    )
    promote.add_argument(
        "--no-check", action="store_true", help="publish without loading the model here first"
    )
    promote.set_defaults(run=_guard(_promote))

    stop = commands.add_parser("stop", help="stop the rollout: share 0, production serves all traffic")
    _common(stop)
    _acting(stop)
    stop.add_argument("model")
    stop.set_defaults(run=_guard(_stop))
