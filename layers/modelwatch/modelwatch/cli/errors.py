"""The command line's error contract: one line on stderr, exit code 2."""

from __future__ import annotations

from pydantic import ValidationError

EXIT_USAGE = 2


class CliError(Exception):
    """An error reported as one line on stderr with exit code 2."""


def validation_message(error: ValidationError) -> str:
    """The first problem of a pydantic error, as ``where: what``."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "input"
    return f"{where}: {first.get('msg', 'invalid')}"
