"""Rules for the names users give to models, versions and aliases.

A model name ends up in S3 keys, Firehose stream names, metric labels and URLs,
so it is restricted to a portable alphabet once, here.
"""

from __future__ import annotations

import re

MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
_MODEL_NAME = re.compile(MODEL_NAME_PATTERN)


def is_valid_model_name(name: str) -> bool:
    """Return whether ``name`` can be used as a model, version or alias name."""
    return bool(_MODEL_NAME.fullmatch(name))


def check_model_name(name: str, what: str = "model name") -> str:
    """Return ``name`` unchanged, or raise ``ValueError`` naming the rule it breaks."""
    if not is_valid_model_name(name):
        raise ValueError(
            f"invalid {what} {name!r}: use 1-63 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return name
