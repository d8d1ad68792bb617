"""Settings of the model-routes function (a literal predict route per model of a non-default flavour)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from modelwatch.contracts import layout
from modelwatch.contracts.manifest import Flavor
from modelwatch.contracts.names import check_model_name
from modelwatch.settings.base import JsonSetting, ModelwatchSettings, split_comma_list


class ModelRoutesSettings(ModelwatchSettings):
    """Which API, which integrations, and where the manifests that decide the routes are."""

    api_id: str = Field(min_length=1, description="Id of the prediction API (API Gateway HTTP API).")
    models_bucket: str = Field(description="Bucket holding the serving manifests.")
    manifest_prefix: str = Field(layout.MANIFESTS_PREFIX, description="Key prefix of serving manifests.")
    serving_alias: str = Field("production", description="Alias whose manifest's flavour decides the route.")
    default_flavor: Flavor = Field(description="The flavour served through POST /v1/models/{model}/predict.")
    flavor_integrations: JsonSetting[dict[Flavor, str]] = Field(
        description='JSON {"onnx": "<integration id>"}: the integration of each non-default flavour.'
    )
    dedicated_models: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated dedicated models (their routes are the stack's)."
    )

    _split_dedicated = field_validator("dedicated_models", mode="before")(split_comma_list)

    @field_validator("serving_alias")
    @classmethod
    def _alias_name(cls, value: str) -> str:
        return check_model_name(value, "serving_alias")

    @field_validator("dedicated_models")
    @classmethod
    def _model_names(cls, value: list[str]) -> list[str]:
        return [check_model_name(name) for name in value]
