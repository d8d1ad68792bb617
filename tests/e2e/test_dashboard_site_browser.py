"""The local dashboard site in headless Chromium: every panel of every dashboard draws data.

One real Prometheus holds the representative modelwatch samples (``conftest.prometheus_with_data``),
the site runs as ``python -m modelwatch_local dashboards`` on a free port against it, and Chromium
opens each dashboard. A panel counts only once the page's script has drawn it: its element carries
``data-state="drawn"`` and ``data-points`` > 0 (points, bars, cells, values or rows), not just a
loaded page. The screenshots are kept in ``tests/artifacts/dashboards/<uid>.png``. One snapshot,
written by ``write_snapshots``, is opened from ``file://`` with no server and checked the same way.

Needs the ``chromium`` and ``prometheus`` binaries; skipped when one is missing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from modelwatch_local.dashboard_site import write_snapshots
from modelwatch_local.dashboard_site.page_model import Dashboard, load_dashboards
from modelwatch_local.paths import DASHBOARDS_DIR
from modelwatch_local.processes import free_port, spawn, terminate, wait_http
from modelwatch_local.prometheus_server import LocalPrometheus
from modelwatch_local.stack import LocalStack

from tests.e2e.test_html_report_browser import CHROMIUM, png_size

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "dashboards"
BOARDS = load_dashboards(DASHBOARDS_DIR)
WIDTH = 1600

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"),
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus is not installed"),
]


class _Panels(HTMLParser):
    """The panel elements of a dumped page: their attributes, and the text of each (errors)."""

    def __init__(self) -> None:
        super().__init__()
        self.panels: dict[str, dict[str, str]] = {}
        self.text: dict[str, str] = {}
        self.loaded = ""
        self.body: dict[str, str] = {}
        self._current: str | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.loaded, self.body = found.get("data-loaded", ""), found
        if tag == "section" and "panel" in found.get("class", "").split():
            self._current, self._depth = found["data-panel-id"], 0
            self.panels[self._current] = found
            self.text[self._current] = ""
        if self._current is not None and tag not in ("br", "input", "img"):
            self._depth += 1

    def handle_endtag(self, tag: str) -> None:
        if self._current is not None and tag not in ("br", "input", "img"):
            self._depth -= 1
            if self._depth == 0:
                self._current = None

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self.text[self._current] += data


def _chromium(url: str, tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp}",
            "--virtual-time-budget=15000",
            *extra,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _drawn_panels(url: str, tmp: Path) -> _Panels:
    done = _chromium(url, tmp, "--dump-dom")
    page = _Panels()
    page.feed(done.stdout)
    assert page.loaded, f"the page's script did not finish drawing {url}: {done.stderr[-1500:]}"
    return page


def _assert_every_panel_drew(board: Dashboard, page: _Panels) -> None:
    expected = {str(p.id): p.title for p in board.data_panels()}
    assert set(page.panels) == set(expected), board.uid
    not_drawn = [
        f"{expected[pid]!r}: {attrs.get('data-state')} ({page.text[pid].strip()[:300]})"
        for pid, attrs in page.panels.items()
        if attrs.get("data-state") != "drawn" or int(attrs.get("data-points") or 0) <= 0
    ]
    assert not not_drawn, f"{board.uid}: panels without data: {not_drawn}"


def _height(board: Dashboard) -> int:
    rows = max(p.grid_pos.y + p.grid_pos.h for p in board.panels)
    return 140 + rows * 38


@pytest.fixture(scope="module")
def site(
    prometheus_with_data: tuple[LocalPrometheus, float], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    prometheus, _ = prometheus_with_data
    port = free_port()
    log = tmp_path_factory.mktemp("site") / "dashboards.log"
    command = [sys.executable, "-m", "modelwatch_local", "dashboards", "--prometheus-url", prometheus.url]
    process = spawn([*command, "--port", str(port)], {}, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/", process, "dashboard site", 30.0, log)
        yield url
    finally:
        terminate(process.pid)
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


@pytest.mark.parametrize("board", BOARDS, ids=[b.uid for b in BOARDS])
def test_every_panel_of_the_dashboard_draws_data_in_chromium(
    site: str, board: Dashboard, tmp_path: Path
) -> None:
    multi_model = next(v for v in board.variables if v.name == "model").multi
    url = f"{site}/d/{board.uid}" + ("" if multi_model else "?var-model=fraud")

    page = _drawn_panels(url, tmp_path / "profile")

    _assert_every_panel_drew(board, page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / f"{board.uid}.png"
    screenshot.unlink(missing_ok=True)
    height = _height(board)
    _chromium(url, tmp_path / "profile", f"--screenshot={screenshot}", f"--window-size={WIDTH},{height}")
    assert screenshot.exists()
    assert png_size(screenshot.read_bytes()) == (WIDTH, height)
    assert screenshot.stat().st_size > 40_000  # drawn panels, not an empty page


def test_the_time_range_comes_from_the_url_and_auto_refresh_runs_the_queries_again(
    site: str, tmp_path: Path
) -> None:
    board = next(b for b in BOARDS if b.uid == "modelwatch-drift")

    page = _drawn_panels(f"{site}/d/{board.uid}?var-model=fraud&from=now-15m&refresh=5s", tmp_path / "p")

    assert page.body["data-range"] == "now-15m to now" and page.body["data-refresh"] == "5s"
    assert int(page.loaded) >= 2, "a 5 s refresh within 15 s of (virtual) time loads the panels again"
    _assert_every_panel_drew(board, page)


def test_without_refresh_in_the_url_the_dashboard_refresh_applies_and_off_stops_it(
    site: str, tmp_path: Path
) -> None:
    page = _drawn_panels(f"{site}/d/modelwatch-drift?refresh=", tmp_path / "p")
    default = _drawn_panels(f"{site}/d/modelwatch-drift", tmp_path / "p")

    assert (page.body["data-refresh"], page.loaded) == ("off", "1")
    assert default.body["data-refresh"] == "1m"


def test_the_site_lists_every_dashboard_and_serves_plotly(site: str) -> None:
    import httpx

    index = httpx.get(f"{site}/").text
    plotly = httpx.get(f"{site}/static/plotly.min.js")

    assert all(f'href="/d/{b.uid}"' in index for b in BOARDS)
    assert plotly.status_code == 200 and b"plotly.js v" in plotly.content[:200]
    assert httpx.get(f"{site}/d/no-such-board").status_code == 404


def test_an_unreadable_time_range_is_a_400_naming_it(site: str) -> None:
    import httpx

    answer = httpx.get(f"{site}/api/dashboards/modelwatch-serving/panels/1", params={"from": "now-1x"})

    assert answer.status_code == 400 and "now-1x" in answer.json()["detail"]


def test_a_failing_query_shows_the_prometheus_error_on_its_panel(
    prometheus_with_data: tuple[LocalPrometheus, float], tmp_path: Path
) -> None:
    prometheus, _ = prometheus_with_data
    board = json.loads((DASHBOARDS_DIR / "drift.json").read_text())
    board["panels"][0]["targets"][0]["expr"] = "sum by (version (modelwatch_dataset_drift_share)"
    (tmp_path / "boards").mkdir()
    (tmp_path / "boards" / "drift.json").write_text(json.dumps(board))

    [page_file] = write_snapshots(prometheus.url, tmp_path / "out", tmp_path / "boards")
    page = _drawn_panels(page_file.as_uri(), tmp_path / "profile")

    broken = page.panels[str(board["panels"][0]["id"])]
    assert broken["data-state"] == "error" and broken["data-points"] == "0"
    assert "parse error" in page.text[broken["data-panel-id"]]
    others = [a for pid, a in page.panels.items() if pid != broken["data-panel-id"]]
    assert others and all(a["data-state"] == "drawn" for a in others)


def test_a_snapshot_draws_every_panel_from_file_without_a_server(
    prometheus_with_data: tuple[LocalPrometheus, float], tmp_path: Path
) -> None:
    prometheus, _ = prometheus_with_data
    out = tmp_path / "snapshots"

    pages = write_snapshots(prometheus.url, out, variables={"model": "fraud"})

    assert sorted(p.name for p in pages) == sorted(f"{p.stem}.html" for p in DASHBOARDS_DIR.glob("*.json"))
    assert (out / "plotly.min.js").stat().st_size > 1_000_000
    page_html = (out / "serving-performance.html").read_text()
    assert not re.search(r"src=\"(https?:)?//", page_html), "a snapshot must not load anything remote"
    board = next(b for b in BOARDS if b.uid == "modelwatch-serving")
    page = _drawn_panels((out / "serving-performance.html").as_uri(), tmp_path / "profile")
    _assert_every_panel_drew(board, page)


def test_the_local_stack_runs_the_site_against_its_prometheus(local_stack: LocalStack) -> None:
    import httpx

    index = httpx.get(f"{local_stack.dashboards_url}/", timeout=10.0)
    panel = httpx.get(
        f"{local_stack.dashboards_url}/api/dashboards/modelwatch-serving/panels/1", timeout=10.0
    )

    assert local_stack.pids["dashboards"] and local_stack.prometheus_url in index.text
    assert panel.status_code == 200 and panel.json()["state"] in ("drawn", "empty"), panel.text
