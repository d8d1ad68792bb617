"""Serving manifests: names and the JSON form."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from modelwatch.contracts.manifest import ServingManifest
from modelwatch.contracts.names import check_model_name, is_valid_model_name


@pytest.mark.parametrize("name", ["fraud", "fraud_detection", "v1.2-rc", "3", "A" * 63, "x-y_z.0"])
def test_valid_names(name: str) -> None:
    assert is_valid_model_name(name)
    assert check_model_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "-fraud",
        "_x",
        ".x",
        "a" * 64,
        "has space",
        "a/b",
        "ünï",
        "a:b",
        "x\ny",
        "fraud\n",
    ],
)
def test_invalid_names(name: str) -> None:
    assert not is_valid_model_name(name)
    with pytest.raises(ValueError, match="invalid alias"):
        check_model_name(name, "alias")


@pytest.mark.parametrize("field", ["model", "version", "alias"])
def test_manifest_rejects_bad_names(make_manifest: Any, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        make_manifest(**{field: "../etc"})
    assert caught.value.errors()[0]["loc"] == (field,)


def test_manifest_rejects_unknown_fields_and_flavors(make_manifest: Any) -> None:
    document = json.loads(make_manifest().model_dump_json())
    with pytest.raises(ValidationError):
        ServingManifest.model_validate({**document, "extra": 1})
    with pytest.raises(ValidationError):
        ServingManifest.model_validate({**document, "flavor": "pytorch"})
    with pytest.raises(ValidationError):
        ServingManifest.model_validate({**document, "prediction_type": "logit"})


def test_manifest_json_round_trip(make_manifest: Any) -> None:
    manifest = make_manifest(source={"run_id": "abc"}, alias="staging")
    again = ServingManifest.model_validate_json(manifest.model_dump_json())
    assert again == manifest
    assert again.created_at.tzinfo is not None
