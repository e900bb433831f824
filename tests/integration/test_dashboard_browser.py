"""The dashboard in a real browser: ``otel-logging dashboard`` on a free port, headless Chromium via Playwright."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from otel_logging.record import to_json_lines
from tests.integration.dashboard_browser import GRID, QUERY_BAR, SCREENSHOTS, browser_page, start_dashboard
from tests.support.generated_logs import make_record, write_app_logs

pytestmark = pytest.mark.integration

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three apps of generated records, plus one checkout trace across two services."""
    directory = tmp_path_factory.mktemp("dashboard") / "logs"
    now = datetime.now(UTC)
    write_app_logs(directory, apps=3, per_app=2000, end=now - timedelta(minutes=1))
    steps = [
        ("app00", ("INFO", 9), "checkout started for cart 7", "shop.checkout"),
        ("app01", ("ERROR", 17), "checkout failed for cart 7: payment declined", "pay.gateway"),
        ("app00", ("ERROR", 17), "checkout failed for cart 7: giving up", "shop.checkout"),
        ("app01", ("INFO", 9), "checkout failed for cart 7 was retried", "pay.gateway"),
    ]
    for i, (app, level, body, logger) in enumerate(steps):
        record = make_record(
            app, now - timedelta(seconds=30 - i), level=level, body=body, logger=logger, trace_id=TRACE_ID
        )
        with open(directory / f"{app}.jsonl", "ab") as f:
            f.write(to_json_lines([record]))
    return directory


@pytest.fixture(scope="module")
def dashboard_url(log_dir: Path) -> Iterator[str]:
    with start_dashboard(log_dir) as url:
        yield url


def test_level_filter_search_and_trace_view(chromium: str, dashboard_url: str) -> None:
    from playwright.sync_api import expect

    with browser_page(1500, 1000) as page:
        page.goto(dashboard_url)
        summary = page.get_by_test_id("records-summary")
        expect(summary).to_contain_text("6,004 records match", timeout=60_000)

        # Level filter through the multiselect: it writes its clause into the query bar; then a
        # phrase typed after it there.
        page.locator('[data-testid="stMultiSelect"]', has_text="Levels").click()
        page.get_by_role("option", name="ERROR").first.click()
        page.keyboard.press("Escape")
        expect(summary).not_to_contain_text("6,004 records", timeout=30_000)
        bar = page.locator(QUERY_BAR)
        expect(bar).to_have_value("level:ERROR", timeout=30_000)
        bar.fill('level:ERROR AND "checkout failed"')
        bar.press("Enter")
        expect(summary).to_contain_text("2 records match", timeout=30_000)
        expect(page.locator('[data-testid="stMultiSelect"]', has_text="Levels")).to_contain_text("ERROR")

        grid = page.locator(GRID)
        expect(grid).to_contain_text("checkout failed for cart 7: giving up")
        # The table redraws after the summary: wait (with a deadline) for the old rows to go.
        expect(grid).not_to_contain_text("was retried", timeout=30_000)
        expect(grid).not_to_contain_text("checkout started", timeout=30_000)
        text = page.inner_text(GRID)
        assert "checkout failed for cart 7: payment declined" in text
        assert "was retried" not in text  # INFO: filtered out by the level
        assert "checkout started" not in text  # does not match the search
        query = parse_qs(urlparse(page.url).query)
        assert query["q"] == ['level:ERROR AND "checkout failed"'] and "level" not in query  # one filter state
        page.screenshot(path=str(SCREENSHOTS / "static-records.png"))

        # Select the newest row (click its row marker) and open its trace.
        box = page.locator('[data-testid="stDataFrame"]').bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 16, box["y"] + 35 + 17)
        page.get_by_role("button", name="Open trace").click()
        trace_summary = page.get_by_test_id("trace-summary")
        expect(trace_summary).to_contain_text(f"Trace {TRACE_ID}: 4 records from 2 services", timeout=30_000)
        expect(page.locator(GRID).first).to_contain_text("checkout started for cart 7", timeout=30_000)
        # The waterfall: one row per service, in order of their first record.
        waterfall = page.locator('[data-testid="stVegaLiteChart"]').first
        expect(waterfall.locator("svg text", has_text="app00")).to_have_count(1, timeout=30_000)
        expect(waterfall.locator("svg text", has_text="app01")).to_have_count(1)
        assert parse_qs(urlparse(page.url).query)["trace"] == [TRACE_ID]
        page.screenshot(path=str(SCREENSHOTS / "dashboard-trace.png"))


@pytest.mark.parametrize("view", ["records", "charts"])
def test_brushing_the_histogram_narrows_the_time_range(chromium: str, dashboard_url: str, view: str) -> None:
    from playwright.sync_api import expect

    with browser_page(1500, 1100) as page:
        page.goto(f"{dashboard_url}/?view={view}")
        chart = page.locator('[data-testid="stVegaLiteChart"]').first
        expect(chart.locator("canvas, svg").first).to_be_visible(timeout=60_000)
        if view == "charts":
            expect(page.get_by_text("Top loggers")).to_be_visible(timeout=30_000)
        else:
            expect(page.get_by_test_id("records-summary")).to_contain_text("6,004 records", timeout=30_000)
        page.screenshot(path=str(SCREENSHOTS / f"static-{view}-histogram.png"))
        box = chart.bounding_box()
        assert box is not None
        y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + box["width"] * 0.45, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=8)
        page.mouse.up()
        page.wait_for_url(lambda url: "range=abs" in url, timeout=30_000)
        query = parse_qs(urlparse(page.url).query)
        start = datetime.fromisoformat(query["from"][0])
        end = datetime.fromisoformat(query["to"][0])
        assert start < end
        # The sidebar shows the whole of both times (they were cut off when side by side).
        for label, value in (("From", query["from"][0]), ("To", query["to"][0])):
            box = page.get_by_label(label, exact=True)
            expect(box).to_have_value(value, timeout=30_000)
            assert box.evaluate("e => e.scrollWidth <= e.clientWidth"), f"{label} {value} is cut off"
        if view == "records":  # the records are those of the brushed range
            expect(page.get_by_test_id("records-summary")).not_to_contain_text("6,004 records", timeout=30_000)
        page.screenshot(path=str(SCREENSHOTS / f"static-{view}-brushed.png"))


def test_live_mode_shows_appended_records(chromium: str, dashboard_url: str, log_dir: Path) -> None:
    from playwright.sync_api import expect

    with browser_page(1500, 1000) as page:
        page.goto(f"{dashboard_url}/?live=1&every=1&q=appended-marker")
        expect(page.get_by_text("Live: refreshing every 1 s")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("No records match these filters")).to_be_visible(timeout=30_000)
        record = make_record("app02", datetime.now(UTC), body="appended-marker while watching", logger="live")
        with open(log_dir / "app02.jsonl", "ab") as f:
            f.write(to_json_lines([record]))
        summary = page.get_by_test_id("records-summary")
        expect(summary).to_contain_text("1 record matches", timeout=30_000)
        expect(page.locator(GRID)).to_contain_text("appended-marker while watching")
        page.get_by_role("button", name="Pause").click()
        expect(page.get_by_text("Live: refreshing")).to_have_count(0, timeout=30_000)


def test_save_a_view_and_open_it_by_url(chromium: str, dashboard_url: str, log_dir: Path) -> None:
    from playwright.sync_api import expect

    with browser_page(1500, 1000) as page:
        page.goto(f"{dashboard_url}/?q=trace_id:{TRACE_ID}&range=24h")
        summary = page.get_by_test_id("records-summary")
        expect(summary).to_contain_text("4 records match", timeout=60_000)
        page.locator('[data-testid="stMultiSelect"]', has_text="Services").click()
        page.get_by_role("option", name="app01", exact=True).click()
        page.keyboard.press("Escape")
        expect(page.locator(QUERY_BAR)).to_have_value(f"trace_id:{TRACE_ID} AND service:app01", timeout=30_000)
        expect(summary).to_contain_text("2 records match", timeout=30_000)
        name = page.locator('input[aria-label="Save the current view as"]')
        name.fill("app01 in the trace")
        name.press("Enter")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_text("saved as 'app01 in the trace'")).to_be_visible(timeout=30_000)
        page.screenshot(path=str(SCREENSHOTS / "dashboard-saved-view.png"))
        saved = json.loads((log_dir / ".otel-logging" / "views.json").read_text())["views"]
        assert saved["app01 in the trace"]["query"] == f"trace_id:{TRACE_ID} AND service:app01"
        assert saved["app01 in the trace"]["range"] == "24h"

        page.goto(f"{dashboard_url}/?view=app01%20in%20the%20trace")  # the shared link
        expect(page.get_by_test_id("records-summary")).to_contain_text("2 records match", timeout=60_000)
        expect(page.locator(QUERY_BAR)).to_have_value(f"trace_id:{TRACE_ID} AND service:app01")
        expect(page.locator('[data-testid="stMultiSelect"]', has_text="Services")).to_contain_text("app01")
        page.wait_for_url(lambda u: parse_qs(urlparse(u).query).get("q") == [f"trace_id:{TRACE_ID} AND service:app01"])
        assert parse_qs(urlparse(page.url).query)["range"] == ["24h"]
