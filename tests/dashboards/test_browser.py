"""End to end in a real browser: the collector owns the seeded store and announces itself in
`service.json`; `routeledger dashboard` (a real `streamlit run`) reads through it on a free
127.0.0.1 port; Debian's headless Chromium, driven by playwright, opens it, switches pages, checks
the key numbers on screen and saves a screenshot of each page (to docs/screenshots/ with
ROUTELEDGER_SCREENSHOTS=1, for the README).

Needs `/usr/bin/chromium` (`apt-get install -y chromium`, done by .ci/run); playwright never
downloads a browser here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from routeledger.attempt import rows_to_arrow
from routeledger.config import load_config
from routeledger.serving import ServerThread, write_ready_file
from routeledger.store.embedded import ChdbAttemptStore
from tests.dashboards.conftest import FALLBACK_REQUEST, seed_rows, write_config

ROOT = Path(__file__).resolve().parents[2]
#: Screenshots go to docs/screenshots/ only when asked (`ROUTELEDGER_SCREENSHOTS=1`), so a test run
#: never rewrites tracked files; otherwise to the test's own temporary directory.
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Streamlit's first start imports pandas, altair and plotly; on a loaded 2-core machine that is slow.
START_DEADLINE_S = 90.0
#: Longest a page may take to show its numbers in the browser (first render, cold cache, small data).
PAGE_DEADLINE_MS = 30_000


@pytest.fixture
def served(store: ChdbAttemptStore, tmp_path: Path) -> Iterator[str]:
    """Seeded store → collector (service.json) → `routeledger dashboard --port 0`; yields its URL."""
    assert Path(CHROMIUM).exists(), f"needs Debian's chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)"
    from routeledger.collector.app import create_app

    store.insert_attempts(rows_to_arrow(seed_rows(datetime.now(UTC))), "browser-seed")
    # The dashboard finds the collector through service.json beside the configured data directory.
    config_path = write_config(tmp_path / "routeledger.yaml", tmp_path / "data", store.database)
    config = load_config(config_path)
    collector = ServerThread(create_app(config, store)).start()
    write_ready_file(tmp_path / "service.json", collector.url)
    ready = tmp_path / "dashboard.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROUTELEDGER_", "STREAMLIT_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "routeledger", "dashboard", "--config", str(config_path), "--port", "0",
         "--ready-file", str(ready)],
        env=env,
        cwd=tmp_path,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + START_DEADLINE_S
        while not ready.exists():
            assert process.poll() is None, f"routeledger dashboard exited with {process.returncode}"
            assert time.monotonic() < deadline, "the dashboard did not become ready"
            time.sleep(0.05)
        yield json.loads(ready.read_text())["url"]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        collector.stop()


#: True once the script run is over, no element of the previous run is left (stale), nothing is a
#: loading skeleton and every table, vega and plotly chart has drawn.
DRAWN = """() => {
  const all = (sel) => Array.from(document.querySelectorAll(sel));
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (all('[data-stale="true"]').length) return false;  // the previous page's elements, fading out
  if (all('[data-testid="stSkeleton"]').length) return false;
  if (all('[data-testid="stDataFrame"]').some((e) => !e.querySelector('canvas'))) return false;
  if (all('[data-testid="stPlotlyChart"]').some((e) => !e.querySelector('.main-svg'))) return false;
  if (all('[data-testid="stVegaLiteChart"], [data-testid="stArrowVegaLiteChart"]')
      .some((e) => !e.querySelector('canvas, svg'))) return false;
  return true;
}"""

#: Page (sidebar label) → texts that must be on screen: the key numbers of the seeded traffic.
EXPECTED = {
    "Overview": ["$489.00", "$4.4455", "10.9%", "1,000 ms"],
    "Cost": ["$489.00"],
    "Fallbacks": ["10.9%", "12 of 110", "Chain flow"],
    "Latency": ["1,000.0 ms", "alpha-4o"],
    "Alerts & anomalies": ["fallback share 12.0% for route support"],
    "Budgets": ["96.8%", "acme today"],
    "Request explorer": [],
    "Reports": ["15 of 15 runs", "Hops"],
}


def test_dashboard_in_headless_chromium(served: str, tmp_path: Path) -> None:
    from playwright.sync_api import Page, sync_playwright

    shots = SCREENSHOTS if os.environ.get("ROUTELEDGER_SCREENSHOTS") == "1" else tmp_path
    shots.mkdir(parents=True, exist_ok=True)

    def shows(page: Page, title: str, texts: list[str], table: bool = True) -> None:
        main = page.get_by_test_id("stMain")
        main.get_by_role("heading", name=title).wait_for(timeout=PAGE_DEADLINE_MS)
        for text in texts:
            main.get_by_text(text, exact=False).first.wait_for(timeout=PAGE_DEADLINE_MS)
        if table:  # tables come after the numbers; the page is complete once one is there
            main.get_by_test_id("stDataFrame").first.wait_for(timeout=PAGE_DEADLINE_MS)
        # Streamlit shows a "running" status while a script run is in flight; wait until it is done,
        # then until every table and chart has drawn (they load lazily after the numbers).
        page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=PAGE_DEADLINE_MS)
        page.wait_for_function(DRAWN, timeout=PAGE_DEADLINE_MS)
        assert main.get_by_test_id("stException").count() == 0

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1600})
            page.goto(served + "/?page=overview", timeout=PAGE_DEADLINE_MS)
            for title, texts in EXPECTED.items():
                if title != "Overview":
                    page.get_by_test_id("stSidebar").get_by_text(title, exact=True).click()
                shows(page, title, texts, table=title not in ("Overview", "Request explorer"))
                if title == "Request explorer":
                    box = page.get_by_test_id("stMain").get_by_role("textbox")
                    box.fill(FALLBACK_REQUEST)
                    box.press("Enter")
                    shows(page, title, ["$11.000000", "answered", "4,000 / 1,000"])
                slug = title.lower().replace(" & ", "-").replace(" ", "-")
                page.screenshot(path=str(shots / f"{slug}.png"), full_page=True)
        finally:
            browser.close()
