"""``python -m modelwatch``: the ``modelwatch`` command line."""

from modelwatch.cli import main

raise SystemExit(main())
