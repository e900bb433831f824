"""The dashboard used as a user does while apps log: a real ``otel-logging serve``, three apps
logging continuously through ``otel_logging.setup()``, the dashboard over the service's files,
headless Chromium clicking while records arrive. Each test acts, then asserts what the user sees."""

from __future__ import annotations

import re
import subprocess
import textwrap
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import pytest

from tests.integration.dashboard_browser import (
    GRID,
    QUERY_BAR,
    SCREENSHOTS,
    browser_page,
    grid_rows,
    start_dashboard,
)
from tests.support.procs import PYTHON, REPO, ServeProcess, child_env, count_lines, start_serve, wait_for

pytestmark = pytest.mark.integration

SERVICES = ("billing", "checkout", "mailer")
# An app that logs until it is stopped: ~25 records/s, every 10th an ERROR, every 25th an exception with
# its traceback, prefixed ids in the messages. The sleep paces the load; nothing waits on it.
APP = textwrap.dedent(
    """
    import logging, random, sys, time, otel_logging
    service = sys.argv[2]
    otel_logging.setup(service, sys.argv[1], schedule_delay_ms=50)
    log = logging.getLogger(service + ".worker")
    rng = random.Random(service)
    i = 0
    while True:
        i += 1
        charge = "ch_" + "".join(rng.choice("0123456789abcdef") for _ in range(12))
        if i % 25 == 0:
            try:
                {}["user_%d" % i]
            except KeyError:
                log.exception("job %s crashed on %s", i, charge, extra={"job": i})
        elif i % 10 == 0:
            log.error("charge %s failed for job %s", charge, i, extra={"job": i, "customer": "cus_%d" % (i % 7)})
        elif i % 5 == 0:
            log.warning("retrying job %s after %s ms", i, rng.randint(5, 900), extra={"job": i})
        else:
            log.info("job %s done in %s ms", i, rng.randint(1, 400), extra={"job": i, "customer": "cus_%d" % (i % 7)})
        time.sleep(0.04)
    """
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, chromium: str) -> Iterator[tuple[str, ServeProcess]]:
    log_dir = tmp_path_factory.mktemp("live") / "logs"
    serve = start_serve(log_dir)
    apps = [
        subprocess.Popen([PYTHON, "-c", APP, serve.grpc_endpoint, name], cwd=REPO, env=child_env()) for name in SERVICES
    ]
    try:
        wait_for(
            lambda: all(count_lines(serve.app_file(name)) >= 50 for name in SERVICES),
            timeout=60,
            what="three apps logging through the service",
        )
        with start_dashboard(log_dir) as url:
            yield url, serve
    finally:
        for app in apps:
            app.kill()
            app.wait(10)
        serve.stop()


def _lines(serve: ServeProcess) -> int:
    return sum(count_lines(serve.app_file(name)) for name in SERVICES)


def _arriving(serve: ServeProcess, since: int, more: int = 40) -> int:
    """Wait until at least ``more`` records were written after ``since`` (records are arriving)."""
    return wait_for(lambda: (n := _lines(serve)) >= since + more and n, timeout=30, what="records arriving")


def _pick(page, label: str, option: str) -> None:  # type: ignore[no-untyped-def]
    page.locator('[data-testid="stMultiSelect"]', has_text=label).click()
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")


def test_picks_are_kept_while_apps_log(stack: tuple[str, ServeProcess]) -> None:
    from playwright.sync_api import expect

    url, serve = stack
    with browser_page(1500, 1000) as page:
        page.goto(url)
        summary = page.get_by_test_id("records-summary")
        expect(summary).to_contain_text("records match", timeout=60_000)
        picks = [("Levels", "ERROR", "level"), ("Services", "checkout", "service")]
        picks.append(("Loggers", "checkout.worker", "logger"))
        for done, (label, option, param) in enumerate(picks, start=1):
            _arriving(serve, _lines(serve))  # counts change between the drawing and the click
            _pick(page, label, option)
            # The pick is a clause of the query (the one filter state), in the query bar and the URL.
            clause = f"{param}:{option}"
            page.wait_for_url(lambda u, c=clause: c in "".join(parse_qs(urlparse(u).query).get("q", [])))
            expect(page.locator(QUERY_BAR)).to_have_value(
                " AND ".join(f"{p}:{o}" for _, o, p in picks[:done]), timeout=30_000
            )
            expect(page.locator('[data-testid="stMultiSelect"]', has_text=label)).to_contain_text(option)
            wanted = {column: value for _, value, column in picks[:done]}

            def shows_only_picked(wanted: dict[str, str] = wanted) -> bool:
                rows = grid_rows(page)
                return bool(rows) and all(row.get(k) == v for row in rows for k, v in wanted.items())

            wait_for(shows_only_picked, timeout=30, what=f"only rows with {wanted}")
        _arriving(serve, _lines(serve))  # the picks stay while records arrive
        for label, option, _ in picks:
            expect(page.locator('[data-testid="stMultiSelect"]', has_text=label)).to_contain_text(option)
        query = parse_qs(urlparse(page.url).query)
        assert query["q"] == ["level:ERROR AND service:checkout AND logger:checkout.worker"]
        assert not {"level", "service", "logger"} & set(query)
        page.screenshot(path=str(SCREENSHOTS / "dashboard-picks.png"))


def test_live_selection_follows_its_record_and_paging_holds_still(stack: tuple[str, ServeProcess]) -> None:
    from playwright.sync_api import expect

    url, serve = stack
    with browser_page(1500, 1100) as page:
        page.goto(f"{url}/?live=1&every=1&size=50")
        expect(page.get_by_text("Live: refreshing every 1 s")).to_be_visible(timeout=60_000)
        summary = page.get_by_test_id("records-summary")
        expect(summary).to_contain_text("page 1 of", timeout=30_000)

        # Select the third row; the record it shows must stay the one picked while records arrive.
        box = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 16, box["y"] + 35 + 35 * 2 + 17)
        ref = page.get_by_test_id("record-ref")
        expect(ref).to_be_visible(timeout=30_000)
        picked = ref.inner_text()
        # A click that lands while a Live tick's table is on its way selects the row at that place in the new
        # table (Streamlit reports a selection as a row position): wait until the table shows the record opened.
        detail = page.locator('[data-testid="stJson"]').first
        chosen = wait_for(
            lambda: (row := _selected(page)) and row["message"] in detail.inner_text() and row,
            timeout=30,
            what="the selected row and the record opened to agree",
        )
        newer = page.get_by_test_id("records-newer")
        expect(newer).to_be_visible(timeout=30_000)
        seen = _count(newer.inner_text())
        _arriving(serve, _lines(serve), more=80)
        wait_for(lambda: _count(newer.inner_text()) > seen, timeout=30, what="more new records announced")
        assert ref.inner_text() == picked
        expect(detail).to_contain_text(chosen["message"])
        assert _selected(page) == chosen  # the same row, where it was: the page did not move under the user
        page.screenshot(path=str(SCREENSHOTS / "dashboard-records.png"), full_page=True)

        # Page 2 while records arrive: the rows stay those of page 2 as the user turned to it.
        first_page = _shown(page)
        page.get_by_role("button", name="Older ▶").click()
        expect(summary).to_contain_text("showing 51 to 100", timeout=30_000)
        expect(summary).to_contain_text("page 2 of")
        rows = wait_for(lambda: (r := _shown(page)) and not set(r) & set(first_page) and r, what="page 2 rows")
        seen = _count(newer.inner_text())
        _arriving(serve, _lines(serve), more=80)
        wait_for(lambda: _count(newer.inner_text()) > seen, timeout=30, what="more new records announced")
        assert wait_for(lambda: _shown(page), timeout=30, what="page 2 rows") == rows
        expect(summary).to_contain_text("page 2 of")

        # Back to the newest: page 1, nothing selected, the announcement gone.
        page.get_by_role("button", name="Show newest").click()
        expect(summary).to_contain_text("page 1 of", timeout=30_000)
        expect(page.get_by_test_id("record-ref")).to_have_count(0, timeout=30_000)
        page.get_by_role("button", name="Pause").click()
        expect(page.get_by_text("Live: refreshing")).to_have_count(0, timeout=30_000)


def test_exception_shown_as_a_traceback_and_filters_from_a_cell(stack: tuple[str, ServeProcess]) -> None:
    from playwright.sync_api import expect

    url, _ = stack
    with browser_page(1500, 1300) as page:
        page.goto(f"{url}/?q=crashed&service=billing")
        summary = page.get_by_test_id("records-summary")
        expect(summary).to_contain_text("records match", timeout=60_000)
        wait_for(
            lambda: (rows := grid_rows(page)) and all(row.get("exception") == "KeyError" for row in rows),
            timeout=30,
            what="only crashed records, with their exception type",
        )
        box = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 16, box["y"] + 35 + 17)  # the first row's marker
        heading = page.get_by_test_id("record-exception")
        expect(heading).to_contain_text(re.compile(r"Exception KeyError: '?user_\d+"), timeout=30_000)
        code = page.locator('[data-testid="stCode"]').first
        expect(code).to_contain_text("Traceback (most recent call last):")
        lines = code.inner_text().splitlines()
        assert len(lines) >= 3 and lines[-1].startswith("KeyError: 'user_")
        assert "\\n" not in code.inner_text()
        page.get_by_test_id("record-ref").scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "dashboard-exception.png"))

        # The old link (service=billing) opened as a query.
        expect(page.locator(QUERY_BAR)).to_have_value("crashed AND service:billing")
        # Click the service cell of the first row (the row selected, the grid has the focus; the cell
        # is picked through the grid's accessibility table), then Exclude: billing leaves the Services pick
        # and the query excludes it.
        column = grid_rows(page)[0]
        page.get_by_test_id(f"glide-cell-{list(column).index('service') + 1}-0").first.focus()
        page.get_by_role("button", name="Exclude").first.click()
        page.wait_for_url(lambda u: parse_qs(urlparse(u).query).get("q") == ["crashed AND -service:billing"])
        expect(page.locator(QUERY_BAR)).to_have_value("crashed AND -service:billing", timeout=30_000)
        wait_for(
            lambda: (rows := grid_rows(page)) and all(row.get("service") != "billing" for row in rows),
            timeout=30,
            what="no billing rows",
        )

        # In a record's fields, select "level" (the first field) and include it: the Levels pick is ERROR.
        page.goto(f"{url}/?q=crashed&service=billing")
        table = page.locator('[data-testid="stDataFrame"]').first
        expect(page.get_by_test_id("records-summary")).to_contain_text("records match", timeout=60_000)
        wait_for(lambda: grid_rows(page), timeout=30, what="rows")
        table_box = table.bounding_box()
        assert table_box is not None
        page.mouse.click(table_box["x"] + 16, table_box["y"] + 35 + 17)
        fields = page.locator('[data-testid="stDataFrame"]').nth(1)
        expect(fields).to_be_visible(timeout=30_000)
        fields.scroll_into_view_if_needed()
        fields_box = fields.bounding_box()
        assert fields_box is not None
        page.mouse.click(fields_box["x"] + 16, fields_box["y"] + 35 + 17)
        page.get_by_role("button", name="Include").first.click()
        wanted = "crashed AND service:billing AND level:ERROR"
        page.wait_for_url(lambda u: parse_qs(urlparse(u).query).get("q") == [wanted], timeout=30_000)
        expect(page.locator(QUERY_BAR)).to_have_value(wanted, timeout=30_000)
        expect(page.locator('[data-testid="stMultiSelect"]', has_text="Levels")).to_contain_text("ERROR")


def _count(text: str) -> int:
    match = re.search(r"([\d,]+) new record", text)
    return int(match.group(1).replace(",", "")) if match else 0


def _shown(page) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    """The visible rows as the user reads them (time, service, message), whatever is selected."""
    rows = grid_rows(page)
    if not all("time" in row for row in rows):
        return []  # another table, or one being redrawn: the caller asks again
    return [(row["time"], row["service"], row["message"]) for row in rows]


def _selected(page) -> dict[str, str] | None:  # type: ignore[no-untyped-def]
    rows = [row for row in grid_rows(page) if row["selected"] == "true"]
    return rows[0] if len(rows) == 1 else None


def test_charts_and_patterns_read_right_while_apps_log(stack: tuple[str, ServeProcess]) -> None:
    from playwright.sync_api import expect

    url, _ = stack
    with browser_page(1500, 1250) as page:
        page.goto(f"{url}/?view=charts&range=15m")
        charts = page.locator('[data-testid="stVegaLiteChart"]')
        expect(charts.nth(2)).to_be_visible(timeout=60_000)
        # Top services: one labelled bar per service, each with its count.
        labels = wait_for(lambda: _svg_text(charts.nth(1)), timeout=30, what="top services drawn")
        assert set(SERVICES) <= set(labels), labels
        assert sum(1 for t in labels if re.fullmatch(r"[\d,]+", t)) == len(SERVICES), labels
        # Time axes: a 24-hour clock, the volume and error-rate plots on the same ticks.
        volume = _svg_text(charts.nth(0))
        ticks = [t for t in volume if re.fullmatch(r"\d{2}:\d{2}(:\d{2})?", t)]
        assert ticks and not [t for t in volume if re.search(r"\b(AM|PM)\b", t)], volume
        assert all(0 <= int(t[:2]) <= 23 for t in ticks)
        assert "Error rate (ERROR + FATAL)" in volume and volume.count(ticks[0]) == 2  # both plots label it
        page.screenshot(path=str(SCREENSHOTS / "dashboard-charts.png"), full_page=True)

        # Patterns: ids such as ch_62341da18f7e are masked, so four message shapes make four templates.
        page.get_by_text("Patterns", exact=True).first.click()
        grid = page.locator(GRID).first
        expect(grid).to_contain_text("<num>", timeout=30_000)
        rows = wait_for(lambda: [r for r in grid_rows(page) if r.get("template")], timeout=30, what="patterns")
        templates = {row["template"] for row in rows}
        assert len(templates) == 4, templates
        assert not [t for t in templates if re.search(r"ch_[0-9a-f]{4}", t)], templates
        page.screenshot(path=str(SCREENSHOTS / "dashboard-patterns.png"), full_page=True)


def _svg_text(locator) -> list[str]:  # type: ignore[no-untyped-def]
    """The texts a user sees in a chart (Vega keeps hidden labels in the SVG with opacity 0)."""
    return [
        (t.text_content() or "").strip()
        for t in locator.locator("svg text").all()
        if (t.get_attribute("opacity") or "1") != "0"
    ]
