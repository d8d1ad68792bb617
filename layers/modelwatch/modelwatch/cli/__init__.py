"""The ``modelwatch`` command line (``modelwatch.cli:main``); ``python -m modelwatch`` runs it too."""

from modelwatch.cli.main import main

__all__ = ["main"]
