"""The one export path shared by the gRPC and HTTP front ends.

A front end hands ``LogsExporter`` an OTLP/protobuf body (``export_protobuf``) or an OTLP/JSON one
(``export_json``); the decoders are the record code's. Either way the records become one ``RecordBatch``
(JSON lines per service), which is handed as it is to every sink; the answer is sent only after all sinks
took it.

A protobuf body goes straight through the native converter (``otel_logging.record.native``) when it is installed and
no record processor (redaction, truncation) needs the records as Python values; otherwise through the Python
conversion (``otel_logging.record``). Which path is taken is decided once, at start (``conversion_path``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from otel_logging import record
from otel_logging.receiver.errors import ExportError, Failure
from otel_logging.receiver.limits import NewAppLimiter, RecordProcessor
from otel_logging.receiver.metrics import ServiceMetrics
from otel_logging.record import MalformedRequest, Record, RecordBatch, convert_request, native
from otel_logging.sinks import Sink, SinkError

__all__ = ["ConversionPath", "ExportOutcome", "LogsExporter"]
T = TypeVar("T")
_EMPTY_RESPONSE = ExportLogsServiceResponse().SerializeToString()  # b"": proto3 writes no unset field


@dataclass(frozen=True, slots=True)
class ExportOutcome:
    accepted: int
    rejected: int
    message: str

    def serialized_response(self) -> bytes:
        """``response()`` serialized; a full success (nothing to say) is the empty message, ``b""``, built once."""
        if not self.rejected and not self.message:
            return _EMPTY_RESPONSE
        return self.response().SerializeToString()

    def response(self) -> ExportLogsServiceResponse:
        response = ExportLogsServiceResponse()
        if self.rejected or self.message:
            response.partial_success.rejected_log_records = self.rejected
            response.partial_success.error_message = self.message
        return response


def _decoded(decode: Callable[[bytes], T], payload: bytes) -> T:
    """Decode with the record code's OTLP decoder; a payload it refuses is MALFORMED (INVALID_ARGUMENT / 400)."""
    try:
        return decode(payload)
    except MalformedRequest as exc:
        raise ExportError(Failure.MALFORMED, str(exc)) from exc


@dataclass(frozen=True, slots=True)
class ConversionPath:
    """How OTLP/protobuf requests are converted: natively, or on the Python path and why (``reason``:
    ``record_processors``, ``native_unavailable`` or ``native_disabled``; ``detail`` says it in words)."""

    native: bool
    reason: str = ""
    detail: str = ""

    def describe(self) -> str:
        if self.native:
            return "OTLP/protobuf requests are converted by the native converter"
        return f"OTLP/protobuf requests are converted on the Python path (slower), not natively: {self.detail}"

    def metric_samples(self) -> Iterator[tuple[str, dict[str, str], int]]:
        """``otel_logging_conversion_path{path="native"|"python",reason="..."} 1`` for ``/metrics``."""
        yield "otel_logging_conversion_path", {"path": "native" if self.native else "python", "reason": self.reason}, 1


def conversion_path(use_native: bool, processors: list[RecordProcessor]) -> ConversionPath:
    if not use_native:
        return ConversionPath(False, "native_disabled", "the native converter is switched off (use_native=False)")
    if not native.AVAILABLE:
        disabled = native.UNAVAILABLE_REASON.startswith("disabled")
        return ConversionPath(False, "native_disabled" if disabled else "native_unavailable", native.UNAVAILABLE_REASON)
    if processors:
        names = ", ".join(getattr(p, "__name__", type(p).__name__) for p in processors)
        return ConversionPath(
            False,
            "record_processors",
            f"record processors ({names}: --redact, --redact-rules, --max-attribute-length) need each record "
            "as a Python value",
        )
    return ConversionPath(True)


class LogsExporter:
    """Converts each request to one ``RecordBatch`` and hands it to every sink."""

    def __init__(
        self,
        sinks: list[Sink],
        metrics: ServiceMetrics,
        *,
        processors: list[RecordProcessor] | None = None,
        max_records_per_request: int | None = None,
        new_app_limiter: NewAppLimiter | None = None,
        use_native: bool = True,
    ) -> None:
        self.sinks = sinks
        self.metrics = metrics
        self.processors = processors or []
        self.max_records_per_request = max_records_per_request
        self.new_app_limiter = new_app_limiter
        self.conversion = conversion_path(use_native, self.processors)  # decided once; on /metrics
        self.native = self.conversion.native
        self._closing = threading.Event()

    def close(self) -> None:
        """Refuse new requests from now on (in-flight ones finish)."""
        self._closing.set()

    def export_protobuf(self, payload: bytes, transport: str) -> ExportOutcome:
        """Convert and store an OTLP/protobuf payload."""
        self._check_open(transport)
        if not self.native:
            return self._store(self._convert(_decoded(record.parse_protobuf, payload), transport), transport)
        try:
            batch = native.convert_payload(payload)
        except ValueError as exc:
            raise ExportError(Failure.MALFORMED, f"malformed OTLP protobuf: {exc}") from exc
        self._check_count(batch.count + batch.rejected, transport)
        return self._store(batch, transport)

    def export_json(self, payload: bytes, transport: str) -> ExportOutcome:
        """Decode and store an OTLP/JSON payload; records with bad ids are counted out, the rest kept."""
        self._check_open(transport)
        decoded = _decoded(record.decode_json, payload)
        return self.export(
            decoded.request, transport, rejected_before=decoded.rejected, reason_before=decoded.first_error
        )

    def export(
        self, request: ExportLogsServiceRequest, transport: str, *, rejected_before: int = 0, reason_before: str = ""
    ) -> ExportOutcome:
        """Convert and store a decoded ``request``; ``rejected_before`` records were refused while decoding it."""
        self._check_open(transport)
        batch = self._convert(request, transport)
        if rejected_before:
            batch.rejected += rejected_before
            batch.first_error = reason_before or batch.first_error
        return self._store(batch, transport)

    def _convert(self, request: ExportLogsServiceRequest, transport: str) -> RecordBatch:
        """The Python path: the request's records, through the record processors."""
        if self.max_records_per_request is not None:
            self._check_count(
                sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs), transport
            )
        batch = convert_request(request)
        if self.processors:
            batch.map_records(self.processors[0] if len(self.processors) == 1 else self._process)
        return batch

    def _process(self, item: Record) -> Record:
        for process in self.processors:
            item = process(item)
        return item

    def _check_open(self, transport: str) -> None:
        if self._closing.is_set():
            self.metrics.add("otel_logging_requests_total", transport=transport, outcome="unavailable")
            raise ExportError(Failure.UNAVAILABLE, "the service is shutting down; retry", retry_after_s=1)

    def _check_count(self, count: int, transport: str) -> None:
        limit = self.max_records_per_request
        if limit is not None and count > limit:
            self.metrics.add("otel_logging_requests_total", transport=transport, outcome="invalid")
            raise ExportError(Failure.TOO_LARGE, f"{count} log records in one request; at most {limit} are accepted")

    def _store(self, batch: RecordBatch, transport: str) -> ExportOutcome:
        """Admit new apps, hand the batch to every sink, count, and answer."""
        accepted, rejected = batch.count, batch.rejected
        self.metrics.add("otel_logging_records_received_total", accepted + rejected)
        if self.new_app_limiter is not None:
            try:
                self.new_app_limiter.admit(list(batch))
            except ExportError:
                self.metrics.add("otel_logging_requests_total", transport=transport, outcome="rate_limited")
                raise
        try:
            for sink in self.sinks:
                sink.write(batch)
        except SinkError as exc:
            self.metrics.add("otel_logging_requests_total", transport=transport, outcome="unavailable")
            raise ExportError(Failure.UNAVAILABLE, str(exc), retry_after_s=5) from exc
        self.metrics.add("otel_logging_records_written_total", accepted)
        if rejected:
            self.metrics.add("otel_logging_records_rejected_total", rejected)
        self.metrics.add("otel_logging_requests_total", transport=transport, outcome="partial" if rejected else "ok")
        return ExportOutcome(accepted, rejected, batch.message())
