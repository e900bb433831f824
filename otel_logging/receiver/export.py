"""The one export path shared by the gRPC and HTTP front ends.

Both front ends parse their transport's payload into an ``ExportLogsServiceRequest`` and
call ``LogsExporter.export``. It converts every record once to the canonical record,
hands the grouped records to each sink and answers only after all sinks took them.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from otel_logging import native
from otel_logging.receiver.errors import ExportError, Failure
from otel_logging.receiver.limits import NewAppLimiter, RecordProcessor
from otel_logging.receiver.metrics import ServiceMetrics
from otel_logging.record import Record, convert_request, to_json_lines
from otel_logging.sinks import EncodedBatch, EncodedSink, Sink, SinkError


@dataclass(frozen=True, slots=True)
class ExportOutcome:
    accepted: int
    rejected: int
    message: str

    def response(self) -> ExportLogsServiceResponse:
        response = ExportLogsServiceResponse()
        if self.rejected or self.message:
            response.partial_success.rejected_log_records = self.rejected
            response.partial_success.error_message = self.message
        return response


def parse_protobuf(payload: bytes) -> ExportLogsServiceRequest:
    try:
        return ExportLogsServiceRequest.FromString(payload)
    except (DecodeError, ValueError) as exc:
        raise ExportError(Failure.MALFORMED, f"malformed OTLP protobuf: {exc}") from exc


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
    """Decode an OTLP/JSON request; records with bad ids are counted out, the rest kept."""
    try:
        document = orjson.loads(payload)
        if not isinstance(document, dict):
            raise ValueError("the top level must be an object")
        rejected, first_error = _hex_ids_to_base64(document)
        request = json_format.ParseDict(document, ExportLogsServiceRequest(), ignore_unknown_fields=True)
        return DecodedJson(request, rejected, first_error)
    except (orjson.JSONDecodeError, json_format.ParseError, ValueError, TypeError, AttributeError) as exc:
        raise ExportError(Failure.MALFORMED, f"malformed OTLP JSON: {exc}") from exc


def parse_json(payload: bytes) -> ExportLogsServiceRequest:
    """Decode an OTLP/JSON request whole: any bad record fails it (for callers without partial success)."""
    decoded = decode_json(payload)
    if decoded.rejected:
        raise ExportError(Failure.MALFORMED, f"malformed OTLP JSON: {decoded.first_error}")
    return decoded.request


class LogsExporter:
    """Converts requests to canonical records, encodes them once and hands them to the sinks.

    A protobuf payload goes straight through the native converter (``otel_logging.native``)
    when it can do the whole job: it is built, no record processor (redaction, truncation)
    needs the records as Python values, and every sink takes encoded JSON lines.
    """

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
        self.native = (
            use_native
            and native.AVAILABLE
            and not self.processors
            and all(isinstance(sink, EncodedSink) for sink in sinks)
        )
        self._closing = threading.Event()

    def close(self) -> None:
        """Refuse new requests from now on (in-flight ones finish)."""
        self._closing.set()

    def export_protobuf(self, payload: bytes, transport: str) -> ExportOutcome:
        """Convert and store an OTLP/protobuf payload."""
        if not self.native:
            return self.export(parse_protobuf(payload), transport)
        self._check_open(transport)
        try:
            converted = native.convert_payload(payload)
        except ValueError as exc:
            raise ExportError(Failure.MALFORMED, f"malformed OTLP protobuf: {exc}") from exc
        self._check_count(converted.accepted + converted.rejected, transport)
        return self._store(
            converted.lines_by_service,
            converted.accepted,
            converted.rejected,
            converted.message(),
            transport,
        )

    def export(
        self, request: ExportLogsServiceRequest, transport: str, *, rejected_before: int = 0, reason_before: str = ""
    ) -> ExportOutcome:
        """Convert and store ``request``; ``rejected_before`` records were already refused while decoding."""
        self._check_open(transport)
        if self.max_records_per_request is not None:
            self._check_count(
                sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs), transport
            )
        conversion = convert_request(request)
        if rejected_before:
            conversion.rejected += rejected_before
            conversion.first_error = reason_before or conversion.first_error
        by_service = conversion.by_service
        if self.processors:
            for records in by_service.values():
                for i, record in enumerate(records):
                    for process in self.processors:
                        record = process(record)
                    records[i] = record
        encoded = {service: to_json_lines(records) for service, records in by_service.items()}
        return self._store(
            encoded, conversion.accepted, conversion.rejected, conversion.message(), transport, by_service
        )

    def _check_open(self, transport: str) -> None:
        if self._closing.is_set():
            self.metrics.add("otel_logging_requests_total", transport=transport, outcome="unavailable")
            raise ExportError(Failure.UNAVAILABLE, "the service is shutting down; retry", retry_after_s=1)

    def _check_count(self, count: int, transport: str) -> None:
        limit = self.max_records_per_request
        if limit is not None and count > limit:
            self.metrics.add("otel_logging_requests_total", transport=transport, outcome="invalid")
            raise ExportError(Failure.TOO_LARGE, f"{count} log records in one request; at most {limit} are accepted")

    def _store(
        self,
        encoded: EncodedBatch,
        accepted: int,
        rejected: int,
        message: str,
        transport: str,
        by_service: dict[str, list[Record]] | None = None,
    ) -> ExportOutcome:
        """Admit new apps, hand the batch to every sink, count, and answer."""
        self.metrics.add("otel_logging_records_received_total", accepted + rejected)
        if self.new_app_limiter is not None:
            try:
                self.new_app_limiter.admit(list(encoded))
            except ExportError:
                self.metrics.add("otel_logging_requests_total", transport=transport, outcome="rate_limited")
                raise
        try:
            for sink in self.sinks:
                if isinstance(sink, EncodedSink):
                    sink.write_encoded(encoded, accepted)
                else:
                    assert by_service is not None  # the native path is only taken when every sink is encoded
                    sink.write(by_service)
        except SinkError as exc:
            self.metrics.add("otel_logging_requests_total", transport=transport, outcome="unavailable")
            raise ExportError(Failure.UNAVAILABLE, str(exc), retry_after_s=5) from exc
        self.metrics.add("otel_logging_records_written_total", accepted)
        if rejected:
            self.metrics.add("otel_logging_records_rejected_total", rejected)
        self.metrics.add("otel_logging_requests_total", transport=transport, outcome="partial" if rejected else "ok")
        return ExportOutcome(accepted, rejected, message)
