"""What document ids cost Elasticsearch: the same documents created with three kinds of id, same node, same run.

    hash      the ids of versions before time-ordered ids (``legacy_document_id``: a 16-byte BLAKE2b of the line)
    time      the sink's ids (``document_id``: the record's time to the millisecond, then a 10-byte hash)
    auto      no id: Elasticsearch chooses one (no lookup before indexing; what the collector sends)

Each side: --records records built by bench/loadgen.py's ``build_request`` and converted to canonical JSON lines
(before the clock starts), into a data stream of its own, as ``_bulk`` bodies of 2,000 ``create`` actions sent
by 4 threads over plain HTTP (the ceiling's senders of bench/es_vs_collector.py: documents answered 429 are
sent again); documents/s from the first request to the last answer, Elasticsearch's CPU seconds per document
from its node stats; then the count is checked. Rounds alternate the order.

Usage: .venv/bin/python bench/es_ids.py --es-url URL [--records 50000] [--rounds 2] [--json PATH]
Last line: es_ids: time X docs/s, hash Y docs/s, auto Z docs/s, ratio X/Y
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import loadgen  # noqa: E402
from elasticsearch import Elasticsearch  # noqa: E402
from es_vs_collector import CeilingLoad, node_work  # noqa: E402

from otel_logging.record.otlp import convert_request, parse_protobuf  # noqa: E402
from otel_logging.sinks.elasticsearch import _document_id, install_templates, legacy_document_id_bytes  # noqa: E402

KINDS = ("time", "hash", "auto")


def bodies(kind: str, stream: str, service: str, records: int) -> list[bytes]:
    make = {"hash": legacy_document_id_bytes, "time": _document_id, "auto": None}[kind]
    docs = []
    for k in range(records // 512):
        lines, _ = convert_request(parse_protobuf(loadgen.build_request(service, 512, k * 512))).split_lines()
        for line in lines:
            line = line.rstrip(b"\n")
            id_part = b',"_id":"' + make(line) + b'"' if make is not None else b""
            docs.append(b'{"create":{"_index":"' + stream.encode() + b'"' + id_part + b"}}\n" + line + b"\n")
    return [b"".join(docs[i : i + 2000]) for i in range(0, len(docs), 2000)]


def run(kind: str, url: str, client: Elasticsearch, records: int) -> tuple[float, float]:
    """(documents/s, Elasticsearch CPU microseconds per document) of one side."""
    service = f"esids-{uuid.uuid4().hex[:8]}-{kind}"
    stream = f"logs-{service.replace('-', '_')}-default"
    todo = bodies(kind, stream, service, records)
    count = records // 512 * 512
    before = node_work(client).cpu_s
    load = CeilingLoad(url, todo, threads=4)
    del todo
    load.wait(3600)
    if (problem := load.failed()) is not None or load.report is None:
        raise SystemExit(f"{kind}: {problem or 'the senders did not finish within an hour'}")
    seconds = load.report["seconds"]
    cpu = node_work(client).cpu_s - before
    client.indices.refresh(index=stream)
    stored = int(client.count(index=stream)["count"])
    if stored != count:
        raise SystemExit(f"{kind}: {stored} documents for {count} sent")
    return count / seconds, cpu * 1e6 / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--es-url", required=True)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    client = Elasticsearch(args.es_url, request_timeout=120)
    install_templates(client)
    rounds: list[dict[str, float]] = []
    for r in range(args.rounds):
        rates: dict[str, float] = {}
        for kind in KINDS if r % 2 == 0 else tuple(reversed(KINDS)):
            rate, cpu_us = run(kind, args.es_url, client, args.records)
            rates[kind] = rate
            print(
                f"round {r + 1} {kind:<5} {rate:8,.0f} docs/s  Elasticsearch CPU {cpu_us:6.1f} us/document", flush=True
            )
        rounds.append(rates)
    client.close()
    per_round = [round(m["time"] / m["hash"], 3) for m in rounds]
    if args.json is not None:
        out: dict[str, Any] = {
            "bench": "es_ids",
            "metric": "documents/s into one Elasticsearch node",
            "higher_is_better": True,
            "sides": ["time", "hash", "auto"],
            "rounds": [{k: round(m[k], 1) for k in KINDS} for m in rounds],
            "ratio": {"name": "time-ordered ids / hash ids", "per_round": per_round, "target": 1.0},
            "notes": f"{args.records // 512 * 512:,} documents per side and round, bulks of 2,000, 4 threads",
        }
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    best = {k: max(m[k] for m in rounds) for k in KINDS}
    print(
        f"es_ids: time {best['time']:,.0f} docs/s, hash {best['hash']:,.0f} docs/s, auto {best['auto']:,.0f} docs/s, "
        f"ratio {best['time'] / best['hash']:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
