"""The per-minute roll-up of table ``logs``: record counts per (file_id, minute, service, level, logger).

``minute`` is ``ts`` truncated to the minute (NULL for the records without a time, so the counts stay
exact). The files source keeps the table in the same transaction as the rows (``FileSource._load`` and
``_commit_files``), and answers from it the questions a filter on service / level / logger, apps, files
and a time range can ask: ``count``, ``top_values`` of those three fields, ``volume`` in whole minutes and
``time_bounds``. A time range that is not minute-aligned is read as whole minutes from the roll-up plus
its partial edge minutes from ``logs`` (which the ``ts`` min/max of the row groups narrow to those
minutes), so every answer is the one ``logs`` gives. See docs/store.md.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import duckdb

from otel_logging.dashboard.filters import LogFilter

TABLE = "logs_minutes"
CREATE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    file_id INTEGER, minute TIMESTAMP, service VARCHAR, level VARCHAR, logger VARCHAR, n BIGINT
);
"""
COLUMNS = frozenset({"service", "level", "logger"})  # the fields the roll-up keeps
MINUTE = timedelta(minutes=1)
_GROUPED = "SELECT file_id, date_trunc('minute', ts) AS minute, service, level, logger, count(*) AS n FROM logs"

# -- upkeep (inside the caller's transaction) ---------------------------------------------------------


def add_load(con: duckdb.DuckDBPyConnection, seq: int, old_files: set[int]) -> None:
    """Count the rows of load ``seq`` in. A file read for the first time is counted from its new rows alone;
    the minutes of a file read before, from the first minute this load gave it, are counted again from
    ``logs`` (the zone maps of ``ts`` narrow that to those minutes): one row per key, whatever the loads."""
    loaded = con.execute(
        "SELECT file_id, min(ts), count(*) FILTER (WHERE ts IS NULL) FROM logs WHERE seq = ? GROUP BY file_id", [seq]
    ).fetchall()
    fresh = [file_id for file_id, _, _ in loaded if file_id not in old_files]
    if fresh:
        con.execute(
            f"INSERT INTO {TABLE} {_GROUPED} WHERE seq = ? AND file_id IN (SELECT unnest(?)) GROUP BY ALL ORDER BY 2",
            [seq, fresh],
        )
    for file_id, first, untimed in loaded:
        if file_id not in old_files:
            continue
        if first is not None:
            since = first.replace(second=0, microsecond=0)
            con.execute(f"DELETE FROM {TABLE} WHERE file_id = ? AND minute >= ?", [file_id, since])
            con.execute(
                f"INSERT INTO {TABLE} {_GROUPED} WHERE file_id = ? AND ts >= ? GROUP BY ALL ORDER BY 2",
                [file_id, since],
            )
        if untimed:
            con.execute(f"DELETE FROM {TABLE} WHERE file_id = ? AND minute IS NULL", [file_id])
            con.execute(f"INSERT INTO {TABLE} {_GROUPED} WHERE file_id = ? AND ts IS NULL GROUP BY ALL", [file_id])


def drop_files(con: duckdb.DuckDBPyConnection, file_ids: list[int]) -> None:
    con.execute(f"DELETE FROM {TABLE} WHERE file_id IN (SELECT unnest(?))", [file_ids])


# -- which questions it answers ---------------------------------------------------------------------


def eligible(flt: LogFilter) -> bool:
    """Whether ``flt`` only looks at service / level / logger, apps, files and a time range (and ``until``,
    which the caller checks against the store's last load)."""
    return not flt.query.strip() or _query_eligible(flt.query, flt.query_zone)


@functools.lru_cache(maxsize=256)
def _query_eligible(text: str, zone: str) -> bool:
    from otel_logging.dashboard.query import QueryError
    from otel_logging.dashboard.querylang import QuerySyntaxError, parse, zone_named

    try:
        node = parse(text, zone_named(zone))
    except (QuerySyntaxError, QueryError):
        return False  # the query over ``logs`` reports the mistake
    return node is None or node_eligible(node)


def node_eligible(node: Any) -> bool:
    from otel_logging.dashboard.querylang.ast import And, Exists, Levels, Match, Not, Or

    if isinstance(node, And | Or):
        return all(node_eligible(child) for child in node.children)
    if isinstance(node, Not):
        return node_eligible(node.child)
    if isinstance(node, Levels):
        return True
    if isinstance(node, Exists | Match):
        # A value, wildcard or /regex/ of service, logger or level is a function of that column alone.
        fld = node.field
        return fld is not None and not fld.key and fld.kind in ("keyword", "level") and fld.column in COLUMNS
    return False  # message words, numbers, times, attributes: only ``logs`` has them


@dataclass(frozen=True, slots=True)
class Split:
    """A time range as whole buckets of a roll-up (``whole``) and partial buckets of ``logs`` (``edges``)."""

    whole: str  # a condition on the bucket's column (TRUE also keeps the rows without a time)
    whole_params: list[Any]
    edges: list[tuple[datetime, datetime]]  # [low, high) ranges of ts read from ``logs``


_EPOCH = datetime(1970, 1, 1)


def _floor(at: datetime, unit: timedelta) -> datetime:
    return at - (at - _EPOCH) % unit


def split(flt: LogFilter, unit: timedelta = MINUTE, column: str = "minute") -> Split:
    """``flt``'s time range as whole ``unit`` buckets (a condition on ``column``) and the partial edges."""
    start = flt.start_utc.replace(tzinfo=None) if flt.start_utc else None
    end = flt.end_utc.replace(tzinfo=None) if flt.end_utc else None
    if start is None and end is None:
        return Split("TRUE", [], [])
    low = None if start is None else (start if _floor(start, unit) == start else _floor(start, unit) + unit)
    high = None if end is None else _floor(end, unit)
    if low is not None and high is not None and low >= high:
        if start is not None and end is not None and start >= end:
            return Split("FALSE", [], [])
        assert start is not None and end is not None
        return Split("FALSE", [], [(start, end)])
    clauses, params, edges = [], [], []
    if low is not None:
        clauses.append(f"{column} >= ?")
        params.append(low)
        if start is not None and start < low:
            edges.append((start, low))
    if high is not None:
        clauses.append(f"{column} < ?")
        params.append(high)
        if end is not None and high < end:
            edges.append((high, end))
    return Split(" AND ".join(clauses), params, edges)


@dataclass(frozen=True, slots=True)
class Counted:
    """Where the counts of a filter come from: rows of a roll-up table (``table``, buckets of ``unit`` in
    ``column``) matching ``where`` (and ``extra``: the word index's word), plus the rows of ``logs`` in the
    partial buckets at the edges of the time range, matching ``logs_where`` (the whole filter without time)."""

    table: str
    column: str
    unit: timedelta
    where: str
    params: list[Any]
    logs_where: str
    logs_params: list[Any]
    parts: Split
    extra: str = "TRUE"
    extra_params: tuple[Any, ...] = ()

    def whole_sql(self) -> tuple[str, list[Any]]:
        """The condition over ``table`` for the whole buckets, and its parameters."""
        return (
            f"({self.where}) AND {self.extra} AND {self.parts.whole}",
            [*self.params, *self.extra_params, *self.parts.whole_params],
        )

    def relation(self) -> tuple[str, list[Any]]:
        """A relation ``(ts, service, level, logger, n)`` whose ``n`` add up to the matching rows of ``logs``:
        ``ts`` is the bucket's start for the roll-up's rows and the time for the edges' rows."""
        whole, values = self.whole_sql()
        sql = [f"SELECT {self.column} AS ts, service, level, logger, n FROM {self.table} WHERE {whole}"]
        for low, high in self.parts.edges:
            sql.append(
                f"SELECT ts, service, level, logger, 1 AS n FROM logs WHERE ({self.logs_where}) AND ts >= ? AND ts < ?"
            )
            values.extend([*self.logs_params, low, high])
        return " UNION ALL ".join(sql), values


def counted(where: str, params: list[Any], flt: LogFilter) -> Counted:
    """How the roll-up counts the rows of ``logs`` matching ``where`` (a filter without time over columns both
    tables have) within ``flt``'s time range."""
    return Counted(TABLE, "minute", MINUTE, where, params, where, params, split(flt))


def without_time(flt: LogFilter) -> LogFilter:
    return replace(flt, start=None, end=None, until=None)
