"""Where the repository's parts are: the harness runs the very handlers and rules CDK deploys.

The harness lives in the repository (``local/``), beside ``functions/`` and ``dashboards/``;
``MODELWATCH_REPO_ROOT`` points it at another checkout.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

REPO_ROOT: Final = Path(os.environ.get("MODELWATCH_REPO_ROOT") or Path(__file__).resolve().parents[2])
FUNCTIONS_DIR: Final = REPO_ROOT / "functions"
DASHBOARDS_DIR: Final = REPO_ROOT / "dashboards"
RULES_DIR: Final = DASHBOARDS_DIR / "rules"


def lake_dir(state_dir: str | Path) -> Path:
    """Where the local stack mirrors its bucket's capture objects as files, for DuckDB (``<state>/lake``)."""
    return Path(state_dir).resolve() / "lake"


def cli_env_file(state_dir: str | Path) -> Path:
    """The shell file that points the ``modelwatch`` command at the running local stack."""
    return Path(state_dir).resolve() / "env.sh"
