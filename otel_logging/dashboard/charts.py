"""The dashboard's Altair charts, as pure functions of query results (no Streamlit calls here).

Times are drawn on a UTC scale holding the user's *wall* time: ``wall_ms`` reads the local time
in the chosen zone as if it were UTC, so Vega's UTC formatting prints the user's clock whatever
the browser's zone is. The time axes use 24-hour formats chosen from the span and bucket size.

Streamlit notes (1.67): ``st.altair_chart(..., width="stretch")`` sets the width of a chart (and
of each child of a ``vconcat``) to the container width, and applies its theme, whose axis config
has ``labelOverlap: true`` (Vega then drops every other label that would touch its neighbour).
Charts whose height is a step per row set their own ``autosize`` ("fit-x"), because Streamlit's
default ("fit") would squeeze title, axes and rows into the given height.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import altair as alt
import pandas as pd

from otel_logging.dashboard.filters import ERROR_LEVELS, LEVELS, UNSET_LEVEL
from otel_logging.dashboard.query import Hit, ValueCount, Volume

LEVEL_COLOURS: dict[str, str] = {
    "TRACE": "#9e9e9e",
    "DEBUG": "#607d8b",
    "INFO": "#1e88e5",
    "WARN": "#f9a825",
    "ERROR": "#e53935",
    "FATAL": "#8e24aa",
    UNSET_LEVEL: "#bdbdbd",
}
LEVEL_ORDER: tuple[str, ...] = (*LEVELS, UNSET_LEVEL)
OTHER_COLOUR = "#bdbdbd"
BAR_COLOUR = "#4c78a8"
TOOLTIP_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_GRID_BUCKETS = 10_000  # beyond this many buckets only the non-empty ones are drawn
TOP_ROW_STEP = 24  # px per row of a top-values chart
TOP_LABEL_LIMIT = 180  # px; longer labels end in an ellipsis (the tooltip has the whole value)
TOP_MIN_BAR_SHARE = 0.01  # bars shorter than 1% of the longest are drawn at 1% so that they stay visible
TRACE_ROW_STEP = 34  # px per service row of the trace waterfall
MESSAGE_TOOLTIP_CHARS = 200
FIT_WIDTH = alt.AutoSizeParams(type="fit-x", contains="padding")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# -- wall time ----------------------------------------------------------------------------------


def wall_ms(value: datetime, zone: ZoneInfo) -> int:
    """Epoch milliseconds of the local wall time read as UTC (the charts draw a UTC scale)."""
    wall = value.astimezone(zone).replace(tzinfo=UTC)
    return (wall - _EPOCH) // timedelta(milliseconds=1)


def _wall_ms_exact(value: datetime, zone: ZoneInfo) -> float:
    """``wall_ms`` with the microseconds kept (as a fraction of a millisecond)."""
    wall = value.astimezone(zone).replace(tzinfo=UTC)
    return ((wall - _EPOCH) // timedelta(microseconds=1)) / 1000


def from_wall_ms(ms: float, zone: ZoneInfo) -> datetime:
    """The aware datetime in ``zone`` whose wall time ``wall_ms`` gave as ``ms`` (e.g. a brush edge)."""
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=zone)


def time_format(first: datetime, last: datetime, bucket_seconds: float) -> str:
    """A 24-hour d3 time format for an axis from ``first`` to ``last`` (local times) in steps of ``bucket_seconds``.

    Seconds only when buckets are shorter than a minute; the date only when the span crosses a day
    (the year too when it crosses a year); days without a time of day for buckets of a day or more.
    """
    crosses_days = first.date() != last.date()
    crosses_years = first.year != last.year
    if bucket_seconds >= 86400:
        return "%d %b %Y" if crosses_years else "%d %b"
    clock = "%H:%M:%S" if bucket_seconds < 60 else "%H:%M"
    if crosses_years:
        return f"%d %b %Y {clock}"
    return f"%d %b {clock}" if crosses_days else clock


def format_step_ms(fmt: str) -> int:
    """The finest time step a time format shows, in ms: ticks closer than this would repeat a label."""
    if "%L" in fmt:
        return 1
    if "%S" in fmt:
        return 1000
    return 60_000 if "%M" in fmt else 86_400_000


def _level_scale(levels: Iterable[str]) -> alt.Scale:
    present = set(levels)
    domain = [lv for lv in LEVEL_ORDER if lv in present] + sorted(present - set(LEVEL_ORDER))
    if not domain:
        domain = list(LEVEL_ORDER)
    return alt.Scale(domain=domain, range=[LEVEL_COLOURS.get(lv, OTHER_COLOUR) for lv in domain])


def _level_rank(level: str) -> int:
    return LEVEL_ORDER.index(level) if level in LEVEL_ORDER else len(LEVEL_ORDER)


# -- volume and error rate ----------------------------------------------------------------------


def bucket_starts(volume: Volume, start: datetime, end: datetime) -> list[datetime]:
    """Every bucket start (UTC) of ``[start, end)``, on the same grid as the source's buckets.

    The grid's phase comes from the first returned bucket (sources align buckets to the epoch or
    to their own origin), or from the epoch when there are none. Returned buckets outside the
    range are kept too, so that no count is lost.
    """
    size = timedelta(seconds=max(int(volume.bucket_seconds), 1))
    seen = sorted({b.start.astimezone(UTC) for b in volume.buckets})
    anchor = seen[0] if seen else _EPOCH
    start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
    first = anchor + ((start_utc - anchor) // size) * size
    if end_utc <= first or (end_utc - first) // size > MAX_GRID_BUCKETS:
        return seen
    grid: set[datetime] = set(seen)
    at = first
    while at < end_utc:
        grid.add(at)
        at += size
    return sorted(grid)


def volume_frames(volume: Volume, start: datetime, end: datetime, zone: ZoneInfo) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The volume chart's rows (bucket x level) and the error-rate chart's rows (one per bucket).

    Every bucket of ``[start, end)`` has a row in both: a count of 0 for each level shown in the
    volume rows, and ``error %`` left empty (NaN, drawn as a gap) in the error rows.
    """
    size_s = max(int(volume.bucket_seconds), 1)
    size = timedelta(seconds=size_s)
    counts: dict[tuple[datetime, str], int] = {}
    for b in volume.buckets:
        key = (b.start.astimezone(UTC), b.level)
        counts[key] = counts.get(key, 0) + int(b.count)
    levels = sorted({level for _, level in counts}, key=lambda lv: (_level_rank(lv), lv))
    vol_rows: list[dict[str, object]] = []
    err_rows: list[dict[str, object]] = []
    for at in bucket_starts(volume, start, end):
        t, t_end = wall_ms(at, zone), wall_ms(at + size, zone)
        label = at.astimezone(zone).strftime(TOOLTIP_TIME_FORMAT)
        total = errors = 0
        for level in levels:
            n = counts.get((at, level), 0)
            errors += n if level in ERROR_LEVELS else 0
            vol_rows.append(
                {"t": t, "t_end": t_end, "time": label, "level": level, "count": n, "y0": total, "y1": total + n}
            )
            total += n
        err_rows.append(
            {
                "t": t,
                "t_mid": t + size_s * 500,
                "time": label,
                "errors": errors,
                "total": total,
                "error %": errors / total * 100 if total else float("nan"),
            }
        )
    vol = pd.DataFrame(vol_rows, columns=["t", "t_end", "time", "level", "count", "y0", "y1"])
    err = pd.DataFrame(err_rows, columns=["t", "t_mid", "time", "errors", "total", "error %"])
    return vol, err


def volume_chart(
    volume: Volume,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    *,
    error_rate: bool = True,
    height: int = 220,
    error_height: int = 110,
    width: int | None = None,
    title: str | None = "Volume by level",
) -> alt.TopLevelMixin:
    """Stacked bars of records per bucket and level, with an interval selection ``brush`` on x.

    With ``error_rate``, the ERROR + FATAL share per bucket is drawn below in one ``vconcat``
    sharing the x scale; the line breaks at buckets without records (they have no rate).
    ``width`` fixes the plot width (Streamlit's ``width="stretch"`` sets it to the container's).
    """
    vol, err = volume_frames(volume, start, end, zone)
    size = timedelta(seconds=max(int(volume.bucket_seconds), 1))
    starts = bucket_starts(volume, start, end)
    first = starts[0] if starts else start.astimezone(UTC)
    stop = starts[-1] + size if starts else end.astimezone(UTC)
    domain = [wall_ms(first, zone), wall_ms(stop, zone)]
    fmt = time_format(first.astimezone(zone), (stop - timedelta(microseconds=1)).astimezone(zone), size.total_seconds())
    x_axis = alt.Axis(format=fmt, formatType="time", labelAngle=0, title=None, tickMinStep=format_step_ms(fmt))
    x_scale = alt.Scale(type="utc", domain=domain)
    levels = vol["level"].unique().tolist()
    busiest = int(vol["y1"].max()) if not vol.empty else 0
    worst = float(err["error %"].max(skipna=True)) if err["error %"].notna().any() else 0.0
    brush = alt.selection_interval(encodings=["x"], name="brush")
    bars = (
        alt.Chart(vol, title=title or alt.Undefined)
        .mark_rect(x2Offset=-1 if len(starts) <= 200 else 0)
        .encode(
            x=alt.X("t:T", scale=x_scale, axis=x_axis),
            x2=alt.X2("t_end:T"),
            y=alt.Y(
                "y1:Q",
                title="records",
                scale=alt.Scale(domain=[0, 1]) if busiest == 0 else alt.Scale(zero=True),
                axis=alt.Axis(format="~s", tickMinStep=1),
            ),
            y2=alt.Y2("y0:Q"),
            color=alt.Color(
                "level:N",
                scale=_level_scale(levels),
                legend=alt.Legend(orient="top", direction="horizontal", title=None, symbolType="square")
                if levels
                else None,
            ),
            tooltip=[
                alt.Tooltip("time:N", title="time"),
                alt.Tooltip("level:N"),
                alt.Tooltip("count:Q", format=",d"),
            ],
        )
        .add_params(brush)
        .properties(height=height, **({"width": width} if width else {}))
    )
    if not error_rate:  # alone, ``height`` is the plot's (Streamlit's "fit" would make it the whole chart's)
        return bars.properties(autosize=FIT_WIDTH)
    line = (
        alt.Chart(err, title="Error rate (ERROR + FATAL)")
        .mark_line(
            color=LEVEL_COLOURS["ERROR"],
            strokeJoin="round",
            point=alt.OverlayMarkDef(color=LEVEL_COLOURS["ERROR"], size=18),
            invalid="break-paths-filter-domains",
        )
        .encode(
            x=alt.X("t_mid:T", scale=x_scale, axis=x_axis),
            y=alt.Y(
                "error %:Q",
                title="error %",
                scale=alt.Scale(domain=[0, max(worst, 1.0)], nice=True),
            ),
            tooltip=[
                alt.Tooltip("time:N", title="time"),
                alt.Tooltip("errors:Q", format=",d"),
                alt.Tooltip("total:Q", format=",d"),
                alt.Tooltip("error %:Q", format=".1f"),
            ],
        )
        .properties(height=error_height, **({"width": width} if width else {}))
    )
    return alt.vconcat(bars, line, spacing=12).resolve_scale(x="shared", y="independent", color="independent")


# -- top values ---------------------------------------------------------------------------------


def top_values_chart(values: list[ValueCount], title: str, *, width: int | None = None) -> alt.TopLevelMixin:
    """Horizontal bars, one labelled row per value, most frequent first, the count printed at each bar's end.

    A layer of bars and count texts (an ``alt.LayerChart``); a text "no values" when ``values`` is empty.
    The height is a fixed step per row, so every label has room; long labels end in an ellipsis.
    """
    ordered = sorted(values, key=lambda v: (-v.count, v.value))
    longest = max((v.count for v in ordered), default=0)
    frame = pd.DataFrame(
        [
            {
                "value": v.value,
                "count": v.count,
                "shown": max(float(v.count), longest * TOP_MIN_BAR_SHARE),
                "count text": f"{v.count:,}",
            }
            for v in ordered
        ],
        columns=["value", "count", "shown", "count text"],
    )
    sizing = {"width": width} if width else {}
    if frame.empty:
        return (
            alt.Chart(pd.DataFrame({"text": ["no values"]}), title=title)
            .mark_text(color="#888")
            .encode(text="text:N")
            .properties(height=TOP_ROW_STEP, **sizing)
            .properties(autosize=FIT_WIDTH)
        )
    y = alt.Y(
        "value:N",
        sort=[v.value for v in ordered],
        title=None,
        scale=alt.Scale(paddingInner=0.25, paddingOuter=0.1),
        axis=alt.Axis(
            labelOverlap=False,
            labelFlush=False,
            labelLimit=TOP_LABEL_LIMIT,
            labelPadding=6,
            ticks=False,
            domain=False,
            labelExpr="datum.label === '' ? '(empty)' : datum.label",
        ),
    )
    tooltip = [alt.Tooltip("value:N", title=title), alt.Tooltip("count:Q", format=",d")]
    base = alt.Chart(title=title).encode(
        y=y,
        x=alt.X("shown:Q", title=None, axis=None, scale=alt.Scale(domainMin=0, nice=False)),
        tooltip=tooltip,
    )
    bars = base.mark_bar(color=BAR_COLOUR)
    counts = base.mark_text(align="left", baseline="middle", dx=4, color="#444").encode(text="count text:N")
    return (
        alt.layer(bars, counts, data=frame)
        .properties(height=alt.Step(TOP_ROW_STEP), **sizing)
        .properties(autosize=FIT_WIDTH)
    )


# -- trace waterfall ----------------------------------------------------------------------------


def _stamp(hit: Hit) -> datetime | None:
    value = hit.record.get("@timestamp")
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def trace_waterfall(hits: list[Hit], zone: ZoneInfo, *, width: int | None = None) -> alt.TopLevelMixin:
    """The records of one trace on a millisecond time axis, one row per service (in order of first record).

    A point per record, coloured by level; a thin rule from each service's first to last record.
    Records without a (parseable) timestamp are left out.
    """
    timed = sorted(((stamp, i, hit) for i, hit in enumerate(hits) if (stamp := _stamp(hit))), key=lambda r: r[:2])
    rows: list[dict[str, object]] = []
    for stamp, _, hit in timed:
        local = stamp.astimezone(zone)
        message = hit.message
        if len(message) > MESSAGE_TOOLTIP_CHARS:
            message = message[: MESSAGE_TOOLTIP_CHARS - 1] + "…"
        rows.append(
            {
                "t": _wall_ms_exact(stamp, zone),
                "time": local.strftime(TOOLTIP_TIME_FORMAT) + f".{local.microsecond // 1000:03d}",
                "service": str(hit.record.get("service") or "(no service)"),
                "level": hit.level,
                "logger": str(hit.record.get("logger") or ""),
                "message": message,
            }
        )
    points = pd.DataFrame(rows, columns=["t", "time", "service", "level", "logger", "message"])
    services = list(dict.fromkeys(points["service"]))
    spans = (
        points.groupby("service", sort=False)["t"]
        .agg(["min", "max"])
        .reset_index()
        .rename(columns={"min": "t", "max": "t_last"})
    )
    sizing = {"width": width} if width else {}
    if points.empty:
        return (
            alt.Chart(pd.DataFrame({"text": ["no timed records in this trace"]}), title="Trace")
            .mark_text(color="#888")
            .encode(text="text:N")
            .properties(height=TRACE_ROW_STEP, **sizing)
            .properties(autosize=FIT_WIDTH)
        )
    low, high = float(points["t"].min()), float(points["t"].max())
    pad = max((high - low) * 0.03, 5.0)
    first, last = from_wall_ms(low, UTC), from_wall_ms(high, UTC)  # the wall clock of the first and last record
    span_s = (high - low) / 1000
    if span_s < 60:
        # Vega's time ticks go no finer than a second (and drift off the second when the domain does not
        # start on one): below a minute, a linear scale over the same wall-time milliseconds, labelled as times.
        fmt = time_format(first, last, 1) + ".%L"
        x = alt.X(
            "t:Q",
            title=None,
            scale=alt.Scale(domain=[low - pad, high + pad], zero=False, nice=False),
            axis=alt.Axis(labelExpr=f"utcFormat(datum.value, '{fmt}')", tickCount=6, labelAngle=0),
        )
    else:
        fmt = time_format(first, last, 1 if span_s < 3600 else 60)
        x = alt.X(
            "t:T",
            title=None,
            scale=alt.Scale(type="utc", domain=[low - pad, high + pad]),
            axis=alt.Axis(format=fmt, formatType="time", labelAngle=0, tickMinStep=format_step_ms(fmt)),
        )
    y = alt.Y(
        "service:N",
        sort=services,
        title=None,
        axis=alt.Axis(labelOverlap=False, labelFlush=False, labelLimit=TOP_LABEL_LIMIT, ticks=False, domain=False),
    )
    rules = alt.Chart(spans).mark_rule(color="#9e9e9e", strokeWidth=2).encode(x=x, x2="t_last", y=y)
    dots = (
        alt.Chart(points)
        .mark_circle(size=70, opacity=0.9)
        .encode(
            x=x,
            y=y,
            color=alt.Color(
                "level:N",
                scale=_level_scale(points["level"]),
                legend=alt.Legend(orient="top", direction="horizontal", title=None),
            ),
            tooltip=[
                alt.Tooltip("time:N"),
                alt.Tooltip("service:N"),
                alt.Tooltip("level:N"),
                alt.Tooltip("logger:N"),
                alt.Tooltip("message:N"),
            ],
        )
    )
    return alt.layer(rules, dots).properties(height=alt.Step(TRACE_ROW_STEP), **sizing).properties(autosize=FIT_WIDTH)
