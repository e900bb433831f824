"""Shipping canonical records to Elasticsearch data streams ``logs-<dataset>-<namespace>``.

The central service writes through ``QueuedSink`` (durable queue, retries, dead letters) with
``ElasticsearchDelivery`` as its ``deliver``: the official client's bulk helpers send ``create``
actions (data streams accept only ``create``), and each item's outcome decides:

- created, or 409 (a document with the same id exists: a redelivery) -> delivered
- 429, 5xx, 401/403/404/408, connection errors -> retried with backoff
- any other 4xx (a mapping error: the document's content is refused) -> dead letter with the reason

Document ids are a hash of the record's JSON line, so a record delivered twice (after a crash, or
a lost bulk response) is stored once. Two records identical to the nanosecond in every field are
stored once too.

Before the first delivery the sink installs (idempotently, versioned) two component templates and
an index template for ``<prefix>-*-*`` with ``data_stream: {}`` and an explicit mapping (see
``MAPPING`` and the README). It uses only field types that a full Elasticsearch 8.x/9.x and the
minimal integ-test distribution both have (flattened, keyword, text, date_nanos).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch
from elasticsearch.helpers import parallel_bulk, streaming_bulk
from elasticsearch.serializer import OrjsonSerializer

from otel_logging.names import data_stream_dataset, data_stream_namespace
from otel_logging.queue import DEFAULT_MAX_BYTES, DeliveryResult, QueuedSink
from otel_logging.record import Record, to_json_line
from otel_logging.sinks import SinkError

_log = logging.getLogger("otel_logging.sinks.elasticsearch")

TEMPLATE_VERSION = 1
DEFAULT_PREFIX = "logs"
DEFAULT_NAMESPACE = "default"
_RETRY_STATUSES = frozenset({401, 403, 404, 408, 429})
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
        if not prefix or prefix != prefix.lower() or "-" in prefix or prefix.startswith(("_", "+", ".")):
            raise ValueError(f"index prefix {prefix!r}: use lower case letters, digits, '_' or '.', no '-'")
        self.prefix = prefix
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


def document_id(line: bytes) -> str:
    """The id of a record's document: a hash of its JSON line (a redelivery is then a no-op)."""
    return base64.urlsafe_b64encode(hashlib.blake2b(line.rstrip(b"\n"), digest_size=16).digest()).decode().rstrip("=")


def _bulk_pair(line: bytes, names: DataStreamNames) -> tuple[bytes, bytes]:
    record = orjson.loads(line)
    if not isinstance(record, dict):
        raise ValueError("a record must be a JSON object")
    doc = document(record)
    source = line.rstrip(b"\n") if doc is record else orjson.dumps(doc)
    header = orjson.dumps({"create": {"_index": names(record.get("service")), "_id": document_id(line)}})
    return header, source


def _identity(action: Any) -> Any:
    return action


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


class ElasticsearchDelivery:
    """The ``deliver`` of the Elasticsearch ``QueuedSink``: one batch of JSON lines -> bulk -> per-line outcome."""

    def __init__(
        self,
        client: Elasticsearch,
        names: DataStreamNames,
        *,
        threads: int = 2,
        chunk_size: int = 1000,
        max_chunk_bytes: int = 20 << 20,
    ) -> None:
        self.client = client
        self.names = names
        self.threads = threads
        self.chunk_size = chunk_size
        self.max_chunk_bytes = max_chunk_bytes
        self._templates_ready = False
        self._lock = threading.Lock()

    def ensure_templates(self) -> None:
        with self._lock:
            if not self._templates_ready:
                install_templates(self.client, self.names.prefix)
                self._templates_ready = True

    def __call__(self, lines: list[bytes]) -> DeliveryResult:
        result = DeliveryResult()
        try:
            self.ensure_templates()
        except (TransportError, ApiError) as exc:
            return DeliveryResult.retry_all(len(lines), f"cannot install the index template: {_describe(exc)}")
        actions: list[tuple[bytes, bytes]] = []
        sent: list[int] = []  # index in ``lines`` of each action
        for i, line in enumerate(lines):
            try:
                actions.append(_bulk_pair(line, self.names))
                sent.append(i)
            except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
                result.dead_letters.append((i, f"not a canonical record: {exc}"))
        done = 0
        try:
            for _ok, item in self._bulk(actions):
                outcome, reason = _item_outcome(item)
                if outcome == "retry":
                    result.retry.append(sent[done])
                    result.error = result.error or reason
                    if reason.startswith("404"):
                        self._templates_ready = False  # someone removed the template: install it again
                elif outcome == "dead":
                    result.dead_letters.append((sent[done], reason))
                done += 1
        except (TransportError, ApiError) as exc:
            result.retry.extend(sent[done:])
            result.error = f"Elasticsearch unreachable: {_describe(exc)}"
        if done < len(sent) and not result.error:
            result.retry.extend(sent[done:])
            result.error = "bulk response was missing items"
        return result

    def _bulk(self, actions: list[tuple[bytes, bytes]]) -> Iterator[tuple[bool, dict[str, Any]]]:
        options: dict[str, Any] = {
            "chunk_size": self.chunk_size,
            "max_chunk_bytes": self.max_chunk_bytes,
            "expand_action_callback": _identity,
            "raise_on_error": False,
            "raise_on_exception": False,
        }
        if self.threads > 1 and len(actions) > self.chunk_size:
            yield from parallel_bulk(self.client, actions, thread_count=self.threads, **options)
        else:
            yield from streaming_bulk(self.client, actions, max_retries=0, yield_ok=True, **options)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) < 500 else text[:500] + "..."


# -- construction --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ElasticsearchOptions:
    """How to reach Elasticsearch (``otel-logging serve --es-*``)."""

    urls: tuple[str, ...]
    api_key: str | None = None
    user: str | None = None
    password: str | None = None
    ca_cert: Path | None = None
    namespace: str = DEFAULT_NAMESPACE
    prefix: str = DEFAULT_PREFIX
    request_timeout_s: float = 30.0

    def client(self) -> Elasticsearch:
        if not self.urls:
            raise ValueError("Elasticsearch: no URL given (--es-url http://HOST:9200)")
        for url in self.urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"Elasticsearch URL {url!r} must start with http:// or https://")
        if self.api_key and self.user:
            raise ValueError("Elasticsearch: give --es-api-key or --es-user, not both")
        if self.user and self.password is None:
            raise ValueError(
                "Elasticsearch: --es-user needs the password in the environment variable OTEL_LOGGING_ES_PASSWORD"
            )
        if self.ca_cert is not None and not Path(self.ca_cert).is_file():
            raise ValueError(f"Elasticsearch CA certificate {str(self.ca_cert)!r} does not exist")
        kwargs: dict[str, Any] = {
            "request_timeout": self.request_timeout_s,
            "max_retries": 0,  # the queue retries, with backoff
            "retry_on_timeout": False,
            "serializer": OrjsonSerializer(),
        }
        if self.api_key:
            kwargs["api_key"] = self.api_key
        if self.user:
            kwargs["basic_auth"] = (self.user, self.password or "")
        if self.ca_cert is not None:
            kwargs["ca_certs"] = str(self.ca_cert)
        return Elasticsearch(list(self.urls), **kwargs)


def elasticsearch_queued_sink(
    options: ElasticsearchOptions,
    log_dir: Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    fsync: bool = False,
    name: str = "elasticsearch",
    **queue_options: Any,
) -> QueuedSink:
    """The service's Elasticsearch sink: durable queue under ``<log-dir>/_queue/<name>/`` + bulk delivery."""
    names = DataStreamNames(options.prefix, options.namespace)
    client = options.client()
    delivery = ElasticsearchDelivery(client, names)
    return QueuedSink(name, log_dir, delivery, max_bytes=max_bytes, fsync=fsync, on_close=client.close, **queue_options)


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

    def write(self, by_service: dict[str, list[Record]]) -> None:
        self.send([to_json_line(r) for records in by_service.values() for r in records])

    def send(self, lines: list[bytes]) -> None:
        pending = lines
        while pending:
            result = self.delivery(pending)
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
        self._client.close()


def sink_from_url(url: str, index: str | None = None) -> ElasticsearchDirectSink:
    """A direct sink to the Elasticsearch at ``url``; ``index`` is the data stream prefix (default ``logs``)."""
    options = ElasticsearchOptions(urls=(url,), prefix=index or DEFAULT_PREFIX)
    return ElasticsearchDirectSink(options.client(), DataStreamNames(options.prefix, options.namespace))
