"""Shared synthesis for the infra tests: an app built like app.py, with a chosen configuration."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("CDK_DISABLE_CLI_TELEMETRY", "true")

import aws_cdk as cdk  # after the environment above: jsii reads it on import

from infra.assembly import Assembly, build_app, cdk_json_context


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "infra: synthesises CDK stacks (bundles Lambda code; seconds)")


def synth_assembly(outdir: Path, overrides: dict[str, Any] | None = None) -> Assembly:
    """Return the assembly app.py builds, from cdk.json's context with ``overrides`` of its config."""
    context = cdk_json_context()
    context["modelwatch"] = {**context["modelwatch"], **(overrides or {})}
    assembly = build_app(cdk.App(context=context, outdir=str(outdir)))
    assembly.app.synth()
    return assembly


@pytest.fixture(scope="session")
def assembly_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Assembly]:
    def factory(overrides: dict[str, Any] | None = None) -> Assembly:
        return synth_assembly(tmp_path_factory.mktemp("cdk.out"), overrides)

    return factory
