"""The canonical log record: one JSON object per line in the per-app files.

Every part of otel-logging speaks this one shape: the receiver builds it from OTLP
protobuf, the file sink writes it, the remote sinks ship it, the dashboard reads it.
Field names follow the OpenTelemetry log data model; ``@timestamp`` is for Kibana.

    @timestamp          RFC 3339 UTC, nanoseconds (from time_unix_nano, else observed time)
    observed_timestamp  RFC 3339 UTC, nanoseconds
    severity_text       "INFO", "ERROR", ...      severity_number  0..24
    body                string, or a JSON value when the body is structured
    logger              instrumentation scope name (the Python logger name)
    service             resource service.name (the "app")
    attributes          {..} typed values (int, float, bool, str, lists, nested maps)
    resource            {..} all resource attributes
    trace_id, span_id   lowercase hex, absent when zero
    event_name, flags, scope_version, scope_attributes, dropped_attributes_count
                        present only when the sender set them

Bytes values (rare in logs) become base64 strings.

Here too: OTLP decoding (``parse_protobuf``, ``decode_json``: a body -> ``ExportLogsServiceRequest``), the
conversion of a request (``convert_request``) and ``RecordBatch``, the one batch type every sink takes.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as OtlpLogRecord

from otel_logging.names import DEFAULT_SERVICE_NAME

JsonValue = Any

# The latest instant RFC 3339 can express with a four-digit year.
_MAX_SECONDS = 253402300799


class CanonicalRecord(TypedDict):
    """One log record, as written to ``<log-dir>/<app>.jsonl``."""

    timestamp: NotRequired[str]  # serialised as "@timestamp"; see ``to_json_line``
    observed_timestamp: str
    severity_text: str
    severity_number: int
    body: JsonValue
    logger: str
    service: str
    attributes: dict[str, JsonValue]
    resource: dict[str, JsonValue]
    trace_id: NotRequired[str]
    span_id: NotRequired[str]
    event_name: NotRequired[str]
    flags: NotRequired[int]
    scope_version: NotRequired[str]
    scope_attributes: NotRequired[dict[str, JsonValue]]
    dropped_attributes_count: NotRequired[int]


# In memory the record is a plain dict whose first key is "@timestamp"; the TypedDict
# above documents the remaining keys (Python identifiers cannot start with "@").
Record = dict[str, JsonValue]


class InvalidRecord(ValueError):
    """A single log record that cannot be accepted; its batch-mates are unaffected."""


_last_second: list[Any] = [None, ""]


def rfc3339_nanos(unix_nano: int) -> str:
    """Format nanoseconds since the epoch as RFC 3339 UTC with nine fraction digits."""
    seconds, fraction = divmod(unix_nano, 1_000_000_000)
    cached = _last_second
    if cached[0] == seconds:
        prefix = cached[1]
    else:
        if not 0 <= seconds <= _MAX_SECONDS:
            raise InvalidRecord(f"timestamp {unix_nano} ns is outside years 1970..9999")
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        cached[1] = prefix  # prefix first: a racing reader sees a stale pair at worst as a miss
        cached[0] = seconds
    return f"{prefix}.{fraction:09d}Z"


def any_value(value: AnyValue) -> JsonValue:
    """Convert an OTLP AnyValue to a JSON value (None when unset)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "kvlist_value":
        return key_values(value.kvlist_value.values)
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return None


def key_values(pairs: Any) -> dict[str, JsonValue]:
    """Convert a repeated KeyValue to a dict (a later duplicate key wins)."""
    return {kv.key: any_value(kv.value) for kv in pairs}


def _resource_service(attributes: list[KeyValue] | Any) -> tuple[dict[str, JsonValue], str]:
    resource = key_values(attributes)
    service = resource.get("service.name")
    if not isinstance(service, str) or not service:
        service = DEFAULT_SERVICE_NAME
    return resource, service


def _convert(
    log: OtlpLogRecord,
    *,
    service: str,
    logger: str,
    resource: dict[str, JsonValue],
    scope_extra: dict[str, JsonValue],
    received_ns: int,
) -> Record:
    observed_ns = log.observed_time_unix_nano or received_ns
    event_ns = log.time_unix_nano or observed_ns
    record: Record = {
        "@timestamp": rfc3339_nanos(event_ns),
        "observed_timestamp": rfc3339_nanos(observed_ns),
        "severity_text": log.severity_text,
        "severity_number": log.severity_number,
        "body": any_value(log.body),
        "logger": logger,
        "service": service,
        "attributes": key_values(log.attributes),
        "resource": resource,
    }
    trace_id = log.trace_id
    if trace_id:
        if len(trace_id) != 16:
            raise InvalidRecord(f"trace_id has {len(trace_id)} bytes, expected 16")
        if trace_id != b"\0" * 16:
            record["trace_id"] = trace_id.hex()
    span_id = log.span_id
    if span_id:
        if len(span_id) != 8:
            raise InvalidRecord(f"span_id has {len(span_id)} bytes, expected 8")
        if span_id != b"\0" * 8:
            record["span_id"] = span_id.hex()
    if log.event_name:
        record["event_name"] = log.event_name
    if log.flags:
        record["flags"] = log.flags
    if log.dropped_attributes_count:
        record["dropped_attributes_count"] = log.dropped_attributes_count
    if scope_extra:
        record.update(scope_extra)
    return record


def rejection_message(rejected: int, first_error: str) -> str:
    """The partial-success message of a request with ``rejected`` records refused."""
    return f"{rejected} log record(s) rejected; first: {first_error}" if rejected else ""


def convert_request(request: ExportLogsServiceRequest, received_ns: int | None = None) -> RecordBatch:
    """Convert every record of an OTLP export request to canonical records, as a ``RecordBatch``.

    A record that cannot be converted is counted as rejected with a reason; the others go on.
    """
    if received_ns is None:
        received_ns = time.time_ns()
    by_service: dict[str, list[Record]] = {}
    rejected = 0
    first_error = ""
    for resource_logs in request.resource_logs:
        resource, service = _resource_service(resource_logs.resource.attributes)
        out = by_service.setdefault(service, [])
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope
            scope_extra: dict[str, JsonValue] = {}
            if scope.version:
                scope_extra["scope_version"] = scope.version
            if len(scope.attributes):
                scope_extra["scope_attributes"] = key_values(scope.attributes)
            logger = scope.name
            for log in scope_logs.log_records:
                try:
                    out.append(
                        _convert(
                            log,
                            service=service,
                            logger=logger,
                            resource=resource,
                            scope_extra=scope_extra,
                            received_ns=received_ns,
                        )
                    )
                except (InvalidRecord, ValueError, OverflowError) as exc:
                    rejected += 1
                    if not first_error:
                        first_error = f"service {service!r}, logger {logger!r}: {exc}"
        if not out:
            del by_service[service]
    return RecordBatch.from_records(by_service, rejected=rejected, first_error=first_error)


def iter_records(request: ExportLogsServiceRequest) -> Iterator[Record]:
    """All accepted records of a request, in order of service (a convenience for tests)."""
    batch = convert_request(request)
    for service in batch:
        yield from batch[service]


def to_json_line(record: Record) -> bytes:
    """One canonical record as a JSON line (UTF-8, ends with a newline)."""
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)


def to_json_lines(records: list[Record]) -> bytes:
    """Many records as one buffer of JSON lines, ready for a single write."""
    dumps = orjson.dumps
    return b"\n".join([dumps(r) for r in records]) + b"\n" if records else b""


def from_json_line(line: bytes | str) -> Record:
    """Parse one JSON line back into a record (raises ``orjson.JSONDecodeError``)."""
    return orjson.loads(line)


# --- the batch ----------------------------------------------------------------------------------------------

# JSON lines, each ending with a newline: bytes, or a read-only memoryview (aggregation's native reader hands
# views of its pooled buffers, valid while the batch is alive).
Lines = bytes | memoryview
_Part = bytes | memoryview | list[Record]


class RecordBatch(Mapping[str, list[Record]]):
    """The records of one export request, or of one read of a file: what every sink's ``write`` takes.

    Per service the records are JSON lines (``lines(service)``: what the per-app files and the durable queues
    take, encoded at most once) and, only when something asks, record dicts (``batch[service]``: the lines
    decoded, once). A batch is made

    - from JSON lines per service (``from_lines``: the native OTLP converter's output),
    - from records per service (``from_records``: the Python conversion; encoded on the first ``lines``),
    - or filled in order by a reader and read after: records of any service appended to ``tail``, runs of JSON
      lines of ``service`` given to ``add_lines`` (aggregation; ``service``, the file's, comes first).

    It reads as a mapping service -> records (in order of first appearance), so a sink written for the older
    ``write(by_service)`` takes a batch as it took that dict. ``count`` records are in it; of the request it came
    from, ``rejected`` more were refused, the first for ``first_error``.
    """

    __slots__ = ("_counted", "_grouped", "_lines", "_parts", "_records", "first_error", "rejected", "service", "tail")

    def __init__(self, service: str = "", *, rejected: int = 0, first_error: str = "") -> None:
        self.service = service
        self.tail: list[Record] = []  # records appended by a reader since its last run of lines
        self.rejected = rejected
        self.first_error = first_error
        self._parts: list[_Part] = []  # filled in order: runs of lines (of ``service``) and lists of records
        self._counted = 0  # records in the parts given whole (runs of lines, or a construction's)
        self._grouped: dict[str, list[_Part]] | None = None  # per service, its parts in order (once read)
        self._lines: dict[str, Lines] = {}
        self._records: dict[str, list[Record]] = {}

    @classmethod
    def from_lines(
        cls, lines_by_service: Mapping[str, Lines], count: int, *, rejected: int = 0, first_error: str = ""
    ) -> RecordBatch:
        """``count`` records as JSON lines per service (each buffer ends with a newline)."""
        batch = cls(rejected=rejected, first_error=first_error)
        batch._grouped = {service: [lines] for service, lines in lines_by_service.items() if lines}
        batch._counted = count
        return batch

    @classmethod
    def from_records(
        cls, by_service: Mapping[str, list[Record]], *, rejected: int = 0, first_error: str = ""
    ) -> RecordBatch:
        """Records per service (the lists are kept, not copied: ``batch[service]`` is the list given)."""
        batch = cls(rejected=rejected, first_error=first_error)
        batch._grouped = {service: [records] for service, records in by_service.items() if records}
        batch._records = {service: records for service, records in by_service.items() if records}
        batch._counted = sum(len(records) for records in batch._records.values())
        return batch

    @classmethod
    def of(cls, batch: Mapping[str, list[Record]]) -> RecordBatch:
        """``batch`` itself, or a batch of the records of a dict service -> records (the older sink argument)."""
        return batch if isinstance(batch, RecordBatch) else cls.from_records(batch)

    # -- filling (a reader) ------------------------------------------------------------------------------------

    def add_lines(self, lines: Lines, count: int) -> None:
        """``count`` records of ``service`` as JSON lines (each ending with a newline), after those so far."""
        if self.tail:
            self._parts.append(self.tail)
            self.tail = []
        self._parts.append(lines)
        self._counted += count

    # -- reading -----------------------------------------------------------------------------------------------

    @property
    def count(self) -> int:
        """The records in the batch (of a request: the accepted ones)."""
        if self._grouped is not None:
            return self._counted
        return self._counted + sum(len(part) for part in self._parts if type(part) is list) + len(self.tail)

    def message(self) -> str:
        """The partial-success message of the request (empty when nothing was rejected)."""
        return rejection_message(self.rejected, self.first_error)

    def lines(self, service: str) -> Lines:
        """The JSON lines of ``service``'s records, in order (a single run of lines is given as it is)."""
        cached = self._lines.get(service)
        if cached is not None:
            return cached
        parts = self._groups()[service]
        first = parts[0]
        if len(parts) == 1 and not isinstance(first, list):
            lines: Lines = first
        else:
            lines = b"".join([to_json_lines(part) if isinstance(part, list) else part for part in parts])
        self._lines[service] = lines
        return lines

    def split_lines(self) -> tuple[list[bytes], list[str]]:
        """Every record's JSON line (with its newline), service by service, and the service of each line."""
        lines: list[bytes] = []
        services: list[str] = []
        for service in self._groups():
            mine = bytes(self.lines(service)).splitlines(keepends=True)
            lines += mine
            services += [service] * len(mine)
        return lines, services

    def map_records(self, process: Callable[[Record], Record]) -> None:
        """Replace every record by ``process(record)`` (service-side processors: redaction, truncation)."""
        for service in self._groups():
            records = self[service]
            for i, record in enumerate(records):
                records[i] = process(record)
        self._grouped = {service: [self[service]] for service in self._groups()}
        self._lines.clear()

    def __getitem__(self, service: str) -> list[Record]:
        """``service``'s records as dicts (its JSON lines decoded on the first call)."""
        records = self._records.get(service)
        if records is None:
            parts = self._groups()[service]
            first = parts[0]
            if len(parts) == 1 and isinstance(first, list):
                records = first
            else:
                records = []
                for part in parts:
                    if isinstance(part, list):
                        records.extend(part)
                    else:
                        records.extend([orjson.loads(line) for line in bytes(part).split(b"\n")[:-1]])
            self._records[service] = records
        return records

    def __iter__(self) -> Iterator[str]:
        return iter(self._groups())

    def __len__(self) -> int:
        """The number of services (as the dict it stands for); ``count`` is the number of records."""
        return len(self._groups())

    def __contains__(self, service: object) -> bool:
        return service in self._groups()

    def __repr__(self) -> str:
        services = list(self._groups())
        return f"RecordBatch(count={self.count}, services={services!r}, rejected={self.rejected})"

    def _groups(self) -> dict[str, list[_Part]]:
        """The parts per service; a batch being filled is grouped on its first read (and filled no more)."""
        grouped = self._grouped
        if grouped is not None:
            return grouped
        own = self.service
        grouped = {own: []}
        counted = self._counted
        for part in [*self._parts, self.tail] if self.tail else self._parts:
            if type(part) is not list:
                grouped[own].append(part)
                continue
            counted += len(part)
            mine: list[Record] = []
            others: dict[str, list[Record]] = {}
            for record in part:
                service = record["service"]
                if service == own:
                    mine.append(record)
                else:
                    bucket = others.get(service)
                    if bucket is None:
                        others[service] = bucket = []
                    bucket.append(record)
            if mine:
                grouped[own].append(mine)
            for service, records in others.items():
                grouped.setdefault(service, []).append(records)
        if not grouped[own]:
            del grouped[own]
        self._grouped, self._counted = grouped, counted
        self._parts, self.tail = [], []
        return grouped


# --- OTLP decoding ------------------------------------------------------------------------------------------


class MalformedRequest(ValueError):
    """A request body that is no OTLP logs request: refused whole (the receiver answers INVALID_ARGUMENT / 400)."""


def parse_protobuf(payload: bytes) -> ExportLogsServiceRequest:
    """Decode an OTLP/protobuf ``ExportLogsServiceRequest``; ``MalformedRequest`` when it is none."""
    try:
        return ExportLogsServiceRequest.FromString(payload)
    except (DecodeError, ValueError) as exc:
        raise MalformedRequest(f"malformed OTLP protobuf: {exc}") from exc


def _hex_ids_to_base64(request: Any) -> tuple[int, str]:
    """OTLP/JSON carries traceId/spanId as hex; protobuf's JSON mapping expects base64.

    A record whose id is not hex is taken out of the request (rejected alone, like a
    protobuf record with a bad id); returns how many were taken out and the first reason.
    """
    rejected, first_error = 0, ""
    for resource_logs in request.get("resourceLogs") or request.get("resource_logs") or ():
        for scope_logs in resource_logs.get("scopeLogs") or resource_logs.get("scope_logs") or ():
            field = "logRecords" if "logRecords" in scope_logs else "log_records"
            logs = scope_logs.get(field) or ()
            kept = []
            for log in logs:
                try:
                    for key in ("traceId", "spanId", "trace_id", "span_id"):
                        value = log.get(key)
                        if isinstance(value, str) and value:
                            try:
                                log[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
                            except ValueError:
                                raise ValueError(f"{key} {value[:64]!r} is not hex") from None
                except ValueError as exc:
                    rejected += 1
                    first_error = first_error or str(exc)
                    continue
                except AttributeError:  # not an object: protobuf's parser reports it
                    pass
                kept.append(log)
            if rejected and isinstance(logs, list):
                scope_logs[field] = kept
    return rejected, first_error


@dataclass(frozen=True, slots=True)
class DecodedJson:
    request: ExportLogsServiceRequest
    rejected: int  # records taken out while decoding (ids that are not hex)
    first_error: str


def decode_json(payload: bytes) -> DecodedJson:
    """Decode an OTLP/JSON request; records with bad ids are counted out, the rest kept.

    ``MalformedRequest`` when the body is no OTLP/JSON request at all.
    """
    try:
        document = orjson.loads(payload)
        if not isinstance(document, dict):
            raise ValueError("the top level must be an object")
        rejected, first_error = _hex_ids_to_base64(document)
        request = json_format.ParseDict(document, ExportLogsServiceRequest(), ignore_unknown_fields=True)
        return DecodedJson(request, rejected, first_error)
    except (orjson.JSONDecodeError, json_format.ParseError, ValueError, TypeError, AttributeError) as exc:
        raise MalformedRequest(f"malformed OTLP JSON: {exc}") from exc


def parse_json(payload: bytes) -> ExportLogsServiceRequest:
    """Decode an OTLP/JSON request whole: any bad record fails it (for callers without partial success)."""
    decoded = decode_json(payload)
    if decoded.rejected:
        raise MalformedRequest(f"malformed OTLP JSON: {decoded.first_error}")
    return decoded.request
