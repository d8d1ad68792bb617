"""``make cost``: ``python -m modelwatch_local.cost [--synth | --templates cdk.out] [--rate 50] ...``.

Writes the figures with every line item to ``.cost/cost.json`` and prints them as a table.
A bad argument, missing templates or an unreadable prices file: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import fields
from pathlib import Path
from typing import Any, NoReturn

from modelwatch_local.cost.calculator import Inputs, cost_report
from modelwatch_local.cost.prices import PRICES_FILE, PriceError, load_prices
from modelwatch_local.cost.templates import Template, TemplateError, read_templates, summarise


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"make cost: {message}", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m modelwatch_local.cost", description=__doc__)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--templates", type=Path, help="directory of *.template.json (default: cdk.out)")
    source.add_argument("--synth", action="store_true", help="synthesise the stacks in-process from cdk.json")
    parser.add_argument("--prices", type=Path, default=PRICES_FILE)
    parser.add_argument("--output", type=Path, default=Path(".cost/cost.json"))
    for item in fields(Inputs):
        flag = "--" + item.name.replace("_", "-")
        parser.add_argument(flag, type=type(item.default), default=item.default, dest=item.name)
    return parser


def _synthesised() -> dict[str, Template]:
    import os

    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    os.environ.setdefault("CDK_DISABLE_CLI_TELEMETRY", "true")
    import aws_cdk as cdk

    from infra.assembly import build_app, cdk_json_context

    with tempfile.TemporaryDirectory() as outdir:
        assembly = build_app(cdk.App(context=cdk_json_context(), outdir=outdir))
        cloud = assembly.app.synth()
        return {stack.stack_name: stack.template for stack in cloud.stacks}


def _table(report: dict[str, Any]) -> str:
    lines: list[str] = []
    titles = {
        "per_million_predictions": (
            "per million predictions at {rate:g} req/s, {instances_per_request} instance(s) a request"
        ),
        "idle_month_without_registry": "idle month, without the registry",
        "idle_month_with_registry": "idle month, with the registry",
        "registry_idle_month": "idle month of the registry stack alone",
        "registry_image_build": "building the MLflow image, once per deploy that changes it (not monthly)",
        "monitoring_per_model_month": "monitoring per model per month (hourly jobs)",
    }
    for key, title in titles.items():
        figure = report[key]
        goal = f"   (goal ${figure['goal_usd']:.2f})" if "goal_usd" in figure else ""
        lines.append(f"{title.format(**report['inputs'])}: ${figure['total_usd']:.4f}{goal}")
        for item in figure["items"]:
            lines.append(f"  {item['name']:<58} ${item['usd']:>9.4f}  {item['detail']}")
        lines.append("")
    lines.append("prices: {file} ({region}, checked {checked})".format(**report["prices"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        inputs = Inputs(**{item.name: getattr(args, item.name) for item in fields(Inputs)})
        prices = load_prices(args.prices)
        templates = _synthesised() if args.synth else read_templates(args.templates or Path("cdk.out"))
        report = cost_report(summarise(templates), inputs, prices)
    except (ValueError, TemplateError, PriceError) as error:
        print(f"make cost: {error}", file=sys.stderr)
        return 2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(_table(report))
    print(f"written: {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
