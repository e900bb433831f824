"""The word index: per hour, how many records of each (file_id, service, level, logger) hold each word.

A message search (a bare word: a case-insensitive substring of the message) over every app of a week
reads every message: about 2 s a pass over 50M records on two cores, and the page asks for a count, a chart
and the pickers' counts. Table ``logs_words`` keeps, for every hour, file and (service, level, logger), the
number of records whose lower-cased message holds each *word*: a run of two or more letters ``a``-``z``
(a run longer than ``MAX_WORD`` letters is kept as the word ``~``, and a search in a range holding one
reads ``logs``). Each record counts once per word.

Why that answers exactly: a search term ``w`` made only of two to ``MAX_WORD`` letters can only occur inside
one run of letters of a message, so a record matches ``w`` when one of its words contains ``w``. When, in
the range asked, exactly one indexed word contains ``w`` (and no ``~``), the records matching ``w`` are the
records holding that word, and their counts add up. The count, the chart (buckets of whole hours), the
pickers and the page's search for its newest matches then read this table, plus the rows of ``logs`` in the
partial hours at the edges of the range. Anything else (phrases, several words, wildcards, a term two words
contain, ``NOT``) is answered from ``logs`` as before.

The source keeps the table in the same transaction as the rows (``add_load``, ``drop_files``): each load adds
its rows' counts, then the hours a file had counted before are merged into one row per key.
``tests/unit/store/test_words.py`` checks both the table (it equals a GROUP BY of ``logs``) and the answers.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import duckdb

from otel_logging.dashboard.filters import LogFilter
from otel_logging.store import rollup

LETTERS = "abcdefghijklmnopqrstuvwxyz"
HOUR = timedelta(hours=1)
MAX_WORD = 256  # longer runs of letters are rare in logs; a blob of letters must not grow the index
LONG = "~"  # a run of more than MAX_WORD letters (not a word a search can name)
_COLUMNS = "file_id INTEGER, hour TIMESTAMP, service VARCHAR, level VARCHAR, logger VARCHAR, word VARCHAR, n BIGINT"
PREFIX = "logs_words_"
TABLES = {letter: PREFIX + letter for letter in LETTERS} | {LONG: PREFIX + "long"}  # by the word's first letter
VOCABULARY = "logs_words_vocabulary"  # every word ever indexed (never shrinks: a superset of the tables' words)
CREATE = "\n".join(f"CREATE TABLE IF NOT EXISTS {table} ({_COLUMNS});" for table in TABLES.values()) + (
    f"\nCREATE TABLE IF NOT EXISTS {VOCABULARY} (word VARCHAR);"
)
WORDS_SQL = (
    "list_distinct(list_transform(regexp_extract_all(lower(message), '[a-z]{2,}'), "
    f"lambda w: CASE WHEN length(w) > {MAX_WORD} THEN '{LONG}' ELSE w END))"
)
_SEARCHABLE = re.compile(f"[a-z]{{2,{MAX_WORD}}}")
_NEW, _SINCE, _MERGED = "_logs_words_new", "_logs_words_since", "_logs_words_merged"


def grouped(where: str) -> str:
    """The index's rows for the rows of ``logs`` matching ``where``."""
    return (
        "SELECT file_id, date_trunc('hour', ts) AS hour, service, level, logger, word, count(*) AS n FROM ("
        f"SELECT file_id, ts, service, level, logger, unnest({WORDS_SQL}) AS word FROM logs WHERE {where}"
        ") GROUP BY ALL"
    )


def table_of(word: str) -> str:
    return TABLES[LONG if word == LONG else word[0]]


def union_sql() -> str:
    """Every row of the index, from all its tables (for checks)."""
    return " UNION ALL ".join(f"SELECT * FROM {table}" for table in TABLES.values())


# -- upkeep (inside the caller's transaction) ---------------------------------------------------------


def _add(con: duckdb.DuckDBPyConnection, where: str, params: list[Any]) -> list[str]:
    """Count the words of the rows of ``logs`` matching ``where`` into the tables; the tables written to."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_NEW} AS {grouped(where)}", params)
    con.execute(
        f"INSERT INTO {VOCABULARY} SELECT DISTINCT word FROM {_NEW} WHERE word <> '{LONG}' "
        f"AND word NOT IN (SELECT word FROM {VOCABULARY})"
    )
    firsts = [str(first) for (first,) in con.execute(f"SELECT DISTINCT left(word, 1) FROM {_NEW}").fetchall()]
    for first in firsts:
        con.execute(f"INSERT INTO {TABLES[first]} SELECT * FROM {_NEW} WHERE left(word, 1) = ? ORDER BY hour", [first])
    con.execute(f"DROP TABLE {_NEW}")
    return [TABLES[first] for first in firsts]


def add_load(con: duckdb.DuckDBPyConnection, seq: int, old_files: set[int]) -> None:
    """Count the words of load ``seq``; then, in the tables it wrote to, merge the hours of the files read
    before (from this load's first hour on, and the hour-less rows) into one row per key."""
    written = _add(con, "seq = ?", [seq])
    loaded = con.execute("SELECT file_id, min(ts) FROM logs WHERE seq = ? GROUP BY file_id", [seq]).fetchall()
    since = [(f, None if first is None else first.replace(minute=0, second=0, microsecond=0)) for f, first in loaded]
    since = [(f, hour) for f, hour in since if f in old_files]
    if not since or not written:
        return
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_SINCE} (file_id INTEGER, since TIMESTAMP)")
    con.executemany(f"INSERT INTO {_SINCE} VALUES (?, ?)", since)
    for table in written:
        cond = (
            f"file_id IN (SELECT file_id FROM {_SINCE}) AND (hour IS NULL OR hour >= "
            f"(SELECT s.since FROM {_SINCE} s WHERE s.file_id = {table}.file_id))"
        )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_MERGED} AS SELECT file_id, hour, service, level, logger, word, "
            f"sum(n)::BIGINT AS n FROM {table} WHERE {cond} GROUP BY ALL"
        )
        con.execute(f"DELETE FROM {table} WHERE {cond}")
        con.execute(f"INSERT INTO {table} SELECT * FROM {_MERGED} ORDER BY hour")
    con.execute(f"DROP TABLE IF EXISTS {_MERGED}")
    con.execute(f"DROP TABLE {_SINCE}")


def drop_files(con: duckdb.DuckDBPyConnection, file_ids: list[int]) -> None:
    for table in TABLES.values():
        con.execute(f"DELETE FROM {table} WHERE file_id IN (SELECT unnest(?))", [file_ids])


def build(con: duckdb.DuckDBPyConnection) -> None:
    """Fill the tables from every row of ``logs`` (a store written before the index existed)."""
    for table in (*TABLES.values(), VOCABULARY):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute(CREATE)
    for (file_id,) in con.execute("SELECT DISTINCT file_id FROM logs ORDER BY 1").fetchall():  # bounded memory
        _add(con, "file_id = ?", [file_id])


# -- which questions it answers ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WordSearch:
    """A query as one message term (``word``, lower case) and the rest (``rest``: service / level / logger
    conditions only, as query text for ``where``), both to hold."""

    word: str
    rest: Any  # the rest of the query as a querylang node, or None


def word_search(flt: LogFilter) -> WordSearch | None:
    """``flt``'s query as one searchable word and roll-up-eligible rest, or None."""
    if not flt.query.strip():
        return None
    return _word_search(flt.query, flt.query_zone)


@functools.lru_cache(maxsize=256)
def _word_search(text: str, zone: str) -> WordSearch | None:
    from otel_logging.dashboard.query import QueryError
    from otel_logging.dashboard.querylang import QuerySyntaxError, parse, zone_named
    from otel_logging.dashboard.querylang.ast import And, Match, Text

    try:
        node = parse(text, zone_named(zone))
    except (QuerySyntaxError, QueryError):
        return None
    if node is None:
        return None

    def term(child: Any) -> str | None:
        if not isinstance(child, Match) or not isinstance(child.value, Text):
            return None
        if child.field is not None and child.field.kind != "text":
            return None
        word = child.value.text.lower()
        return word if _SEARCHABLE.fullmatch(word) else None

    children = node.children if isinstance(node, And) else (node,)
    terms = [(i, w) for i, child in enumerate(children) if (w := term(child)) is not None]
    if len(terms) != 1:
        return None
    index, word = terms[0]
    rest = children[:index] + children[index + 1 :]
    if not all(rollup.node_eligible(child) for child in rest):
        return None
    if not rest:
        return WordSearch(word, None)
    return WordSearch(word, rest[0] if len(rest) == 1 else And(tuple(rest), 0, 0))


def without_query(flt: LogFilter) -> LogFilter:
    return replace(flt, query="")


def indexed_word(cursor: duckdb.DuckDBPyConnection, counted: rollup.Counted, word: str) -> str | None:
    """The one indexed word holding ``word`` (``word`` itself when none does), or None when two do, or when a
    run of letters too long to index is in ``counted``'s whole hours (the rows must be read)."""
    found = cursor.execute(f"SELECT word FROM {VOCABULARY} WHERE contains(word, ?) LIMIT 2", [word]).fetchall()
    if len(found) > 1:
        return None
    whole, values = replace(counted, table=TABLES[LONG]).whole_sql()
    if cursor.execute(f"SELECT 1 FROM {TABLES[LONG]} WHERE {whole} LIMIT 1", values).fetchall():
        return None
    return str(found[0][0]) if found else word
