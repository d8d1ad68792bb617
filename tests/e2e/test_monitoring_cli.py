"""The monitoring command line as a user runs it: ``python -m modelwatch.cli`` on small generated files.

Contract: JSON on stdout; exit 0 whatever the verdict, 3 with ``--fail-on-drift``
(dataset drift) or ``--fail-on-violation``; bad input is one line on stderr and exit 2.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

FEATURE_KEYS = {
    "name",
    "kind",
    "method",
    "statistic",
    "p_value",
    "effect_size",
    "threshold",
    "drift_detected",
    "missing_share_reference",
    "missing_share_current",
}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelwatch.cli", *args], capture_output=True, text=True, timeout=120
    )


def table(rng: np.random.Generator, n: int, shift: float = 0.0) -> pa.Table:
    return pa.table(
        {
            "amount": rng.lognormal(3 + shift, 1, n),
            "age": rng.normal(40 + 10 * shift, 10, n),
            "hour": rng.integers(0, 24, n),
            "channel": rng.choice(["pos", "web", "atm"], n, p=[0.5 - shift / 4, 0.3, 0.2 + shift / 4]),
        }
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    tmp = tmp_path_factory.mktemp("monitoring-cli")
    paths = {
        "reference": tmp / "train.parquet",
        "same": tmp / "same.parquet",
        "drifted": tmp / "drifted.parquet",
        "drifted_csv": tmp / "drifted.csv",
        "drifted_jsonl": tmp / "drifted.jsonl",
        "other": tmp / "other.csv",
        "empty": tmp / "empty.csv",
        "garbage": tmp / "garbage.parquet",
    }
    pq.write_table(table(rng, 5000), paths["reference"])
    pq.write_table(table(rng, 2000), paths["same"])
    drifted = table(rng, 2000, shift=1.0)
    pq.write_table(drifted, paths["drifted"])
    pacsv.write_csv(drifted, paths["drifted_csv"])
    paths["drifted_jsonl"].write_text("\n".join(json.dumps(row) for row in drifted.to_pylist()))
    paths["other"].write_text("x,y\n1,2\n")
    paths["empty"].write_text("amount,age\n")
    paths["garbage"].write_bytes(b"definitely not parquet")
    return paths


def assert_drift_json(stdout: str) -> dict[str, Any]:
    report = json.loads(stdout)
    assert isinstance(report["dataset_drift"], bool)
    assert isinstance(report["drift_share"], float)
    assert report["n_reference"] > 0 and report["n_current"] > 0
    for feature in report["features"]:
        assert set(feature) >= FEATURE_KEYS
        assert feature["kind"] in ("numeric", "categorical")
        assert isinstance(feature["drift_detected"], bool)
    return report


def assert_one_line_error(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("modelwatch: error: "), done.stderr
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_drift_no_drift_exit_0(files: dict[str, Path]) -> None:
    done = cli(
        "drift", "--reference", str(files["reference"]), "--current", str(files["same"]), "--fail-on-drift"
    )
    assert done.returncode == 0, done.stderr
    report = assert_drift_json(done.stdout)
    assert report["dataset_drift"] is False
    assert {f["name"] for f in report["features"]} == {"amount", "age", "hour", "channel"}


@pytest.mark.parametrize("current", ["drifted", "drifted_csv", "drifted_jsonl"])
def test_drift_detected_exit_0_then_3_with_flag(files: dict[str, Path], current: str) -> None:
    args = ["drift", "--reference", str(files["reference"]), "--current", str(files[current])]
    done = cli(*args)
    assert done.returncode == 0, done.stderr
    report = assert_drift_json(done.stdout)
    assert report["dataset_drift"] is True
    assert cli(*args, "--fail-on-drift").returncode == 3


def test_profile_then_drift_from_profile_json_with_columns_and_html(
    files: dict[str, Path], tmp_path: Path
) -> None:
    profile = tmp_path / "profile.json"
    done = cli("profile", "--data", str(files["reference"]), "--output", str(profile))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["n_rows"] == 5000 and profile.stat().st_size < 20_000
    html = tmp_path / "report.html"
    done = cli(
        "drift", "--reference", str(profile), "--current", str(files["drifted"]),
        "--columns", "amount,channel", "--html", str(html),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = assert_drift_json(done.stdout)
    assert [f["name"] for f in report["features"]] == ["amount", "channel"]
    assert html.read_text().count("<svg") == 2


def test_schema_infer_then_validate(files: dict[str, Path], tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    done = cli("schema", "infer", "--data", str(files["reference"]), "--output", str(schema))
    assert done.returncode == 0, done.stderr
    document = json.loads(schema.read_text())
    by_name = {f["name"]: f for f in document["features"]}
    assert by_name["hour"]["type"] == "integer" and by_name["channel"]["allowed_values"] == [
        "atm",
        "pos",
        "web",
    ]
    done = cli("validate", "--schema", str(schema), "--data", str(files["same"]), "--fail-on-violation")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["schema_version"] == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"amount": -5, "age": 30, "hour": 3, "channel": "fax"}\n{"amount": "x", "age": 30, "hour": 2}\n'
    )
    done = cli("validate", "--schema", str(schema), "--data", str(bad))
    assert done.returncode == 0 and json.loads(done.stdout)["passed"] is False
    done = cli("validate", "--schema", str(schema), "--data", str(bad), "--fail-on-violation")
    assert done.returncode == 3
    violations = {(v["feature"], v["check"]) for v in json.loads(done.stdout)["violations"]}
    assert {
        ("amount", "out_of_range"),
        ("amount", "type_error"),
        ("channel", "unseen_category"),
    } <= violations


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--current", "{missing}"], ["no such file"]),
        (["--current", "{garbage}"], ["cannot read"]),
        (["--current", "{other}"], ["no columns in common"]),
        (["--current", "{empty}"], ["no rows"]),
        (["--current", "{same}", "--columns", "amount,nope"], ["unknown column", "nope"]),
        (["--current", "{same}.xlsx"], ["unknown format"]),
    ],
)
def test_drift_bad_input_is_one_line_exit_2(
    files: dict[str, Path], args: list[str], fragments: list[str]
) -> None:
    names = {key: str(path) for key, path in files.items()} | {"missing": str(files["same"]) + ".gone.csv"}
    done = cli("drift", "--reference", str(files["reference"]), *[a.format(**names) for a in args])
    assert_one_line_error(done, *fragments)


def test_other_commands_bad_input(files: dict[str, Path], tmp_path: Path) -> None:
    assert_one_line_error(
        cli("profile", "--data", str(tmp_path / "nope.csv"), "--output", str(tmp_path / "p.json"))
    )
    assert_one_line_error(
        cli("validate", "--schema", str(tmp_path / "nope.json"), "--data", str(files["same"]))
    )
    assert_one_line_error(cli("drift", "--reference", str(files["reference"])), "--current")


def test_backfill_bad_input_is_one_line_exit_2() -> None:
    backfill = ("backfill", "--model", "fraud")
    assert_one_line_error(
        cli(*backfill, "--from", "2026-11-08", "--to", "2026-11-01"), "from:", "not before to"
    )
    assert_one_line_error(
        cli(*backfill, "--from", "2026-11-01", "--to", "2026-11-08", "--jobs", "drift,latency"), "jobs.1:"
    )
    assert_one_line_error(cli(*backfill, "--from", "2026-11-01", "--to", "2026-11-08", "--parallel", "99"))
