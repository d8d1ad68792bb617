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
