"""The same records in a real Elasticsearch node and in per-app files: the two dashboard sources side by side."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from elasticsearch import Elasticsearch, helpers

from otel_logging.dashboard.sources.elasticsearch import ElasticsearchSource
from otel_logging.dashboard.sources.files import FileSource
from otel_logging.record import Record, to_json_lines
from otel_logging.sinks.elasticsearch import DataStreamNames, document, install_templates
from tests.support.es_fixtures import EsNode


def index_records(client: Elasticsearch, names: DataStreamNames, records: list[Record]) -> None:
    """Store the records as the service's sink does (its documents, in its data streams), searchable at once."""
    actions = [{"_op_type": "create", "_index": names(r["service"]), "_source": document(r)} for r in records]
    helpers.bulk(client, actions, refresh="wait_for")


def write_records(log_dir: Path, records: list[Record]) -> None:
    """Append each service's records to its file, in the list's order."""
    for service in dict.fromkeys(r["service"] for r in records):
        with open(log_dir / f"{service}.jsonl", "ab") as f:
            f.write(to_json_lines([r for r in records if r["service"] == service]))


@contextmanager
def both_sources(
    es_node: EsNode, log_dir: Path, records: list[Record], name: str
) -> Iterator[tuple[ElasticsearchSource, FileSource]]:
    """(Elasticsearch source, files source) over ``records``: data streams of their own (``<name><random>-*``,
    with the sink's templates) and per-app files under ``log_dir``."""
    prefix = f"{name}{uuid.uuid4().hex[:8]}"
    client = es_node.client()
    install_templates(client, prefix)
    index_records(client, DataStreamNames(prefix), records)
    log_dir.mkdir(parents=True, exist_ok=True)
    write_records(log_dir, records)
    es = ElasticsearchSource(es_node.url, index=f"{prefix}-*")
    files = FileSource(log_dir, min_refresh_interval_s=0)
    files.refresh()
    try:
        yield es, files
    finally:
        es.close()
        files.close()
        client.close()
