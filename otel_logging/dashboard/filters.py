"""What the user asked to see: the filter every query of the dashboard takes.

A ``LogFilter`` is source-neutral: the file source turns it into SQL, the Elasticsearch
source into query DSL. Times are aware datetimes (any zone); sources compare in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

# The levels live in otel_logging.record.severity (one table); these names stay importable from here.
from otel_logging.record.severity import ERROR_LEVELS as ERROR_LEVELS
from otel_logging.record.severity import LEVEL_ALIASES as LEVEL_ALIASES
from otel_logging.record.severity import LEVEL_RANGES as LEVEL_RANGES
from otel_logging.record.severity import LEVELS as LEVELS
from otel_logging.record.severity import UNSET_LEVEL as UNSET_LEVEL
from otel_logging.record.severity import level_of as level_of

# Top-level record fields that a field filter or the field sidebar can name directly.
TOP_LEVEL_FIELDS: tuple[str, ...] = (
    "service",
    "logger",
    "level",
    "severity_text",
    "severity_number",
    "trace_id",
    "span_id",
    "event_name",
    "scope_version",
    "message",
)
MAP_FIELDS: tuple[str, ...] = ("attributes", "resource", "scope_attributes")


class FilterError(ValueError):
    """A filter the user typed that cannot be applied (the message says what to change)."""


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A record field: a top-level column, or a key inside attributes / resource / scope_attributes."""

    column: str  # a TOP_LEVEL_FIELDS name or a MAP_FIELDS name
    key: str = ""  # the key inside a map column ("" for a top-level column)

    @property
    def name(self) -> str:
        return f"{self.column}.{self.key}" if self.key else self.column


def parse_field(text: str) -> FieldRef:
    """``service``, ``attributes.http.status_code``, ``resource.host.name``; a bare key means an attribute."""
    name = text.strip()
    if not name:
        raise FilterError("empty field name: write a field such as service, logger or attributes.order_id")
    if name in TOP_LEVEL_FIELDS:
        return FieldRef(name)
    if name == "body":
        return FieldRef("message")
    head, dot, rest = name.partition(".")
    if dot and head in MAP_FIELDS and rest:
        return FieldRef(head, rest)
    if name in MAP_FIELDS:
        raise FilterError(f"field {name!r} is a map: name a key inside it, e.g. {name}.some_key")
    return FieldRef("attributes", name)


@dataclass(frozen=True)
class LogFilter:
    """Every condition of a query. Empty tuples mean "no condition"; what records to show is the ``query``."""

    apps: tuple[str, ...] = ()  # file stems (per-app files) or, for Elasticsearch, service names
    files: tuple[str, ...] = ()  # file names under the log directory (files source only)
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive
    # A query in the query language (docs/query-language.md); the sources parse it (QuerySyntaxError).
    query: str = ""
    query_zone: str = "UTC"  # the IANA zone of the query's times written without an offset
    # A token of ``LogSource.snapshot()``: only records the source knew when it handed out that token.
    until: int | None = None
    # A token of ``LogSource.snapshot()``: only records the source learned after it handed out that token.
    after: int | None = None

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise FilterError(f"{name} time {value} has no time zone")

    @property
    def start_utc(self) -> datetime | None:
        return self.start.astimezone(UTC) if self.start else None

    @property
    def end_utc(self) -> datetime | None:
        return self.end.astimezone(UTC) if self.end else None

    def with_time(self, start: datetime | None, end: datetime | None) -> LogFilter:
        return replace(self, start=start, end=end)


# Relative time presets, as shown to the user and kept in the URL.
PRESETS: dict[str, timedelta | None] = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "all": None,
}
PRESET_LABELS: dict[str, str] = {
    "15m": "Last 15 minutes",
    "1h": "Last hour",
    "6h": "Last 6 hours",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "all": "All time",
    "abs": "Absolute range",
}

# Chart bucket sizes in seconds; the smallest giving at most ``max_buckets`` buckets is used.
BUCKET_LADDER_S: tuple[int, ...] = (
    1,
    5,
    10,
    30,
    60,
    300,
    600,
    1800,
    3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
    7 * 86400,
    30 * 86400,
)


def choose_bucket(start: datetime, end: datetime, max_buckets: int = 120) -> int:
    """Bucket size (seconds) so that ``[start, end)`` has at most ``max_buckets`` buckets."""
    span = max((end - start).total_seconds(), 1.0)
    for size in BUCKET_LADDER_S:
        if span / size <= max_buckets:
            return size
    return BUCKET_LADDER_S[-1]
