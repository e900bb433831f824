"""The page's views: records, charts, patterns, trace, context. Each only calls the query layer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import altair as alt
import pandas as pd
import streamlit as st

from otel_logging.dashboard.filters import ERROR_LEVELS, LEVELS, UNSET_LEVEL, FieldRef, LogFilter, choose_bucket
from otel_logging.dashboard.query import Hit, LogSource
from otel_logging.dashboard.state import LOCAL_TIME_FORMAT, ViewState

LEVEL_COLOURS = {
    "TRACE": "#9e9e9e",
    "DEBUG": "#607d8b",
    "INFO": "#1e88e5",
    "WARN": "#f9a825",
    "ERROR": "#e53935",
    "FATAL": "#8e24aa",
    UNSET_LEVEL: "#bdbdbd",
}
_LEVEL_ORDER = [*LEVELS, UNSET_LEVEL]


def hit_time(hit: Hit, zone: ZoneInfo) -> str:
    stamp = hit.record.get("@timestamp")
    if not isinstance(stamp, str):
        return ""
    try:
        value = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    local = value.astimezone(zone)
    return local.strftime(LOCAL_TIME_FORMAT) + f".{local.microsecond // 1000:03d}"


def hits_frame(hits: list[Hit], zone: ZoneInfo, marked: str = "") -> pd.DataFrame:
    rows = [
        {
            **({"": "▶" if hit.ref == marked else ""} if marked else {}),
            "time": hit_time(hit, zone),
            "level": hit.level,
            "service": hit.record.get("service") or "",
            "logger": hit.record.get("logger") or "",
            "message": hit.message[:500],
            "trace_id": hit.record.get("trace_id", ""),
        }
        for hit in hits
    ]
    columns = [*([""] if marked else []), "time", "level", "service", "logger", "message", "trace_id"]
    return pd.DataFrame(rows, columns=columns)


_MARKDOWN_SPECIALS = str.maketrans({c: f"&#{ord(c)};" for c in "\\`*_{}[]()#+-.!|~<>&\"'$"})


def as_text(value: str) -> str:
    """``value`` for a markdown element, shown as typed (no markup, no HTML)."""
    return value.translate(_MARKDOWN_SPECIALS)


def summary(test_id: str, text: str) -> None:
    """A line of plain text (log data and URL values included) with a test id for browser tests."""
    st.markdown(f'<div data-testid="{test_id}">{as_text(text)}</div>', unsafe_allow_html=True)


def _level_style(level: str) -> str:
    colour = LEVEL_COLOURS.get(level, "#bdbdbd")
    return f"color: white; background-color: {colour}; font-weight: 600"


def show_hits(hits: list[Hit], zone: ZoneInfo, key: str, marked: str = "") -> Hit | None:
    """A level-coloured table of hits; returns the row the user selected."""
    frame = hits_frame(hits, zone, marked)
    styled = frame.style.map(_level_style, subset=["level"])
    event = st.dataframe(
        styled,
        key=key,
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        width="stretch",
        height=min(40 + 35 * len(hits), 720),
        column_config={"message": st.column_config.TextColumn(width="large")},
    )
    selected = event.selection.rows if event is not None else []
    if selected and 0 <= selected[0] < len(hits):
        return hits[selected[0]]
    return None


def record_detail(hit: Hit, key: str) -> None:
    """The whole record as JSON, with links to its trace and its context."""
    st.markdown(f"**Record** `{hit.ref}`")
    left, right, _ = st.columns([1, 1, 4])
    trace_id = hit.record.get("trace_id")
    if trace_id:
        left.button("Open trace", key=f"{key}_trace", on_click=_go, args=("trace", trace_id))
    if hit.ref:
        right.button("Show context", key=f"{key}_context", on_click=_go, args=("context", hit.ref))
    st.json(hit.record, expanded=True)


def _go(view: str, value: str) -> None:
    ss = st.session_state
    ss.w_view = view
    if view == "trace":
        ss.w_trace = value
    else:
        ss.w_ctx = value


def _set_page(page: int) -> None:
    st.session_state.w_page = max(1, page)


# -- records ----------------------------------------------------------------------------------


def records(source: LogSource, state: ViewState, flt: LogFilter) -> None:
    zone = state.zone()
    page = source.page(flt, offset=(state.page - 1) * state.size, limit=state.size)
    if page.total == 0:
        status = source.status()
        if status.records == 0:
            st.info(
                f"No log records yet ({status.description}). Start the service with "
                "`otel-logging serve --log-dir <this directory>` and let an app log something."
            )
        else:
            st.info("No records match these filters. Widen the time range or remove a filter.")
        return
    pages = max(1, -(-page.total // state.size))
    if state.page > pages:  # past the end (the data shrank, or a hand-made URL): show the last page
        state.page = pages
        st.session_state.w_page = pages
        page = source.page(flt, offset=(pages - 1) * state.size, limit=state.size)
    first = page.offset + 1
    last = page.offset + len(page.hits)
    summary(
        "records-summary",
        f"{page.total:,} records match · showing {first:,} to {last:,}, newest first · "
        f"page {state.page:,} of {pages:,}",
    )
    nav = st.columns([1, 1, 2, 4])
    nav[0].button("◀ Newer", key="page_prev", disabled=state.page <= 1, on_click=_set_page, args=(state.page - 1,))
    nav[1].button("Older ▶", key="page_next", disabled=state.page >= pages, on_click=_set_page, args=(state.page + 1,))
    nav[2].number_input("Page", min_value=1, max_value=pages, key="w_page", label_visibility="collapsed")
    selected = show_hits(page.hits, zone, key="records_table")
    _exports(source, flt)
    if selected is not None:
        record_detail(selected, key="records")


def _exports(source: LogSource, flt: LogFilter) -> None:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    left, right, _ = st.columns([1, 1, 4])
    left.download_button(
        "Export CSV",
        data=lambda: b"".join(source.export(flt, "csv")),
        file_name=f"logs-{stamp}.csv",
        mime="text/csv",
        key="export_csv",
    )
    right.download_button(
        "Export JSON lines",
        data=lambda: b"".join(source.export(flt, "jsonl")),
        file_name=f"logs-{stamp}.jsonl",
        mime="application/x-ndjson",
        key="export_jsonl",
    )


# -- charts -----------------------------------------------------------------------------------


def _wall_ms(value: datetime, zone: ZoneInfo) -> int:
    """Epoch milliseconds of the local wall time read as UTC (the charts draw a UTC scale)."""
    wall = value.astimezone(zone).replace(tzinfo=UTC)
    return int(wall.timestamp() * 1000)


def _from_wall_ms(ms: float, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=zone)


def charts(source: LogSource, state: ViewState, flt: LogFilter) -> None:
    zone = state.zone()
    low, high = source.time_bounds(flt)
    start = flt.start_utc or low
    end = flt.end_utc or (datetime.now(UTC) if flt.start_utc else (high + timedelta(seconds=1) if high else None))
    if start is None or end is None:
        st.info("No records match these filters.")
        return
    bucket = choose_bucket(start, end)
    volume = source.volume(flt, bucket)
    frame = pd.DataFrame(
        [
            {
                "t": _wall_ms(b.start, zone),
                "time": b.start.astimezone(zone).strftime(LOCAL_TIME_FORMAT),
                "level": b.level,
                "count": b.count,
            }
            for b in volume.buckets
        ],
        columns=["t", "time", "level", "count"],
    )
    st.caption(f"{_bucket_label(bucket)} buckets, times in {zone.key}. Drag across the bars to narrow the time range.")
    brush = alt.selection_interval(encodings=["x"], name="brush")
    colours = alt.Scale(domain=_LEVEL_ORDER, range=[LEVEL_COLOURS[lv] for lv in _LEVEL_ORDER])
    volume_chart = (
        alt.Chart(frame, title="Volume by level")
        .mark_bar()
        .encode(
            x=alt.X("t:T", title=None, scale=alt.Scale(type="utc")),
            y=alt.Y("sum(count):Q", title="records"),
            color=alt.Color("level:N", scale=colours, sort=_LEVEL_ORDER),
            order=alt.Order("level:N"),
            tooltip=["time:N", "level:N", "count:Q"],
        )
        .add_params(brush)
        .properties(height=260)
    )
    st.altair_chart(volume_chart, key="volume_chart", on_select=_narrow_to_brush, width="stretch")
    if not frame.empty:
        totals = frame.groupby("t")["count"].sum()
        errors = frame[frame["level"].isin(ERROR_LEVELS)].groupby("t")["count"].sum()
        rate = (errors.reindex(totals.index, fill_value=0) / totals * 100).reset_index(name="error %")
        st.altair_chart(
            alt.Chart(rate, title="Error rate (ERROR + FATAL)")
            .mark_line(point=True, color=LEVEL_COLOURS["ERROR"])
            .encode(x=alt.X("t:T", title=None, scale=alt.Scale(type="utc")), y=alt.Y("error %:Q"))
            .properties(height=180),
            width="stretch",
        )
    left, right = st.columns(2)
    for column, fld, title in ((left, "logger", "Top loggers"), (right, "service", "Top services")):
        top = source.top_values(flt, FieldRef(fld), limit=10)
        data = pd.DataFrame([{"name": v.value, "count": v.count} for v in top], columns=["name", "count"])
        column.altair_chart(
            alt.Chart(data, title=title)
            .mark_bar()
            .encode(x="count:Q", y=alt.Y("name:N", sort="-x", title=None), tooltip=["name", "count"])
            .properties(height=40 + 26 * max(len(data), 1)),
            width="stretch",
        )


def _narrow_to_brush() -> None:
    ss = st.session_state
    event = ss.get("volume_chart") or {}
    interval = ((event.get("selection") or {}).get("brush") or {}).get("t")
    if not interval or len(interval) != 2:
        return
    zone = ZoneInfo(ss.get("w_tz") or "UTC")
    start, end = sorted(_from_wall_ms(float(v), zone) for v in interval)
    ss.w_range = "abs"
    ss.w_start = start.strftime(LOCAL_TIME_FORMAT)
    ss.w_end = (end + timedelta(seconds=1)).strftime(LOCAL_TIME_FORMAT)


def _bucket_label(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}" + ("s" if count > 1 else "")
    return f"{seconds} second" + ("s" if seconds > 1 else "")


# -- patterns ---------------------------------------------------------------------------------


def patterns(source: LogSource, state: ViewState, flt: LogFilter) -> None:
    zone = state.zone()
    groups = source.patterns(flt, limit=100)
    if not groups:
        st.info("No records match these filters.")
        return
    st.caption("Messages grouped by template (numbers, ids, hex, UUIDs, quoted strings masked); fastest growing first.")

    def fmt(value: datetime | None) -> str:
        return value.astimezone(zone).strftime(LOCAL_TIME_FORMAT) if value else ""

    frame = pd.DataFrame(
        [
            {
                "template": g.template,
                "count": g.count,
                "growth": g.growth,
                "first seen": fmt(g.first_seen),
                "last seen": fmt(g.last_seen),
                "example": g.example[:300],
            }
            for g in groups
        ]
    )
    st.dataframe(frame, hide_index=True, width="stretch", key="patterns_table")


# -- trace and context ------------------------------------------------------------------------


def trace(source: LogSource, state: ViewState) -> None:
    st.text_input("Trace id", key="w_trace", placeholder="32 hex digits")
    if not state.trace.strip():
        st.info("Enter a trace id, or open one from a record.")
        return
    hits = source.trace(state.trace)
    if not hits:
        st.info(f"No record carries trace id {as_text(state.trace.strip())}.")
        return
    services = sorted({h.record.get("service") or "" for h in hits})
    span = _duration(hits)
    summary(
        "trace-summary",
        f"Trace {state.trace.strip()}: {len(hits):,} records from {len(services)} service(s) "
        f"({', '.join(services)}){span}, oldest first",
    )
    selected = show_hits(hits, state.zone(), key="trace_table")
    if selected is not None:
        record_detail(selected, key="trace")


def _duration(hits: list[Hit]) -> str:
    try:
        first = datetime.fromisoformat(hits[0].record["@timestamp"])
        last = datetime.fromisoformat(hits[-1].record["@timestamp"])
    except (KeyError, TypeError, ValueError):
        return ""
    return f" over {(last - first).total_seconds() * 1000:,.1f} ms"


def context(source: LogSource, state: ViewState) -> None:
    left, right = st.columns([3, 1])
    left.text_input("Record", key="w_ctx", placeholder="<file name>:<row> (files) or <index>/<id> (Elasticsearch)")
    around = right.number_input("Records before and after", min_value=1, max_value=500, value=10, key="ctx_n")
    if not state.ctx.strip():
        st.info("Open a record's context from the records view.")
        return
    hits = source.context(state.ctx.strip(), before=int(around), after=int(around))
    order = "its file's order" if ":" in state.ctx else "time order within its service"
    st.caption(f"{len(hits)} records around {as_text(state.ctx)} in {order}; ▶ marks the record.")
    selected = show_hits(hits, state.zone(), key="context_table", marked=state.ctx.strip())
    if selected is not None:
        record_detail(selected, key="context")
