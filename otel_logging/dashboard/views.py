"""The page's views: records, charts, patterns, trace, context. Each only calls the query layer.

A view the user is reading does not move under them: the records view reads the source as of a
snapshot, taken anew when the filter changes or when the user is at the newest records (page 1,
nothing selected, where Live follows the tail); while they read an older page or a record, new
records are counted and announced, not forced in.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from otel_logging.dashboard import actions, charts
from otel_logging.dashboard.filters import FieldRef, LogFilter, choose_bucket
from otel_logging.dashboard.query import Hit, LogSource
from otel_logging.dashboard.record_view import filter_buttons, record_detail
from otel_logging.dashboard.state import LOCAL_TIME_FORMAT, ViewState
from otel_logging.dashboard.table import TablePick, draw_hits, take_pick
from otel_logging.dashboard.text import as_text, plural, summary


def _time_span(source: LogSource, flt: LogFilter) -> tuple[datetime, datetime] | None:
    """The time range the charts cover: the filter's, else the matching records' (to now for an open end).
    With a start, the records are not asked (a search over the whole range saves a pass)."""
    if flt.start_utc is not None:
        return flt.start_utc, flt.end_utc or datetime.now(UTC)
    low, high = source.time_bounds(flt)
    end = flt.end_utc or (high + timedelta(seconds=1) if high else None)
    if low is None or end is None:
        return None
    return low, end


def _volume(
    source: LogSource,
    flt: LogFilter,
    zone: ZoneInfo,
    key: str,
    *,
    error_rate: bool,
    height: int,
    title: str | None = None,
) -> bool:
    """The volume histogram (brushable: a drag narrows the time range); False when nothing matches."""
    span = _time_span(source, flt)
    if span is None:
        return False
    bucket = choose_bucket(*span)
    volume = source.volume(flt, bucket)
    chart = charts.volume_chart(volume, span[0], span[1], zone, error_rate=error_rate, height=height, title=title)
    st.altair_chart(chart, key=key, on_select=functools.partial(_narrow_to_brush, key), width="stretch")
    st.caption(f"{_bucket_label(bucket)} buckets, times in {zone.key}. Drag across the bars to narrow the time range.")
    return True


def _narrow_to_brush(key: str) -> None:
    ss = st.session_state
    event = ss.get(key) or {}
    interval = ((event.get("selection") or {}).get("brush") or {}).get("t")
    if not interval or len(interval) != 2:
        return
    zone = ZoneInfo(ss.get("w_tz") or "UTC")
    start, end = sorted(charts.from_wall_ms(float(v), zone) for v in interval)
    ss.w_range = "abs"
    ss.w_start = start.strftime(LOCAL_TIME_FORMAT)
    ss.w_end = (end + timedelta(seconds=1)).strftime(LOCAL_TIME_FORMAT)


def _bucket_label(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}" + ("s" if count > 1 else "")
    return f"{seconds} second" + ("s" if seconds > 1 else "")


def _cell_actions(pick: TablePick, key: str) -> None:
    if pick.cell is not None:
        filter_buttons(pick.cell.field, pick.cell.value, key=f"{key}_cell")


def _detail(source: LogSource, hits: list[Hit], ref: str, key: str) -> None:
    """The selected record: as it is on the page, as it was when selected, or (a shared link) as the source has it.

    A file ref names a row of a file, and after a rotation the same name and row is another record;
    the record kept from the click is what the user chose.
    """
    ss = st.session_state
    if not ref:
        return
    kept: Hit | None = ss.get(f"{key}__hit")
    hit = next((h for h in hits if h.ref == ref), None)
    if hit is None:
        hit = kept if kept is not None and kept.ref == ref else source.hit(ref)
    if hit is None:
        st.info(f"Record {as_text(ref)} is no longer in the logs (rotated away or deleted).")
        return
    ss[f"{key}__hit"] = hit
    record_detail(hit, key=key)


# -- records ----------------------------------------------------------------------------------


def _snapshot(source: LogSource, state: ViewState, reading: bool) -> tuple[tuple[object, ...], int]:
    """The snapshot the page reads, with its filter: kept while the user reads (an older page, a record), else the
    newest. The caller keeps it (``ss.snapshot``) once the table read with it is drawn (see ``records``)."""
    signature = state.filter_signature()
    kept = st.session_state.get("snapshot")
    if kept is None or kept[0] != signature or not reading:
        return signature, source.snapshot()
    return kept[0], int(kept[1])


def records(source: LogSource, state: ViewState, flt: LogFilter) -> None:
    ss = st.session_state
    zone = state.zone()
    pick = take_pick("records_table", state.sel)
    state.sel = ss.w_sel = pick.ref
    snapshot = _snapshot(source, state, reading=state.page > 1 or bool(pick.ref))
    token = snapshot[1]
    pinned = replace(flt, until=token)
    page = source.page(pinned, offset=(state.page - 1) * state.size, limit=state.size)
    newer = source.newer_than(flt, token)  # asked once: Elasticsearch has no answer cache
    if page.total == 0 and not newer:
        _nothing(source)
        return
    _volume(source, pinned, zone, "records_volume", error_rate=False, height=90)
    pages = max(1, -(-page.total // state.size))
    if state.page > pages:  # past the end (the data shrank, or a hand-made URL): show the last page
        state.page = ss.w_page = pages
        page = source.page(pinned, offset=(pages - 1) * state.size, limit=state.size)
    first = page.offset + 1 if page.hits else 0
    last = page.offset + len(page.hits)
    verb = "matches" if page.total == 1 else "match"
    summary(
        "records-summary",
        f"{plural(page.total, 'record')} {verb} · showing {first:,} to {last:,}, newest first · "
        f"page {state.page:,} of {pages:,}",
    )
    if newer:
        left, right = st.columns([4, 1])
        with left:
            summary("records-newer", f"{plural(newer, 'new record')} since this page was read")
        right.button("Show newest", key="show_newest", on_click=actions.show_newest)
    nav = st.columns([1, 1, 2, 4])
    nav[0].button(
        "◀ Newer", key="page_prev", disabled=state.page <= 1, on_click=actions.set_page, args=(state.page - 1,)
    )
    nav[1].button(
        "Older ▶", key="page_next", disabled=state.page >= pages, on_click=actions.set_page, args=(state.page + 1,)
    )
    # Keyed by the page it shows, not w_page: a Live tick can carry the browser's value from before "Older" or
    # "Show newest" changed the page, and that old value would turn the page back (see table.py on selections).
    typed = f"page_input_{state.page}"
    nav[2].number_input(
        "Page",
        min_value=1,
        max_value=pages,
        value=state.page,
        key=typed,
        on_change=actions.page_typed,
        args=(typed, state.page),
        label_visibility="collapsed",
    )
    _columns_chooser(source, flt, state)
    draw_hits(page.hits, zone, "records_table", selected=pick.ref, extra_columns=state.cols)
    # Kept only now: a run stopped earlier (by a click, or a Live tick) never showed its rows, and the page the
    # user reads is the one drawn before, so is the snapshot a selection or an older page holds still.
    ss.snapshot = snapshot
    _cell_actions(pick, "records")
    _exports(source, pinned)
    _detail(source, page.hits, pick.ref, key="records")


def _nothing(source: LogSource) -> None:
    status = source.status()
    if status.records == 0:
        st.info(
            f"No log records yet ({status.description}). Records appear here as the service writes them: "
            "`make run` starts it; otherwise run `otel-logging serve --log-dir <this directory>`. "
            "Then let an app log, e.g. `otel_logging.setup(service_name='my-app')` and `logging.warning('hello')`."
        )
    else:
        st.info("No records match these filters. Widen the time range or remove a filter.")


def _columns_chooser(source: LogSource, flt: LogFilter, state: ViewState) -> None:
    names = [n for n in source.field_names(flt) if "." in n]  # attributes.* and resource.*
    st.multiselect(
        "Columns",
        names + [n for n in state.cols if n not in names],
        key="w_cols",
        placeholder="add attribute or resource columns",
        help="Fields shown as table columns, besides time, level, service, logger and message.",
    )


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


def charts_view(source: LogSource, state: ViewState, flt: LogFilter) -> None:
    zone = state.zone()
    if not _volume(source, flt, zone, "volume_chart", error_rate=True, height=220, title="Volume by level"):
        st.info("No records match these filters.")
        return
    left, right = st.columns(2)
    for column, fld, title in ((left, "service", "Top services"), (right, "logger", "Top loggers")):
        top = source.top_values(flt, FieldRef(fld), limit=10)
        column.altair_chart(charts.top_values_chart(top, title), key=f"top_{fld}", width="stretch")


# -- patterns ---------------------------------------------------------------------------------


def patterns(source: LogSource, state: ViewState, flt: LogFilter) -> None:
    zone = state.zone()
    groups = source.patterns(flt, limit=100)
    if not groups:
        st.info("No records match these filters.")
        return
    st.caption(
        "Messages grouped by template (numbers, ids, hex, UUIDs, addresses, e-mails, times and quoted strings "
        "masked); fastest growing first. growth: the template's records in the second half of the time range "
        "minus those in the first half (negative: fading)."
    )

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
    summary(
        "trace-summary",
        f"Trace {state.trace.strip()}: {plural(len(hits), 'record')} from {plural(len(services), 'service')} "
        f"({', '.join(services)}){_duration(hits)}, oldest first",
    )
    st.altair_chart(charts.trace_waterfall(hits, state.zone()), key="trace_chart", width="stretch")
    pick = take_pick("trace_table", st.session_state.get("trace_sel", ""))
    st.session_state.trace_sel = pick.ref
    draw_hits(hits, state.zone(), "trace_table", selected=pick.ref)
    _cell_actions(pick, "trace")
    _detail(source, hits, pick.ref, key="trace")


def _duration(hits: list[Hit]) -> str:
    try:
        first = datetime.fromisoformat(hits[0].record["@timestamp"])
        last = datetime.fromisoformat(hits[-1].record["@timestamp"])
    except (KeyError, TypeError, ValueError):
        return ""
    return f" over {(last - first).total_seconds() * 1000:,.1f} ms"


def context(source: LogSource, state: ViewState) -> None:
    left, middle, right = st.columns([3, 1, 1])
    left.text_input("Record", key="w_ctx", placeholder="<file name>:<row> (files) or <index>/<id> (Elasticsearch)")
    around = middle.number_input("Records before and after", min_value=1, max_value=500, value=10, key="ctx_n")
    right.toggle("Every service", key="w_ctx_all", help="off: only the record's own service")
    ref = state.ctx.strip()
    if not ref:
        st.info("Open a record's context from the records view.")
        return
    hits = source.context(ref, before=int(around), after=int(around), same_service=not state.ctx_all)
    scope = "every service" if state.ctx_all else "its service"
    st.caption(f"{plural(len(hits), 'record')} around {as_text(ref)} in time order, from {scope}; ▶ marks the record.")
    pick = take_pick("context_table", st.session_state.get("context_sel", ""))
    st.session_state.context_sel = pick.ref
    draw_hits(hits, state.zone(), "context_table", selected=pick.ref, marked=ref)
    _cell_actions(pick, "context")
    _detail(source, hits, pick.ref, key="context")
