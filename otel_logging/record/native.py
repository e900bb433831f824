"""The native (Rust) fast paths, when they are installed: OTLP conversion and stdlib log lines.

``otel_logging_native`` is the extension module built from ``native/`` into the otel-logging wheel (setup.py,
setuptools-rust; an editable install, ``make venv``, builds it in place). ``convert_payload`` turns the raw bytes of an
OTLP/protobuf ``ExportLogsServiceRequest`` straight into a ``RecordBatch`` of JSON lines per service,
byte-for-byte the lines of ``convert_request(parse_protobuf(payload))``, with the GIL released while it works;
each service's lines are a read-only memoryview of a buffer the module reuses once every view of it is released.

``stdlib_reader`` makes the reader of one stdlib-format log file for log aggregation
(``otel_logging.ingest.source``): chunks of lines -> canonical records as JSON lines, byte-for-byte what the
Python path (``Assembler`` with ``StdlibParser``, then ``to_json_lines``) produces, for naive times in UTC. With
``seed=True`` it is the reader of a seed-format file (``formats.SEED_REGEX`` read by ``RegexParser``) the same way.

``jsonl_reader`` makes the reader of one JSON-lines log file the same way: the lines it is sure to read as
``JsonLinesParser`` does (flat python-json-logger, structlog or generic objects, naive times in UTC) become JSON
lines, and it stops before any other line, which Python reads.

``AVAILABLE`` is False when the module is not installed or ``OTEL_LOGGING_NATIVE=0`` is set; callers
then use the Python path in ``otel_logging.record``. ``STDLIB_AVAILABLE`` is the same for the stdlib reader
(False too with a build of the module older than it), ``JSONL_AVAILABLE`` for the JSON-lines reader.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable
from typing import Any, Protocol

from otel_logging.record.batch import RecordBatch

ENV_SWITCH = "OTEL_LOGGING_NATIVE"

# Each service's lines as a memoryview of a pooled buffer: no copy into a bytes, no fresh memory per request
# (``otlp_logs_to_jsonl``, the same conversion into bytes, is kept for the parity tests and bench/convert.py).
_Converter = Callable[[bytes, int], tuple[dict[str, memoryview], int, int, str]]


def _load(name: str) -> tuple[Any, str]:
    """``otel_logging_native.<name>``, or None and why not."""
    if os.environ.get(ENV_SWITCH, "").strip() == "0":
        return None, f"disabled by {ENV_SWITCH}=0"
    try:
        module = importlib.import_module("otel_logging_native")
        return getattr(module, name), ""
    except (ImportError, AttributeError) as exc:
        return None, f"otel_logging_native.{name} is not installed ({exc})"


_convert: _Converter | None
_convert, UNAVAILABLE_REASON = _load("otlp_logs_to_jsonl_views")
AVAILABLE: bool = _convert is not None


def convert_payload(payload: bytes, received_ns: int | None = None) -> RecordBatch:
    """Convert a serialized ``ExportLogsServiceRequest`` to a batch of canonical JSON lines per service.

    ``received_ns`` (default: now) stands in for a record's missing observed time. Raises ValueError
    when the payload is not a valid request (where ``FromString`` raises DecodeError), and RuntimeError
    when the native module is not available (check ``AVAILABLE`` first).
    """
    if _convert is None:
        raise RuntimeError(f"native OTLP conversion is not available: {UNAVAILABLE_REASON}")
    if received_ns is None:
        received_ns = time.time_ns()
    if not isinstance(payload, bytes):
        payload = bytes(payload)  # bytearray / memoryview: the conversion runs without the GIL on a stable copy
    views, accepted, rejected, first_error = _convert(payload, received_ns)
    return RecordBatch.from_lines(views, accepted, rejected=rejected, first_error=first_error)


# --- stdlib-format log lines (aggregation) ------------------------------------------------------------------

# The entry an assembler is collecting lines for: (offset of its first line, @timestamp, observed_timestamp,
# severity_text, severity_number, body, logger, continuation lines, index of the traceback in them or -1,
# inside a traceback, service). Its record's attributes are the file's path and uid, its service and resource the
# file's, or with a service (not None: a seed line's app_name) that service and ``{**resource, "service.name": it}``.
PendingEntry = tuple[int, str, str, str, int, str, str, list[str], int, bool, str | None]


class StdlibLineReader(Protocol):
    """``otel_logging_native.StdlibReader``: the reader of one file's stdlib-format lines."""

    def read(
        self,
        data: bytes,
        start: int,
        end: int,
        base_offset: int,
        ascii: bool,
        observed: str,
        pending: PendingEntry | None,
    ) -> tuple[memoryview, int, int, PendingEntry | None, str | None, str | None]:
        """Read the lines of ``data[:end]`` from index ``start`` on, up to the first one it leaves to Python.

        ``data[:end]`` is a chunk's complete lines without the last newline, ``data[i]`` byte ``base_offset + i``
        of the file, ``ascii`` is ``data[:end].isascii()`` (it decides how CR and NUL are stripped, as in
        ``read_batch``; ValueError if it is True for data that is not ASCII),
        ``observed`` the observed time of records made now, ``pending`` the assembler's entry. Returns the
        finished records as JSON lines (a read-only memoryview of a buffer the reader reuses once every view
        of it is released: copy it to keep it), their count, the index of the first line not read (``end + 1``
        when all were), the entry pending now, the timestamp text of the last record line read (or None), and the
        service of the records (None: the file's; one call makes records of one service, and stops before the
        line that would finish a record of another). A line is left to Python (the reader stops before it, its
        entry still pending) when it is neither a record line of its format, nor blank, nor a continuation, or
        when a non-ASCII character or a timestamp Python reads otherwise would decide.
        """
        ...


_stdlib_reader: Callable[..., StdlibLineReader] | None
_stdlib_reader, STDLIB_UNAVAILABLE_REASON = _load("StdlibReader")
if _stdlib_reader is not None and "seed" not in (getattr(_stdlib_reader, "__text_signature__", None) or ""):
    # a build of the module older than the seed format's reader (and its pending entries with a service)
    _stdlib_reader, STDLIB_UNAVAILABLE_REASON = None, "otel_logging_native.StdlibReader is older than this package"
STDLIB_AVAILABLE: bool = _stdlib_reader is not None


def stdlib_reader(
    service: str,
    path: str,
    uid_prefix: str,
    resource_json: bytes,
    *,
    seed: bool = False,
    other_resource: tuple[bytes, bytes] | None = None,
) -> StdlibLineReader | None:
    """The native reader of one stdlib-format (``seed``: seed-format) file whose records have this service,
    ``log.file.path``, ``log.record.uid`` prefix and resource (``orjson.dumps`` of it); None when it is not
    available. ``other_resource``: the JSON of ``{**resource, "service.name": s}`` before and after the JSON of
    ``s``, for the records of seed lines naming another service ``s`` (None: Python makes those), also those of
    an entry the assembler hands over (a seed line in a stdlib file, read by the fallback parser)."""
    if _stdlib_reader is None:
        return None
    return _stdlib_reader(service, path, uid_prefix, resource_json, seed, other_resource)


# --- JSON lines (aggregation) ----------------------------------------------------------------------------------


class JsonlLineReader(Protocol):
    """``otel_logging_native.JsonlReader``: the reader of one file's JSON lines."""

    def read(
        self, data: bytes, start: int, end: int, base_offset: int, observed: str
    ) -> tuple[memoryview, int, int, str | None]:
        """Read the lines of ``data[:end]`` from index ``start`` on, up to the first one it leaves to Python.

        ``data[:end]`` is a chunk's complete lines without the last newline, ``data[i]`` byte ``base_offset + i``
        of the file, ``observed`` the observed time of records made now. Returns the records as JSON lines (a
        read-only memoryview of a buffer the reader reuses once every view of it is released), their count, the
        index of the first line not read (``end + 1`` when all were) and the timestamp text of the last record
        that had one (or None). Blank lines are skipped. A line is left to Python when it is not one the reader
        is sure to read exactly as ``JsonLinesParser`` does (see ``native/src/jsonl.rs``).
        """
        ...


_jsonl_reader: Callable[[str, str, str, bytes, dict[str, tuple[int, str]]], JsonlLineReader] | None
_jsonl_reader, JSONL_UNAVAILABLE_REASON = _load("JsonlReader")
JSONL_AVAILABLE: bool = _jsonl_reader is not None


def jsonl_reader(
    service: str, path: str, uid_prefix: str, resource_json: bytes, severities: dict[str, tuple[int, str]]
) -> JsonlLineReader | None:
    """The native reader of one JSON-lines file (records of this service, ``log.file.path``, ``log.record.uid``
    prefix and resource; ``severities``: ``SEVERITY_BY_NAME``); None when it is not available."""
    if _jsonl_reader is None:
        return None
    return _jsonl_reader(service, path, uid_prefix, resource_json, severities)


# --- the app side: redaction pre-check and the OTLP encoder of a batch of entries ---------------------------

_trigger_scan: Callable[[list[str], bool, bool], Any] | None
_trigger_scan, CLIENT_UNAVAILABLE_REASON = _load("TriggerScan")
_encode_entries: Callable[[bytes, str, list[Any]], bytes | None] | None
_encode_entries, _ = _load("encode_entries")
_entry_maker: Callable[..., Any] | None
_entry_maker, _ = _load("EntryMaker")
CLIENT_AVAILABLE: bool = _trigger_scan is not None and _encode_entries is not None and _entry_maker is not None


def trigger_scan(literals: list[str], digits: bool, sk_hex: bool) -> Any:
    """``otel_logging_native.TriggerScan``: ``.hit(text)`` is True when one of ``literals`` (lower-case ASCII)
    occurs in ``text`` case-insensitively, or (``digits``) ``[0-9]\\d{3}[ -]?\\d{4}``, or (``sk_hex``)
    ``sk[0-9a-f]{32}`` in the lower-cased text; None for a text that is not ASCII. None when not available."""
    if _trigger_scan is None:
        return None
    return _trigger_scan(literals, digits, sk_hex)


_record_scan: Callable[[Any, list[str], list[str]], Any] | None
_record_scan, _ = _load("RecordScan")


def record_scan(scan: Any, key_words: list[str], own: list[str]) -> Any:
    """``otel_logging_native.RecordScan``: ``.suspects(lines)`` names the canonical JSON lines that might hold a
    secret for the rules of ``scan`` (a ``TriggerScan``) and the sensitive ``key_words`` (normalized), the values
    of the ``own`` attributes left out (``otel_logging/ingest/line_scan.py`` is its reference). None when not
    available (or a build older than it)."""
    if _record_scan is None or scan is None:
        return None
    return _record_scan(scan, key_words, own)


def encode_entries(resource: bytes, schema_url: str, entries: list[Any]) -> bytes | None:
    """A batch of app-side entries -> a serialized ``ExportLogsServiceRequest``, byte-for-byte
    ``BatchEncoder.encode_python``; None when the batch holds a value it leaves to Python (or it is not available)."""
    if _encode_entries is None:
        return None
    return _encode_entries(resource, schema_url, entries)


def entry_maker(
    record_type: type,
    init_count: int,
    standard: frozenset[str],
    severities: dict[Any, Any],
    scan: Any = None,
    key_cache: dict[str, bool] | None = None,
) -> Any:
    """``otel_logging_native.EntryMaker``: ``.make(record)`` is ``OtelLoggingHandler._entry(record)`` for the
    common record (but the observed time), None for the others. None when not available."""
    if _entry_maker is None:
        return None
    return _entry_maker(record_type, init_count, standard, severities, scan, key_cache)


# --- the Elasticsearch sink's bulk bodies ------------------------------------------------------------------------

# (lines, services, start, end, indexes, legacy) -> (body, indexes of the lines in it, indexes left to Python)
EsBulkBody = Callable[
    [list[bytes], list[str | None], int, int, dict[Any, bytes], bool], tuple[bytes, list[int], list[int]]
]
es_bulk_body: EsBulkBody | None
es_bulk_body, ES_BULK_UNAVAILABLE_REASON = _load("es_bulk_body")
"""``otel_logging_native.es_bulk_body`` (None when not available): the bulk body of the lines of ``lines[start:end]``
whose service has an entry in ``indexes`` (service -> JSON string of its data stream) and whose body is text, each
``create`` action with the line's id, byte-for-byte ``ElasticsearchDelivery._encode_line``; the GIL is released
while it hashes and copies. Returns (body, the indexes of those lines in the body's order, the others in order)."""
es_document_id: Callable[[bytes, bool], bytes] | None
es_document_id, _ = _load("es_document_id")


# --- the OTLP/gRPC transport -----------------------------------------------------------------------------------

_grpc_server, GRPC_SERVER_UNAVAILABLE_REASON = _load("GrpcServer")


def native_grpc_server() -> Any:
    """``otel_logging_native.GrpcServer`` (None when not available): the OTLP/gRPC transport of
    ``otel_logging.receiver.grpc_native``."""
    return _grpc_server
