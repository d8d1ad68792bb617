"""``python -m modelwatch.cli``: the ``modelwatch`` command line."""

from modelwatch.cli.main import main

raise SystemExit(main())
