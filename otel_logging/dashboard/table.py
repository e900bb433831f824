"""The records table: chosen columns, a selection that follows its record, click-to-filter on a cell.

Streamlit reports a table selection as row positions in the table the user clicked. The rows
under a position change when records arrive, so a position is turned into the record's ref at
once (with the refs of the table as it was drawn), and each new drawing selects the row where
that record now is. A clicked cell offers to include or exclude its value.

The page never sets a table's selection through the session state: the browser can send the
selection it held before such a change with its next rerun (a Live tick fired before the change
reached it), and that old selection would read as a click. When the selection to show is not
the one the browser shows, the table is drawn under a new widget key (``<key>-<n>``) with that
selection as its default; an old key's report is then of a table no longer drawn, and whatever
the current key reports differently from its default is the user's doing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pandas as pd
import streamlit as st

from otel_logging.dashboard.charts import LEVEL_COLOURS
from otel_logging.dashboard.filters import FilterError, parse_field
from otel_logging.dashboard.query import Hit
from otel_logging.dashboard.state import hit_time

BASE_COLUMNS: tuple[str, ...] = ("time", "level", "service", "logger", "message")
EXCEPTION_TYPE = "exception.type"
# Table columns that stand for a record field (the rest are fields named as such).
COLUMN_FIELDS: dict[str, str] = {
    "level": "level",
    "service": "service",
    "logger": "logger",
    "trace_id": "trace_id",
    "exception": f"attributes.{EXCEPTION_TYPE}",
}
MARK = "▶"


def as_cell(value: Any) -> str:
    """A field value as the table shows it (text as is, anything else as compact JSON)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def field_value(hit: Hit, name: str) -> Any:
    """The value of a field named as in a field filter (``service``, ``attributes.http.status_code``)."""
    if name == "level":
        return hit.level
    if name in ("message", "body"):
        return hit.message
    try:
        ref = parse_field(name)
    except FilterError:
        return None
    if not ref.key:
        return hit.record.get(ref.column)
    values = hit.record.get(ref.column)
    if not isinstance(values, dict):
        return None
    if ref.key in values:
        return values[ref.key]
    node: Any = values
    for part in ref.key.split("."):  # a nested map: attributes {"http": {"status": 200}}
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def columns_for(hits: Sequence[Hit], extra: Sequence[str]) -> list[str]:
    """The table's columns: time, level, service, logger, message, the exception type when a row
    has one, the trace id when a row has one, then the columns the user added."""
    columns = list(BASE_COLUMNS)
    if any(EXCEPTION_TYPE in (hit.record.get("attributes") or {}) for hit in hits):
        columns.append("exception")
    if any(hit.record.get("trace_id") for hit in hits):
        columns.append("trace_id")
    columns += [name for name in extra if name not in columns and name not in COLUMN_FIELDS.values()]
    return columns


def hits_frame(hits: Sequence[Hit], zone: ZoneInfo, columns: Sequence[str], marked: str = "") -> pd.DataFrame:
    def cell(hit: Hit, column: str) -> str:
        if column == "time":
            return hit_time(hit, zone)
        if column == "message":
            return hit.message[:500]
        return as_cell(field_value(hit, COLUMN_FIELDS.get(column, column)))[:300]

    names = [*([""] if marked else []), *columns]
    rows = [[*([MARK if h.ref == marked else ""] if marked else []), *(cell(h, c) for c in columns)] for h in hits]
    return pd.DataFrame(rows, columns=names)


def _level_style(level: str) -> str:
    colour = LEVEL_COLOURS.get(level, "#bdbdbd")
    return f"color: white; background-color: {colour}; font-weight: 600"


@dataclass(frozen=True)
class CellPick:
    """A clicked cell: the field it shows and its value (what include / exclude would filter on)."""

    field: str
    value: str


@dataclass(frozen=True)
class TablePick:
    """What the user picked in a table: the selected record's ref ("" for none), and a clicked cell."""

    ref: str
    cell: CellPick | None


def take_pick(key: str, selected: str) -> TablePick:
    """What the user clicked in table ``key`` since it was drawn, read against the rows then drawn.

    ``selected`` is the ref the selection follows so far; it stays unless a row was clicked
    (another ref) or unselected (""). A clicked cell is kept until the next click.
    """
    ss = st.session_state
    drawn: list[Hit] = ss.get(f"{key}__hits", [])
    reported = ss.get(_widget_key(key))
    current = _selection_of(reported)
    ref = selected
    if reported is not None and current != ss.get(f"{key}__seen"):  # the user clicked since the last drawing
        rows, cells = current
        if rows:
            ref = drawn[rows[0]].ref if rows[0] < len(drawn) else selected
        elif not cells:
            ref = ""  # the row was unselected
        ss[f"{key}__cell"] = _cell_pick(drawn[cells[0][0]], cells[0][1]) if cells and cells[0][0] < len(drawn) else None
    return TablePick(ref, ss.get(f"{key}__cell"))


def draw_hits(
    hits: Sequence[Hit],
    zone: ZoneInfo,
    key: str,
    *,
    selected: str = "",
    extra_columns: Sequence[str] = (),
    marked: str = "",
) -> None:
    """A level-coloured table of ``hits`` with the row of record ``selected`` selected."""
    ss = st.session_state
    frame = hits_frame(hits, zone, columns_for(hits, extra_columns), marked)
    refs = [hit.ref for hit in hits]
    current = _selection_of(ss.get(_widget_key(key)))
    shown = ([refs.index(selected)] if selected in refs else [], current[1])  # a clicked cell stays clicked
    generation = ss.get(f"{key}__gen", 0) + (current != shown)  # another selection to show: a new table shows it
    styled = frame.style.map(_level_style, subset=["level"])
    st.dataframe(
        styled,
        key=f"{key}-{generation}",
        on_select="rerun",
        selection_default={"selection": {"rows": shown[0], "columns": [], "cells": shown[1]}},
        selection_mode=["single-row", "single-cell"],
        hide_index=True,
        width="stretch",
        height=min(40 + 35 * len(hits), 720),
        column_config={"message": st.column_config.TextColumn(width="large")},
    )
    # Kept only once the table is on its way to the browser: a click (or a Live tick) that stops this run
    # earlier leaves the browser with the table drawn before, and so must a click be read against it.
    ss[f"{key}__gen"] = generation
    ss[f"{key}__hits"] = list(hits)
    ss[f"{key}__seen"] = shown


def _widget_key(key: str) -> str:
    """The widget key table ``key`` is drawn under now (a new one each time the page changes its selection)."""
    return f"{key}-{st.session_state.get(f'{key}__gen', 0)}"


def _selection_of(event: Any) -> tuple[list[int], list[tuple[int, str]]]:
    selection = (event or {}).get("selection") or {}
    rows = [int(r) for r in selection.get("rows") or []]
    cells = [(int(c[0]), str(c[1])) for c in selection.get("cells") or []]
    return rows, cells


def _cell_pick(hit: Hit, column: str) -> CellPick | None:
    if column in ("", "time", "message"):
        return None
    name = COLUMN_FIELDS.get(column, column)
    value = field_value(hit, name)
    if value is None or isinstance(value, dict | list):
        return None
    return CellPick(name, as_cell(value))
