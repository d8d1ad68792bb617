"""A version tagged ``modelwatch.monitoring_window_minutes`` is published with that job window."""

from __future__ import annotations

import pytest

from modelwatch.registry import NotServableError
from modelwatch.registry import tags as tag
from modelwatch.registry.memory import InMemoryRegistryBackend
from modelwatch.registry.publishing import publish_version
from tests.unit.registry.test_publishing_and_sync import SERVABLE, ModelsBucket, files
from tests.unit.registry.test_publishing_and_sync import backend as backend  # fixtures
from tests.unit.registry.test_publishing_and_sync import bucket as bucket


def test_the_tagged_window_is_in_the_manifest(bucket: ModelsBucket, backend: InMemoryRegistryBackend) -> None:
    backend.add_version("fraud", "3", {**SERVABLE, tag.MONITORING_WINDOW_MINUTES: "1440"}, files("v3"))

    manifest, _ = publish_version(
        backend, backend.get_version("fraud", "3"), "production", bucket.manifests, bucket.artifacts
    )

    assert manifest.monitoring is not None and manifest.monitoring.window_minutes == 1440
    stored = bucket.manifests.current("fraud", "production")
    assert stored is not None and stored.monitoring == manifest.monitoring


def test_an_untagged_version_takes_the_deployment_default(
    bucket: ModelsBucket, backend: InMemoryRegistryBackend
) -> None:
    manifest, _ = publish_version(
        backend, backend.get_version("fraud", "2"), "production", bucket.manifests, bucket.artifacts
    )

    assert manifest.monitoring is None


@pytest.mark.parametrize("value", ["hourly", "1"])
def test_a_bad_tag_is_not_servable_and_publishes_nothing(
    bucket: ModelsBucket, backend: InMemoryRegistryBackend, value: str
) -> None:
    backend.add_version("fraud", "3", {**SERVABLE, tag.MONITORING_WINDOW_MINUTES: value}, files("v3"))

    with pytest.raises(NotServableError, match=tag.MONITORING_WINDOW_MINUTES):
        publish_version(
            backend, backend.get_version("fraud", "3"), "production", bucket.manifests, bucket.artifacts
        )
    assert bucket.manifests.current("fraud", "production") is None
    assert bucket.storage.keys("models-bucket") == []  # refused before anything is copied
