"""Every store is tested on both object storages: in memory, and S3 (moto, in-process)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from modelwatch.stores.objects import InMemoryStorage, ObjectStorage, S3Storage

BUCKET = "test-bucket"


@pytest.fixture(params=["memory", "s3"])
def storage(request: pytest.FixtureRequest) -> Iterator[ObjectStorage]:
    """An object storage holding one empty bucket, ``BUCKET``."""
    if request.param == "memory":
        yield InMemoryStorage()
        return
    import boto3
    from moto import mock_aws

    with mock_aws():
        client: Any = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield S3Storage(client)
