"""Every function's bundle, with the layer, stays under Lambda's 250 MB unzipped limit."""

from __future__ import annotations

import pytest

from infra import bundling, constants
from infra.assembly import cdk_json_context
from infra.config import parse_config

pytestmark = pytest.mark.infra

CONFIG = parse_config(cdk_json_context()[constants.CONTEXT_KEY])
SPECS = [
    bundling.function_spec(f"{flavor}-function", CONFIG.architecture, requirements)
    for flavor, requirements in constants.FLAVOR_REQUIREMENTS.items()
] + [bundling.function_spec(constants.CATALOG_FUNCTION_NAME, CONFIG.architecture)]


@pytest.mark.parametrize("spec", SPECS, ids=[spec.name for spec in SPECS])
def test_function_and_layer_fit_unzipped_limit(spec: bundling.BundleSpec) -> None:
    size, total = bundling.bundle_report(spec)

    mib = constants.MIB
    print(f"bundle {spec.name} ({spec.architecture}): {size / mib:.1f} MB, with layer {total / mib:.1f} MB")
    assert total < constants.LAMBDA_UNZIPPED_LIMIT_BYTES


def test_layer_has_the_library_and_not_what_lambda_or_models_bring() -> None:
    site = bundling.build_bundle(bundling.layer_spec(CONFIG.architecture)) / "python"
    installed = {p.name.lower() for p in site.iterdir()}

    assert {
        "modelwatch",
        "fastapi",
        "mangum",
        "pydantic",
        "pydantic_settings",
        "aws_lambda_powertools",
    } <= installed
    assert not installed & {"boto3", "botocore", "numpy", "scipy", "sklearn", "onnxruntime", "mlflow"}
    assert next((site / "modelwatch").glob("__pycache__/*.cpython-311.pyc"), None) is not None


def test_layer_ships_runtime_code_only_no_local_harness() -> None:
    site = bundling.build_bundle(bundling.layer_spec(CONFIG.architecture)) / "python"
    modules = sorted(
        ".".join(path.relative_to(site).with_suffix("").parts)
        for path in site.rglob("*.py")
        if path.relative_to(site).parts[0] in {"modelwatch", "modelwatch_local"}
    )
    harness_names = ("stack", "demo", "scheduler", "traffic", "fraud", "mlflow_server", "prometheus_server")

    assert "modelwatch.serving.app" in modules and "modelwatch.contracts.layout" in modules
    assert not [m for m in modules if m.startswith(("modelwatch_local", "modelwatch.local"))]
    assert not [m for m in modules if m.rsplit(".", 1)[-1] in harness_names]
    assert not (site / "modelwatch_local").exists()


def test_bundle_key_changes_with_requirements_architecture_and_source(tmp_path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "src"
    source.mkdir()
    (source / "handler.py").write_text("x = 1\n")
    base = bundling.BundleSpec(
        name="t", architecture="arm64", requirements=("numpy",), sources=((source, ""),)
    )
    key = bundling.bundle_key(base)

    assert bundling.bundle_key(bundling.BundleSpec("t", "x86_64", ("numpy",), base.sources)) != key
    assert bundling.bundle_key(bundling.BundleSpec("t", "arm64", ("numpy<3",), base.sources)) != key
    (source / "handler.py").write_text("x = 2\n")
    assert bundling.bundle_key(base) != key
