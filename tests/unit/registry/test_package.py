"""``modelwatch.registry`` loads its public names on first use, so the sync's modules stay light."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import modelwatch.registry as registry

HEAVY = (
    "modelwatch.registry.client",
    "modelwatch.registry.comparison",
    "modelwatch.registry.training_data",
    "mlflow",
)


def modules_after(code: str) -> set[str]:
    """The modules loaded by running ``code`` in a fresh interpreter (this one's import path)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_the_sync_modules_do_not_import_the_client() -> None:
    loaded = modules_after(
        "import modelwatch.registry.sync, modelwatch.registry.rest, modelwatch.registry.tags"
    )

    assert "modelwatch.registry.sync" in loaded and "modelwatch.registry.rest" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_a_registry_over_http_does_not_import_mlflow() -> None:
    loaded = modules_after(
        "from modelwatch.registry import ModelRegistry\n"
        "registry = ModelRegistry('http://127.0.0.1:1')\n"
        "assert type(registry.backend).__name__ == 'MlflowRestClient'"
    )

    assert "modelwatch.registry.client" in loaded
    assert not any(name == "mlflow" or name.startswith("mlflow.") for name in loaded)


def test_the_public_names_still_import() -> None:
    from modelwatch.registry import ModelRegistry, RegistryError, Stage, compare_model_versions

    assert ModelRegistry.__module__ == "modelwatch.registry.client"
    assert issubclass(registry.VersionNotFoundError, RegistryError)
    assert Stage("production") is registry.Stage.PRODUCTION
    assert callable(compare_model_versions)
    assert set(registry.__all__) <= set(dir(registry))


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        registry.NoSuchThing  # noqa: B018
    except AttributeError as error:
        assert "NoSuchThing" in str(error)
    else:
        raise AssertionError("expected AttributeError")
