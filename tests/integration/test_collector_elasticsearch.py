"""collector-config/gateway-elasticsearch.yaml against a real Elasticsearch: the same documents, in the same
data streams, as otel-logging's own Elasticsearch sink writes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from otel_logging.sinks.elasticsearch import document, install_templates
from tests.integration.test_collector import run_gateway_app
from tests.support.collector_fixtures import (  # noqa: F401 - the fixtures are used by name
    RunCollector,
    StartReceiver,
    collector_binary_fixture,
    run_collector_fixture,
    start_receiver_fixture,
)
from tests.support.es_fixtures import EsNode
from tests.support.procs import free_port, read_jsonl, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]


def test_gateway_writes_the_sinks_documents_to_the_sinks_data_streams(
    run_collector: RunCollector, start_receiver: StartReceiver, es_node: EsNode, tmp_path: Path
) -> None:
    client = es_node.client()
    install_templates(client)
    namespace = f"collector{time.monotonic_ns()}"  # data streams of this test only
    receiver = start_receiver(tmp_path / "logs")
    grpc_port = free_port()
    run_collector(
        ["gateway.yaml", "gateway-elasticsearch.yaml"],
        {
            "GATEWAY_GRPC_ENDPOINT": f"127.0.0.1:{grpc_port}",
            "GATEWAY_HTTP_ENDPOINT": f"127.0.0.1:{free_port()}",
            "OTEL_LOGGING_RECEIVER": f"127.0.0.1:{receiver.grpc_port}",
            "ELASTICSEARCH_URL": es_node.url,
            "DATA_STREAM_NAMESPACE": namespace,
        },
    )
    run_gateway_app(f"http://127.0.0.1:{grpc_port}")
    records = wait_for(lambda: len(rs := read_jsonl(receiver.app_file("gateway-app"))) >= 5 and rs, 30, what="file")
    stream = f"logs-gateway_app-{namespace}"  # service "gateway-app": "-" is not allowed in a dataset

    def indexed() -> list[dict[str, object]]:
        # 404: not created yet; 503: created, its shard not started yet (a loaded machine) -> ask again
        client.options(ignore_status=(404, 503)).indices.refresh(index=stream)
        found = client.options(ignore_status=(404, 503)).search(index=stream, size=100)
        return [hit["_source"] for hit in found.body.get("hits", {}).get("hits", [])]

    docs = wait_for(lambda: len(ds := indexed()) >= 5 and ds, 60, what=f"5 documents in {stream}")
    assert len(docs) == 5
    by_timestamp = {d["@timestamp"]: d for d in docs}
    for record in records:
        want = document(record)
        have = by_timestamp[record["@timestamp"]]
        assert set(have) == set(want), record["body"]
        for key, value in want.items():
            if key == "body" and "body_structured" in want:
                # The same JSON, written by Go (3.0 as 3) instead of Python.
                assert json.loads(have[key]) == json.loads(value)
            else:
                assert have[key] == value, f"{key} of {record['body']!r}"
