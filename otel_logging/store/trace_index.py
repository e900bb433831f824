"""The trace index: where the records of a trace id are, in 16 small tables by the id's first hex digit.

A trace lookup that scans a column of every row grows with the history (50M rows: 0.2-0.4 s warm, 0.8-1.3 s
when the column is not in memory yet). A radix tree index (DuckDB's ART) would answer at once but must fit in
memory. Here every record with a hex trace id gets a row ``(trace_key, ts, file_id, row_no)`` in the table of
its id's first hex digit (``trace_keys_0`` ... ``trace_keys_f``), ``trace_key`` being the id's first 16 hex
digits as a number: a lookup scans one sixteenth of the keys, then reads only the rows found (their time
range skips the rest of ``logs``). The source keeps the tables in the same transaction as the rows
(``add_load`` after a load's rows are numbered, ``drop_files`` with theirs), so they never disagree with
``logs``; ``tests/unit/store/test_trace_index.py`` and the crash test check that they equal a scan of it.
"""

from __future__ import annotations

import duckdb

BUCKETS = 16
TABLES = tuple(f"trace_keys_{digit:x}" for digit in range(BUCKETS))
# The key of a trace id: its first 16 hex digits as a number, NULL when they are not hex.
KEY_SQL = "TRY_CAST('0x' || left({id}, 16) AS UBIGINT)"
CREATE = "\n".join(
    f"CREATE TABLE IF NOT EXISTS {table} (trace_key UBIGINT, ts TIMESTAMP, file_id INTEGER, row_no BIGINT);"
    for table in TABLES
)
_NEW = "_trace_keys_new"


def table_of(trace_id: str) -> str | None:
    """The table that holds ``trace_id``'s rows (None when its first 16 characters are not all hex)."""
    head = trace_id[:16]
    if not head or any(c not in "0123456789abcdefABCDEF" for c in head):
        return None
    return TABLES[int(head[0], 16)]


def add_load(con: duckdb.DuckDBPyConnection, seq: int) -> None:
    """Index the rows of load ``seq`` (inside the caller's transaction, after their ``row_no`` are final)."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_NEW} AS SELECT {KEY_SQL.format(id='trace_id')} AS trace_key, ts, "
        "file_id, row_no FROM logs WHERE seq = ? AND trace_id IS NOT NULL",
        [seq],
    )
    for digit, table in enumerate(TABLES):
        con.execute(f"INSERT INTO {table} SELECT * FROM {_NEW} WHERE trace_key >> 60 = {digit} ORDER BY trace_key")
    con.execute(f"DROP TABLE {_NEW}")


def drop_files(con: duckdb.DuckDBPyConnection, file_ids: list[int]) -> None:
    for table in TABLES:
        con.execute(f"DELETE FROM {table} WHERE file_id IN (SELECT unnest(?))", [file_ids])


def union_sql() -> str:
    """Every indexed row, from all the tables (for checks)."""
    return " UNION ALL ".join(f"SELECT trace_key, ts, file_id, row_no FROM {table}" for table in TABLES)


def derived_sql() -> str:
    """What the tables must hold together, read from ``logs`` (for checks: it scans every row)."""
    key = KEY_SQL.format(id="trace_id")
    return f"SELECT {key}, ts, file_id, row_no FROM logs WHERE {key} IS NOT NULL"
