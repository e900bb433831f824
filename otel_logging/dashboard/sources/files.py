"""The files source: the per-app JSONL files, loaded into an in-memory DuckDB table.

DuckDB's JSON reader parses the files column by column (no Python dict per record) into one
table; every query of the page is SQL over that table with the filter pushed into WHERE.
Each file is read once: a refresh reads only the bytes appended since the last one (up to the
last complete line), follows a rotation by the file's inode, recognises a rotated file that
was gzip-compressed as the one already read, and drops the records of deleted files.
Lines that are not log records (not JSON, or no record field at all) are counted and skipped.

Every row carries ``seq``, the number of the load that read it (1, 2, ... per ``_load``): a snapshot
token is the number of the last load, and ``LogFilter(until=token)`` keeps the rows with ``seq <= token``.
"""

from __future__ import annotations

import functools
import gzip
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import orjson

from otel_logging.dashboard.export import export_chunks
from otel_logging.dashboard.filters import (
    LEVEL_ALIASES,
    LEVEL_RANGES,
    TOP_LEVEL_FIELDS,
    UNSET_LEVEL,
    FieldRef,
    LogFilter,
)
from otel_logging.dashboard.patterns import template_sql
from otel_logging.dashboard.query import (
    AppFiles,
    ExportFormat,
    Hit,
    Page,
    PatternGroup,
    QueryError,
    SourceStatus,
    ValueCount,
    Volume,
    VolumeBucket,
)
from otel_logging.dashboard.sources.logfiles import LogFile, list_log_files
from otel_logging.record.lines import last_line_end
from otel_logging.store import IN_USE, rollup, trace_index, words

# The record's keys in canonical order, with the DuckDB type each is read as.
RECORD_COLUMNS: dict[str, str] = {
    "@timestamp": "VARCHAR",
    "observed_timestamp": "VARCHAR",
    "severity_text": "VARCHAR",
    "severity_number": "INTEGER",
    "body": "JSON",
    "logger": "VARCHAR",
    "service": "VARCHAR",
    "attributes": "JSON",
    "resource": "JSON",
    "trace_id": "VARCHAR",
    "span_id": "VARCHAR",
    "event_name": "VARCHAR",
    "flags": "BIGINT",
    "scope_version": "VARCHAR",
    "scope_attributes": "JSON",
    "dropped_attributes_count": "BIGINT",
}
MEMO_ENTRIES = 256
RECENT_WINDOW = timedelta(hours=1)  # where a page looks first for the newest matches
FINGERPRINT_BYTES = 64  # enough of a file's first line to tell two files apart (each line starts with its timestamp)
LOAD_BATCH_BYTES = 512 << 20  # one INSERT per this much new data (progress is reported between them; smaller is slower)
ProgressCallback = Callable[[int, int], None]
T = TypeVar("T")
JSON_COLUMNS = frozenset(name for name, kind in RECORD_COLUMNS.items() if kind == "JSON")
_REQUIRED = ("@timestamp", "observed_timestamp", "severity_text", "severity_number", "body", "logger", "service")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _level_sql() -> str:
    ranges = " ".join(
        f"WHEN severity_number BETWEEN {low} AND {high} THEN '{name}'" for name, (low, high) in LEVEL_RANGES.items()
    )
    aliases = " ".join(f"WHEN upper(severity_text) = '{alias}' THEN '{name}'" for alias, name in LEVEL_ALIASES.items())
    return f"CASE {ranges} {aliases} ELSE '{UNSET_LEVEL}' END"


_READ_COLUMNS = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in RECORD_COLUMNS.items()) + "}"
_MALFORMED = " AND ".join(f"{_q(name)} IS NULL" for name in _REQUIRED)
_SELECT_RECORD = ", ".join(_q(name) for name in RECORD_COLUMNS)
_HIT_COLUMNS = f"file_name, row_no, level, {_SELECT_RECORD}"

WORDLESS_VERSION = 4  # the version before the word index: upgraded in place
STORE_VERSION = 5  # bump when the tables below change: an older store is rebuilt from the files
_CREATE = f"""
CREATE TABLE IF NOT EXISTS logs (
    file_id INTEGER, row_no BIGINT, ts TIMESTAMP, level VARCHAR, message VARCHAR,
    {", ".join(f"{_q(name)} {kind}" for name, kind in RECORD_COLUMNS.items())},
    template VARCHAR,  -- the message's pattern, computed when the patterns view first needs it
    seq BIGINT  -- the number of the load that read the row (snapshot tokens compare with it)
);
-- What has been read of each file: committed in the same transaction as the rows read, so the rows
-- and the offsets never disagree (a store killed at any point resumes exactly where its last commit was).
CREATE TABLE IF NOT EXISTS files (
    file_id INTEGER, name VARCHAR, app VARCHAR, dev UBIGINT, ino UBIGINT, "offset" BIGINT, rows BIGINT,
    records BIGINT, malformed BIGINT, compressed BOOLEAN, fingerprint BLOB
);
CREATE TABLE IF NOT EXISTS meta (key VARCHAR, value BIGINT);
{rollup.CREATE}
{trace_index.CREATE}
{words.CREATE}
CREATE OR REPLACE VIEW hits AS SELECT l.*, f.name AS file_name FROM logs l JOIN files f USING (file_id);
"""

# One INSERT for every new chunk of every file. New rows get row_no = -(position in this load);
# _NUMBER then renumbers them per file, continuing the file's count (a window per file is much slower).
_INSERT = f"""
INSERT INTO logs SELECT
    m.file_id, -r.rn,
    coalesce(try_cast(r."@timestamp" AS TIMESTAMPTZ), try_cast(r.observed_timestamp AS TIMESTAMPTZ))::TIMESTAMP,
    {_level_sql()},
    CASE WHEN json_type(r.body) = 'VARCHAR' THEN r.body ->> '$' ELSE r.body::VARCHAR END,
    {", ".join("r." + _q(name) for name in RECORD_COLUMNS)},
    NULL, $seq
FROM (
    SELECT row_number() OVER () AS rn, file_index::BIGINT AS file_index, {_SELECT_RECORD}
    FROM read_json($paths, format = 'newline_delimited', columns = {_READ_COLUMNS}, ignore_errors = true,
                   compression = 'auto', maximum_object_size = 67108864)
) r
JOIN (SELECT unnest($indexes) AS file_index, unnest($file_ids) AS file_id) m USING (file_index)
ORDER BY 3 NULLS FIRST
"""
_NEW_ROWS = f"""
SELECT file_id, count(*), count(*) FILTER (WHERE {_MALFORMED}) FROM logs WHERE row_no < 0 GROUP BY file_id
"""
_NUMBER = """
UPDATE logs SET row_no = d.first_row + d.top - logs.row_no + 1
FROM (
    SELECT l.file_id, max(l.row_no) AS top, any_value(m.first_row) AS first_row
    FROM logs l JOIN (SELECT unnest($file_ids) AS file_id, unnest($first_rows) AS first_row) m USING (file_id)
    WHERE l.row_no < 0 GROUP BY l.file_id
) d
WHERE logs.file_id = d.file_id AND logs.row_no < 0
"""
# The record ``$file_id:$row_no`` with the ``$before`` rows just older and the ``$after`` rows just newer, in
# time order (rows without a time first; ties by file_id, row_no), of every service or only the record's.
_CONTEXT = f"""
WITH target AS (
    SELECT coalesce(ts, '-infinity'::TIMESTAMP) AS k, file_id AS f, row_no AS r, service AS s
    FROM logs WHERE file_id = $file_id AND row_no = $row_no
), around AS (
    SELECT h.*, coalesce(h.ts, '-infinity'::TIMESTAMP) AS k FROM hits h, target t
    WHERE NOT $same_service OR h.service IS NOT DISTINCT FROM t.s
), older AS (
    SELECT a.* FROM around a, target t
    WHERE a.k < t.k OR (a.k = t.k AND (a.file_id < t.f OR (a.file_id = t.f AND a.row_no <= t.r)))
    ORDER BY a.k DESC, a.file_id DESC, a.row_no DESC LIMIT $before
), newer AS (
    SELECT a.* FROM around a, target t
    WHERE a.k > t.k OR (a.k = t.k AND (a.file_id > t.f OR (a.file_id = t.f AND a.row_no > t.r)))
    ORDER BY a.k, a.file_id, a.row_no LIMIT $after
)
SELECT {_HIT_COLUMNS} FROM (SELECT * FROM older UNION ALL SELECT * FROM newer) ORDER BY k, file_id, row_no
"""


def _memo(method: Callable[..., T]) -> Callable[..., T]:
    """Keep a query's answer until the loaded data changes (many page reruns ask the same thing)."""

    @functools.wraps(method)
    def cached(self: FileSource, *args: Any, **kwargs: Any) -> T:
        key = (method.__name__, self._generation, self.use_rollup, args, tuple(sorted(kwargs.items())))
        with self._memo_lock:
            if key in self._answers:
                self._answers.move_to_end(key)
                return self._answers[key]
        answer = method(self, *args, **kwargs)
        with self._memo_lock:
            self._answers[key] = answer
            while len(self._answers) > MEMO_ENTRIES:
                self._answers.popitem(last=False)
        return answer

    return cached


_FILE_COLUMNS = 'file_id, name, app, dev, ino, "offset", rows, records, malformed, compressed, fingerprint'
_ADVANCE = (
    'UPDATE files SET "offset" = ?, rows = ?, records = ?, malformed = ?, fingerprint = ?, name = ?, dev = ?, ino = ?, '
    "compressed = ? WHERE file_id = ?"
)
_FILE_MARKS = ", ".join("?" for _ in _FILE_COLUMNS.split(","))


def _connect(store: Path | None) -> duckdb.DuckDBPyConnection:
    """An in-memory database, or the store's file (created with its folder); a store in use is a clear error."""
    if store is None:
        return duckdb.connect(":memory:")
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        return duckdb.connect(str(store))
    except (OSError, duckdb.Error) as exc:
        why = IN_USE if "lock" in str(exc).lower() else str(exc)
        raise QueryError(f"cannot open the store {store}: {why}") from exc


@dataclass(slots=True)
class _FileState:
    file_id: int
    name: str
    app: str
    key: tuple[int, int]
    offset: int  # bytes read (always at a line boundary); for a .gz file: its whole size
    rows: int  # rows numbered so far (records and malformed lines)
    records: int
    malformed: int
    compressed: bool
    fingerprint: bytes = b""  # the file's first bytes when first read: tells a reused inode from the file read


@dataclass(slots=True)
class _Chunk:
    """Bytes of one file to load: the file itself (or a copy of its new range) and the offset after it."""

    state: _FileState
    path: Path
    end: int
    scratch: bool
    head: bytes = b""  # the file's first bytes, when this chunk starts it
    read: int | None = None  # bytes this chunk reads, when not ``end - state.offset`` (the tail of a .gz)
    before: _FileState | None = None  # the file's state before this chunk's file was adopted as its .gz

    @property
    def size(self) -> int:
        return self.end - self.state.offset if self.read is None else self.read


class FileSource:
    """Canonical records of every per-app file in ``log_dir``.

    With ``store`` (a DuckDB database file) the table and what has been read of each file persist: a
    new source over the same store reads only what the files gained since (see ``otel_logging/store``).
    Without it the table lives in memory and every new source reads the whole history again.
    """

    def __init__(
        self,
        log_dir: Path | str,
        *,
        min_refresh_interval_s: float = 1.0,
        threads: int | None = None,
        store: Path | str | None = None,
        memory_limit: str | None = None,
    ) -> None:
        self.log_dir = Path(log_dir).resolve()
        self.min_refresh_interval_s = min_refresh_interval_s
        self.store = Path(store).resolve() if store is not None else None
        self._con = _connect(self.store)
        self._con.execute("SET TimeZone = 'UTC'")
        self._con.execute("SET enable_progress_bar = false")
        if threads:
            self._con.execute(f"SET threads = {int(threads)}")
        if memory_limit:
            self._con.execute("SET memory_limit = ?", [memory_limit])
        self._con.execute(_CREATE)
        self.use_rollup = True  # answer from the per-minute roll-up when it can (False: always from ``logs``)
        self._lock = threading.Lock()
        self._problems: list[str] = []  # what went wrong in the last refresh
        self._generation = 0  # bumped whenever the loaded records or the file names change
        self._answers: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._memo_lock = threading.Lock()
        self._files: dict[tuple[int, int], _FileState] = {}
        self._dropped: list[int] = []  # file ids whose rows go in the next commit of the file states
        self._unadopted: dict[int, tuple[Any, ...]] = {}  # rows to commit for .gz files adopted with a tail to read
        self._committed: list[tuple[Any, ...]] = []  # the files table as last committed by _commit_files
        self._next_id = 1
        self._seq = 0  # the number of the last load committed: what snapshot() returns
        self._restore()
        where = f"files in {self.log_dir}" + (f" (store {self.store})" if self.store else "")
        self._status = SourceStatus(description=where, records=sum(st.records for st in self._files.values()))
        self._last_refresh = 0.0
        self._scratch = Path(tempfile.mkdtemp(prefix="otel-logging-dashboard-"))
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._scratch, True)

    # -- loading ---------------------------------------------------------------------------

    def refresh(self, force: bool = False, progress: ProgressCallback | None = None) -> SourceStatus:
        """Read what is new; ``progress(bytes done, bytes to read)`` is called as batches are loaded."""
        with self._lock:
            if not force and time.monotonic() - self._last_refresh < self.min_refresh_interval_s:
                return self._status
            self._problems = []
            before = self._signature()
            bytes_read = self._sync(list_log_files(self.log_dir), progress)
            if self._signature() != before:
                self._generation += 1
            self._last_refresh = time.monotonic()
            states = self._files.values()
            self._status = SourceStatus(
                description=self._status.description,
                records=sum(s.records for s in states),
                files=len(self._files),
                malformed=sum(s.malformed for s in states),
                last_updated=datetime.now(UTC),
                bytes_read_last=bytes_read,
                problems=self._problems,
            )
            if not self.log_dir.is_dir():
                self._status.problems = [f"log directory {self.log_dir} does not exist (yet)"]
            return self._status

    def status(self) -> SourceStatus:
        return self._status

    def _signature(self) -> tuple[tuple[int, str, int, int], ...]:
        return tuple(sorted((st.file_id, st.name, st.offset, st.rows) for st in self._files.values()))

    def _sync(self, listing: list[LogFile], progress: ProgressCallback | None = None) -> int:
        names = {f.name for f in listing}
        # A .gz whose plain file is still there is being compressed: it has the same records; wait for it.
        listing = [f for f in listing if not (f.compressed and f.name[:-3] in names)]
        present = {f.key: f for f in listing}
        vanished = [state for key, state in self._files.items() if key not in present]
        for log_file in listing:
            state = self._files.get(log_file.key)
            if state is None or not state.fingerprint:
                continue
            head = _head(log_file, len(state.fingerprint))
            if head is not None and head != state.fingerprint:
                # The file read under this inode is gone and a new one (say the next live file) got its inode.
                del self._files[log_file.key]
                vanished.append(state)
        chunks: list[_Chunk] = []
        for log_file in listing:
            state = self._files.get(log_file.key)
            if state is None and (tail := self._adopt_compressed(log_file, vanished)) is not None:
                chunks.append(tail)
                continue
            state = self._files.get(log_file.key)
            if state is None:
                state = self._new_state(log_file)
            # Either the file read before under this inode (renamed at most) or one not read yet:
            # its name and kind are the listing's.
            state.name, state.app, state.compressed = log_file.name, log_file.app, log_file.compressed
            if state.compressed and state.offset:
                continue  # a compressed file never changes
            if log_file.size < state.offset:  # truncated or replaced in place: read it again
                self._drop(state)
                del self._files[log_file.key]
                state = self._new_state(log_file)
            chunk = self._plan_read(log_file, state)
            if chunk is not None:
                chunks.append(chunk)
        for state in vanished:
            self._drop(state)
            if self._files.get(state.key) is state:
                del self._files[state.key]
        self._commit_files()
        return self._load_in_batches(chunks, progress)

    # -- what has been read, persisted -------------------------------------------------------

    def _restore(self) -> None:
        """Take up the file states, the load number and the next file id of a store (nothing in memory)."""
        meta = dict(self._con.execute("SELECT key, value FROM meta").fetchall())
        if not meta:
            self._con.execute("INSERT INTO meta VALUES ('version', ?), ('seq', 0), ('next_id', 1)", [STORE_VERSION])
            return
        if meta.get("version") == WORDLESS_VERSION:
            self._add_word_index()
            meta["version"] = STORE_VERSION
        if meta.get("version") != STORE_VERSION:
            raise QueryError(
                f"the store {self.store} was written by another version of otel-logging (store version "
                f"{meta.get('version')}, this one reads {STORE_VERSION}): run `otel-logging store rebuild`"
            )
        self._seq, self._next_id = int(meta["seq"]), int(meta["next_id"])
        for row in self._con.execute(f"SELECT {_FILE_COLUMNS} FROM files").fetchall():
            file_id, name, app, dev, ino, offset, rows, records, malformed, compressed, fingerprint = row
            key = (int(dev), int(ino))
            self._files[key] = _FileState(
                file_id, name, app, key, offset, rows, records, malformed, compressed, bytes(fingerprint or b"")
            )

    def _add_word_index(self) -> None:
        """Upgrade a store of the version before the word index: the index is built from its rows."""
        con = self._con
        con.execute("BEGIN TRANSACTION")
        try:
            words.build(con)
            con.execute("UPDATE meta SET value = ? WHERE key = 'version'", [STORE_VERSION])
            con.execute("COMMIT")
        except duckdb.Error:
            con.execute("ROLLBACK")
            raise

    def _commit_files(self) -> None:
        """Drop the rows of the files gone and record every file's state, in one transaction (if any changed)."""
        rows = [self._unadopted.pop(st.file_id, ()) or _file_row(st) for st in self._files.values()]
        if not self._dropped and sorted(rows) == self._committed:
            return
        con = self._con
        con.execute("BEGIN TRANSACTION")
        try:
            if self._dropped:
                con.execute("DELETE FROM logs WHERE file_id IN (SELECT unnest(?))", [self._dropped])
                rollup.drop_files(con, self._dropped)
                trace_index.drop_files(con, self._dropped)
                words.drop_files(con, self._dropped)
            con.execute("DELETE FROM files")
            if rows:
                con.executemany(f"INSERT INTO files ({_FILE_COLUMNS}) VALUES ({_FILE_MARKS})", rows)
            con.execute("UPDATE meta SET value = ? WHERE key = 'next_id'", [self._next_id])
            con.execute("COMMIT")
        except duckdb.Error:
            con.execute("ROLLBACK")
            raise
        self._dropped = []
        self._committed = sorted(rows)

    def _load_in_batches(self, chunks: list[_Chunk], progress: ProgressCallback | None) -> int:
        """Load the chunks about ``LOAD_BATCH_BYTES`` at a time, reporting progress after each batch."""
        total = sum(c.size for c in chunks)
        if progress is not None and total:
            progress(0, total)
        done = 0
        batch: list[_Chunk] = []
        size = 0
        for chunk in chunks:
            batch.append(chunk)
            size += chunk.size
            if size >= LOAD_BATCH_BYTES or chunk is chunks[-1]:
                done += self._load_batch(batch)
                batch, size = [], 0
                if progress is not None:
                    progress(done, total)
        return done

    def _load_batch(self, batch: list[_Chunk]) -> int:
        """Load a batch in one transaction; if that fails (a file gone since it was planned, say), each chunk alone,
        so that one chunk does not hold back the others. An adoption whose tail could not be loaded is undone:
        the next refresh adopts the file again (the store still has it as it was)."""
        try:
            loaded = self._load(batch)
            if loaded is not None:
                return loaded
            done = 0
            for chunk in batch:
                one = self._load([chunk]) if len(batch) > 1 else None
                if one is None:
                    self._undo_adoption(chunk)
                else:
                    done += one
            return done
        finally:
            for chunk in batch:
                if chunk.scratch:
                    chunk.path.unlink(missing_ok=True)

    def _undo_adoption(self, chunk: _Chunk) -> None:
        if chunk.before is None:
            return
        if self._files.get(chunk.state.key) is chunk.state:
            del self._files[chunk.state.key]
        self._files[chunk.before.key] = chunk.before

    def _adopt_compressed(self, log_file: LogFile, vanished: list[_FileState]) -> _Chunk | None:
        """A ``.gz`` that replaced a file already read (rotated, then compressed) carries the same records.

        It is recognised by its app and its first bytes (under whatever name the file had when read), so a
        rotation and compression that happened while nothing was reading is followed too. Lines the file got
        after the last read (and before its rotation) are read from the compressed stream: the returned chunk.
        """
        if not log_file.compressed:
            return None
        candidates = [s for s in vanished if not s.compressed and s.offset and s.fingerprint and s.app == log_file.app]
        if not candidates:
            return None
        plain_head = _gz_head(log_file.path, FINGERPRINT_BYTES)
        raw_head = _head(log_file, FINGERPRINT_BYTES)
        for state in candidates:
            if plain_head is None or raw_head is None or not plain_head.startswith(state.fingerprint):
                continue
            if self._files.get(state.key) is state:
                del self._files[state.key]
            vanished.remove(state)
            before = _file_row(state)
            snapshot = replace(state)
            read = state.offset
            state.key, state.name, state.compressed = log_file.key, log_file.name, True
            self._files[log_file.key] = state
            tail = self._scratch / f"{state.file_id}-gz-{read}.jsonl"
            copied = _copy_gz_tail(log_file.path, tail, read)
            state.fingerprint = raw_head  # from now on the file is known by its compressed bytes
            if copied is None:
                self._problems.append(f"could not read {log_file.name}")
                state.offset = log_file.size
                return None
            if copied == 0:
                tail.unlink(missing_ok=True)
                state.offset = log_file.size
                return None
            # Until its tail is loaded, the store keeps the file as it was: a kill before that load commits
            # finds it vanished again at the next start and adopts it again (the tail is not lost).
            self._unadopted[state.file_id] = before
            return _Chunk(state, tail, log_file.size, scratch=True, read=copied, before=snapshot)
        return None

    def _new_state(self, log_file: LogFile) -> _FileState:
        state = _FileState(self._next_id, log_file.name, log_file.app, log_file.key, 0, 0, 0, 0, log_file.compressed)
        self._next_id += 1
        self._files[log_file.key] = state
        return state

    def _drop(self, state: _FileState) -> None:
        self._dropped.append(state.file_id)

    def _plan_read(self, log_file: LogFile, state: _FileState) -> _Chunk | None:
        """What to load of ``log_file``: its complete lines after ``state.offset``.

        The file is opened once and checked to be the one listed (a rotation may have renamed
        it since), and every byte planned comes from that open file.
        """
        try:
            with open(log_file.path, "rb") as f:
                fd = f.fileno()
                info = os.fstat(fd)
                if (info.st_dev, info.st_ino) != log_file.key:
                    return None  # renamed or replaced since it was listed: the next refresh sees it as it is
                head = b"" if state.fingerprint else os.pread(fd, FINGERPRINT_BYTES, 0)
                if log_file.compressed:
                    return _Chunk(state, log_file.path, info.st_size, scratch=False, head=head)
                end = last_line_end(fd, state.offset, info.st_size)
                if end <= state.offset:
                    return None
                if state.offset == 0 and end == info.st_size and log_file.rotated:
                    return _Chunk(state, log_file.path, end, scratch=False, head=head)
                # A growing file: copy exactly the new complete lines, so a line being written is not half-read.
                copy = self._scratch / f"{state.file_id}-{state.offset}.jsonl"
                _copy_range(fd, copy, state.offset, end)
                return _Chunk(state, copy, end, scratch=True, head=head[:end])
        except OSError as exc:
            self._problems.append(f"could not read {log_file.name}: {exc}")
            return None

    def _load(self, chunks: list[_Chunk]) -> int | None:
        """Load every chunk in one statement; count and drop the lines that are not records (None: it failed)."""
        if not chunks:
            return 0
        con = self._con
        file_ids = [c.state.file_id for c in chunks]
        first_rows = [c.state.rows for c in chunks]
        seq = self._seq + 1
        try:
            con.execute("BEGIN TRANSACTION")
            con.execute(
                _INSERT,
                {
                    "paths": [str(c.path) for c in chunks],
                    "indexes": list(range(len(chunks))),
                    "file_ids": file_ids,
                    "seq": seq,
                },
            )
            counts = con.execute(_NEW_ROWS).fetchall()
            con.execute(_NUMBER, {"file_ids": file_ids, "first_rows": first_rows})
            if any(malformed for _, _, malformed in counts):
                con.execute(f"DELETE FROM logs WHERE {_MALFORMED}")
            by_file = {file_id: (rows, malformed) for file_id, rows, malformed in counts}
            read_before = {c.state.file_id for c in chunks if c.state.rows}
            rollup.add_load(con, seq, read_before)
            trace_index.add_load(con, seq)
            words.add_load(con, seq, read_before)
            con.executemany(
                _ADVANCE,
                [_advanced(c, *by_file.get(c.state.file_id, (0, 0))) for c in chunks],
            )
            con.execute("UPDATE meta SET value = ? WHERE key = 'seq'", [seq])
            con.execute("COMMIT")
            self._seq = seq  # only once its rows are visible: a token never covers rows still to come
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            names = ", ".join(c.state.name for c in chunks)
            self._problems.append(f"could not load {names}: {exc}")
            return None
        consumed = 0
        for chunk in chunks:
            state = chunk.state
            rows, malformed = by_file.get(state.file_id, (0, 0))
            state.rows += rows
            state.records += rows - malformed
            state.malformed += malformed
            consumed += chunk.size
            state.offset = chunk.end
            if not state.fingerprint:
                state.fingerprint = chunk.head
        return consumed

    # -- queries ---------------------------------------------------------------------------

    def _run(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        try:
            return self._con.cursor().execute(sql, params or []).fetchall()
        except duckdb.Error as exc:
            raise QueryError(f"query failed: {exc}") from exc

    def _where(self, flt: LogFilter) -> tuple[str, list[Any]]:
        return where_sql(flt)

    def apps(self) -> list[AppFiles]:
        grouped: dict[str, list[str]] = {}
        for log_file in list_log_files(self.log_dir):
            grouped.setdefault(log_file.app, []).append(log_file.name)
        return [AppFiles(app, names) for app, names in sorted(grouped.items())]

    def _from_rollup(
        self,
        flt: LogFilter,
        ask: Callable[[duckdb.DuckDBPyConnection, rollup.Counted], T],
        bucket_seconds: int | None = None,
    ) -> T | None:
        """``ask(cursor, counted)`` for ``flt`` in one snapshot of the store, ``counted`` telling how the per-minute
        roll-up or the word index counts its rows; None when neither can answer exactly (other fields, a
        message search the word index cannot answer, ``until`` before the last load, or ``bucket_seconds`` not
        whole buckets of the index)."""
        if not self.use_rollup or flt.after is not None:  # the roll-up does not know when its rows arrived
            return None
        search = None if rollup.eligible(flt) else words.word_search(flt)
        if search is None and not rollup.eligible(flt):
            return None
        if bucket_seconds is not None:
            unit = words.HOUR if search is not None else rollup.MINUTE
            if int(bucket_seconds) % int(unit.total_seconds()):
                return None
        logs_where, logs_params = self._where(rollup.without_time(flt))
        if search is None:
            counted = rollup.counted(logs_where, logs_params, flt)
        else:
            rest, rest_params = query_sql_of(search.rest)
            where, params = self._where(words.without_query(rollup.without_time(flt)))
            counted = rollup.Counted(
                words.table_of(search.word),
                "hour",
                words.HOUR,
                f"({where}) AND ({rest})",
                [*params, *rest_params],
                logs_where,
                logs_params,
                rollup.split(flt, words.HOUR, "hour"),
            )
        cursor = self._con.cursor()
        try:
            cursor.execute("BEGIN TRANSACTION")
            try:
                # The rows and the load number are committed together: read both in the same snapshot.
                seq = cursor.execute("SELECT value FROM meta WHERE key = 'seq'").fetchall()
                if flt.until is not None and (not seq or int(seq[0][0]) > flt.until):
                    return None
                if search is not None:
                    word = words.indexed_word(cursor, counted, search.word)
                    if word is None:
                        return None
                    counted = replace(counted, table=words.table_of(word), extra="word = ?", extra_params=(word,))
                return ask(cursor, counted)
            finally:
                cursor.execute("ROLLBACK")
        except duckdb.Error as exc:
            raise QueryError(f"query failed: {exc}") from exc

    def _count(self, flt: LogFilter) -> int:
        def ask(cursor: duckdb.DuckDBPyConnection, counted: rollup.Counted) -> int:
            relation, values = counted.relation()
            return int(cursor.execute(f"SELECT coalesce(sum(n), 0) FROM ({relation})", values).fetchall()[0][0])

        answer = self._from_rollup(flt, ask)
        if answer is not None:
            return answer
        where, params = self._where(flt)
        return int(self._run(f"SELECT count(*) FROM logs WHERE {where}", params)[0][0])

    @_memo
    def count(self, flt: LogFilter) -> int:
        return self._count(flt)

    @_memo
    def time_bounds(self, flt: LogFilter) -> tuple[datetime | None, datetime | None]:
        def ask(cursor: duckdb.DuckDBPyConnection, counted: rollup.Counted) -> tuple[Any, Any]:
            # The first and last buckets in the index, then the exact times within them (and in the edges).
            whole, whole_values = counted.whole_sql()
            first, last = cursor.execute(
                f"SELECT min({counted.column}), max({counted.column}) FROM {counted.table} WHERE {whole}",
                whole_values,
            ).fetchall()[0]
            ranges = list(counted.parts.edges)
            ranges += [(m, m + counted.unit) for m in (first, last) if m is not None]
            if not ranges:
                return None, None
            sql = " UNION ALL ".join(
                f"SELECT min(ts) AS low, max(ts) AS high FROM logs WHERE ({counted.logs_where}) AND ts >= ? AND ts < ?"
                for _ in ranges
            )
            values = [v for low, high in ranges for v in (*counted.logs_params, low, high)]
            low, high = cursor.execute(f"SELECT min(low), max(high) FROM ({sql})", values).fetchall()[0]
            return low, high

        answer = self._from_rollup(flt, ask)
        if answer is None:
            where, params = self._where(flt)
            answer = self._run(f"SELECT min(ts), max(ts) FROM logs WHERE {where}", params)[0]
        low, high = answer
        return _utc(low), _utc(high)

    @_memo
    def page(self, flt: LogFilter, offset: int = 0, limit: int = 100) -> Page:
        where, params = self._where(flt)
        n = max(int(offset) + int(limit), 1)
        # The newest matches are usually recent: first look in the hour before the newest record (the row
        # groups' min/max of ts skip the rest); if that hour holds the page, only a count of the whole set is
        # left. Otherwise one pass over the whole set counts and keeps the newest keys.
        top = self._newest_time()
        if flt.end_utc is not None and top is not None:
            top = min(top, flt.end_utc.replace(tzinfo=None))
        newest: list[dict[str, Any]] | None = None
        if top is not None:
            found, newest = self._newest_keys(f"({where}) AND ts >= ?", [*params, top - RECENT_WINDOW], n)
            if found >= n:
                total = self._count(flt)
            else:
                newest = None
        if newest is None and (since := self._newest_minutes_holding(flt, n)) is not None:
            # The roll-up tells from which minute on the page's matches are: read only those row groups.
            newest = self._newest_keys(f"({where}) AND ts >= ?", [*params, since], n)[1]
            total = self._count(flt)
        if newest is None:
            total, newest = self._newest_keys(where, params, n)
        keys = [(k["ts"], k["f"], k["r"]) for k in (newest or [])[int(offset) : n]]
        return Page(self._hits_of(keys), int(total), offset, limit)

    def _newest_minutes_holding(self, flt: LogFilter, n: int) -> datetime | None:
        """The latest minute from which on at least ``n`` rows match ``flt`` (None: the roll-up cannot tell, or
        fewer than ``n`` rows with a time match). The newest ``n`` matches are all at or after it."""

        def ask(cursor: duckdb.DuckDBPyConnection, counted: rollup.Counted) -> datetime | None:
            relation, values = counted.relation()
            found = cursor.execute(
                "SELECT m FROM (SELECT m, sum(c) OVER (ORDER BY m DESC ROWS UNBOUNDED PRECEDING) AS upto FROM ("
                f"SELECT date_trunc('minute', ts) AS m, sum(n) AS c FROM ({relation}) WHERE ts IS NOT NULL GROUP BY m"
                ")) WHERE upto >= ? ORDER BY m DESC LIMIT 1",
                [*values, n],
            ).fetchall()
            return found[0][0] if found else None

        return self._from_rollup(flt, ask)

    def _newest_keys(self, where: str, params: list[Any], n: int) -> tuple[int, list[dict[str, Any]] | None]:
        """How many rows match, and the keys of the newest ``n`` (time, then file_id, row_no; no time last)."""
        total, newest = self._run(
            f"SELECT count(*), max_by({{'ts': ts, 'f': file_id, 'r': row_no}}, "
            f"{{'k': coalesce(ts, '-infinity'::TIMESTAMP), 'f': file_id, 'r': row_no}}, ?) FROM logs WHERE {where}",
            [n, *params],
        )[0]
        return int(total), newest

    def _newest_time(self) -> datetime | None:
        value = self.time_bounds(LogFilter())[1]
        return value.replace(tzinfo=None) if value is not None else None

    def _hits_of(self, keys: list[tuple[Any, ...]]) -> list[Hit]:
        """The records of ``(ts, file_id, row_no)`` keys, in the keys' order (the time range narrows the scan)."""
        if not keys:
            return []
        times = [ts for ts, _, _ in keys if ts is not None]
        in_range = "ts BETWEEN ? AND ?" if times else "FALSE"
        if len(times) < len(keys):
            in_range += " OR ts IS NULL"
        rows = self._run(
            f"SELECT {_HIT_COLUMNS}, file_id FROM hits WHERE ({in_range}) "
            "AND file_id::BIGINT * 1099511627776 + row_no IN (SELECT unnest(?::BIGINT[]))",
            [*([min(times), max(times)] if times else []), [f * 1099511627776 + r for _, f, r in keys]],
        )
        found = {(row[-1], row[1]): row[:-1] for row in rows}
        return [_hit(found[(f, r)]) for _, f, r in keys if (f, r) in found]

    @_memo
    def volume(self, flt: LogFilter, bucket_seconds: int) -> Volume:
        def ask(cursor: duckdb.DuckDBPyConnection, counted: rollup.Counted) -> list[tuple[Any, ...]]:
            # A bucket of whole minutes (hours) starts on a minute (hour) (time_bucket's origin is a midnight): a
            # row's minute (hour) falls in the bucket of its time.
            relation, values = counted.relation()
            return cursor.execute(
                f"SELECT time_bucket(to_seconds(?), ts) AS bucket, level, sum(n)::BIGINT FROM ({relation}) "
                "WHERE ts IS NOT NULL GROUP BY ALL ORDER BY bucket, level",
                [int(bucket_seconds), *values],
            ).fetchall()

        rows = self._from_rollup(flt, ask, bucket_seconds=int(bucket_seconds))
        if rows is None:
            where, params = self._where(flt)
            rows = self._run(
                f"SELECT time_bucket(to_seconds(?), ts) AS bucket, level, count(*) FROM logs "
                f"WHERE ts IS NOT NULL AND {where} GROUP BY ALL ORDER BY bucket, level",
                [int(bucket_seconds), *params],
            )
        return Volume(bucket_seconds, [VolumeBucket(_utc(b) or datetime.min, lv, int(n)) for b, lv, n in rows])

    @_memo
    def top_values(self, flt: LogFilter, fld: FieldRef, limit: int = 10) -> list[ValueCount]:
        expr, fparams = field_sql(fld)
        rows = None
        if not fld.key and fld.column in rollup.COLUMNS:  # the three pickers' fields: one pass answers all
            rows = self._facet_counts(flt)[fld.column][: int(limit)]
        if rows is None:
            where, params = self._where(flt)
            rows = self._run(
                f"SELECT v, count(*) AS n FROM (SELECT {expr} AS v FROM logs WHERE {where}) "
                "WHERE v IS NOT NULL GROUP BY v ORDER BY n DESC, v LIMIT ?",
                [*fparams, *params, int(limit)],
            )
        return [ValueCount(str(v), int(n)) for v, n in rows]

    @_memo
    def _facet_counts(self, flt: LogFilter) -> dict[str, list[tuple[str, int]]]:
        """Every value of service, level and logger with its count under ``flt``, most frequent first (then by
        value), in one pass: over the roll-up when it can answer, else over the rows. The pickers ask for all
        three, and for several lengths of each."""
        grouping = (
            "SELECT service, level, logger, grouping(service), grouping(level), {n} FROM ({relation}) "
            "GROUP BY GROUPING SETS ((service), (level), (logger))"
        )

        def ask(cursor: duckdb.DuckDBPyConnection, counted: rollup.Counted) -> list[tuple[Any, ...]]:
            relation, values = counted.relation()
            return cursor.execute(grouping.format(n="sum(n)::BIGINT", relation=relation), values).fetchall()

        rows = self._from_rollup(flt, ask)
        if rows is None:
            where, params = self._where(flt)
            rows = self._run(
                grouping.format(n="count(*)", relation=f"SELECT service, level, logger FROM logs WHERE {where}"),
                params,
            )
        facets: dict[str, list[tuple[str, int]]] = {"service": [], "level": [], "logger": []}
        for service, level, logger, no_service, no_level, n in rows:
            column, value = (
                ("service", service) if not no_service else ("level", level) if not no_level else ("logger", logger)
            )
            if value is not None:
                facets[column].append((value, int(n)))
        for counts in facets.values():
            counts.sort(key=lambda vc: (-vc[1], vc[0]))  # as ORDER BY n DESC, v (UTF-8 sorts by code point)
        return facets

    @_memo
    def field_names(self, flt: LogFilter) -> list[str]:
        where, params = self._where(flt)
        names = list(TOP_LEVEL_FIELDS)
        for column in ("attributes", "resource"):
            rows = self._run(
                f"SELECT DISTINCT unnest(json_keys({column})) AS k FROM "
                f"(SELECT {column} FROM logs WHERE {where} LIMIT 20000) ORDER BY k",
                params,
            )
            names.extend(f"{column}.{k}" for (k,) in rows)
        return names

    @_memo
    def patterns(self, flt: LogFilter, limit: int = 50) -> list[PatternGroup]:
        where, params = self._where(flt)
        low, high = flt.start_utc, flt.end_utc
        if low is None or high is None:
            bounds = self.time_bounds(flt)
            low, high = low or bounds[0], high or bounds[1]
        if low is None or high is None:
            return []
        middle = (low + (high - low) / 2).replace(tzinfo=None)
        with self._lock:  # templates are computed once per record, for the records asked about
            try:
                self._con.execute(
                    f"UPDATE logs SET template = {template_sql('message')} WHERE template IS NULL AND {where}", params
                )
            except duckdb.Error as exc:
                raise QueryError(f"query failed: {exc}") from exc
        rows = self._run(
            "SELECT coalesce(template, ''), count(*) AS n, min(ts), max(ts), "
            "count(*) FILTER (WHERE ts >= ?) - count(*) FILTER (WHERE ts < ?) AS growth, any_value(message) "
            f"FROM logs WHERE {where} GROUP BY ALL ORDER BY growth DESC, n DESC, 1 LIMIT ?",
            [middle, middle, *params, int(limit)],
        )
        return [PatternGroup(t, int(n), _utc(first), _utc(last), int(g), ex or "") for t, n, first, last, g, ex in rows]

    @_memo
    def trace(self, trace_id: str, limit: int = 10_000) -> list[Hit]:
        wanted = trace_id.strip().lower()
        # First where the trace's rows are: a hex id from the trace index (one sixteenth of the keys, 8 bytes
        # each), any other from ``logs``; then only the rows found are read whole (their time range skips the rest).
        table = trace_index.table_of(wanted)
        if table is None:
            keys = self._run(
                "SELECT ts, file_id, row_no FROM logs WHERE trace_id = ? ORDER BY ts, file_id, row_no LIMIT ?",
                [wanted, int(limit)],
            )
            return self._hits_of(keys)
        keys = self._run(
            f"SELECT ts, file_id, row_no FROM {table} WHERE trace_key = {trace_index.KEY_SQL.format(id='?')} "
            "ORDER BY ts, file_id, row_no",
            [wanted],
        )
        # ids that share their first 16 digits are told apart by the whole id
        return [hit for hit in self._hits_of(keys) if hit.record.get("trace_id") == wanted][: int(limit)]

    def _locate(self, ref: str) -> tuple[int | None, int, str]:
        """(file_id or None if no such file is loaded, row_no, file name) of a ``<file name>:<row>`` reference."""
        name, sep, row_text = ref.rpartition(":")
        if not sep or not row_text.isdigit():
            raise QueryError(f"{ref!r} is not a record reference (<file name>:<row>)")
        found = self._run("SELECT file_id FROM files WHERE name = ?", [name])
        return (int(found[0][0]) if found else None), int(row_text), name

    @_memo
    def hit(self, ref: str) -> Hit | None:
        file_id, row_no, _ = self._locate(ref)
        if file_id is None:
            return None
        rows = self._run(f"SELECT {_HIT_COLUMNS} FROM hits WHERE file_id = ? AND row_no = ?", [file_id, row_no])
        return _hit(rows[0]) if rows else None

    @_memo
    def context(self, ref: str, before: int = 10, after: int = 10, same_service: bool = False) -> list[Hit]:
        """Time order across files: ``ts``, then file_id, row_no (a record without a time is the oldest)."""
        file_id, row_no, name = self._locate(ref)
        if file_id is None:
            raise QueryError(f"no file {name!r} in {self.log_dir}: it may have been rotated or deleted")
        params = {
            "file_id": file_id,
            "row_no": row_no,
            "same_service": bool(same_service),
            "before": max(int(before), 0) + 1,  # the record itself is the newest of the older side
            "after": max(int(after), 0),
        }
        try:
            rows = self._con.cursor().execute(_CONTEXT, params).fetchall()
        except duckdb.Error as exc:
            raise QueryError(f"query failed: {exc}") from exc
        if not rows:
            raise QueryError(f"no record {ref!r}: {name} has no row {row_no}")
        return [_hit(row) for row in rows]

    def snapshot(self) -> int:
        """The number of the last load: rows loaded since have a larger ``seq``."""
        return self._seq

    def newer_than(self, flt: LogFilter, token: int) -> int:
        return self.count(replace(flt, until=None, after=token))

    def export(self, flt: LogFilter, fmt: ExportFormat) -> Iterator[bytes]:
        yield from export_chunks(self.all_hits(flt), fmt)

    def all_hits(self, flt: LogFilter, *, oldest_first: bool = False, batch: int = 5000) -> Iterator[list[Hit]]:
        where, params = self._where(flt)
        order = (
            "ts ASC NULLS FIRST, file_id ASC, row_no ASC"
            if oldest_first
            else "ts DESC NULLS LAST, file_id DESC, row_no DESC"
        )
        cursor = self._con.cursor()
        try:
            cursor.execute(f"SELECT {_HIT_COLUMNS} FROM hits WHERE {where} ORDER BY {order}", params)
            while rows := cursor.fetchmany(batch):
                yield [_hit(row) for row in rows]
        except duckdb.Error as exc:
            raise QueryError(f"query failed: {exc}") from exc

    def close(self) -> None:
        self._con.close()
        self._cleanup()


def where_sql(flt: LogFilter) -> tuple[str, list[Any]]:
    """The WHERE clause (over table ``logs``) and its parameters for ``flt``."""
    clauses: list[str] = ["TRUE"]
    params: list[Any] = []
    if flt.apps:
        marks = ", ".join("?" for _ in flt.apps)
        clauses.append(f"file_id IN (SELECT file_id FROM files WHERE app IN ({marks}))")
        params.extend(flt.apps)
    if flt.files:
        marks = ", ".join("?" for _ in flt.files)
        clauses.append(f"file_id IN (SELECT file_id FROM files WHERE name IN ({marks}))")
        params.extend(flt.files)
    if flt.start_utc is not None:
        clauses.append("ts >= ?")
        params.append(flt.start_utc.replace(tzinfo=None))
    if flt.end_utc is not None:
        clauses.append("ts < ?")
        params.append(flt.end_utc.replace(tzinfo=None))
    if flt.until is not None:
        clauses.append("seq <= ?")
        params.append(int(flt.until))
    if flt.after is not None:
        clauses.append("seq > ?")
        params.append(int(flt.after))
    if flt.query.strip():
        sql, qparams = query_sql(flt.query, flt.query_zone)
        clauses.append(sql)
        params.extend(qparams)
    return " AND ".join(clauses), params


@functools.lru_cache(maxsize=256)
def _compiled_query(text: str, zone: str) -> tuple[str, tuple[Any, ...]]:
    from otel_logging.dashboard.querylang import parse, to_sql, zone_named

    sql, params = to_sql(parse(text, zone_named(zone)))
    return sql, tuple(params)


def query_sql_of(node: Any) -> tuple[str, list[Any]]:
    """A parsed query (a querylang node, or None) as a WHERE fragment over ``logs`` and its parameters."""
    from otel_logging.dashboard.querylang import to_sql

    return to_sql(node)


def query_sql(text: str, zone: str = "UTC") -> tuple[str, list[Any]]:
    """The query language's ``text`` as a WHERE fragment over ``logs`` and its parameters (QuerySyntaxError);
    times in it without an offset are in the IANA time zone ``zone``."""
    sql, params = _compiled_query(text, zone)
    return sql, list(params)


def field_sql(fld: FieldRef) -> tuple[str, list[Any]]:
    """A text-valued SQL expression for a field, and its parameters."""
    if not fld.key:
        if fld.column not in TOP_LEVEL_FIELDS:
            raise QueryError(f"unknown field {fld.column!r}")
        return f"CAST({_q(fld.column)} AS VARCHAR)", []
    flat = '$."' + fld.key.replace('"', '\\"') + '"'
    nested = "$" + "".join('."' + part.replace('"', '\\"') + '"' for part in fld.key.split("."))
    column = _q(fld.column)
    if flat == nested:
        return f"json_extract_string({column}, ?)", [flat]
    return f"coalesce(json_extract_string({column}, ?), json_extract_string({column}, ?))", [flat, nested]


def _hit(row: tuple[Any, ...]) -> Hit:
    file_name, row_no, level, *values = row
    record: dict[str, Any] = {}
    for name, value in zip(RECORD_COLUMNS, values, strict=True):
        if value is None and name not in _REQUIRED:
            continue
        record[name] = orjson.loads(value) if name in JSON_COLUMNS and value is not None else value
    return Hit(record, level, f"{file_name}:{row_no}")


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _is_hex(text: str) -> bool:
    return 0 < len(text) <= 32 and all(c in "0123456789abcdef" for c in text)


def _gz_head(path: Path, length: int) -> bytes | None:
    """The first ``length`` bytes of a gzip file's content, or None if it cannot be read."""
    try:
        with gzip.open(path, "rb") as f:
            return f.read(length)
    except (OSError, EOFError):
        return None


def _copy_gz_tail(path: Path, target: Path, start: int) -> int | None:
    """Copy a gzip file's content after its first ``start`` bytes to ``target``: the bytes copied (None: unreadable)."""
    try:
        with gzip.open(path, "rb") as src, open(target, "wb") as dst:
            skip = start
            while skip:
                block = src.read(min(skip, 1 << 20))
                if not block:
                    return 0
                skip -= len(block)
            copied = 0
            for block in iter(lambda: src.read(1 << 20), b""):
                dst.write(block)
                copied += len(block)
            return copied
    except (OSError, EOFError):
        return None


def _file_row(st: _FileState) -> tuple[Any, ...]:
    return (
        st.file_id,
        st.name,
        st.app,
        *st.key,
        st.offset,
        st.rows,
        st.records,
        st.malformed,
        st.compressed,
        st.fingerprint,
    )


def _advanced(chunk: _Chunk, rows: int, malformed: int) -> tuple[Any, ...]:
    """The ``files`` row values of ``chunk``'s file once the chunk is loaded (the UPDATE's parameters)."""
    st = chunk.state
    fingerprint = st.fingerprint or chunk.head
    counts = (st.rows + rows, st.records + rows - malformed, st.malformed + malformed)
    return (chunk.end, *counts, fingerprint, st.name, *st.key, st.compressed, st.file_id)


def _head(log_file: LogFile, length: int) -> bytes | None:
    """The first ``length`` bytes of the listed file, or None if it cannot be read or was replaced since."""
    try:
        with open(log_file.path, "rb") as f:
            info = os.fstat(f.fileno())
            if (info.st_dev, info.st_ino) != log_file.key:
                return None
            return os.pread(f.fileno(), length, 0)
    except OSError:
        return None


def _copy_range(fd: int, target: Path, start: int, end: int) -> None:
    """Copy bytes ``[start, end)`` of the open file ``fd`` to a new file ``target`` (in the kernel when it can)."""
    with open(target, "wb") as dst:
        offset = start
        try:
            while offset < end:
                copied = os.copy_file_range(fd, dst.fileno(), end - offset, offset)
                if copied == 0:
                    break
                offset += copied
        except OSError:  # file systems without copy_file_range: plain reads
            while offset < end:
                data = os.pread(fd, min(1 << 20, end - offset), offset)
                if not data:
                    break
                dst.write(data)
                offset += len(data)
