"""Shipping canonical records to Elasticsearch data streams ``logs-<dataset>-<namespace>``.

The central service writes through ``QueuedSink`` (durable queue, retries, dead letters) with
``ElasticsearchDelivery`` as its ``deliver``: each batch read from the queue is cut into bulk requests
of ``create`` actions (data streams accept only ``create``), built straight from the JSON lines and
sent by a few threads at once through the official client's ``bulk`` API. The queue gives each line's
service (its data stream), so a line is decoded only when its body is structured (the document then gets
``body_structured``), or when its service is not known; the native builder (``otel_logging_native.es_bulk_body``)
hashes the ids and writes the bulk body of all other lines without the GIL. Each item's outcome decides:

- created, or 409 (a document with the same id exists: a redelivery) -> delivered
- 429, 5xx, 401/403/404/408, connection errors -> retried with backoff
- any other 4xx (a mapping error: the document's content is refused) -> dead letter with the reason

Document ids are the record's time to the millisecond followed by a hash of its JSON line, so a record
delivered twice (after a crash, or a lost bulk response) is stored once, and Elasticsearch, which looks every
id up before a ``create``, finds new ids past the range of its older segments (cheap) rather than at random
places in each. Two records identical to the nanosecond in every field are stored once too. Lines queued by
a version with hash-only ids keep those (``es_ids.IdScheme``). Bulk size and requests in flight follow the
node's answers (``es_pacing.BulkPacer``: AIMD on 429s and latency).

Before the first delivery the sink installs (idempotently, versioned) two component templates and
an index template for ``<prefix>-*-*`` with ``data_stream: {}`` and an explicit mapping (see
``MAPPING`` and the README). It uses only field types that a full Elasticsearch 8.x/9.x and the
minimal integ-test distribution both have (flattened, keyword, text, date_nanos).
"""

from __future__ import annotations

import binascii
import hashlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from elastic_transport import ConnectionTimeout, HttpHeaders, NodeConfig, TransportError, Urllib3HttpNode
from elastic_transport._node import NodeApiResponse
from elastic_transport.client_utils import DEFAULT, DefaultType
from elasticsearch import ApiError, Elasticsearch
from elasticsearch.serializer import OrjsonSerializer

from otel_logging.config import ConfigError, ElasticsearchSettings
from otel_logging.record import Record, RecordBatch
from otel_logging.record.names import data_stream_dataset, data_stream_namespace, data_stream_prefix
from otel_logging.record.native import es_bulk_body as _native_bulk_body
from otel_logging.sinks import SinkError
from otel_logging.sinks.es_ids import IdScheme
from otel_logging.sinks.es_pacing import BulkPacer
from otel_logging.sinks.queue import DEFAULT_MAX_BYTES, Batch, DeliveryResult, QueuedSink
from otel_logging.worker import WorkerPool

_log = logging.getLogger("otel_logging.sinks.elasticsearch")

TEMPLATE_VERSION = 1
DEFAULT_PREFIX = "logs"
DEFAULT_NAMESPACE = "default"
# Delivery: queue batches of up to 20,000 lines, cut into bulk requests whose size (250-5,000 documents) and
# number in flight (1-6, at most 2 per write thread of the data nodes) follow the node's answers
# (es_pacing.BulkPacer; bench/es_vs_collector.py).
DEFAULT_BATCH_LINES = 20_000
DEFAULT_BATCH_BYTES = 16 << 20
# Queue batches delivered at once (QueuedSink overlap): a batch's last requests leave slots free, which the next
# batch's fill (without it, every batch ended with fewer requests in flight than the pacer allowed).
DEFAULT_OVERLAP = 2
_RETRY_STATUSES = frozenset({401, 403, 404, 408, 429})
_OVERLOAD_STATUSES = frozenset({429, 502, 503, 504})
_KEYWORD = {"type": "keyword", "ignore_above": 1024}
_FLATTENED = {"type": "flattened", "ignore_above": 8191}

# The explicit mapping. ``dynamic: false``: fields not named here stay in _source, unindexed.
MAPPING: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "@timestamp": {"type": "date_nanos"},
        "observed_timestamp": {"type": "date_nanos"},
        "severity_text": {"type": "keyword"},
        "severity_number": {"type": "integer"},
        "body": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 1024}}},
        "body_structured": _FLATTENED,
        "logger": _KEYWORD,
        "service": _KEYWORD,
        "trace_id": {"type": "keyword"},
        "span_id": {"type": "keyword"},
        "event_name": _KEYWORD,
        "flags": {"type": "long"},
        "scope_version": _KEYWORD,
        "scope_attributes": _FLATTENED,
        "dropped_attributes_count": {"type": "long"},
        "attributes": _FLATTENED,
        "resource": _FLATTENED,
    },
}


def _template_names(prefix: str) -> tuple[str, str, str]:
    base = f"otel-logging-{prefix}"
    return base, f"{base}@mappings", f"{base}@settings"


def install_templates(client: Elasticsearch, prefix: str = DEFAULT_PREFIX) -> bool:
    """Install the templates for ``<prefix>-*-*`` unless this version (or a newer one) is there. True if installed."""
    index_name, mappings_name, settings_name = _template_names(prefix)
    existing = client.options(ignore_status=404).indices.get_index_template(name=index_name)
    for item in existing.body.get("index_templates", []) if existing.meta.status == 200 else []:
        if int(item["index_template"].get("version") or 0) >= TEMPLATE_VERSION:
            return False
    meta = {"managed_by": "otel-logging", "description": "canonical log records (otel_logging.record)"}
    client.cluster.put_component_template(
        name=mappings_name, template={"mappings": MAPPING}, version=TEMPLATE_VERSION, meta=meta
    )
    client.cluster.put_component_template(
        name=settings_name,
        template={"settings": {"index": {"number_of_shards": 1}}},
        version=TEMPLATE_VERSION,
        meta=meta,
    )
    client.indices.put_index_template(
        name=index_name,
        index_patterns=[f"{prefix}-*-*"],
        data_stream={},
        composed_of=[settings_name, mappings_name],
        priority=200,  # above the built-in logs template (100) of a full distribution
        version=TEMPLATE_VERSION,
        meta=meta,
    )
    _log.info("installed Elasticsearch index template %s (version %d)", index_name, TEMPLATE_VERSION)
    return True


class DataStreamNames:
    """``<prefix>-<dataset>-<namespace>`` per service (cached)."""

    def __init__(self, prefix: str = DEFAULT_PREFIX, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.prefix = data_stream_prefix(prefix)
        self.namespace = data_stream_namespace(namespace)
        self._cache: dict[str, str] = {}

    def __call__(self, service: str | None) -> str:
        key = service or ""
        name = self._cache.get(key)
        if name is None:
            name = f"{self.prefix}-{data_stream_dataset(service)}-{self.namespace}"
            if len(self._cache) < 100_000:
                self._cache[key] = name
        return name


def document(record: Record) -> Record:
    """The Elasticsearch document of a canonical record: the record itself, with a text ``body``.

    A structured body (a map, list, number...) is kept as ``body_structured`` when it is a map and as
    its JSON text in ``body``, so that ``body`` is always searchable text.
    """
    body = record.get("body")
    if body is None or isinstance(body, str):
        return record
    doc = dict(record)
    doc["body"] = orjson.dumps(body).decode()
    if isinstance(body, dict):
        doc["body_structured"] = body
    return doc


_B64_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _text_body(line: bytes) -> bool:
    """True when the top-level ``body`` of a record's JSON line is a string or null, told from its bytes.

    Only for a line with no object or array before its ``,"body":`` key (a canonical record's body comes after
    scalar fields), so that key is the record's own; False (decode the line to know) for anything else.
    """
    at = line.find(b',"body":')
    if at < 0 or line[:1] != b"{" or line.find(b"{", 1, at) >= 0 or line.find(b"[", 1, at) >= 0:
        return False
    value = line[at + 8 : at + 9]
    return value == b'"' or (value == b"n" and line.startswith(b"null", at + 8))


_TIMESTAMP_KEY = b'{"@timestamp":"'
_NO_TIME = bytes(8)


def _time_prefix(line: bytes) -> bytes:
    """8 bytes that sort like the record's time to the millisecond: the digits ``YYYYMMDDhhmmssmmm`` of the
    line's leading ``"@timestamp":"2026-11-25T01:45:00.377...`` as a big-endian integer (zeros for a line
    that does not start so: its id is still a function of the line, only no longer time-ordered)."""
    if line.startswith(_TIMESTAMP_KEY):
        digits = line[15:38].translate(None, b"-T:.")
        if len(digits) == 17 and digits.isdigit():
            return int(digits).to_bytes(8, "big")
    return _NO_TIME


def _document_id(line: bytes) -> bytes:
    """``document_id`` of a line without its newline, as the ASCII bytes that go into the bulk header."""
    raw = _time_prefix(line) + hashlib.blake2b(line, digest_size=10).digest()
    return binascii.b2a_base64(raw, newline=False).translate(_B64_URLSAFE)  # 18 bytes: 24 chars, no padding


def document_id(line: bytes) -> str:
    """The id of a record's document: its time to the millisecond, then a hash of its JSON line (a redelivery
    is then a no-op). Time first, so that the ids Elasticsearch looks up on every ``create`` arrive in about
    the order of the ids it holds: a segment whose id range ends before the new id is skipped without a
    terms lookup (random ids are looked up in every segment)."""
    return _document_id(line.rstrip(b"\n")).decode()


def legacy_document_id_bytes(line: bytes) -> bytes:
    """``legacy_document_id`` of a line without its newline, as ASCII bytes."""
    digest = hashlib.blake2b(line, digest_size=16).digest()
    return binascii.b2a_base64(digest, newline=False)[:22].translate(_B64_URLSAFE)  # 16 bytes: 22 chars + "=="


def legacy_document_id(line: bytes) -> str:
    """The id versions before time-ordered ids gave a record: a hash of its JSON line only (used for lines
    queued by such a version, which it may have sent already: see ``IdScheme``)."""
    return legacy_document_id_bytes(line.rstrip(b"\n")).decode()


def _item_outcome(item: dict[str, Any]) -> tuple[str, str]:
    """("ok" | "retry" | "dead", reason) of one bulk response item."""
    info = next(iter(item.values()))
    status = int(info.get("status") or 0)
    if 200 <= status < 300 or status == 409:
        return "ok", ""
    error = info.get("error") or info.get("exception") or {}
    if isinstance(error, dict):
        reason = f"{status} {error.get('type', '')}: {error.get('reason', '')}"
        cause = error.get("caused_by")
        if isinstance(cause, dict):
            reason += f" (caused by {cause.get('type', '')}: {cause.get('reason', '')})"
    else:
        reason = f"{status} {error}"
    if not status or status >= 500 or status in _RETRY_STATUSES:
        return "retry", reason
    return "dead", reason


# How long Elasticsearch may wait for a shard's primary (one on a node that just died is being replaced)
# before it answers 503 for those documents: less than the client's request timeout, so that a live node
# answers (the documents are retried) instead of timing out and being taken for dead (seen in
# tests/integration/test_scale_out.py: every node marked dead while the cluster replaced a killed one).
BULK_SHARD_TIMEOUT = "10s"

# Only what the per-item outcome needs: no _index/_id/_version/result/_shards/_seq_no per item.
_BULK_FILTER = "errors,items.*.status,items.*.error"
# The answer (with that filter) to a bulk request whose every ``create`` succeeded: the prefix, the item n times
# separated by commas, then ``]}``.
_ALL_CREATED_PREFIX = b'{"errors":false,"items":['
_CREATED_ITEM = b'{"create":{"status":201}}'


class BulkAnswerSerializer(OrjsonSerializer):
    """The client's JSON serializer, reading the answer to a bulk request where every ``create`` succeeded
    without decoding it: ``{"errors": False, "items": [item] * n}`` (one shared, read-only item dict), which is
    what decoding it gives, told from its bytes (its prefix, the count of the item, its length). Decoding 5,000
    items took about a seventh of the service's export CPU. Every other answer is decoded as before."""

    def loads(self, data: bytes) -> Any:
        if data.startswith(_ALL_CREATED_PREFIX) and data.endswith(b"}]}"):
            n = data.count(_CREATED_ITEM)
            if n and len(data) == len(_ALL_CREATED_PREFIX) + n * (len(_CREATED_ITEM) + 1) + 1:
                return {"errors": False, "items": [{"create": {"status": 201}}] * n}
        return super().loads(data)


@dataclass(slots=True)
class _ChunkResult:
    """What became of the lines of one bulk request (indexes into the batch)."""

    retry: list[int] = field(default_factory=list)
    dead_letters: list[tuple[int, str]] = field(default_factory=list)
    error: str = ""
    unreachable: bool = False  # a connection error: send no further chunks of this batch
    overloaded: bool = False  # the node said it is overloaded (429, 502-504, a timeout): the pacer backs off


def cluster_write_threads(client: Elasticsearch) -> int | None:
    """The write threads of the cluster's data nodes (each indexes one bulk request at a time); None when the
    cluster does not say (e.g. a key without the ``monitor`` privilege): the pacer keeps its own bound."""
    try:
        nodes = client.nodes.info(
            metric="thread_pool", filter_path="nodes.*.roles,nodes.*.thread_pool.write.size"
        ).body.get("nodes", {})
        threads = sum(
            int(node["thread_pool"]["write"]["size"])
            for node in nodes.values()
            if any(role.startswith("data") for role in node.get("roles", ()))
        )
    except (ApiError, TransportError, KeyError, TypeError, ValueError) as exc:
        _log.info("Elasticsearch: the nodes' write threads are unknown (%s)", _describe(exc))
        return None
    return threads or None


class ElasticsearchDelivery:
    """The ``deliver`` of the Elasticsearch ``QueuedSink``: one batch of JSON lines -> bulk -> per-line outcome.

    Up to ``pacer.max_in_flight`` workers (this thread and helpers) each wait for the pacer to allow one more
    request in flight, cut the next ``pacer.docs`` lines (at most ``max_chunk_bytes``) off the batch, build
    the bulk body straight from the JSON lines (the line is the document's source unless the body is
    structured) and send it; each answer moves the pacer's limits (``es_pacing``: AIMD on 429s and latency).
    A connection error stops the batch: what was not confirmed is retried.

    ``legacy_ids()`` (when given) is asked once per batch: True -> the batch gets the ids of versions before
    time-ordered ids (``legacy_document_id``), for records that such a version may have sent already.
    """

    def __init__(
        self,
        client: Elasticsearch,
        names: DataStreamNames,
        *,
        max_chunk_bytes: int = 8 << 20,
        pacer: BulkPacer | None = None,
        legacy_ids: Callable[[], bool] | None = None,
    ) -> None:
        if max_chunk_bytes < 1:
            raise ValueError("max_chunk_bytes must be positive")
        self.client = client
        self.names = names
        self.pacer = pacer if pacer is not None else BulkPacer()
        self.max_chunk_bytes = max_chunk_bytes
        self.legacy_ids = legacy_ids
        self._templates_ready = False
        self._lock = threading.Lock()
        self._index_json: dict[str | None, bytes] = {}  # service -> JSON string of its data stream name
        self._helpers: WorkerPool | None = None  # the ``pacer.max_in_flight - 1`` helpers, started on first use

    def ensure_templates(self) -> None:
        """Before the first delivery: install the index templates, and fit the pacer to the cluster."""
        with self._lock:
            if not self._templates_ready:
                install_templates(self.client, self.names.prefix)
                self._templates_ready = True
                threads = cluster_write_threads(self.client)
                if threads is not None:
                    self.pacer.fit_to_cluster(threads)
                    _log.info(
                        "Elasticsearch: %d write threads on its data nodes: at most %d bulk requests in flight",
                        threads,
                        self.pacer.max_in_flight,
                    )

    def __call__(
        self, lines: list[bytes], services: Sequence[str | None] | None = None, *, legacy: bool | None = None
    ) -> DeliveryResult:
        """Deliver ``lines`` (JSON lines, with or without their newline); ``services[i]`` is the service of
        ``lines[i]`` when known (None, or no list: the line is decoded to find it). ``legacy``: whether the
        lines get legacy ids (None: ask ``legacy_ids()``). Thread-safe: batches may be delivered at once, their
        requests together within the pacer's limits."""
        try:
            self.ensure_templates()
        except (TransportError, ApiError) as exc:
            return DeliveryResult.retry_all(len(lines), f"cannot install the index template: {_describe(exc)}")
        if legacy is None:
            legacy = self.legacy_ids is not None and self.legacy_ids()
        pacer = self.pacer
        chunks: list[tuple[int, int, _ChunkResult | None]] = []
        cursor = in_flight = 0
        progress = threading.Condition()
        stop = threading.Event()

        def cancelled() -> bool:
            return stop.is_set() or cursor >= len(lines)

        def work() -> None:
            nonlocal cursor, in_flight
            while True:
                ticket = pacer.acquire(cancelled)
                if ticket is None:
                    return
                with progress:
                    if stop.is_set() or cursor >= len(lines):
                        pacer.cancel(ticket)
                        return
                    start = cursor
                    cursor = end = self._chunk_end(lines, start, pacer.docs)
                    in_flight += 1
                outcome = None
                try:
                    outcome = self._send_chunk(lines, services, start, end, legacy)
                except Exception:  # a bug must not lose the chunk: it stays unconfirmed, so it is retried
                    _log.exception("Elasticsearch: sending a bulk request failed unexpectedly")
                finally:
                    pacer.answered(ticket, overloaded=outcome is None or outcome.overloaded)
                    with progress:
                        chunks.append((start, end, outcome))
                        in_flight -= 1
                        if outcome is None or outcome.unreachable:
                            stop.set()
                        progress.notify_all()

        # The helpers take chunks too; this thread takes what they have not, then waits for the chunks they
        # took. (A helper that starts late, or never, finds nothing left: no waiting on the helpers themselves.)
        helpers = min(pacer.max_in_flight, -(-len(lines) // pacer.min_docs)) - 1
        if helpers > 0:
            pool = self._helper_pool()
            for _ in range(helpers):
                pool.submit(work)
        work()
        with progress:
            progress.wait_for(lambda: in_flight == 0)
            if cursor < len(lines):  # not sent (a chunk found Elasticsearch unreachable, or a bug)
                chunks.append((cursor, len(lines), None))
                cursor = len(lines)  # a helper starting now finds nothing left

        result = DeliveryResult()
        for start, end, outcome in sorted(chunks, key=lambda chunk: chunk[0]):
            if outcome is None:
                result.retry.extend(range(start, end))
                result.error = result.error or "bulk request not sent"
                continue
            result.retry.extend(outcome.retry)
            result.dead_letters.extend(outcome.dead_letters)
            if outcome.error and (not result.error or outcome.unreachable):
                result.error = outcome.error
        return result

    def _helper_pool(self) -> WorkerPool:
        """The pool of the ``pacer.max_in_flight - 1`` helper threads, started on first use and kept (threads
        started per batch made the service's peak RSS about 50 MB larger: glibc malloc arenas)."""
        with self._lock:
            if self._helpers is None:
                self._helpers = WorkerPool("elasticsearch-bulk", self.pacer.max_in_flight - 1)
            return self._helpers

    def close(self, timeout: float = 10.0) -> bool:
        """Stop the helper threads and join them (a later delivery starts them again); True if they ended
        within ``timeout`` (a helper stuck in a request is logged and left, a daemon)."""
        with self._lock:
            pool, self._helpers = self._helpers, None
        return pool is None or pool.close(timeout)

    def _chunk_end(self, lines: list[bytes], start: int, docs: int) -> int:
        """The end of the chunk from ``start``: at most ``docs`` lines and about ``max_chunk_bytes``."""
        end = min(len(lines), start + docs)
        size = 0
        for i in range(start, end):
            size += len(lines[i]) + 80  # + the action line
            if size > self.max_chunk_bytes and i > start:
                return i
        return end

    def _index(self, service: Any) -> bytes:
        key = service if isinstance(service, str) or service is None else str(service)
        encoded = self._index_json.get(key)
        if encoded is None:
            encoded = orjson.dumps(self.names(key))
            if len(self._index_json) >= 10_000:
                self._index_json.clear()
            self._index_json[key] = encoded
        return encoded

    def _indexes(self, services: list[str | None], start: int, end: int) -> dict[Any, bytes]:
        """``_index_json`` holding the data stream of every service of ``services[start:end]`` (but None)."""
        known = self._index_json
        for service in [service for service in set(services[start:end]) if service not in known]:
            if service is not None:
                self._index(service)
        return known

    def _encode(
        self,
        lines: list[bytes],
        services: Sequence[str | None] | None,
        start: int,
        end: int,
        legacy: bool,
    ) -> tuple[bytes, list[int], list[tuple[int, str]]]:
        """The bulk body of ``lines[start:end]``, the indexes it holds (in the body's order), and the lines that
        are no record. The native builder (``otel_logging_native.es_bulk_body``) writes the lines whose body is
        text and whose service is known, without the GIL; ``_encode_line`` (its reference) writes the others."""
        body = b""
        sent: list[int] = []
        rest: Iterable[int] = range(start, end)
        if _native_bulk_body is not None and type(lines) is list and type(services) is list:
            indexes = self._indexes(services, start, end)
            body, sent, rest = _native_bulk_body(lines, services, start, end, indexes, legacy)
            if not rest:
                return body, sent, []
        make_id = legacy_document_id_bytes if legacy else _document_id
        parts: list[bytes] = [body]
        dead: list[tuple[int, str]] = []
        for i in rest:
            encoded = self._encode_line(lines[i], services[i] if services is not None else None, make_id)
            if isinstance(encoded, str):
                dead.append((i, encoded))
            else:
                parts += encoded
                sent.append(i)
        return b"".join(parts), sent, dead

    def _encode_line(
        self, line: bytes, service: str | None, make_id: Callable[[bytes], bytes]
    ) -> tuple[bytes, ...] | str:
        """The parts of one document's action and source, or why the line is no record."""
        if line[-1:] == b"\n":
            line = line[:-1]
        if service is not None and _text_body(line):  # the line is the document as it is: not decoded
            return (b'{"create":{"_index":', self._index(service), b',"_id":"', make_id(line), b'"}}\n', line, b"\n")
        try:
            record = orjson.loads(line)
            if not isinstance(record, dict):
                raise ValueError("a record must be a JSON object")
            body = record.get("body")
            source = line if body is None or isinstance(body, str) else orjson.dumps(document(record))
            index = self._index(service if service is not None else record.get("service"))
        except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
            return f"not a canonical record: {exc}"
        return (b'{"create":{"_index":', index, b',"_id":"', make_id(line), b'"}}\n', source, b"\n")

    def _send_chunk(
        self,
        lines: list[bytes],
        services: Sequence[str | None] | None,
        start: int,
        end: int,
        legacy: bool,
    ) -> _ChunkResult:
        body, sent, dead = self._encode(lines, services, start, end, legacy)
        result = _ChunkResult(dead_letters=dead)
        if not sent:
            return result
        try:
            # the body is sent as it is (the client's serializer passes bytes through; its stubs say mappings)
            response = self.client.bulk(
                operations=body,  # type: ignore[arg-type]
                filter_path=_BULK_FILTER,
                timeout=BULK_SHARD_TIMEOUT,
            )
        except ApiError as exc:  # the whole request was answered with an error status: it holds for every item
            outcome, reason = _item_outcome({"create": {"status": exc.status_code, "error": _describe(exc)}})
            result.overloaded = exc.status_code in _OVERLOAD_STATUSES
            if outcome == "dead":
                result.dead_letters.extend((i, reason) for i in sent)
            elif outcome == "retry":
                result.retry.extend(sent)
                result.error = reason
            return result
        except ConnectionTimeout as exc:  # the node did not answer in time: overloaded, not gone
            result.retry.extend(sent)
            result.error = f"Elasticsearch did not answer in time: {_describe(exc)}"
            result.overloaded = True
            return result
        except TransportError as exc:
            result.retry.extend(sent)
            result.error = f"Elasticsearch unreachable: {_describe(exc)}"
            result.unreachable = True
            return result
        answer = response.body if isinstance(response.body, dict) else {}
        items = answer.get("items") or []
        if answer.get("errors") is False and len(items) == len(sent):
            return result
        for i, item in zip(sent, items, strict=False):
            outcome, reason = _item_outcome(item)
            if outcome == "retry":
                result.retry.append(i)
                result.error = result.error or reason
                if reason.startswith("429"):
                    result.overloaded = True
                if reason.startswith("404"):
                    self._templates_ready = False  # someone removed the template: install it again
            elif outcome == "dead":
                result.dead_letters.append((i, reason))
        if len(items) < len(sent):
            result.retry.extend(sent[len(items) :])
            result.error = result.error or "bulk response was missing items"
        return result


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) < 500 else text[:500] + "..."


# -- construction --------------------------------------------------------------------------


REQUEST_TIMEOUT_S = 30.0


class NodeStats:
    """What one Elasticsearch node did with the requests sent to it (for ``/metrics``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0  # requests sent to the node
        self.errors = 0  # of those: no answer (refused, reset, timed out) or answered 429 / 5xx
        self.records_retried = 0  # the bulk documents of the failed requests (the queue sends them again)

    def count(self, failed: bool, target: str, body: bytes | None) -> None:
        records = body.count(b"\n") // 2 if failed and body and target.split("?", 1)[0].endswith("/_bulk") else 0
        with self._lock:
            self.requests += 1
            if failed:
                self.errors += 1
                self.records_retried += records


class CountingNode(Urllib3HttpNode):
    """The client's default node (urllib3), counting its requests and failures in ``stats``."""

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        self.stats = NodeStats()

    def perform_request(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: HttpHeaders | None = None,
        request_timeout: DefaultType | float | None = DEFAULT,
    ) -> NodeApiResponse:
        try:
            response = super().perform_request(method, target, body, headers, request_timeout)
        except Exception:
            self.stats.count(True, target, body)
            raise
        status = response.meta.status
        self.stats.count(status == 429 or status >= 500, target, body)
        return response


def node_metric_samples(client: Elasticsearch, sink: str) -> Iterator[tuple[str, dict[str, str], int]]:
    """Per node of the client's pool: requests, errors, records retried, and whether the pool counts it alive
    (a node that failed is left out for a growing timeout, then tried again)."""
    pool = client.transport.node_pool
    # The pool's own record of failing nodes, which request threads change without a lock: looked up one node
    # at a time (copying it while a node is marked dead or live raised "dictionary changed size").
    dead = getattr(pool, "_dead_consecutive_failures", {})
    for node in pool.all():
        labels = {"sink": sink, "node": node.base_url}
        stats = getattr(node, "stats", None)
        if isinstance(stats, NodeStats):
            yield "otel_logging_sink_node_requests_total", labels, stats.requests
            yield "otel_logging_sink_node_errors_total", labels, stats.errors
            yield "otel_logging_sink_node_records_retried_total", labels, stats.records_retried
        yield "otel_logging_sink_node_up", labels, 0 if node.config in dead else 1


def es_client(settings: ElasticsearchSettings, request_timeout_s: float = REQUEST_TIMEOUT_S) -> Elasticsearch:
    """A client for the Elasticsearch the settings name (checked first: a ``ConfigError`` names what is wrong)."""
    settings.validate()
    if not settings.urls:
        raise ConfigError("elasticsearch.urls: no URL given (--es-url http://HOST:9200)", "elasticsearch.urls")
    kwargs: dict[str, Any] = {
        "request_timeout": request_timeout_s,
        "max_retries": 0,  # the queue retries, with backoff
        "retry_on_timeout": False,
        "serializer": BulkAnswerSerializer(),
        "node_class": CountingNode,  # per-node requests and errors on /metrics (node_metric_samples)
    }
    if settings.api_key:
        kwargs["api_key"] = settings.api_key
    if settings.user:
        kwargs["basic_auth"] = (settings.user, settings.password or "")
    if settings.ca_cert is not None:
        kwargs["ca_certs"] = str(settings.ca_cert)
    return Elasticsearch(list(settings.urls), **kwargs)


def elasticsearch_queued_sink(
    settings: ElasticsearchSettings,
    log_dir: Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    fsync: bool = False,
    name: str = "elasticsearch",
    **queue_options: Any,
) -> QueuedSink:
    """The service's Elasticsearch sink: durable queue under ``<log-dir>/_queue/<name>/`` + bulk delivery.

    The queue is read in batches of up to ``DEFAULT_BATCH_LINES`` lines (``DEFAULT_BATCH_BYTES``), so that
    one batch feeds several bulk requests at once, and ``DEFAULT_OVERLAP`` batches are delivered at once: the
    next batch's requests fill the slots that the last requests of a batch leave free (acknowledged in order).
    """
    names = DataStreamNames(settings.prefix, settings.namespace)
    client = es_client(settings)
    delivery = ElasticsearchDelivery(client, names)
    queue_options.setdefault("batch_lines", DEFAULT_BATCH_LINES)
    queue_options.setdefault("batch_bytes", DEFAULT_BATCH_BYTES)
    queue_options.setdefault("overlap", DEFAULT_OVERLAP)
    start = queue_options.pop("start", True)

    def close() -> None:
        delivery.close()
        client.close()

    sink = _ElasticsearchQueuedSink(
        name,
        log_dir,
        delivery,
        client=client,
        max_bytes=max_bytes,
        fsync=fsync,
        on_close=close,
        start=False,
        **queue_options,
    )
    sink.ids = IdScheme(sink.queue)  # before the first delivery
    if start:
        sink.start()
    return sink


class _ElasticsearchQueuedSink(QueuedSink):
    """The queue's counters on ``/metrics``, and each node's (so that a dead node shows); each batch's ids by
    the segment it was read from (``IdScheme``)."""

    def __init__(self, *args: Any, client: Elasticsearch, **kwargs: Any) -> None:
        self._client = client
        self.ids: IdScheme | None = None
        super().__init__(*args, **kwargs)

    def _send(self, batch: Batch, lines: list[bytes], services: list[str | None]) -> DeliveryResult:
        delivery = self.deliver
        if self.ids is None or not isinstance(delivery, ElasticsearchDelivery):
            return delivery(lines, services)
        return delivery(lines, services, legacy=self.ids.legacy_at(batch.start.segment))

    def metric_samples(self) -> Iterator[tuple[str, dict[str, str], int]]:
        yield from super().metric_samples()
        yield from node_metric_samples(self._client, self.name)


class ElasticsearchDirectSink:
    """A sink that sends and waits (for ``LogAggregator``: its checkpoint is the queue).

    ``write`` raises ``SinkError`` while anything is to be retried; documents refused for their
    content are logged with the reason and counted in ``rejected`` (written to ``dead_letter_path``
    when one is given), never retried.
    """

    def __init__(self, client: Elasticsearch, names: DataStreamNames, dead_letter_path: Path | None = None) -> None:
        self.delivery = ElasticsearchDelivery(client, names)
        self.name = f"elasticsearch:{names.prefix}"
        self.dead_letter_path = dead_letter_path
        self.rejected = 0
        self._client = client

    def write(self, batch: RecordBatch) -> None:
        self.send(*batch.split_lines())

    def send(self, lines: list[bytes], services: Sequence[str | None] | None = None) -> None:
        """Send JSON lines (of ``services``, when known) and wait; ``SinkError`` while any is to be retried."""
        pending = lines
        while pending:
            result = self.delivery(pending, services)
            if result.dead_letters:
                self._reject([(pending[i], reason) for i, reason in result.dead_letters])
            if result.retry:
                # Keep only what still needs sending; the caller retries the whole batch, which is
                # harmless: documents already stored have the same ids (409 -> delivered).
                raise SinkError(f"Elasticsearch: {len(result.retry)} record(s) not stored ({result.error}); retry")
            pending = []

    def _reject(self, items: Iterable[tuple[bytes, str]]) -> None:
        items = list(items)
        self.rejected += len(items)
        for _line, reason in items[:3]:
            _log.warning("Elasticsearch refused a record: %s", reason)
        if self.dead_letter_path is not None:
            self.dead_letter_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.dead_letter_path, "ab") as f:
                for line, reason in items:
                    f.write(orjson.dumps({"reason": reason, "record": orjson.loads(line)}) + b"\n")

    def close(self) -> None:
        self.delivery.close()
        self._client.close()


def direct_sink(settings: ElasticsearchSettings) -> ElasticsearchDirectSink:
    """A sink that sends and waits (aggregation's; its checkpoint is its queue)."""
    return ElasticsearchDirectSink(es_client(settings), DataStreamNames(settings.prefix, settings.namespace))
