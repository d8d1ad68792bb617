"""The HTML drift report: self-contained, one plot per feature, names escaped."""

from __future__ import annotations

import re

import numpy as np

from modelwatch.monitoring.drift import detect_drift
from modelwatch.monitoring.html_report import render_drift_html
from modelwatch.monitoring.profile import profile_against, profile_dataset


def test_report_is_self_contained_with_a_plot_per_feature() -> None:
    rng = np.random.default_rng(0)
    reference = profile_dataset(
        {"x": rng.normal(size=2000), "<b>c</b>": rng.choice(list("abc"), 2000).tolist()}
    )
    current = profile_against(
        reference, {"x": rng.normal(1, 1, 500), "<b>c</b>": rng.choice(list("abd"), 500).tolist()}
    )
    html = render_drift_html(detect_drift(reference, current), reference, current, title="fraud v3")
    assert html.startswith("<!DOCTYPE html>") and "fraud v3" in html
    assert html.count("<svg") == 2
    assert "<b>c</b>" not in html and "&lt;b&gt;c&lt;/b&gt;" in html
    assert not re.search(r"<script|<link|src=\"http|href=\"http", html)
    assert "Dataset drift detected" in html
