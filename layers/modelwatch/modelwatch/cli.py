"""The ``modelwatch`` command line.

Errors a user can fix (bad arguments, missing files, unreachable endpoints) are
one line on stderr and exit code 2, never a traceback. Subcommands live in
``modelwatch.commands``, one module per group.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from pydantic import ValidationError

EXIT_USAGE = 2


class CliError(Exception):
    """An error reported as one line on stderr with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"modelwatch: error: {message}\n")


def validation_message(error: ValidationError) -> str:
    """The first problem of a pydantic error, as ``where: what``."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "input"
    return f"{where}: {first.get('msg', 'invalid')}"


def build_parser() -> argparse.ArgumentParser:
    from modelwatch.commands import COMMAND_MODULES

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


if __name__ == "__main__":
    # Run as ``python -m modelwatch.cli``, this module is ``__main__``; the commands raise
    # ``modelwatch.cli.CliError``, so dispatch through the importable module.
    from modelwatch.cli import main as _main

    raise SystemExit(_main())
