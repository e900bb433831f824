"""Native hot paths of otel-logging (built from native/ by scripts/build-native.sh)."""

from collections.abc import Callable
from typing import Any

def otlp_logs_to_jsonl(payload: bytes, received_ns: int) -> tuple[dict[str, bytes], int, int, str]:
    """Convert a serialized OTLP ExportLogsServiceRequest to canonical JSON lines per service.

    Returns (lines by service in order of first appearance, accepted, rejected, first error); raises
    ValueError when the payload is not a valid request. The GIL is released while converting.
    """

def otlp_logs_to_jsonl_views(payload: bytes, received_ns: int) -> tuple[dict[str, memoryview], int, int, str]:
    """``otlp_logs_to_jsonl`` with each service's lines as a read-only memoryview of a buffer that is reused for a
    later conversion once every view of it is released (no copy into a bytes, no fresh memory per request)."""

# (offset, timestamp, observed, severity_text, severity_number, body, logger, continuation lines,
#  index where a traceback starts or -1, inside a traceback)
PendingEntry = tuple[int, str, str, str, int, str, str, list[str], int, bool]

class JsonLines:
    """JSON lines a StdlibReader made: a read-only buffer whose memory returns to the reader's pool when released."""

    def __len__(self) -> int: ...

class StdlibReader:
    """The reader of one file's stdlib-format lines (``%(asctime)s - %(name)s - %(levelname)s - %(message)s``)."""

    def __init__(self, service: str, path: str, uid_prefix: str, resource_json: bytes) -> None: ...
    def read(
        self,
        data: bytes,
        start: int,
        end: int,
        base_offset: int,
        ascii: bool,
        observed: str,
        pending: PendingEntry | None,
    ) -> tuple[memoryview, int, int, PendingEntry | None, str | None]:
        """Read the lines of ``data[start:end]``; returns (JSON lines, records, index of the first line not
        read, the entry now pending, the latest timestamp text read). The GIL is released while reading."""

class JsonlReader:
    """The reader of one file's JSON lines (python-json-logger, structlog, flat JSON objects)."""

    def __init__(
        self, service: str, path: str, uid_prefix: str, resource_json: bytes, severities: dict[str, tuple[int, str]]
    ) -> None: ...
    def read(
        self, data: bytes, start: int, end: int, base_offset: int, observed: str
    ) -> tuple[memoryview, int, int, str | None]:
        """Read the lines of ``data[start:end]`` up to the first one Python must read; returns (JSON lines,
        records, index of the first line not read, the latest timestamp text read). The GIL is released."""

class TriggerScan:
    """The redaction triggers of one Redactor: lower-case ASCII literals, the card-number and Twilio patterns."""

    def __init__(self, literals: list[str], digits: bool, sk_hex: bool) -> None: ...
    def hit(self, text: str) -> bool | None:
        """True when a trigger occurs in ``text`` (case-insensitively); None when ``text`` is not ASCII."""

class RecordScan:
    """Aggregation's redaction pre-check over canonical JSON lines (``otel_logging/ingest/line_scan.py``)."""

    def __init__(self, scan: TriggerScan, key_words: list[str], own: list[str]) -> None: ...
    def suspects(self, lines: bytes) -> list[tuple[int, int, int]] | None:
        """(index, start, end) of each line that might hold a secret; None: ``lines`` does not end with a newline."""
    def suspect_line(self, line: bytes) -> bool:
        """Whether ``line`` (without its newline) might hold a secret."""

def encode_entries(resource: bytes, schema_url: str, entries: list[tuple[Any, ...]]) -> bytes | None:
    """A batch of app-side entries -> a serialized ExportLogsServiceRequest; None: the Python encoder must do it."""

class EntryMaker:
    """The handler's entry of the common stdlib record (``OtelLoggingHandler._entry`` is its reference)."""

    def __init__(
        self,
        record_type: type,
        init_count: int,
        standard: frozenset[str],
        severities: dict[Any, Any],
        scan: TriggerScan | None = None,
        key_cache: dict[str, bool] | None = None,
    ) -> None: ...
    def make(self, record: Any) -> tuple[Any, ...] | None:
        """The entry (observed time: now), or None when Python must build it."""

def es_bulk_body(
    lines: list[bytes], services: list[str | None], start: int, end: int, indexes: dict[Any, bytes], legacy: bool
) -> tuple[bytes, list[int], list[int]]:
    """The Elasticsearch bulk body of the lines of ``lines[start:end]`` with a known service and a text body,
    their indexes (the body's order) and the indexes of the other lines (left to Python). The GIL is released."""

def es_document_id(line: bytes, legacy: bool) -> bytes:
    """The document id ``es_bulk_body`` gives a line (without its newline)."""

class GrpcServer:
    """The OTLP/gRPC transport (tonic, a tokio runtime of ``workers`` threads, plaintext): health service, gzip and
    deflate, ``max_message_bytes`` and ``max_concurrent`` (RESOURCE_EXHAUSTED beyond them). Each Export request's
    bytes and ``authorization`` header go to ``export``, on the thread that read them, which answers
    ``(code, message, response bytes when OK, trailers)``. Binds in the constructor (OSError when it cannot)."""

    port: int
    def __init__(
        self,
        host: str,
        port: int,
        export: Callable[[bytes, str | None], tuple[int, str, bytes | None, list[tuple[str, bytes]]]],
        *,
        max_message_bytes: int,
        max_concurrent: int,
        workers: int,
    ) -> None: ...
    def start(self) -> None:
        """Serve; health SERVING."""
    def stop(self, grace_s: float) -> None:
        """Health NOT_SERVING, no new calls, up to ``grace_s`` for the calls under way; the threads joined."""
