"""The Streamlit page: sidebar filters kept in the URL, then one view (records, charts, patterns, trace, context).

Configuration comes from the environment set by ``otel-logging dashboard``:
``OTEL_LOGGING_DASHBOARD_LOG_DIR``, ``OTEL_LOGGING_DASHBOARD_ES_URL`` and, optionally,
``OTEL_LOGGING_DASHBOARD_PASSWORD``. The page reads logs only through the query layer.
"""

from __future__ import annotations

import functools
import hmac
import os
import urllib.parse
import zoneinfo
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import streamlit as st

from otel_logging.dashboard import actions, alerts_panel, query_edit, saved_views, views
from otel_logging.dashboard.filters import (
    LEVELS,
    PRESET_LABELS,
    UNSET_LEVEL,
    FieldRef,
    FilterError,
    LogFilter,
    parse_field,
)
from otel_logging.dashboard.query import LogSource, QueryError, SourceStatus
from otel_logging.dashboard.querylang import QuerySyntaxError, parse
from otel_logging.dashboard.sources import held, open_source
from otel_logging.dashboard.state import LEGACY_FILTERS, PAGE_SIZES, VIEWS, ViewState
from otel_logging.dashboard.text import as_text
from otel_logging.store import MEMORY_LIMIT

ENV_LOG_DIR = "OTEL_LOGGING_DASHBOARD_LOG_DIR"
ENV_STORE = "OTEL_LOGGING_DASHBOARD_STORE"
ENV_ES_URL = "OTEL_LOGGING_DASHBOARD_ES_URL"
ENV_PASSWORD = "OTEL_LOGGING_DASHBOARD_PASSWORD"
PROGRESS_MIN_BYTES = 32 << 20
VIEW_LABELS = {"records": "Records", "charts": "Charts", "patterns": "Patterns", "trace": "Trace", "context": "Context"}


@dataclass(frozen=True)
class DashboardConfig:
    log_dir: Path
    es_url: str | None
    password: str | None
    store: Path | None = None  # the log store's file; None: the files are read into memory

    @classmethod
    def from_env(cls) -> DashboardConfig:
        return cls(
            log_dir=Path(os.environ.get(ENV_LOG_DIR, "logs")),
            es_url=os.environ.get(ENV_ES_URL) or None,
            password=os.environ.get(ENV_PASSWORD) or None,
            store=Path(os.environ[ENV_STORE]) if os.environ.get(ENV_STORE) else None,
        )


@st.cache_resource(show_spinner="Opening the log store ...")
def _cached_source(kind: str, log_dir: str, es_url: str | None, store: str | None = None) -> LogSource:
    if kind == "es":
        return open_source(es_url=es_url)
    shared = held(log_dir, store)  # opened by this process for its alerts: one store, one holder
    if shared is not None:
        return shared
    if store:
        return open_source(log_dir=Path(log_dir), store=Path(store), memory_limit=MEMORY_LIMIT)
    return open_source(log_dir=Path(log_dir))


def main() -> None:
    st.set_page_config(page_title="otel-logging logs", layout="wide")
    config = DashboardConfig.from_env()
    if config.password and not _signed_in(config.password):
        return
    _load_state_once(config)
    _keep_widget_values()
    ss = st.session_state
    try:
        source = _cached_source(
            ss.w_source, str(config.log_dir), config.es_url, str(config.store) if config.store else None
        )
    except QueryError as exc:
        st.error(str(exc))
        return
    try:
        status = _refresh_with_progress(source)
    except QueryError as exc:
        st.error(str(exc))
        status = source.status()
    _sidebar(config, source)
    state = _state_from_widgets()
    _write_url(state)  # again after the view, which may select a record
    for problem in status.problems:
        st.warning(problem)
    st.text_input(
        "Query",
        key="w_query",
        placeholder='service:checkout AND level:error  ·  duration_ms > 500  ·  "payment failed"  ·  -logger:health*',
        help="Fields, comparisons, AND / OR / NOT, wildcards, /regex/; bare words search the message. "
        "See the query language page of the documentation.",
    )
    st.segmented_control(
        "View", VIEWS, key="w_view", format_func=VIEW_LABELS.get, label_visibility="collapsed", on_change=_keep_view
    )
    if state.live and state.view in ("records", "charts"):
        # Pause lives outside the fragment: a button the fragment redraws every tick can lose its click.
        st.button("Pause", on_click=_pause_live, key="pause_live", help="stop refreshing (Live in the sidebar)")
        st.fragment(run_every=f"{state.every}s")(_live_view)(source)
    else:
        st.caption(_status_line(status, state))
        _render_view(source, state)
        _write_url(_state_from_session())


def _refresh_with_progress(source: LogSource) -> SourceStatus:
    """Read what is new; a large read (the first one over big files) shows a progress bar."""
    slot = st.empty()

    def show(done: int, total: int) -> None:
        if total >= PROGRESS_MIN_BYTES:
            slot.progress(min(done / total, 1.0), text=f"Reading log files: {done / 1e6:,.0f} of {total / 1e6:,.0f} MB")

    status = source.refresh(progress=show)
    slot.empty()
    return status


def _live_view(source: LogSource) -> None:
    """One tick of Live: read what was appended, then the view, with the state as it is now (a click
    inside the fragment, say "Older", reruns only the fragment: its arguments would be stale)."""
    state = _state_from_session()
    status = source.refresh()
    st.caption(f"Live: refreshing every {state.every} s · {_status_line(status, state)}")
    _render_view(source, state)
    _write_url(_state_from_session())


def _render_view(source: LogSource, state: ViewState) -> None:
    """The chosen view; a filter that cannot be applied is an error in its place (the tabs stay)."""
    try:
        if state.view in ("records", "charts", "patterns"):
            parse(state.query, state.zone())  # a mistake in the query bar is shown with its position, not "no records"
        flt = state.to_filter()
        if state.view == "records":
            views.records(source, state, flt)
        elif state.view == "charts":
            views.charts_view(source, state, flt)
        elif state.view == "patterns":
            views.patterns(source, state, flt)
        elif state.view == "trace":
            views.trace(source, state)
        elif state.view == "context":
            views.context(source, state)
    except QuerySyntaxError as exc:
        show_query_error(exc)
    except (QueryError, FilterError) as exc:
        st.error(str(exc))


def show_query_error(exc: QuerySyntaxError) -> None:
    """The mistake, and the query with a caret under it."""
    st.error(f"Query error at column {exc.column}: {exc.message}")
    st.code(exc.caret(), language=None)


def _signed_in(password: str) -> bool:
    if st.session_state.get("signed_in"):
        return True
    st.title("otel-logging")
    typed = st.text_input("Password", type="password", key="password_input")
    if typed and hmac.compare_digest(typed.encode(), password.encode()):
        st.session_state.signed_in = True
        st.rerun()
    if typed:
        st.error("Wrong password.")
    return False


# -- state: URL <-> widgets -------------------------------------------------------------------


def _keep_widget_values() -> None:
    """Streamlit forgets the value of a widget that a run does not draw (the field-values picker under a bad query,
    the columns chooser outside Records); set again at the start of each run, the values outlive such a run."""
    ss = st.session_state
    for name in vars(ViewState()):
        key = f"w_{name}"
        if key in ss:
            ss[key] = ss[key]


def _load_state_once(config: DashboardConfig) -> None:
    ss = st.session_state
    if ss.get("state_loaded"):
        return
    params = {key: st.query_params.get_all(key) for key in st.query_params}
    state = ViewState.from_params(params).with_filters_in_query()  # an old link's filters join the query
    if state.source == "es" and not config.es_url:
        state.source = "files"
    if "tz" not in params:
        state.tz = _browser_zone()
    named = (params.get("view") or [""])[-1]
    if named and named not in VIEWS:  # ?view=<name>: a saved view
        state = _with_saved_view(config, named, state)
    for name, value in vars(state).items():
        if name not in LEGACY_FILTERS:
            ss[f"w_{name}"] = value
    ss.state_loaded = True


def _with_saved_view(config: DashboardConfig, name: str, state: ViewState) -> ViewState:
    """``state`` with the saved view ``name``'s query, time range, columns and zone (a note if there is none)."""
    ss = st.session_state
    try:
        found = saved_views.load(saved_views.views_file(config.log_dir)).get(name)
    except saved_views.SavedViewsError as exc:
        ss.saved_note = ("error", str(exc))
        return state
    if found is None:
        ss.saved_note = ("error", f"there is no saved view named {name!r}")
        return state
    ss.w_saved = name
    return replace(state, **found.settings())


@functools.cache
def _zone_names() -> list[str]:
    return ["UTC", *sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith("Etc/"))]


def _browser_zone() -> str:
    try:
        return st.context.timezone or "UTC"
    except Exception:
        return "UTC"


def _state_from_widgets() -> ViewState:
    """The state the widgets show; a changed filter sends the table back to page 1, unselected."""
    ss = st.session_state
    state = _state_from_session()
    signature = state.filter_signature()
    if ss.get("last_signature") not in (None, signature):
        state.page = ss.w_page = 1
        state.sel = ss.w_sel = ""
    ss.last_signature = signature
    return state


def _write_url(state: ViewState) -> None:
    params = state.to_params()
    current = {key: st.query_params.get_all(key) for key in st.query_params}
    wanted = {key: value if isinstance(value, list) else [value] for key, value in params.items()}
    if current != wanted:
        st.query_params.from_dict(params)


def _keep_view() -> None:
    if st.session_state.get("w_view") is None:  # clicking the selected view again unselects it
        st.session_state.w_view = "records"


def _pause_live() -> None:
    st.session_state.w_live = False


# -- sidebar ----------------------------------------------------------------------------------


def _sidebar(config: DashboardConfig, source: LogSource) -> None:
    ss = st.session_state
    bar = st.sidebar
    bar.title("otel-logging")
    if config.es_url:
        bar.radio(
            "Source",
            ("files", "es"),
            key="w_source",
            horizontal=True,
            format_func={"files": "Log files", "es": "Elasticsearch"}.get,
        )
    bar.selectbox("Time range", list(PRESET_LABELS), key="w_range", format_func=PRESET_LABELS.get)
    if ss.w_range == "abs":  # one per row: a full date and time must fit
        bar.text_input("From", key="w_start", placeholder="2026-11-25T09:00")
        bar.text_input("To", key="w_end", placeholder="2026-11-25T18:00")
    bar.selectbox("Time zone", _with(_zone_names(), [ss.w_tz]), key="w_tz")
    facet_filter = _facet_filter()
    level_counts = _counts(source, facet_filter, "level")
    _picker("Levels", "level", [*LEVELS, UNSET_LEVEL])
    if level_counts:
        counts = " · ".join(f"{lv} {level_counts[lv]:,}" for lv in (*LEVELS, UNSET_LEVEL) if lv in level_counts)
        bar.caption(counts + _counts_as_of())
    services = sorted(_counts(source, facet_filter, "service"))
    _picker("Services", "service", services)
    _picker("Loggers", "logger", sorted(_counts(source, facet_filter, "logger")))
    _apps_and_files(source, services)
    _field_values(source, facet_filter)
    _saved_views(config)
    alerts_panel.sidebar(config.log_dir, lambda: _state_from_session().with_filters_in_query().query)
    bar.divider()
    left, right = bar.columns(2)
    left.toggle("Live", key="w_live", help="refresh reading only what was appended")
    right.number_input("every (s)", min_value=1, max_value=3600, key="w_every", disabled=not ss.w_live)
    bar.selectbox("Rows per page", PAGE_SIZES, key="w_size")


def _saved_views(config: DashboardConfig) -> None:
    """Open, save (the query, time range, columns and zone under a name) and delete saved views."""
    ss = st.session_state
    path = saved_views.views_file(config.log_dir)
    with st.sidebar.expander("Saved views", expanded=True):
        try:
            names = list(saved_views.load(path))
        except saved_views.SavedViewsError as exc:
            st.warning(str(exc))
            names = []
        if ss.get("w_saved") not in names:
            ss.w_saved = None
        if names:
            st.selectbox(
                "Open a saved view",
                names,
                key="w_saved",
                placeholder="choose a view",
                on_change=_open_saved,
                args=(str(path),),
            )
        if ss.w_saved:
            left, right = st.columns([3, 1], vertical_alignment="center")
            left.markdown(f"[Link to this view](?view={urllib.parse.quote(ss.w_saved)})")
            right.button("Delete", key="saved_delete", on_click=_delete_saved, args=(str(path),), type="tertiary")
        st.text_input(
            "Save the current view as",
            key="saved_name",
            placeholder="a name, e.g. checkout errors",
            help="the query, time range, columns and time zone, kept in <log-dir>/.otel-logging/views.json",
        )
        st.button("Save", key="saved_save", on_click=_save_current, args=(str(path),))
        note = ss.pop("saved_note", None)
        if note:
            (st.error if note[0] == "error" else st.success)(note[1])


def _open_saved(path: str) -> None:
    ss = st.session_state
    try:
        found = saved_views.load(Path(path)).get(ss.get("w_saved") or "")
    except saved_views.SavedViewsError as exc:
        ss.saved_note = ("error", str(exc))
        return
    if found is not None:
        for key, value in found.settings().items():
            ss[f"w_{key}"] = value


def _save_current(path: str) -> None:
    ss = st.session_state
    view = saved_views.SavedView.of(ss.get("saved_name") or "", _state_from_session())
    try:
        saved_views.save(Path(path), view)
    except saved_views.SavedViewsError as exc:
        ss.saved_note = ("error", str(exc))
        return
    ss.w_saved = view.name.strip()
    ss.saved_name = ""
    ss.saved_note = ("success", f"saved as {ss.w_saved!r}")


def _delete_saved(path: str) -> None:
    ss = st.session_state
    name = ss.get("w_saved") or ""
    try:
        saved_views.delete(Path(path), name)
    except saved_views.SavedViewsError as exc:
        ss.saved_note = ("error", str(exc))
        return
    ss.w_saved = None
    ss.saved_note = ("success", f"deleted {name!r}")


def _picker(label: str, fld: str, options: list[str]) -> None:
    """A multiselect of plain values: its options' labels never change while logs arrive, so a
    pick made while the counts move is never lost (the widget is known by its key alone).

    A shortcut for the query: it shows the values of the field's simple clause there (none when the
    query says something else about the field) and a change rewrites that clause (actions.pick)."""
    ss = st.session_state
    key = f"w_{label.lower()}"
    ss[key] = query_edit.picked(ss.get("w_query") or "", fld)
    st.sidebar.multiselect(
        label,
        _with(options, ss[key]),
        key=key,
        placeholder=f"all {label.lower()}",
        on_change=actions.pick,
        args=(fld, key),
        help=f"edits the {fld}: clause of the query",
    )


def _all_services(source: LogSource) -> set[str]:
    try:
        return {row.value for row in source.top_values(LogFilter(), FieldRef("service"), limit=1000)}
    except (QueryError, FilterError):
        return set()


def _apps_and_files(source: LogSource, services: list[str]) -> None:
    """Apps (file names) only when they are not the same names as the services; files of the chosen apps."""
    ss = st.session_state
    try:
        apps = source.apps()
    except QueryError:
        apps = []  # the page shows the source's error
    app_names = [a.app for a in apps]
    if ss.w_apps or (app_names and set(app_names) != _all_services(source)):
        st.sidebar.multiselect("Apps", _with(app_names, ss.w_apps), key="w_apps", placeholder="all apps")
    if ss.w_source == "files":
        chosen = set(ss.w_apps) or set(query_edit.picked(ss.w_query, "service")) or set(app_names)
        names = [name for a in apps if a.app in chosen for name in a.files]
        st.sidebar.multiselect("Files", _with(names, ss.w_files), key="w_files", placeholder="all their files")


def _facet_filter() -> LogFilter | None:
    """The current filter, used for the counts next to each level / service / logger."""
    try:
        return _state_from_session().to_filter()
    except FilterError:
        return None


def _state_from_session() -> ViewState:
    ss = st.session_state
    values = {name: ss.get(f"w_{name}") for name in vars(ViewState()) if name not in LEGACY_FILTERS}
    return ViewState(**{k: v for k, v in values.items() if v is not None})


def _counts(source: LogSource, flt: LogFilter | None, fld: str) -> dict[str, int]:
    """Counts of ``fld`` under the filter without the field's own pick (so other choices stay visible)."""
    if flt is None:
        return {}
    try:
        rows = source.top_values(replace(flt, query=query_edit.remove_field(flt.query, fld)), FieldRef(fld), limit=200)
    except (QueryError, FilterError):
        return {}
    return {row.value: row.count for row in rows}


def _with(options: list[str], selected: list[str]) -> list[str]:
    return options + [v for v in selected if v not in options]


def _status_line(status: SourceStatus, state: ViewState) -> str:
    parts = [f"{status.records:,} records"]
    if status.files:
        parts.append(f"{status.files} files")
    if status.malformed:
        parts.append(f"{status.malformed:,} malformed lines skipped")
    if status.last_updated:
        parts.append("read " + status.last_updated.astimezone(state.zone()).strftime("%H:%M:%S"))
    return " · ".join(parts)


def _counts_as_of() -> str:
    """While Live refreshes the records, the sidebar's counts stay as they were drawn: say when that was."""
    ss = st.session_state
    if not ss.get("w_live"):
        return ""
    try:
        now = datetime.now(zoneinfo.ZoneInfo(ss.get("w_tz") or "UTC"))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        now = datetime.now(UTC)
    return f" · counts as of {now:%H:%M:%S} (Live refreshes the records; any change here counts again)"


def _field_names_first_attributes(names: list[str]) -> list[str]:
    """attributes.* first, then resource.*, then the top-level fields (the long tail is what users look for)."""
    return sorted(names, key=lambda n: (0 if n.startswith("attributes.") else 1 if "." in n else 2, n))


def _field_values(source: LogSource, flt: LogFilter | None) -> None:
    """The top values of one field, each with + (include) and - (exclude)."""
    ss = st.session_state
    bar = st.sidebar
    with bar.expander("Field values", expanded=True):
        if flt is None:
            st.caption("fix the filter above to see values")
            return
        try:
            names = _field_names_first_attributes(source.field_names(flt))
        except QueryError:  # the query's mistake, with its position, is shown above the records
            st.caption("fix the query above to see values")
            return
        st.selectbox("Field", _with(names, [ss.w_field]), key="w_field")
        try:
            values = source.top_values(flt, parse_field(ss.w_field), limit=10)
        except (QueryError, FilterError) as exc:
            st.caption(str(exc))
            return
        if not values:
            st.caption("no values under the current filter")
        elif ss.get("w_live"):
            st.caption(_counts_as_of().removeprefix(" · "))
        total = source.count(flt) or 1  # a value's share of the records that match, not of the ten shown
        for i, item in enumerate(values):
            left, plus, minus = st.columns([6, 1, 1], vertical_alignment="center")
            left.caption(f"{as_text(item.value[:60])} · {item.count:,} ({100 * item.count / total:.0f}%)")
            args = (ss.w_field, item.value)
            include, exclude = actions.include, actions.exclude
            plus.button("+", key=f"add_field_{i}", on_click=include, args=args, help="filter on it", type="tertiary")
            minus.button("-", key=f"drop_field_{i}", on_click=exclude, args=args, help="filter it out", type="tertiary")
