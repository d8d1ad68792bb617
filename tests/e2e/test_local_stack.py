"""The serving path over real HTTP: uvicorn serving the app, moto_server standing in for AWS."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from modelwatch_local.demo import STEPS, publish_demo_model
from modelwatch_local.fraud import FRAUD_SCHEMA, synthetic_transactions
from modelwatch_local.paths import DASHBOARDS_DIR
from modelwatch_local.report import WHAT_YOU_SAW
from modelwatch_local.stack import MODELS_BUCKET, LocalStack

from tests.e2e.conftest import MODEL, free_port

PREDICT = f"/v1/models/{MODEL}/predict"


@pytest.fixture(scope="module")
def served(local_stack: LocalStack) -> LocalStack:
    publish_demo_model(local_stack, version="1", seed=0, n_estimators=20)
    return local_stack


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return synthetic_transactions(100, seed=3)[0]


def wait_for_version(
    client: httpx.Client, rows: list[dict[str, Any]], version: str, timeout: float = 15
) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        body = client.post(PREDICT, json={"instances": rows[:1]}).json()
        if body.get("version") == version:
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"version {version} not served within {timeout} s")


def test_predictions_over_http_are_captured_to_s3(served: LocalStack, rows: list[dict[str, Any]]) -> None:
    with httpx.Client(base_url=served.api_url) as client:
        wait_for_version(client, rows, "1")
        response = client.post(PREDICT, json={"instances": rows[:5]}, headers={"x-request-id": "e2e-capture"})

    assert response.status_code == 200
    assert response.headers["x-request-id"] == "e2e-capture"
    predictions = response.json()["predictions"]
    captured = [e for e in served.events().all_records("events", MODEL) if e["request_id"] == "e2e-capture"]
    assert sorted((e["index"], e["prediction"]) for e in captured) == list(enumerate(predictions))


def test_bad_requests_get_precise_errors_over_http(served: LocalStack, rows: list[dict[str, Any]]) -> None:
    missing = {k: v for k, v in rows[0].items() if k != "amount"}
    with httpx.Client(base_url=served.api_url) as client:
        schema = client.post(PREDICT, json={"instances": [rows[0], missing]})
        not_json = client.post(PREDICT, content=b"{oops", headers={"content-type": "application/json"})
        unknown = client.post("/v1/models/nope/predict", json={"instances": rows[:1]})
        too_many = client.post(PREDICT, json={"instances": rows[:1] * 1001})

    assert schema.status_code == 422
    assert schema.json()["error"]["violations"][0] == {
        "index": 1,
        "feature": "amount",
        "code": "missing",
        "message": "required feature is missing",
    }
    assert not_json.status_code == 422 and not_json.json()["error"]["code"] == "invalid_body"
    assert unknown.status_code == 404
    assert too_many.status_code == 413
    for response in (schema, not_json, unknown, too_many):
        assert "Traceback" not in response.text and response.headers["x-request-id"]


def test_listing_health_and_docs_over_http(served: LocalStack) -> None:
    with httpx.Client(base_url=served.api_url) as client:
        models = client.get("/v1/models").json()["models"]
        health = client.get("/health")
        docs = client.get("/docs")
        spec = client.get("/openapi.json").json()

    assert [m["name"] for m in models] == [MODEL]
    assert models[0]["input_schema"]["features"][0]["name"] == FRAUD_SCHEMA.features[0].name
    assert health.status_code == 200
    assert health.json()["models"][MODEL]["state"] == "ready"
    assert health.json()["models"][MODEL]["serving_version"] == "1"
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    assert set(spec["paths"]) == {
        "/v1/models/{model}/predict",
        "/v1/models/{model}/feedback",
        "/v1/models",
        "/health",
    }


def test_publishing_a_new_version_switches_serving_without_restart(
    served: LocalStack, rows: list[dict[str, Any]]
) -> None:
    api_pid = served.pids["api"]
    publish_demo_model(served, version="2", seed=1, n_estimators=10)

    with httpx.Client(base_url=served.api_url) as client:
        waited = wait_for_version(client, rows, "2")

    assert waited < 15
    assert served.pids["api"] == api_pid
    os.kill(api_pid, 0)  # the same process is still serving


def test_publish_command_line_against_the_local_stack(served: LocalStack, tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(FRAUD_SCHEMA.model_dump_json())
    model_file = next((Path(served.state_dir) / "artifacts").glob("*.joblib"))
    env = {**os.environ, **served.aws_env()}

    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelwatch.cli",
            "publish",
            "--model-file",
            str(model_file),
            "--name",
            "fraud_shadow",
            "--version",
            "7",
            "--flavor",
            "sklearn",
            "--schema",
            str(schema),
            "--bucket",
            MODELS_BUCKET,
            "--alias",
            "staging",
            "--prediction-type",
            "probability",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelwatch.cli",
            "publish",
            "--model-file",
            str(model_file),
            "--name",
            "fraud_shadow",
            "--version",
            "7",
            "--flavor",
            "sklearn",
            "--schema",
            str(tmp_path / "absent.json"),
            "--bucket",
            MODELS_BUCKET,
        ],
        env=env,
        capture_output=True,
        text=True,
    )

    assert ok.returncode == 0, ok.stderr
    published = json.loads(ok.stdout)["published"]
    assert published["artifact_uri"] == f"s3://{MODELS_BUCKET}/models/fraud_shadow/7/model.joblib"
    manifest = served.boto3_client("s3").get_object(
        Bucket=MODELS_BUCKET, Key="manifests/fraud_shadow/staging.json"
    )
    assert json.loads(manifest["Body"].read())["version"] == "7"
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("modelwatch: error: cannot read schema")


def test_demo_runs_by_itself_and_exits_zero(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelwatch_local",
            "demo",
            "--requests",
            "300",
            "--state-dir",
            str(tmp_path),
            "--moto-port",
            str(free_port()),
            "--api-port",
            str(free_port()),
            "--prometheus-port",
            str(free_port()),
            "--mlflow-port",
            str(free_port()),
            "--dashboards-port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stdout + result.stderr + _tail(tmp_path / "logs" / "jobs.log")
    # the terminal reads as a report: numbered steps in order, no raw log line, then the closing section
    for output in (result.stdout, result.stderr):
        assert '"_aws"' not in output
        assert not [line for line in output.splitlines() if line.lstrip().startswith("{")]
    assert "View run" not in result.stdout and "Traceback" not in result.stdout + result.stderr
    positions = [result.stdout.find(f"[{n}/{len(STEPS)}] {title}\n") for n, title in enumerate(STEPS, 1)]
    assert -1 not in positions and positions == sorted(positions), positions
    closing = result.stdout.split(WHAT_YOU_SAW)[1]
    assert result.stdout.index(WHAT_YOU_SAW) > positions[-1]
    assert 5 <= len(re.findall(r"^  - ", closing, flags=re.MULTILINE)) <= 8
    assert re.search(r"rolled back by its error-rate guardrail", closing)
    for url in ("/docs", "/#/models/fraud_detection", "/alerts"):
        assert url in closing
    assert re.search(r"dashboards\s+http://127\.0\.0\.1:\d+\n", closing)
    assert "run `make up` to open these" in closing
    # every log line went to a file: one per process, and jobs.log for the in-process handlers
    for name in ("moto_server", "api", "prometheus", "mlflow", "jobs"):
        log = tmp_path / "logs" / f"{name}.log"
        assert log.is_file() and log.stat().st_size > 0, log
        assert f"logs/{name}.log" in result.stdout
    jobs_log = (tmp_path / "logs" / "jobs.log").read_text()
    assert '"ObjectsProfiled"' in jobs_log  # the handlers' embedded-metric lines went there
    # units: seconds and milliseconds labelled, counts with thousands separators
    assert re.search(r"requests sent\s+300 in \d+\.\d s", result.stdout)
    assert re.search(r"latency \(client\)\s+p50 \d+\.\d ms, p99 \d+\.\d ms", result.stdout)
    assert re.search(r"p99 latency\s+\d+ ms", result.stdout) and "p99 latency seconds" not in result.stdout
    assert re.search(r"served\s+\d+ requests, [1-9]\d{0,2}(,\d{3})* predictions", result.stdout)
    assert "every prediction and every rejection was captured." in result.stdout
    assert "p50" in result.stdout and "events captured" in result.stdout
    # the drifted phase is detected, reported, and its figures come back from Prometheus
    assert "drift: dataset drift DETECTED" in result.stdout
    assert re.search(r"amount\s+\S+.*DRIFT", result.stdout)
    report = re.search(r"drift report: (\S+\.html)", result.stdout)
    assert report and Path(report.group(1)).read_text().count("<svg") >= 6
    assert re.search(r"predictions\s+[1-9]\d{0,2}(,\d{3})*\n", result.stdout.split(f"] {STEPS[7]}")[1])
    # every dashboard query is valid PromQL against the demo's Prometheus
    assert re.search(r"dashboards\s+(\d+) of \1 panel and variable queries valid", result.stdout)
    # a static page of every dashboard, with the panels' data embedded, listed with the closing links
    snapshots = sorted((tmp_path / "dashboards").glob("*.html"))
    assert len(snapshots) == len(list(DASHBOARDS_DIR.glob("*.json"))) == 7
    assert re.search(r"dashboard snapshots: 7 pages in \S+dashboards/", result.stdout)
    assert all(f"snapshot: {page.stem}" in result.stdout for page in snapshots)
    assert (tmp_path / "dashboards" / "plotly.min.js").stat().st_size > 1_000_000
    # and the registry's promotion was followed by serving, without a restart
    assert re.search(r"serving switched to version 2 .* no restart", result.stdout)
    # the rollout phase: a shadow test, a canary that climbed and was promoted, a broken one rolled back
    rollouts = result.stdout.split(f"] {STEPS[6]}")[1]
    assert re.search(r"requests answered by production \d+ \(a shadow never answers", rollouts)
    assert re.search(r"agreement on the same instances: [1-9]\d* pairs", rollouts)
    assert re.search(r"rollout job: ADVANCE: .*25% -> 100%", rollouts)
    assert re.search(r"accuracy .* interval \[\S+, \S+\] +n [1-9]\d* vs [1-9]\d*: ", rollouts)
    assert "promoted: version 3 is production now" in rollouts
    assert re.search(r"rollout job: ROLLBACK: guardrail breached: error_rate", rollouts)
    assert re.search(r"platform bus: RolloutRolledBack .* error_rate", rollouts)
    assert re.search(
        r"after the rollback: (\d+) requests answered by production \1 \(versions 3 \1\), 0 err", rollouts
    )


def test_feedback_over_http_lands_in_the_labels_partition(
    served: LocalStack, rows: list[dict[str, Any]]
) -> None:
    with httpx.Client(base_url=served.api_url) as client:
        predicted = client.post(PREDICT, json={"instances": rows[:2]}, headers={"x-request-id": "e2e-labels"})
        feedback = client.post(
            f"/v1/models/{MODEL}/feedback",
            json={"labels": [{"request_id": "e2e-labels", "index": i, "label": i % 2} for i in range(2)]},
        )

    assert predicted.status_code == 200
    assert feedback.status_code == 202 and feedback.json()["accepted"] == 2
    labels = [r for r in served.events().all_records("labels", MODEL) if r["request_id"] == "e2e-labels"]
    assert sorted((r["index"], r["label"]) for r in labels) == [(0, 0), (1, 1)]


def test_demo_that_cannot_start_says_so_in_one_line_naming_its_log(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                *(sys.executable, "-m", "modelwatch_local", "demo", "--state-dir", str(tmp_path)),
                *("--moto-port", str(port), "--api-port", str(free_port())),
                *("--prometheus-port", str(free_port()), "--mlflow-port", str(free_port())),
                *("--dashboards-port", str(free_port())),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == f"[1/{len(STEPS)}] {STEPS[0]}"
    jobs_log = tmp_path.resolve() / "logs" / "jobs.log"
    assert result.stderr == (
        f"[1/{len(STEPS)}] {STEPS[0]} failed: port 127.0.0.1:{port} is in use "
        f"(is a stack already up? try `make down`) (details: {jobs_log})\n"
    )
    assert "Traceback" in jobs_log.read_text()  # the details


def _tail(log: Path) -> str:
    return "\n" + log.read_text(errors="replace")[-3000:] if log.exists() else ""
