"""The log store: a persistent, columnar copy of the per-app JSONL files, kept up to date incrementally.

The per-app files stay the source of truth (what the service acknowledges). The store is derived from
them and can always be rebuilt from them (``otel-logging store rebuild``).

Design (see docs/store.md):

- One DuckDB database file, by default ``<log-dir>/.otel-logging/store.duckdb``. DuckDB keeps each column
  compressed on disk (dictionary, FSST for text, bit-packing) and a min/max per row group of ~122,000
  rows; rows are inserted in time order per load, so a filter on time skips the row groups of other times.
  Memory is the buffer manager's (``memory_limit``), not the size of the history.
- The table of what has been read of each file (inode, offset, fingerprint, rows) is committed in the
  same transaction as the rows read: after a kill -9 at any point the store holds every record of the
  files exactly once and resumes from its last commit. Rotation, gzip of rotated files, truncation,
  deletion and inode reuse are followed as the in-memory files source always did (one code path:
  ``otel_logging.dashboard.sources.files.FileSource`` with ``store=``).
- One process maintains and queries a store at a time (DuckDB locks the file): the dashboard does it
  as it reads; ``otel-logging store follow`` does it with no dashboard running. Alerts over the files are
  evaluated by that same process (``--alerts``, ``otel_logging/alerts/host.py``), on the same store.
"""

from __future__ import annotations

from pathlib import Path

STORE_DIR = ".otel-logging"
STORE_FILE = "store.duckdb"
MEMORY_LIMIT = "512MB"  # DuckDB's buffer for the store: the dashboard's memory no longer grows with history


def default_store_path(log_dir: Path) -> Path:
    """Where the store of ``log_dir`` lives unless told otherwise."""
    return Path(log_dir) / STORE_DIR / STORE_FILE


def store_files(store: Path) -> list[Path]:
    """The store's file and its write-ahead log (those that exist)."""
    return [p for p in (store, store.with_name(store.name + ".wal")) if p.exists()]


IN_USE = "another process has it open (one dashboard or `otel-logging store` command per store at a time)"


def store_in_use(store: Path) -> bool:
    """Whether another process holds the store (DuckDB's lock on its file)."""
    import duckdb  # only the store's commands pay for the engine

    if not store.exists():
        return False
    try:
        duckdb.connect(str(store)).close()
    except duckdb.Error as exc:
        return "lock" in str(exc).lower()
    return False


def remove_store(store: Path) -> None:
    """Delete a store (it is rebuilt from the files by the next source that opens it)."""
    for path in store_files(store):
        path.unlink()
