"""What the page's buttons do to its state, run as Streamlit callbacks (before the page redraws).

Including or excluding a value picks it in the matching sidebar widget where there is one
(levels, services, loggers) and otherwise adds a ``field=value`` / ``field!=value`` line to the
field filters, so every filter stays visible and removable in the sidebar.
"""

from __future__ import annotations

import streamlit as st

from otel_logging.dashboard.filters import LEVELS, UNSET_LEVEL

_PICKERS = {"level": "w_levels", "service": "w_services", "logger": "w_loggers"}


def include(field: str, value: str) -> None:
    ss = st.session_state
    picker = _PICKERS.get(field)
    if picker is not None:
        picked = list(ss.get(picker) or [])
        if value not in picked:
            ss[picker] = [*picked, value]
        return
    _add_match(f"{field}={value}", f"{field}!={value}")


def exclude(field: str, value: str) -> None:
    ss = st.session_state
    if field == "level":
        picked = list(ss.get("w_levels") or [*LEVELS, UNSET_LEVEL])
        ss.w_levels = [level for level in picked if level != value]
        return
    picker = _PICKERS.get(field)
    if picker is not None and value in (ss.get(picker) or []):
        ss[picker] = [v for v in ss[picker] if v != value]
        return
    _add_match(f"{field}!={value}", f"{field}={value}")


def _add_match(text: str, opposite: str) -> None:
    ss = st.session_state
    lines = [line for line in (ss.get("w_matches") or "").splitlines() if line.strip() and line.strip() != opposite]
    if text not in lines:
        lines.append(text)
    ss.w_matches = "\n".join(lines)


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


def show_newest() -> None:
    """Leave the page being read: back to page 1, no selection, the newest records."""
    ss = st.session_state
    ss.w_page = 1
    ss.w_sel = ""
    ss.pop("snapshot", None)
