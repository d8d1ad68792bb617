"""The result store: one result per (job, model, window), one HTML report per version beside it."""

from __future__ import annotations

from datetime import UTC, datetime

from modelwatch.contracts.results import JobResult
from modelwatch.stores.objects import ObjectStorage
from modelwatch.stores.results import ResultStore
from tests.unit.stores.conftest import BUCKET


def drift_result() -> JobResult:
    return JobResult(
        job="drift",
        model="fraud",
        window_start=datetime(2026, 11, 26, 9, tzinfo=UTC),
        window_end=datetime(2026, 11, 26, 10, tzinfo=UTC),
        status="ok",
        versions=["1", "2"],
    )


def test_result_and_reports_are_stored_and_read_back(storage: ObjectStorage) -> None:
    store = ResultStore(storage, BUCKET)

    stored = store.write(
        drift_result(), "2026-11-26T09:00Z", {"1": "<html>v1</html>", "2": "<html>v2</html>"}, primary="2"
    )

    assert (
        stored.result_uri
        == f"s3://{BUCKET}/reports/model=fraud/job=drift/window=2026-11-26T09:00Z/result.json"
    )
    assert stored.report_uri and stored.report_uri.endswith("report-version=2.html")
    assert set(stored.report_uris) == {"1", "2"}
    assert store.read("drift", "fraud", "2026-11-26T09:00Z") == stored
    assert store.read("drift", "fraud", "2026-11-26T10:00Z") is None
    page = storage.get(BUCKET, stored.report_uri.removeprefix(f"s3://{BUCKET}/"))
    assert page is not None and page.body == b"<html>v2</html>"


def test_without_pages_the_result_names_no_report(storage: ObjectStorage) -> None:
    stored = ResultStore(storage, BUCKET).write(drift_result(), "2026-11-26T09:00Z", {})
    assert stored.report_uri is None and stored.report_uris == {}
    assert (
        storage.get(BUCKET, "reports/model=fraud/job=drift/window=2026-11-26T09:00Z/result.json") is not None
    )
