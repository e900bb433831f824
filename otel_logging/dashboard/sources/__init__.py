"""The dashboard's sources of records, each a ``LogSource`` (``dashboard/query.py``): per-app files, Elasticsearch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from otel_logging.dashboard.query import LogSource, QueryError

# Sources opened before Streamlit started, by the dashboard's server process (``dashboard/server.py``), keyed by
# (log dir, store or ""): the page uses the very source the alerts evaluator of that process reads.
_HELD: dict[tuple[str, str], LogSource] = {}


def _key(log_dir: Path | str, store: Path | str | None) -> tuple[str, str]:
    return str(Path(log_dir).resolve()), str(Path(store).resolve()) if store else ""


def hold(log_dir: Path | str, store: Path | str | None, source: LogSource) -> None:
    """Offer ``source`` to the page of this process (``held`` finds it)."""
    _HELD[_key(log_dir, store)] = source


def held(log_dir: Path | str, store: Path | str | None) -> LogSource | None:
    """The source this process opened over ``log_dir`` (and ``store``) before the page asked, if any."""
    return _HELD.get(_key(log_dir, store))


def open_source(log_dir: Path | None = None, es_url: str | None = None, **options: Any) -> LogSource:
    """The files source over ``log_dir``, or the Elasticsearch source at ``es_url``."""
    if es_url:
        from otel_logging.dashboard.sources.elasticsearch import ElasticsearchSource  # the client only when used

        return ElasticsearchSource(es_url, **options)
    if log_dir is None:
        raise QueryError("no source: give a log directory or an Elasticsearch URL")
    from otel_logging.dashboard.sources.files import FileSource

    return FileSource(log_dir, **options)
