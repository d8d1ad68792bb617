"""The ``modelwatch`` command line: the parser, the dispatch, and the one-line error contract.

Errors a user can fix (bad arguments, missing files, unreachable endpoints) are
one line on stderr and exit code 2, never a traceback. Subcommands live beside
this module, one per group (``publish``, ``monitoring``, ``registry``, ``rollout``,
``capture``, ``backfill``); each exposes ``add_commands(subparsers)``, which adds its subparsers
and sets ``run`` (a function of the parsed arguments returning an exit code) on each,
and imports its heavy dependencies inside ``run``, so ``modelwatch --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from pydantic import ValidationError

from modelwatch.cli.errors import EXIT_USAGE, CliError, validation_message

COMMAND_MODULES = (
    "modelwatch.cli.publish",
    "modelwatch.cli.monitoring",
    "modelwatch.cli.registry",
    "modelwatch.cli.rollout",
    "modelwatch.cli.capture",
    "modelwatch.cli.backfill",
    "modelwatch.cli.sql",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"modelwatch: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="modelwatch", description="Serve, capture and watch ML models on AWS.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(sub)
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
        return _fail(validation_message(error))
    except FileNotFoundError as error:
        return _fail(str(error))
    except Exception as error:  # botocore and OS errors: one line, no traceback
        return _fail(f"{type(error).__name__}: {error}")


def _fail(message: str) -> int:
    print(f"modelwatch: error: {' '.join(str(message).split())}", file=sys.stderr)
    return EXIT_USAGE
