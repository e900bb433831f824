"""One record, opened from a table: its exception as a readable traceback, its fields with
include / exclude buttons, the whole record as JSON, and links to its trace and its context."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import streamlit as st

from otel_logging.dashboard import actions
from otel_logging.dashboard.query import Hit
from otel_logging.dashboard.table import as_cell
from otel_logging.dashboard.text import as_text, summary

TOP_FIELDS: tuple[str, ...] = (
    "@timestamp",
    "observed_timestamp",
    "severity_text",
    "severity_number",
    "service",
    "logger",
    "trace_id",
    "span_id",
    "event_name",
    "scope_version",
)


def record_fields(hit: Hit) -> Iterator[tuple[str, Any]]:
    """``(field name, value)`` of every scalar field, named as a field filter names it."""
    yield "level", hit.level
    for name in TOP_FIELDS:
        if hit.record.get(name) is not None:
            yield name, hit.record[name]
    yield "body", hit.record.get("body")
    for column in ("attributes", "resource", "scope_attributes"):
        yield from _flatten(column, hit.record.get(column))


def _flatten(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _flatten(f"{prefix}.{key}", inner)
    elif value is not None:
        yield prefix, value


def record_detail(hit: Hit, key: str) -> None:
    """The record the user selected."""
    summary("record-ref", f"Record {hit.ref}")
    links = []
    trace_id = hit.record.get("trace_id")
    if trace_id:
        links.append(("Open trace", "trace", trace_id))
    if hit.ref:
        links.append(("Show context", "context", hit.ref))
    for column, (label, view, value) in zip(st.columns([1, 1, 4]), links, strict=False):
        column.button(label, key=f"{key}_{view}", on_click=actions.go, args=(view, value))
    exception(hit)
    fields_tab, json_tab = st.tabs(["Fields", "JSON"])
    with fields_tab:
        _fields(hit, key)
    with json_tab:
        st.json(hit.record, expanded=True)


def exception(hit: Hit) -> None:
    """``exception.type: exception.message`` and the traceback as it was printed."""
    attributes = hit.record.get("attributes") or {}
    kind, message, stack = (attributes.get(f"exception.{part}") for part in ("type", "message", "stacktrace"))
    if not (kind or stack):
        return
    heading = ": ".join(str(part) for part in (kind, message) if part)
    summary("record-exception", f"Exception {heading}")
    if isinstance(stack, str) and stack.strip():
        st.code(stack.rstrip("\n"), language="python", line_numbers=False)


def _fields(hit: Hit, key: str) -> None:
    """A table of the record's fields; select one to include or exclude its value."""
    fields = [(name, value) for name, value in record_fields(hit) if not isinstance(value, dict | list)]
    frame = pd.DataFrame([{"field": n, "value": as_cell(v)[:500]} for n, v in fields], columns=["field", "value"])
    event = st.dataframe(
        frame,
        key=f"{key}_fields_{hit.ref}",
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        width="stretch",
        height=min(40 + 35 * len(frame), 420),
        column_config={"value": st.column_config.TextColumn(width="large")},
    )
    rows = event.selection.rows if event is not None else []
    if not rows or rows[0] >= len(fields):
        st.caption("Select a field to filter on its value.")
        return
    name, value = fields[rows[0]]
    filter_buttons(name, as_cell(value), key=f"{key}_field")


def filter_buttons(name: str, value: str, key: str) -> None:
    """``name = value`` with Include and Exclude buttons."""
    shown = value if len(value) <= 80 else value[:77] + "..."
    left, middle, right = st.columns([4, 1, 1])
    left.markdown(f"{as_text(name)} = **{as_text(shown)}**")
    middle.button("Include", key=f"{key}_include", on_click=actions.include, args=(name, value), icon=":material/add:")
    right.button(
        "Exclude", key=f"{key}_exclude", on_click=actions.exclude, args=(name, value), icon=":material/remove:"
    )
