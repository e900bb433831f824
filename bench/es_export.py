"""Throughput of our Elasticsearch export against a plain ``streaming_bulk`` of the same documents.

Both write the same 100,000 canonical records into a local single-node Elasticsearch (started with
scripts/elasticsearch.sh unless --es-url is given), each into a data stream of its own:

- baseline: ``elasticsearch.helpers.streaming_bulk`` over a list of ready ``create`` actions (no
  durable queue, no retries, no per-item handling; ids chosen by Elasticsearch);
- ours: the service's sink (``elasticsearch_queued_sink``: ``QueuedSink`` + ``ElasticsearchDelivery``, with
  its batch sizes and threads), ``write`` in requests of 1,000 records (JSON lines appended to the on-disk
  queue), the delivery thread reading batches, building documents and ids, and bulk-sending them, timed
  until the queue is empty; every document is then counted.

    .venv/bin/python bench/es_export.py [--records 100000] [--es-url http://127.0.0.1:9200]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from elasticsearch import Elasticsearch  # noqa: E402
from elasticsearch.helpers import streaming_bulk  # noqa: E402

from otel_logging.config import ElasticsearchSettings  # noqa: E402
from otel_logging.record import RecordBatch  # noqa: E402
from otel_logging.sinks.elasticsearch import (  # noqa: E402
    DataStreamNames,
    document,
    elasticsearch_queued_sink,
    install_templates,
)

SCRIPT = REPO / "scripts" / "elasticsearch.sh"


def make_records(count: int) -> list[dict]:
    return [
        {
            "@timestamp": f"2026-01-02T03:{i // 60000 % 60:02d}:{i // 1000 % 60:02d}.{i % 1000:03d}456789Z",
            "observed_timestamp": "2026-01-02T03:04:05.123456999Z",
            "severity_text": "INFO",
            "severity_number": 9,
            "body": f"order {i} placed by user 42 with 3 items",
            "logger": "shop.orders",
            "service": "shop",
            "attributes": {"order.id": i, "user.id": 42, "items": 3, "code.function.name": "place_order"},
            "resource": {"service.name": "shop", "host.name": "web-1", "telemetry.sdk.language": "python"},
        }
        for i in range(count)
    ]


def count(client: Elasticsearch, index: str) -> int:
    client.indices.refresh(index=index)
    return int(client.count(index=index)["count"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2, help="alternating measurements of each (best counts)")
    parser.add_argument("--es-url", help="an Elasticsearch to use (default: start one with scripts/elasticsearch.sh)")
    args = parser.parse_args()
    run_dir = None
    url = args.es_url
    if url is None:
        out = subprocess.run(["bash", str(SCRIPT), "start"], check=True, capture_output=True, text=True).stdout
        values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        url, run_dir = values["url"], values["run_dir"]
    try:
        client = Elasticsearch(url, request_timeout=120)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if client.cluster.health(wait_for_status="yellow", timeout="5s")["status"] in ("green", "yellow"):
                    break
            except Exception:
                time.sleep(0.5)
        records = make_records(args.records)
        install_templates(client)

        def baseline_run(recs: list[dict]) -> float:
            stream = f"logs-shop_baseline-bench{uuid.uuid4().hex[:8]}"
            actions = [{"_op_type": "create", "_index": stream, "_source": document(r)} for r in recs]
            start = time.perf_counter()
            for ok, item in streaming_bulk(client, actions, raise_on_error=False):
                if not ok:
                    raise SystemExit(f"baseline: a document was refused: {item}")
            elapsed = time.perf_counter() - start
            assert count(client, stream) == len(recs), "baseline: documents missing"
            return len(recs) / elapsed

        def ours_run(recs: list[dict]) -> float:
            namespace = f"bench{uuid.uuid4().hex[:8]}"
            names = DataStreamNames("logs", namespace)
            with tempfile.TemporaryDirectory() as log_dir:
                sink = elasticsearch_queued_sink(ElasticsearchSettings(urls=(url,), namespace=namespace), Path(log_dir))
                start = time.perf_counter()
                for i in range(0, len(recs), 1000):
                    sink.write(RecordBatch.from_records({"shop": recs[i : i + 1000]}))
                if not sink.wait_idle(600):
                    raise SystemExit("ours: the queue did not drain within 600 s")
                elapsed = time.perf_counter() - start
                sink.close()
            indexed = count(client, names("shop"))
            assert indexed == len(recs), f"ours: {indexed} documents for {len(recs)} records"
            return len(recs) / elapsed

        # Warm up both paths (JIT, connections, the template), then alternate; the best of each counts.
        baseline_run(records[:10_000])
        ours_run(records[:10_000])
        baselines: list[float] = []
        ours_rates: list[float] = []
        for _ in range(args.rounds):
            baselines.append(baseline_run(records))
            ours_rates.append(ours_run(records))
        baseline, ours = max(baselines), max(ours_rates)
        print(
            f"baseline: plain streaming_bulk from a list: {args.records} docs, "
            + ", ".join(f"{r:,.0f}/s" for r in baselines)
        )
        print(
            f"ours: elasticsearch_queued_sink (QueuedSink + ElasticsearchDelivery): {args.records} docs, "
            + ", ".join(f"{r:,.0f}/s" for r in ours_rates)
        )
        client.close()
    finally:
        if run_dir is not None:
            subprocess.run(["bash", str(SCRIPT), "stop", "--run-dir", run_dir], check=False)
            subprocess.run(["rm", "-rf", run_dir], check=False)
    print(f"ours/baseline throughput ratio: {ours / baseline:.2f} (best documents/s of each, {args.records} records)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
