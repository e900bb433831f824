"""The Kibana objects' assumptions about fields hold on a real Elasticsearch with otel-logging's mapping.

Kibana is not available here, so each object's queries are run the way Kibana would run them:
the Lens charts' terms and date histogram aggregations, the saved searches' KQL filter (as the
range query it compiles to) and their columns, the data view's pattern and time field.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from otel_logging.record import to_json_line
from otel_logging.sinks.elasticsearch import document, install_templates

pytestmark = pytest.mark.integration

NDJSON = Path(__file__).resolve().parents[2] / "dashboards" / "kibana" / "otel-logging.ndjson"
OBJECTS = [json.loads(line) for line in NDJSON.read_text().splitlines() if line.strip()]


def _record(i: int, service: str, level: tuple[str, int], logger: str) -> dict[str, Any]:
    return {
        "@timestamp": f"2026-11-25T01:{i % 60:02d}:00.123456789Z",
        "observed_timestamp": f"2026-11-25T01:{i % 60:02d}:00.223456789Z",
        "severity_text": level[0],
        "severity_number": level[1],
        "body": {"event": "structured", "n": i} if i % 7 == 0 else f"message {i}",
        "logger": logger,
        "service": service,
        "attributes": {"n": i},
        "resource": {"service.name": service},
        "trace_id": f"{i:032x}",
        "span_id": f"{i:016x}",
    }


@pytest.fixture(scope="module")
def indexed(es_node_each: Any) -> tuple[Any, str]:
    """The objects' queries run on both server majors (8.x and 9.x)."""
    client = es_node_each.client()
    install_templates(client)
    dataset = f"kibana_fields_{uuid.uuid4().hex[:8]}"
    stream = f"logs-{dataset}-default"
    levels = [("INFO", 9)] * 6 + [("WARN", 13)] * 2 + [("ERROR", 17), ("FATAL", 21)]
    operations: list[Any] = []
    for i in range(100):
        record = _record(i, f"svc-{i % 3}", levels[i % 10], f"app.part{i % 4}")
        assert json.loads(to_json_line(record)) == record
        operations += [{"create": {"_index": stream}}, document(record)]
    result = client.bulk(operations=operations, refresh=True)
    assert not result["errors"], result
    return client, stream


def _objects(kind: str) -> list[dict[str, Any]]:
    return [o for o in OBJECTS if o["type"] == kind]


def test_data_view_pattern_and_time_field(indexed: tuple[Any, str]) -> None:
    client, stream = indexed
    (view,) = _objects("index-pattern")
    resolved = client.indices.resolve_index(name=view["attributes"]["title"])
    assert stream in [s["name"] for s in resolved["data_streams"]]
    mapping = client.indices.get_mapping(index=stream)
    properties = next(iter(mapping.values()))["mappings"]["properties"]
    assert properties[view["attributes"]["timeFieldName"]]["type"] in ("date", "date_nanos")


def test_lens_aggregations_run_on_the_mapping(indexed: tuple[Any, str]) -> None:
    client, stream = indexed
    for chart in _objects("lens"):
        layers = chart["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]
        for layer in layers.values():
            for column in layer["columns"].values():
                field = column.get("sourceField")
                if column["operationType"] == "terms":
                    size = column["params"]["size"]
                    body = {"terms": {"field": field, "size": size}}
                elif column["operationType"] == "date_histogram":
                    body = {"date_histogram": {"field": field, "fixed_interval": "1m"}}
                else:
                    continue
                result = client.search(index=stream, size=0, aggs={"a": body})
                buckets = result["aggregations"]["a"]["buckets"]
                assert buckets, f"{chart['id']}: {column['operationType']} on {field} found nothing"
                if field == "severity_text":
                    assert {b["key"] for b in buckets} == {"INFO", "WARN", "ERROR", "FATAL"}
                if field == "service":
                    assert [b["doc_count"] for b in buckets] == [34, 33, 33]


def test_saved_searches_filter_and_columns(indexed: tuple[Any, str]) -> None:
    client, stream = indexed
    mapping = client.indices.get_mapping(index=stream)
    properties = next(iter(mapping.values()))["mappings"]["properties"]
    counts = {}
    for search in _objects("search"):
        for column in search["attributes"]["columns"]:
            assert column in properties, f"{search['id']}: column {column} is not mapped"
        source = json.loads(search["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        kql = source["query"]["query"]
        if kql:
            field, op, value = kql.split()
            assert op == ">="
            query = {"range": {field: {"gte": int(value)}}}
        else:
            query = {"match_all": {}}
        counts[search["id"]] = client.count(index=stream, query=query)["count"]
    assert counts == {"otel-logging-all-logs": 100, "otel-logging-errors": 20}
