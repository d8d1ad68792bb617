"""``modelwatch publish --monitoring-window-minutes``: the model's job window, written in its manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelwatch.cli import main
from modelwatch.cli.errors import EXIT_USAGE
from modelwatch.stores.manifests import ManifestStore
from modelwatch.stores.objects import S3Storage
from tests.unit.cli.test_cli import BUCKET, assert_one_error_line, publish_args
from tests.unit.cli.test_cli import model_file as model_file  # fixtures
from tests.unit.cli.test_cli import schema_file as schema_file


def test_the_window_is_in_the_published_manifest(s3: Any, model_file: Path, schema_file: Path) -> None:
    s3.create_bucket(Bucket=BUCKET)

    assert main(publish_args(model_file, schema_file, **{"--monitoring-window-minutes": "15"})) == 0

    read = ManifestStore(S3Storage(s3), BUCKET).read("fraud", "production")
    assert read is not None and read.manifest.monitoring is not None
    assert read.manifest.monitoring.window_minutes == 15


@pytest.mark.parametrize(("value", "fragment"), [("4", "5 to 10080"), ("hourly", "not a whole number")])
def test_a_bad_window_is_one_line_and_publishes_nothing(
    s3: Any,
    model_file: Path,
    schema_file: Path,
    capsys: pytest.CaptureFixture[str],
    value: str,
    fragment: str,
) -> None:
    s3.create_bucket(Bucket=BUCKET)

    with pytest.raises(SystemExit) as exited:
        main(publish_args(model_file, schema_file, **{"--monitoring-window-minutes": value}))

    assert exited.value.code == EXIT_USAGE
    assert_one_error_line(capsys, "--monitoring-window-minutes", fragment)
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0
