"""The dashboard's sources of records, each a ``LogSource`` (``dashboard/query.py``): per-app files, Elasticsearch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from otel_logging.dashboard.query import LogSource, QueryError


def open_source(log_dir: Path | None = None, es_url: str | None = None, **options: Any) -> LogSource:
    """The files source over ``log_dir``, or the Elasticsearch source at ``es_url``."""
    if es_url:
        from otel_logging.dashboard.sources.elasticsearch import ElasticsearchSource  # the client only when used

        return ElasticsearchSource(es_url, **options)
    if log_dir is None:
        raise QueryError("no source: give a log directory or an Elasticsearch URL")
    from otel_logging.dashboard.sources.files import FileSource

    return FileSource(log_dir, **options)
