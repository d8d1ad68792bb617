"""Job results and their HTML reports, under ``reports/`` of the events bucket (``layout.report_prefix``).

``result.json`` is what says a window is computed (``run_job`` skips a window whose result is
not ``failed``), so it is written last, in one PUT, after every HTML page it names: a run that
stops anywhere before that PUT (an exception, or Lambda ending the invocation at its timeout)
leaves the window without a result, or with the ``failed`` one ``run_job`` stores on an
exception, never with an ``ok`` result over pages that were not all written.
A PUT is atomic in S3: a reader sees the previous object or the new one, never part of one.
"""

from __future__ import annotations

from modelwatch.contracts import layout
from modelwatch.contracts.results import JobResult
from modelwatch.stores.objects import ObjectNotFound, ObjectStorage


class ResultStore:
    """Reads and writes the result of each (job, model, window), and one HTML report per version."""

    def __init__(self, storage: ObjectStorage, bucket: str) -> None:
        self._storage = storage
        self.bucket = bucket

    def read(self, job: str, model: str, window_key: str) -> JobResult | None:
        """The stored result, or None when the window has none yet."""
        try:
            found = self._storage.get(self.bucket, layout.result_key(job, model, window_key))
        except ObjectNotFound:
            return None
        assert found is not None  # an unconditional read returns the object or raises
        return JobResult.model_validate_json(found.body)

    def write(
        self, result: JobResult, window_key: str, pages: dict[str, str], primary: str | None = None
    ) -> JobResult:
        """Store one HTML report per version, then the result naming them; return the result as stored.

        ``primary`` is the version whose report the result's ``report_uri`` names (default: the last).
        The result is the last write: if a page fails, the error propagates before it is written.
        """
        uris = {}
        for version, html in pages.items():
            key = layout.report_page_key(result.job, result.model, window_key, version)
            self._storage.put(self.bucket, key, html.encode(), "text/html; charset=utf-8")
            uris[version] = layout.s3_uri(self.bucket, key)
        if uris:
            main = primary if primary in uris else sorted(uris)[-1]
            result = result.model_copy(update={"report_uris": uris, "report_uri": uris[main]})
        key = layout.result_key(result.job, result.model, window_key)
        result = result.model_copy(update={"result_uri": layout.s3_uri(self.bucket, key)})
        self._storage.put(self.bucket, key, result.model_dump_json(indent=2).encode(), "application/json")
        return result
