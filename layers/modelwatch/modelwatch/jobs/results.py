"""Job results: the JSON document every run writes, and where it is stored.

``reports/model=<m>/job=<job>/window=<start>/result.json`` (and ``report.html``
beside it). The result exists for every run that got as far as reading its
window, whatever the outcome: ``ok``, ``no_data`` (an empty window is not a
failure) or ``failed`` (with the reason), so nothing a run found is lost.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

JOB_RESULT_SCHEMA_VERSION: Final = 1
REPORTS_PREFIX: Final = "reports/"

JobName = Literal["drift", "quality", "performance"]
JobStatus = Literal["ok", "no_data", "failed"]


class JobResult(BaseModel):
    """The outcome of one job over one window of one model."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    schema_version: Literal[1] = JOB_RESULT_SCHEMA_VERSION
    job: JobName
    model: str
    window_start: datetime
    window_end: datetime
    status: JobStatus
    alert: bool = Field(False, description="Drift detected, quality violated or performance degraded.")
    versions: list[str] = Field(default_factory=list, description="Versions that served in the window.")
    summary: dict[str, Any] = Field(default_factory=dict, description="The few figures an alert carries.")
    details: dict[str, Any] = Field(default_factory=dict, description="The full report per version.")
    reason: str | None = None
    report_uri: str | None = Field(None, description="The HTML report of the version that matters most.")
    report_uris: dict[str, str] = Field(default_factory=dict, description="HTML report per version.")
    result_uri: str | None = None
    started_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    duration_seconds: float = 0.0


def result_prefix(job: str, model: str, window_key: str) -> str:
    return f"{REPORTS_PREFIX}model={model}/job={job}/window={window_key}/"


class ResultStore:
    """Reads and writes job results and HTML reports in the reports bucket."""

    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._s3 = s3_client
        self._bucket = bucket

    def uri(self, key: str) -> str:
        return f"s3://{self._bucket}/{key}"

    def read(self, job: str, model: str, window_key: str) -> JobResult | None:
        key = result_prefix(job, model, window_key) + "result.json"
        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return None
            raise
        return JobResult.model_validate_json(body)

    def write(
        self, result: JobResult, window_key: str, pages: dict[str, str], primary: str | None = None
    ) -> JobResult:
        """Store one HTML report per version, then the result naming them; return the result as stored."""
        prefix = result_prefix(result.job, result.model, window_key)
        uris = {}
        for version, html in pages.items():
            key = f"{prefix}report-version={version}.html"
            self._s3.put_object(
                Bucket=self._bucket, Key=key, Body=html.encode(), ContentType="text/html; charset=utf-8"
            )
            uris[version] = self.uri(key)
        if uris:
            main = primary if primary in uris else sorted(uris)[-1]
            result = result.model_copy(update={"report_uris": uris, "report_uri": uris[main]})
        result = result.model_copy(update={"result_uri": self.uri(prefix + "result.json")})
        self._s3.put_object(
            Bucket=self._bucket,
            Key=prefix + "result.json",
            Body=result.model_dump_json(indent=2).encode(),
            ContentType="application/json",
        )
        return result
