"""The dashboard's query layer: one interface, two sources (per-app files, Elasticsearch).

The Streamlit page only calls a ``LogSource``; it never reads files or talks to a server.
Every method takes a ``LogFilter``; results are small (a page, buckets, counts), never the
whole data set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

import orjson

from otel_logging.dashboard.filters import FieldRef, LogFilter
from otel_logging.record import Record

ExportFormat = Literal["csv", "jsonl"]
CSV_COLUMNS: tuple[str, ...] = (
    "@timestamp",
    "level",
    "severity_text",
    "service",
    "logger",
    "message",
    "trace_id",
    "span_id",
    "attributes",
)


class QueryError(RuntimeError):
    """A query that cannot run (bad regex, source unreachable, unknown record); the message says why."""


@dataclass(frozen=True, slots=True)
class Hit:
    """One record as found: the canonical record, its level, and where it lives (for the context view)."""

    record: Record
    level: str
    ref: str  # "<file name>:<row>" for files, "<index>/<id>" for Elasticsearch

    @property
    def message(self) -> str:
        body = self.record.get("body")
        return body if isinstance(body, str) else "" if body is None else _compact_json(body)


def _compact_json(value: Any) -> str:
    return orjson.dumps(value).decode()


@dataclass(frozen=True, slots=True)
class Page:
    hits: list[Hit]
    total: int  # records matching the filter
    offset: int
    limit: int


@dataclass(frozen=True, slots=True)
class VolumeBucket:
    start: datetime  # UTC
    level: str
    count: int


@dataclass(frozen=True, slots=True)
class Volume:
    bucket_seconds: int
    buckets: list[VolumeBucket]


@dataclass(frozen=True, slots=True)
class ValueCount:
    value: str
    count: int


@dataclass(frozen=True, slots=True)
class PatternGroup:
    template: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    growth: int  # records in the second half of the range minus records in the first half
    example: str


@dataclass(frozen=True, slots=True)
class AppFiles:
    """One app and its files (current first, then rotated, newest first)."""

    app: str
    files: list[str]


@dataclass(slots=True)
class SourceStatus:
    description: str
    records: int = 0
    files: int = 0
    malformed: int = 0  # lines skipped because they are not log records
    last_updated: datetime | None = None
    bytes_read_last: int = 0  # bytes read by the last refresh (only what was appended)
    problems: list[str] = field(default_factory=list)


class LogSource(Protocol):
    """What the dashboard can ask of a source of canonical records."""

    def refresh(self, force: bool = False, progress: Callable[[int, int], None] | None = None) -> SourceStatus:
        """Pick up what is new since the last call (cheap when nothing changed); report bytes read to ``progress``."""
        ...

    def status(self) -> SourceStatus: ...

    def apps(self) -> list[AppFiles]: ...

    def time_bounds(self, flt: LogFilter) -> tuple[datetime | None, datetime | None]:
        """Earliest and latest record time matching ``flt`` (UTC), or (None, None)."""
        ...

    def page(self, flt: LogFilter, offset: int = 0, limit: int = 100) -> Page:
        """Matching records, newest first."""
        ...

    def count(self, flt: LogFilter) -> int: ...

    def volume(self, flt: LogFilter, bucket_seconds: int) -> Volume:
        """Record counts per time bucket and level."""
        ...

    def top_values(self, flt: LogFilter, fld: FieldRef, limit: int = 10) -> list[ValueCount]: ...

    def field_names(self, flt: LogFilter) -> list[str]:
        """Top-level fields and the attribute / resource keys seen in matching records."""
        ...

    def patterns(self, flt: LogFilter, limit: int = 50) -> list[PatternGroup]: ...

    def trace(self, trace_id: str, limit: int = 10_000) -> list[Hit]:
        """Every record of one trace, across all services, oldest first."""
        ...

    def context(self, ref: str, before: int = 10, after: int = 10, same_service: bool = False) -> list[Hit]:
        """The record ``ref`` and the ``before`` records just older and the ``after`` just newer, oldest first.

        Time order (``@timestamp``, ties broken by a stable order of the source), across every service,
        or only the record's own service with ``same_service``. A ``ref`` that is not a reference, or
        names a record that is not there, is a ``QueryError``.
        """
        ...

    def hit(self, ref: str) -> Hit | None:
        """The record ``ref`` (a ``Hit.ref``), or None when it no longer exists (its file rotated away or deleted)."""
        ...

    def snapshot(self) -> int:
        """A token for what the source knows now: ``LogFilter(until=token)`` matches only those records.

        Later refreshes do not change what such a filter matches (except records deleted since), so a
        page read with it does not shift as records arrive.
        """
        ...

    def newer_than(self, flt: LogFilter, token: int) -> int:
        """How many records matching ``flt`` arrived after ``snapshot()`` returned ``token`` (``flt.until`` ignored)."""
        ...

    def export(self, flt: LogFilter, fmt: ExportFormat) -> Iterator[bytes]:
        """The whole filtered set, newest first, as CSV or JSON lines, in chunks."""
        ...

    def all_hits(self, flt: LogFilter, *, oldest_first: bool = False) -> Iterator[list[Hit]]:
        """The whole filtered set, newest first (or oldest first), in batches, read as they are asked for."""
        ...

    def close(self) -> None: ...
