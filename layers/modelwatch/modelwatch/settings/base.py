"""What every settings class shares: the ``MODELWATCH_`` prefix, one loader, one error message.

Every function validates its settings when it initialises (not on first use), so a
misconfigured deployment fails at cold start with one line naming each bad
variable, e.g. ``invalid modelwatch settings: MODELWATCH_MODELS_BUCKET: Field required``.
"""

from __future__ import annotations

import json
from typing import Annotated, TypeVar

from pydantic import BeforeValidator, ValidationError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

ENV_PREFIX = "MODELWATCH_"

Settings = TypeVar("Settings", bound=BaseSettings)
Value = TypeVar("Value")


class ModelwatchSettings(BaseSettings):
    """Base of every settings class: fields are read from ``MODELWATCH_<FIELD>`` variables."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")


class SettingsError(ValueError):
    """Settings are missing or invalid; the message names each environment variable."""


def split_comma_list(value: object) -> object:
    """A ``before`` validator: ``"a, b,,c"`` from the environment becomes ``["a", "b", "c"]``."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def decode_json(value: object) -> object:
    """A ``before`` validator: JSON text from the environment becomes the value it encodes."""
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(f"not JSON ({error})") from None
    return value


# A field whose variable holds JSON (a typed document), validated with its own model:
# an error names the variable and the path inside it, e.g. MODELWATCH_DRIFT_CONFIG.fdr_q.
JsonSetting = Annotated[Value, NoDecode, BeforeValidator(decode_json)]


def variable_name(field: str) -> str:
    """The environment variable of a settings field."""
    return f"{ENV_PREFIX}{field.upper()}"


def load_settings(settings_class: type[Settings]) -> Settings:
    """Read ``settings_class`` from the environment.

    Raises
    ------
    SettingsError
        One message naming every missing or invalid variable and what is wrong with it.
    """
    try:
        return settings_class()
    except ValidationError as error:
        raise SettingsError(describe_problems(error)) from None
    except SourceError as error:  # a complex field whose variable is not JSON
        raise SettingsError(f"invalid modelwatch settings: {error}") from None


def describe_problems(error: ValidationError) -> str:
    """``invalid modelwatch settings: MODELWATCH_X: <problem>; ...`` for a validation error."""
    problems = []
    for item in error.errors():
        location = [str(part) for part in item.get("loc", ())]
        name = variable_name(location[0]) if location else "settings"
        where = "." + ".".join(location[1:]) if len(location) > 1 else ""
        problems.append(f"{name}{where}: {item['msg']}")
    return "invalid modelwatch settings: " + "; ".join(problems)
