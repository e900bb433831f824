"""The dashboard in a real browser: ``otel-logging dashboard`` on a free port, headless Chromium via Playwright.

Shared by the browser tests: start the dashboard, read the records table as a user sees it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.procs import PYTHON, REPO, child_env

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Screenshots go to a scratch folder; OTEL_LOGGING_SCREENSHOTS=docs/img refreshes the docs' pictures.
SCREENSHOTS = Path(os.environ.get("OTEL_LOGGING_SCREENSHOTS") or (REPO / ".cache" / "screenshots"))
GRID = '[data-testid="stDataFrame"] table[role="grid"]'
QUERY_BAR = 'input[aria-label="Query"]'  # the query bar: the page's one filter state (the pickers edit it)


@pytest.fixture(scope="module")
def chromium() -> str:
    subprocess.run(["bash", str(REPO / "scripts" / "install-chromium.sh")], check=True, timeout=900)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return CHROMIUM


@contextlib.contextmanager
def start_dashboard(log_dir: Path, *extra: str) -> Iterator[str]:
    """``otel-logging dashboard`` over ``log_dir`` on a free port; yields its URL, stops it on exit."""
    proc = subprocess.Popen(
        [PYTHON, "-m", "otel_logging", "dashboard", "--port", "0", "--log-dir", str(log_dir), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env=child_env(),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the command prints its "listening" line once Streamlit answers
    if not line:
        proc.kill()
        raise AssertionError(f"dashboard did not start: {proc.stderr.read().decode(errors='replace')}")
    info = json.loads(line)
    assert info["event"] == "listening"
    try:
        yield info["url"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


@contextlib.contextmanager
def browser_page(width: int = 1500, height: int = 1000) -> Iterator[Any]:
    """A page of headless Chromium (Debian's, no Playwright download), closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def wait_settled(page, timeout_ms: int = 30_000) -> None:  # type: ignore[no-untyped-def]
    """Until the page is drawn as the user reads it: no run in progress, no placeholder left.

    Call it after waiting for what an action changes (``expect(...).to_contain_text(...)``): right after a
    click the rerun may not have started yet, and this would return at once."""
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=timeout_ms)
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0, timeout=timeout_ms)


# One look at a grid, in the page itself: a table redrawn between two reads (a Live tick) cannot mix rows or
# columns of two drawings. Cells are named by their column index, so a drawing that adds a column is read right;
# a row with a cell of no column (the header not drawn yet) makes the look null.
_READ_GRID = """grid => {
    const names = {};
    grid.querySelectorAll('thead th').forEach(th => { names[th.getAttribute('aria-colindex')] = th.innerText.trim(); });
    const rows = [];
    for (const tr of grid.querySelectorAll('tbody tr')) {
        const row = {};
        for (const td of tr.querySelectorAll('td')) {
            const name = names[td.getAttribute('aria-colindex')];
            if (name === undefined) return null;
            row[name] = td.innerText.trim();
        }
        row.selected = tr.getAttribute('aria-selected') || 'false';
        rows.push(row);
    }
    return rows;
}"""


def grid_rows(page, index: int = 0) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    """The visible rows of the ``index``-th records table, as {column: text} (what the user reads),
    plus ``selected``: "true" for the row the table shows selected. [] while the table is being redrawn."""
    grid = page.locator(GRID).nth(index)
    try:
        return grid.evaluate(_READ_GRID, timeout=5_000) or []
    except Exception:  # no such table (yet): the caller waits with a deadline and asks again
        return []
