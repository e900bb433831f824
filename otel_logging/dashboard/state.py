"""The page's state, kept in the URL's query parameters so that a view can be shared.

``ViewState`` is what the widgets show; ``to_params`` / ``from_params`` map it to and from the
query string; ``to_filter`` resolves it (relative time presets included) into a ``LogFilter``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from otel_logging.dashboard.filters import PRESETS, FilterError, LogFilter
from otel_logging.dashboard.query_edit import legacy_to_query

if TYPE_CHECKING:
    from otel_logging.dashboard.query import Hit

# Filters of links from before the query bar held them: read from a URL, then written into the query.
LEGACY_FILTERS: tuple[str, ...] = ("levels", "services", "loggers", "matches", "search", "regex")
VIEWS: tuple[str, ...] = ("records", "charts", "patterns", "trace", "context")
PAGE_SIZES: tuple[int, ...] = (50, 100, 250, 500)
LOCAL_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


@dataclass
class ViewState:
    source: str = "files"  # "files" or "es"
    query: str = ""  # the query bar (docs/query-language.md)
    apps: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    levels: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    loggers: list[str] = field(default_factory=list)
    range: str = "all"  # a PRESETS key, or "abs"
    start: str = ""  # absolute range, local time in ``tz``: YYYY-MM-DDTHH:MM[:SS]
    end: str = ""
    tz: str = "UTC"
    matches: list[str] = field(default_factory=list)  # field=value or field!=value
    cols: list[str] = field(default_factory=list)  # extra table columns (field names)
    search: str = ""
    regex: bool = False
    page: int = 1
    size: int = 100
    view: str = "records"
    trace: str = ""
    ctx: str = ""  # <file name>:<row>
    field: str = "service"
    live: bool = False
    every: int = 5
    sel: str = ""  # the selected record's ref: the selection follows the record, not a row position
    ctx_all: bool = True  # context: records of every service (False: only the record's own service)

    def zone(self) -> ZoneInfo:
        return zone_named(self.tz)

    def to_filter(self, now: datetime | None = None) -> LogFilter:
        """The filter this state asks for; relative ranges end at ``now``. An old link's separate filters
        (still here if the state did not go through ``with_filters_in_query``) are written into the query."""
        start, end = self.time_range(now)
        return LogFilter(
            apps=tuple(self.apps),
            files=tuple(self.files),
            start=start,
            end=end,
            query=self.with_filters_in_query().query,
            query_zone=self.zone().key,
        )

    def time_range(self, now: datetime | None = None) -> tuple[datetime | None, datetime | None]:
        if self.range == "abs":
            zone = self.zone()
            start = parse_local(self.start, zone) if self.start else None
            end = parse_local(self.end, zone) if self.end else None
            if start and end and start >= end:
                raise FilterError(f"the range starts ({self.start}) at or after it ends ({self.end})")
            return start, end
        if self.range not in PRESETS:
            raise FilterError(f"unknown time range {self.range!r}: choose one of {', '.join(PRESETS)} or abs")
        span = PRESETS[self.range]
        if span is None:
            return None, None
        now = now or datetime.now(UTC)
        return now - span, None

    def to_params(self) -> dict[str, str | list[str]]:
        """Query parameters for every value that differs from the default."""
        default = ViewState()
        params: dict[str, str | list[str]] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value == getattr(default, f.name):
                continue
            key = _PARAM_NAMES.get(f.name, f.name)
            if isinstance(value, list):
                params[key] = [str(v) for v in value]
            elif isinstance(value, bool):
                params[key] = "1" if value else "0"
            else:
                params[key] = str(value)
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, Sequence[str]]) -> ViewState:
        """Read a state from query parameters (each key to its list of values); bad values fall back."""
        state = cls()
        if "s" not in params and list(params.get("re") or [])[-1:] == ["1"] and params.get("q"):
            # A link from before the query bar: q was the sidebar's search, here a regular expression.
            params = {**params, "s": params["q"], "q": []}
        for f in fields(cls):
            values = list(params.get(_PARAM_NAMES.get(f.name, f.name), []))
            if not values:
                continue
            current = getattr(state, f.name)
            if isinstance(current, list):
                setattr(state, f.name, [v for v in values if v])
            elif isinstance(current, bool):
                setattr(state, f.name, values[-1] in ("1", "true", "yes", "on"))
            elif isinstance(current, int):
                try:
                    setattr(state, f.name, int(values[-1]))
                except ValueError:
                    pass
            else:
                setattr(state, f.name, values[-1])
        state.page = max(1, state.page)
        state.size = state.size if state.size in PAGE_SIZES else 100
        state.every = min(max(1, state.every), 3600)
        state.view = state.view if state.view in VIEWS else "records"
        return state

    def with_filters_in_query(self) -> ViewState:
        """This state with a link's old separate filters (``level=``, ``service=``, ``logger=``, ``f=``,
        ``s=``/``re=``) written into the query, the one filter state the page keeps."""
        query = legacy_to_query(
            self.query, self.levels, self.services, self.loggers, self.matches, self.search, self.regex
        )
        return replace(self, query=query, levels=[], services=[], loggers=[], matches=[], search="", regex=False)

    def filter_signature(self) -> tuple[object, ...]:
        """What decides the set of matching records: when it changes, paging and selection start over."""
        return (
            self.source,
            self.with_filters_in_query().query,
            tuple(self.apps),
            tuple(self.files),
            self.range,
            self.start,
            self.end,
            self.size,
        )


# Short, readable names in the URL.
_PARAM_NAMES = {
    "apps": "app",
    "files": "file",
    "levels": "level",
    "services": "service",
    "loggers": "logger",
    "start": "from",
    "end": "to",
    "matches": "f",
    "query": "q",
    "search": "s",
    "regex": "re",
    "cols": "col",
}


def zone_named(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise FilterError(f"unknown time zone {name!r}: use an IANA name such as Europe/Paris") from exc


def parse_local(text: str, zone: ZoneInfo) -> datetime:
    """``YYYY-MM-DDTHH:MM[:SS]`` (or with a space) in ``zone``; an explicit offset wins."""
    try:
        value = datetime.fromisoformat(text.strip().replace(" ", "T"))
    except ValueError as exc:
        raise FilterError(f"{text!r} is not a date and time: write e.g. 2026-11-25T14:30") from exc
    return value if value.tzinfo else value.replace(tzinfo=zone)


def hit_time(hit: Hit, zone: ZoneInfo) -> str:
    """The record's time in ``zone`` to the millisecond (its raw text when it is not an ISO time)."""
    stamp = hit.record.get("@timestamp")
    if not isinstance(stamp, str):
        return ""
    try:
        value = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    local = value.astimezone(zone)
    return local.strftime(LOCAL_TIME_FORMAT) + f".{local.microsecond // 1000:03d}"


def format_local(value: datetime | None, zone: ZoneInfo, with_fraction: bool = False) -> str:
    if value is None:
        return ""
    local = value.astimezone(zone)
    text = local.strftime(LOCAL_TIME_FORMAT)
    return f"{text}.{local.microsecond:06d}" if with_fraction else text
