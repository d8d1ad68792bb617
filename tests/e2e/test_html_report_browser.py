"""The HTML drift report rendered by headless Chromium, offline; the screenshot is kept in tests/artifacts/.

Needs the ``chromium`` binary (Debian/Ubuntu package ``chromium``); skipped otherwise.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from modelwatch.monitoring.drift import detect_drift
from modelwatch.monitoring.html_report import render_drift_html
from modelwatch.monitoring.profile import profile_against, profile_dataset

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = next(
    (shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome") if shutil.which(name)),
    None,
)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_drift_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    reference_columns = {
        "amount": rng.lognormal(3, 1, 5000),
        "hour": rng.integers(0, 24, 5000),
        "channel": rng.choice(["pos", "web", "atm"], 5000).tolist(),
        "prediction": rng.random(5000),
    }
    current_columns = {
        "amount": rng.lognormal(3.5, 1, 1000),
        "hour": rng.integers(0, 24, 1000),
        "channel": rng.choice(["pos", "web", "atm", "voice"], 1000).tolist(),
        "prediction": rng.random(1000) ** 2,
    }
    reference = profile_dataset(reference_columns)
    current = profile_against(reference, current_columns)
    html = render_drift_html(detect_drift(reference, current), reference, current, title="fraud_detection v1")
    page = tmp_path / "report.html"
    page.write_text(html)
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "drift_report.png"
    screenshot.unlink(missing_ok=True)
    assert CHROMIUM is not None
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={screenshot}",
            "--window-size=1280,2000",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert screenshot.exists(), done.stderr[-2000:]
    data = screenshot.read_bytes()
    assert png_size(data) == (1280, 2000)
    assert len(data) > 20_000  # a rendered page with plots, not a blank one
