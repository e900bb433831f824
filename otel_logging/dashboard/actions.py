"""What the page's buttons do to its state, run as Streamlit callbacks (before the page redraws).

Including or excluding a value, and picking in the sidebar, edit the query bar's text
(``query_edit``): the query is the page's one filter state, visible and editable in one place.
"""

from __future__ import annotations

import streamlit as st

from otel_logging.dashboard import query_edit


def include(field: str, value: str) -> None:
    ss = st.session_state
    ss.w_query = query_edit.include(ss.get("w_query") or "", field, value)


def exclude(field: str, value: str) -> None:
    ss = st.session_state
    ss.w_query = query_edit.exclude(ss.get("w_query") or "", field, value)


def pick(field: str, key: str) -> None:
    """A sidebar picker changed: its field's clause in the query becomes the picked values."""
    ss = st.session_state
    ss.w_query = query_edit.set_picked(ss.get("w_query") or "", field, list(ss.get(key) or []))


def go(view: str, value: str) -> None:
    """Open the trace view on a trace id, or the context view around a record ref."""
    ss = st.session_state
    ss.w_view = view
    if view == "trace":
        ss.w_trace = value
    else:
        ss.w_ctx = value


def set_page(page: int) -> None:
    st.session_state.w_page = max(1, page)


def page_typed(key: str, shown: int) -> None:
    """A page number typed into the box of page ``shown`` (widget ``key``). The browser also reports the boxes of
    pages shown before, with their old numbers: only the box of the page on screen changes the page."""
    ss = st.session_state
    if ss.get("w_page") == shown:
        set_page(int(ss[key]))


def show_newest() -> None:
    """Leave the page being read: back to page 1, no selection, the newest records."""
    ss = st.session_state
    ss.w_page = 1
    ss.w_sel = ""
    ss.pop("snapshot", None)
