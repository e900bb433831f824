"""The dashboard's Altair charts: their Vega-Lite specs, and what a user sees once vl-convert renders them.

Rendered checks run the spec the way Streamlit 1.67 shows it (``as_streamlit``: its autosize rule,
its theme's axis config, the container width forced onto the chart and onto each vconcat child),
because some of the defects only appear under that theme (e.g. ``labelOverlap: true``) or sizing.
Each rendered check is also run on the chart as ``views.charts`` built it before this module
(``old_*``), to show that the check catches the defect a user reported.
"""

from __future__ import annotations

import copy
import itertools
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import altair as alt
import pandas as pd
import pytest

from otel_logging.dashboard import charts
from otel_logging.dashboard.charts import (
    LEVEL_COLOURS,
    from_wall_ms,
    time_format,
    top_values_chart,
    trace_waterfall,
    volume_chart,
    wall_ms,
)
from otel_logging.dashboard.filters import ERROR_LEVELS, LEVELS, UNSET_LEVEL
from otel_logging.dashboard.query import Hit, ValueCount, Volume, VolumeBucket
from otel_logging.record import Record

vl_convert = pytest.importorskip("vl_convert", reason="vl-convert-python renders the charts (pip install .[test])")

BERLIN = ZoneInfo("Europe/Berlin")  # UTC+1 on 2024-03-14
START = datetime(2024, 3, 14, 14, 0, tzinfo=BERLIN)
CONTAINER_WIDTH = 700  # px, a wide Streamlit main column
COLUMN_WIDTH = 340  # px, one of two st.columns
SVG_NS = "{http://www.w3.org/2000/svg}"

# Streamlit 1.67's Vega-Lite theme (frontend CustomTheme, light theme, sizes in px): the parts that move text and marks.
STREAMLIT_THEME: dict[str, Any] = {
    "fieldTitle": "verbal",
    "title": {"align": "left", "anchor": "start", "fontSize": 16, "orient": "top", "offset": 26},
    "axis": {
        "labelFontSize": 12,
        "titleFontSize": 14,
        "ticks": False,
        "domain": False,
        "labelFlush": True,
        "labelFlushOffset": 1,
        "labelBound": False,
        "labelLimit": 100,
        "titlePadding": 16,
        "labelPadding": 16,
        "labelSeparation": 4,
        "labelOverlap": True,
    },
    "legend": {
        "labelFontSize": 14,
        "titleFontSize": 14,
        "titlePadding": 8,
        "labelPadding": 16,
        "columnPadding": 8,
        "rowPadding": 4,
        "padding": 8,
        "symbolStrokeWidth": 4,
    },
    "view": {"columns": 1, "strokeWidth": 0, "stroke": "transparent", "continuousHeight": 350, "continuousWidth": 400},
    "concat": {"columns": 1},
    "bar": {"binSpacing": 4, "discreteBandSize": {"band": 0.85}},
    "axisDiscrete": {"grid": False},
    "axisXPoint": {"grid": False},
    "axisTemporal": {"grid": False},
    "axisXBand": {"grid": False},
}
_COMPOSITE = ("hconcat", "vconcat", "concat", "layer", "facet", "repeat")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def as_streamlit(chart: alt.TopLevelMixin | dict[str, Any], width: int) -> dict[str, Any]:
    """The spec as ``st.altair_chart(chart, width="stretch")`` hands it to Vega in a container ``width`` wide."""
    spec = copy.deepcopy(chart if isinstance(chart, dict) else chart.to_dict())
    if "autosize" not in spec:  # streamlit.elements.vega_charts._prepare_vega_lite_spec
        if "vconcat" in spec:
            nested = any(k in child for child in spec["vconcat"] for k in _COMPOSITE)
            spec["autosize"] = {"type": "pad" if nested else "fit-x", "contains": "padding"}
        else:
            spec["autosize"] = {"type": "fit", "contains": "padding"}
    spec["config"] = _merge(STREAMLIT_THEME, spec.get("config", {}))
    spec["width"] = width  # the frontend: container width onto the chart and onto each simple vconcat child
    for child in spec.get("vconcat", []):
        if not any(k in child for k in ("hconcat", "vconcat", "concat", "facet", "repeat")):
            child["width"] = width
    spec.setdefault("padding", {}).setdefault("bottom", 20)
    return spec


# -- reading the SVG --------------------------------------------------------------------------


def render(spec: dict[str, Any]) -> ET.Element:
    return ET.fromstring(vl_convert.vegalite_to_svg(spec))


def _translate(transform: str | None) -> tuple[float, float]:
    found = re.match(r"translate\(([-\d.e]+),\s*([-\d.e]+)\)", transform or "")
    return (float(found.group(1)), float(found.group(2))) if found else (0.0, 0.0)


def walk(el: ET.Element, x: float = 0.0, y: float = 0.0) -> Iterator[tuple[ET.Element, float, float]]:
    """Every element with its absolute translation."""
    dx, dy = _translate(el.get("transform"))
    yield el, x + dx, y + dy
    for child in el:
        yield from walk(child, x + dx, y + dy)


def groups(root: ET.Element, css: str) -> list[tuple[ET.Element, float, float]]:
    return [(el, x, y) for el, x, y in walk(root) if el.tag == f"{SVG_NS}g" and css in (el.get("class") or "")]


def texts(root: ET.Element, css: str) -> list[tuple[str, float, float]]:
    """The visible text of every <text> under groups with ``css`` in their class, with its absolute position.

    Vega hides a label it drops for overlapping its neighbour with ``opacity="0"``: such labels are left out.
    """
    found: list[tuple[str, float, float]] = []

    def visit(el: ET.Element, x: float, y: float, inside: bool) -> None:
        dx, dy = _translate(el.get("transform"))
        inside = inside or (el.tag == f"{SVG_NS}g" and css in (el.get("class") or ""))
        if inside and el.tag == f"{SVG_NS}text" and el.get("opacity") != "0":
            found.append(("".join(el.itertext()), x + dx, y + dy))
        for child in el:
            visit(child, x + dx, y + dy, inside)

    visit(root, 0.0, 0.0, False)
    return found


def axis_labels(root: ET.Element) -> list[str]:
    return [t for t, _, _ in texts(root, "role-axis-label")]


def mark_paths(root: ET.Element, mark: str) -> list[str]:
    """The ``d`` of every path drawn by marks of type ``mark`` (rect, line, symbol, rule ...)."""
    return [
        el.get("d") or ""
        for group, _, _ in groups(root, f"mark-{mark} role-mark")
        for el in group.iter(f"{SVG_NS}path")
    ]


def rect_size(d: str) -> tuple[float, float]:
    """Width and height of a Vega rect path ``M x,y h w v h h -w Z``."""
    found = re.search(r"h(-?[\d.e]+)v(-?[\d.e]+)", d)
    return (abs(float(found.group(1))), abs(float(found.group(2)))) if found else (0.0, 0.0)


def plot_frames(root: ET.Element) -> list[tuple[float, float, float, float]]:
    """(absolute x, absolute y, width, height) of each view's plot area, top to bottom."""
    frames = []
    views = [g for g in groups(root, "role-scope") if re.search(r"_group\b", g[0].get("class") or "")]  # not legends
    for group, gx, gy in views or groups(root, "role-frame root"):  # a single view is the root frame
        inner = next(iter(group), None)
        background = None if inner is None else inner.find(f"{SVG_NS}path")
        if background is None:
            continue
        dx, dy = _translate(inner.get("transform") if inner is not None else None)
        w, h = rect_size(background.get("d") or "")
        frames.append((gy + dy, gx + dx, w, h))
    return [(x, y, w, h) for y, x, w, h in sorted(frames)]


# -- inputs and the charts as views.charts drew them before charts.py --------------------------------


def minute_volume(skip: tuple[int, ...] = (7, 8), minutes: int = 20) -> Volume:
    buckets = []
    for i in range(minutes):
        if i in skip:
            continue
        at = (START + timedelta(minutes=i)).astimezone(UTC)
        buckets.append(VolumeBucket(at, "INFO", 50 + 3 * i))
        if i % 3 == 0:
            buckets.append(VolumeBucket(at, "ERROR", 5 + i))
        if i % 5 == 0:
            buckets.append(VolumeBucket(at, "WARN", 7))
    return Volume(60, buckets)


def old_volume_charts(volume: Volume, zone: ZoneInfo) -> tuple[alt.Chart, alt.Chart]:
    frame = pd.DataFrame(
        [
            {"t": wall_ms(b.start, zone), "time": str(b.start), "level": b.level, "count": b.count}
            for b in volume.buckets
        ],
        columns=["t", "time", "level", "count"],
    )
    order = [*LEVELS, UNSET_LEVEL]
    colours = alt.Scale(domain=order, range=[LEVEL_COLOURS[lv] for lv in order])
    bars = (
        alt.Chart(frame, title="Volume by level")
        .mark_bar()
        .encode(
            x=alt.X("t:T", title=None, scale=alt.Scale(type="utc")),
            y=alt.Y("sum(count):Q", title="records"),
            color=alt.Color("level:N", scale=colours, sort=order),
            order=alt.Order("level:N"),
            tooltip=["time:N", "level:N", "count:Q"],
        )
        .add_params(alt.selection_interval(encodings=["x"], name="brush"))
        .properties(height=260)
    )
    totals = frame.groupby("t")["count"].sum()
    errors = frame[frame["level"].isin(ERROR_LEVELS)].groupby("t")["count"].sum()
    rate = (errors.reindex(totals.index, fill_value=0) / totals * 100).reset_index(name="error %")
    line = (
        alt.Chart(rate, title="Error rate (ERROR + FATAL)")
        .mark_line(point=True, color=LEVEL_COLOURS["ERROR"])
        .encode(x=alt.X("t:T", title=None, scale=alt.Scale(type="utc")), y=alt.Y("error %:Q"))
        .properties(height=180)
    )
    return bars, line


def old_top_values_chart(values: list[ValueCount], title: str) -> alt.Chart:
    data = pd.DataFrame([{"name": v.value, "count": v.count} for v in values], columns=["name", "count"])
    return (
        alt.Chart(data, title=title)
        .mark_bar()
        .encode(x="count:Q", y=alt.Y("name:N", sort="-x", title=None), tooltip=["name", "count"])
        .properties(height=40 + 26 * max(len(data), 1))
    )


def dataset(spec: dict[str, Any], view: dict[str, Any]) -> list[dict[str, Any]]:
    return spec["datasets"][view["data"]["name"]]


# -- wall time and formats ----------------------------------------------------------------------


def test_wall_ms_reads_local_wall_time_as_utc_and_back() -> None:
    at = datetime(2024, 3, 14, 13, 8, tzinfo=UTC)  # 14:08 in Berlin
    ms = wall_ms(at, BERLIN)
    assert ms == int(datetime(2024, 3, 14, 14, 8, tzinfo=UTC).timestamp() * 1000)
    back = from_wall_ms(ms, BERLIN)
    assert back == at and back.tzinfo is BERLIN and (back.hour, back.minute) == (14, 8)
    assert wall_ms(datetime(2024, 3, 14, 13, 8, 0, 123999, tzinfo=UTC), BERLIN) == ms + 123


@pytest.mark.parametrize(
    ("first", "last", "bucket", "expected"),
    [
        (datetime(2024, 3, 14, 14, 0), datetime(2024, 3, 14, 14, 20), 10, "%H:%M:%S"),
        (datetime(2024, 3, 14, 0, 0), datetime(2024, 3, 14, 23, 59), 600, "%H:%M"),
        (datetime(2024, 3, 14, 22, 0), datetime(2024, 3, 15, 2, 0), 300, "%d %b %H:%M"),
        (datetime(2024, 3, 14, 23, 59), datetime(2024, 3, 15, 0, 1), 1, "%d %b %H:%M:%S"),
        (datetime(2024, 3, 1), datetime(2024, 3, 31), 86400, "%d %b"),
        (datetime(2023, 12, 1), datetime(2024, 2, 1), 86400, "%d %b %Y"),
    ],
)
def test_time_format_is_24_hour_and_follows_span_and_bucket(
    first: datetime, last: datetime, bucket: int, expected: str
) -> None:
    fmt = time_format(first, last, bucket)
    assert fmt == expected
    assert "%I" not in fmt and "%p" not in fmt


# -- volume and error rate: the spec ------------------------------------------------------------


def test_volume_rows_cover_every_bucket_and_level() -> None:
    chart = volume_chart(minute_volume(), START, START + timedelta(minutes=20), BERLIN)
    spec = chart.to_dict()
    bars, line = spec["vconcat"]
    rows = dataset(spec, bars)
    assert len(rows) == 20 * 3  # 20 buckets x the 3 levels present, empty buckets included
    by_bucket: dict[int, dict[str, int]] = {}
    for row in rows:
        by_bucket.setdefault(row["t"], {})[row["level"]] = row["count"]
    starts = [wall_ms(START + timedelta(minutes=i), BERLIN) for i in range(20)]
    assert sorted(by_bucket) == starts
    assert by_bucket[starts[7]] == {"INFO": 0, "WARN": 0, "ERROR": 0}
    assert by_bucket[starts[0]] == {"INFO": 50, "WARN": 7, "ERROR": 5}
    stacked = [r for r in rows if r["t"] == starts[0]]
    assert [(r["level"], r["y0"], r["y1"]) for r in stacked] == [("INFO", 0, 50), ("WARN", 50, 57), ("ERROR", 57, 62)]
    assert all(r["t_end"] - r["t"] == 60_000 for r in rows)
    assert rows[0]["time"] == "2024-03-14 14:00:00"

    rates = {r["t"]: r for r in dataset(spec, line)}
    assert sorted(rates) == starts
    assert rates[starts[7]]["total"] == 0 and rates[starts[7]].get("error %") is None
    assert rates[starts[0]]["error %"] == pytest.approx(5 / 62 * 100)
    assert rates[starts[1]]["error %"] == 0


def test_volume_chart_keeps_the_brush_contract_and_shares_the_x_scale() -> None:
    chart = volume_chart(minute_volume(), START, START + timedelta(minutes=20), BERLIN)
    spec = chart.to_dict()
    assert isinstance(chart, alt.VConcatChart)
    bars, line = spec["vconcat"]
    [brush] = [p for p in spec["params"] if p["name"] == "brush"]
    assert brush["select"] == {"type": "interval", "encodings": ["x"]}
    assert brush["views"] == [bars["name"]]
    assert bars["encoding"]["x"]["field"] == "t"  # the app reads event["selection"]["brush"]["t"]
    assert spec["resolve"]["scale"]["x"] == "shared"
    for view in (bars, line):
        x = view["encoding"]["x"]
        assert x["scale"]["type"] == "utc"
        assert x["scale"]["domain"] == [wall_ms(START, BERLIN), wall_ms(START + timedelta(minutes=20), BERLIN)]
        assert x["axis"]["format"] == "%H:%M"
    assert bars["encoding"]["color"]["legend"]["orient"] == "top"
    assert bars["encoding"]["color"]["scale"] == {
        "domain": ["INFO", "WARN", "ERROR"],
        "range": [LEVEL_COLOURS["INFO"], LEVEL_COLOURS["WARN"], LEVEL_COLOURS["ERROR"]],
    }
    assert [t["field"] for t in bars["encoding"]["tooltip"]] == ["time", "level", "count"]
    assert [t["field"] for t in line["encoding"]["tooltip"]] == ["time", "errors", "total", "error %"]
    assert line["mark"]["invalid"] == "break-paths-filter-domains"
    assert not any(k in child for child in spec["vconcat"] for k in ("layer", "hconcat", "vconcat"))  # Streamlit: fit-x
    alone = volume_chart(minute_volume(), START, START + timedelta(minutes=20), BERLIN, error_rate=False).to_dict()
    assert "vconcat" not in alone and alone["params"][0]["name"] == "brush"


def test_volume_chart_without_records_still_spans_the_range() -> None:
    spec = volume_chart(Volume(60, []), START, START + timedelta(minutes=5), BERLIN).to_dict()
    rates = dataset(spec, spec["vconcat"][1])
    assert [r["total"] for r in rates] == [0] * 5
    svg = render(as_streamlit(spec, CONTAINER_WIDTH))
    assert "14:02" in axis_labels(svg)


def test_volume_grid_follows_the_source_buckets_phase() -> None:
    """Buckets keep the source's alignment even when the range starts mid-bucket."""
    at = datetime(2024, 3, 14, 13, 5, tzinfo=UTC)
    volume = Volume(600, [VolumeBucket(at, "INFO", 3)])
    starts = charts.bucket_starts(volume, at - timedelta(minutes=13), at + timedelta(minutes=31))
    assert starts == [at + timedelta(minutes=m) for m in (-20, -10, 0, 10, 20, 30)]


# -- volume and error rate: what the user sees ------------------------------------------------------


def volume_labels_problems(root: ET.Element) -> list[str]:
    labels = axis_labels(root)
    problems = []
    if "14:08" not in labels:
        problems.append(f"no 14:08 label in {labels}")
    if any(re.fullmatch(r"0[0-9]:\d\d", lb) and lb != "00:00" for lb in labels):
        problems.append(f"12-hour labels in {labels}")
    return problems


def test_time_labels_use_a_24_hour_clock() -> None:
    chart = volume_chart(minute_volume(), START, START + timedelta(minutes=20), BERLIN)
    svg = render(as_streamlit(chart, CONTAINER_WIDTH))
    assert volume_labels_problems(svg) == []
    assert "02:08" not in axis_labels(svg)
    old_bars, _ = old_volume_charts(minute_volume(), BERLIN)
    old = render(as_streamlit(old_bars, CONTAINER_WIDTH))
    assert "02:08" in axis_labels(old) and volume_labels_problems(old)


def test_time_labels_show_seconds_and_dates_when_needed() -> None:
    seconds = Volume(
        10, [VolumeBucket((START + timedelta(seconds=10 * i)).astimezone(UTC), "INFO", 1) for i in range(30)]
    )
    labels = axis_labels(render(as_streamlit(volume_chart(seconds, START, START + timedelta(minutes=5), BERLIN), 700)))
    assert "14:01:00" in labels and all(re.fullmatch(r"\d\d:\d\d:\d\d|[\d.]+k?", lb) for lb in labels)

    night = datetime(2024, 3, 14, 22, 0, tzinfo=BERLIN)
    late = Volume(300, [VolumeBucket((night + timedelta(minutes=5 * i)).astimezone(UTC), "INFO", 2) for i in range(48)])
    labels = axis_labels(render(as_streamlit(volume_chart(late, night, night + timedelta(hours=4), BERLIN), 700)))
    dated = [lb for lb in labels if re.fullmatch(r"\d\d [A-Z][a-z]{2} \d\d:\d\d", lb)]
    assert "15 Mar 00:00" in dated and len(dated) >= 3


def error_line_segments(root: ET.Element) -> int:
    [path] = mark_paths(root, "line")
    return path.count("M")


def test_error_rate_line_breaks_at_empty_buckets() -> None:
    chart = volume_chart(minute_volume(skip=(7, 8)), START, START + timedelta(minutes=20), BERLIN)
    assert error_line_segments(render(as_streamlit(chart, CONTAINER_WIDTH))) == 2
    full = volume_chart(minute_volume(skip=()), START, START + timedelta(minutes=20), BERLIN)
    assert error_line_segments(render(as_streamlit(full, CONTAINER_WIDTH))) == 1
    _, old_line = old_volume_charts(minute_volume(skip=(7, 8)), BERLIN)
    assert error_line_segments(render(as_streamlit(old_line, CONTAINER_WIDTH))) == 1  # drawn across the gap


def test_volume_and_error_plots_line_up() -> None:
    volume = minute_volume()
    volume.buckets.append(VolumeBucket(START.astimezone(UTC), "FATAL", 1_234_567))  # wide y labels on top
    chart = volume_chart(volume, START, START + timedelta(minutes=20), BERLIN)
    svg = render(as_streamlit(chart, CONTAINER_WIDTH))
    (x_top, y_top, w_top, h_top), (x_low, y_low, w_low, h_low) = plot_frames(svg)
    assert (x_top, w_top) == (x_low, w_low) and w_top >= CONTAINER_WIDTH * 0.8
    assert (h_top, h_low) == (220, 110) and y_low > y_top + h_top
    legend = texts(svg, "role-legend-label")
    assert [t for t, _, _ in legend] == ["INFO", "WARN", "ERROR", "FATAL"]
    assert all(y < y_top and x_top <= x < x_top + w_top for _, x, y in legend)  # above the plot, not beside it

    old_bars, old_line = old_volume_charts(volume, BERLIN)
    [(_, _, ow_top, _)] = plot_frames(render(as_streamlit(old_bars, CONTAINER_WIDTH)))
    [(_, _, ow_low, _)] = plot_frames(render(as_streamlit(old_line, CONTAINER_WIDTH)))
    assert ow_top < ow_low - 30  # the legend on the right narrowed the volume plot


# -- top values ---------------------------------------------------------------------------------


def test_top_values_spec() -> None:
    values = [ValueCount("billing", 3), ValueCount("api", 9), ValueCount("auth", 3)]
    spec = top_values_chart(values, "Top services").to_dict()
    assert spec["autosize"] == {"type": "fit-x", "contains": "padding"}
    assert spec["height"] == {"step": charts.TOP_ROW_STEP}
    bars, counts = spec["layer"]
    assert bars["mark"]["type"] == "bar" and counts["mark"]["type"] == "text"
    y = bars["encoding"]["y"]
    assert y["sort"] == ["api", "auth", "billing"]  # count desc, then name
    assert y["axis"]["labelOverlap"] is False and y["axis"]["labelLimit"] == charts.TOP_LABEL_LIMIT
    assert counts["encoding"]["text"]["field"] == "count text"
    assert [t["field"] for t in bars["encoding"]["tooltip"]] == ["value", "count"]
    assert [r["count text"] for r in spec["datasets"][spec["data"]["name"]]] == ["9", "3", "3"]


def top_values_problems(root: ET.Element, names: list[str]) -> list[str]:
    problems = []
    labels = texts(root, "role-axis-label")
    shown = [t for t, _, _ in labels]
    problems += [f"no label {n!r}" for n in names if n not in shown]
    ys = sorted(y for t, _, y in labels if t in names)
    if any(b - a < 12 for a, b in itertools.pairwise(ys)):
        problems.append(f"labels overlap: {ys}")
    bars = [rect_size(d) for d in mark_paths(root, "rect")]
    if len(bars) != len(names):
        problems.append(f"{len(bars)} bars for {len(names)} values")
    problems += [f"bar too small to see: {w:.2f} x {h:.2f}" for w, h in bars if w < 2 or h < 8]
    return problems


TOP_CASES = {
    "one": [ValueCount("checkout", 12)],
    "two equal": [ValueCount("checkout", 5), ValueCount("payments", 5)],
    "three": [ValueCount("checkout", 40), ValueCount("payments", 12), ValueCount("inventory", 3)],
    "ten equal": [ValueCount(f"svc-{i}", 7) for i in range(10)],
    "huge and tiny": [ValueCount("chatty", 1_000_000), *[ValueCount(f"quiet-{i}", i + 1) for i in range(9)]],
}


@pytest.mark.parametrize("case", sorted(TOP_CASES))
def test_top_values_render_one_labelled_bar_per_value(case: str) -> None:
    values = TOP_CASES[case]
    for width in (COLUMN_WIDTH, CONTAINER_WIDTH):
        svg = render(as_streamlit(top_values_chart(values, "Top services"), width))
        assert top_values_problems(svg, [v.value for v in values]) == []
        printed = [t for t, _, _ in texts(svg, "mark-text role-mark")]
        assert sorted(printed) == sorted(f"{v.count:,}" for v in values)


def test_the_old_top_values_chart_fails_these_checks() -> None:
    few = TOP_CASES["two equal"]  # the old height (40 + 26 per row) minus title and axis left no room for the bars
    old = render(as_streamlit(old_top_values_chart(few, "Top services"), COLUMN_WIDTH))
    assert any("bar too small" in p or "overlap" in p for p in top_values_problems(old, [v.value for v in few]))
    loggers = [ValueCount(f"app.db{i}", 100 - i) for i in range(10)]  # short: only the theme's overlap rule hides some
    old = render(as_streamlit(old_top_values_chart(loggers, "Top loggers"), COLUMN_WIDTH))
    missing = [p for p in top_values_problems(old, [v.value for v in loggers]) if p.startswith("no label")]
    assert missing == [f"no label 'app.db{i}'" for i in range(1, 10, 2)]  # every other label
    new = render(as_streamlit(top_values_chart(loggers, "Top loggers"), COLUMN_WIDTH))
    assert top_values_problems(new, [v.value for v in loggers]) == []


def test_top_values_truncate_long_labels_and_keep_the_value_in_the_tooltip() -> None:
    long = "otel_logging.very.long.package.name.with.many.parts.handlers.RotatingFileHandlerWithCompression"
    spec = top_values_chart([ValueCount(long, 4), ValueCount("", 2)], "Top loggers").to_dict()
    assert [r["value"] for r in spec["datasets"][spec["data"]["name"]]] == [long, ""]
    labels = axis_labels(render(as_streamlit(spec, COLUMN_WIDTH)))
    assert "(empty)" in labels
    [cut] = [lb for lb in labels if lb.startswith("otel_logging")]
    assert cut.endswith("…") and long.startswith(cut[:-1]) and len(cut) < len(long)


def test_top_values_without_values() -> None:
    svg = render(as_streamlit(top_values_chart([], "Top services"), COLUMN_WIDTH))
    assert "no values" in [t for t, _, _ in texts(svg, "mark-text role-mark")]


# -- trace waterfall ----------------------------------------------------------------------------


def hit(stamp: str | None, service: str, level: str = "INFO", body: str = "did a thing", logger: str = "app") -> Hit:
    record: Record = {"service": service, "logger": logger, "body": body}
    if stamp is not None:
        record["@timestamp"] = stamp
    return Hit(record, level, f"{service}.log:1")


TRACE_HITS = [
    hit("2024-03-14T13:08:03.120000+00:00", "gateway"),
    hit("2024-03-14T13:08:03.135500+00:00", "orders", logger="orders.api"),
    hit(None, "ghost"),
    hit("not a time", "ghost"),
    hit("2024-03-14T13:08:03.180000+00:00", "payments", "ERROR", "card declined " + "x" * 500),
    hit("2024-03-14T13:08:03.190000+00:00", "orders", "WARN"),
    hit("2024-03-14T13:08:03.210000+00:00", "gateway"),
]


def test_trace_waterfall_spec() -> None:
    spec = trace_waterfall(TRACE_HITS, BERLIN).to_dict()
    rules, dots = spec["layer"]
    points = dataset(spec, dots)
    assert [p["service"] for p in points] == ["gateway", "orders", "payments", "orders", "gateway"]  # ghost skipped
    assert points[0]["time"] == "2024-03-14 14:08:03.120"
    assert points[1]["t"] == pytest.approx(wall_ms(datetime(2024, 3, 14, 13, 8, 3, tzinfo=UTC), BERLIN) + 135.5)
    assert len(points[2]["message"]) == charts.MESSAGE_TOOLTIP_CHARS and points[2]["message"].endswith("…")
    assert dots["encoding"]["y"]["sort"] == ["gateway", "orders", "payments"]
    spans = {r["service"]: (r["t"], r["t_last"]) for r in dataset(spec, rules)}
    assert spans["orders"] == (points[1]["t"], points[3]["t"])
    x = dots["encoding"]["x"]  # under a minute: wall-time ms on a linear scale, labelled as 24-hour times
    assert x["type"] == "quantitative" and x["scale"]["zero"] is False
    assert x["axis"]["labelExpr"] == "utcFormat(datum.value, '%H:%M:%S.%L')"

    slow = [hit("2024-03-14T13:08:03+00:00", "gateway"), hit("2024-03-14T13:11:03.5+00:00", "batch")]
    x = trace_waterfall(slow, BERLIN).to_dict()["layer"][1]["encoding"]["x"]
    assert x["type"] == "temporal" and x["scale"]["type"] == "utc"
    assert (x["axis"]["format"], x["axis"]["tickMinStep"]) == ("%H:%M:%S", 1000)
    assert [t["field"] for t in dots["encoding"]["tooltip"]] == ["time", "service", "level", "logger", "message"]
    assert dots["encoding"]["color"]["legend"]["orient"] == "top"


def test_trace_waterfall_renders_rows_in_order_of_first_record() -> None:
    svg = render(as_streamlit(trace_waterfall(TRACE_HITS, BERLIN), CONTAINER_WIDTH))
    rows = sorted((y, t) for t, _, y in texts(svg, "role-axis-label") if t in {"gateway", "orders", "payments"})
    assert [t for _, t in rows] == ["gateway", "orders", "payments"]
    assert len(mark_paths(svg, "symbol")) == 5
    assert len(groups(svg, "mark-rule role-mark")) == 1
    time_labels = [lb for lb in axis_labels(svg) if re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", lb)]
    assert len(set(time_labels)) >= 3 and all(lb.startswith("14:08:03.") for lb in time_labels)


def test_trace_waterfall_with_one_record_or_none() -> None:
    svg = render(as_streamlit(trace_waterfall([hit("2024-03-14T13:08:03.120000+00:00", "gateway")], BERLIN), 400))
    [dot] = mark_paths(svg, "symbol")
    assert dot and "gateway" in axis_labels(svg)
    assert any(lb.startswith("14:08:03.1") for lb in axis_labels(svg))
    empty = render(as_streamlit(trace_waterfall([hit(None, "ghost")], BERLIN), 400))
    assert not mark_paths(empty, "symbol")
    assert "no timed records in this trace" in [t for t, _, _ in texts(empty, "mark-text role-mark")]
