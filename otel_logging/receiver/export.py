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

from otel_logging.receiver.errors import ExportError, Failure
from otel_logging.receiver.limits import NewAppLimiter, RecordProcessor
from otel_logging.receiver.metrics import ServiceMetrics
from otel_logging.record import convert_request
from otel_logging.sinks import Sink, SinkError


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
    """Converts requests to canonical records and hands them to the sinks."""

    def __init__(
        self,
        sinks: list[Sink],
        metrics: ServiceMetrics,
        *,
        processors: list[RecordProcessor] | None = None,
        max_records_per_request: int | None = None,
        new_app_limiter: NewAppLimiter | None = None,
    ) -> None:
        self.sinks = sinks
        self.metrics = metrics
        self.processors = processors or []
        self.max_records_per_request = max_records_per_request
        self.new_app_limiter = new_app_limiter
        self._closing = threading.Event()

    def close(self) -> None:
        """Refuse new requests from now on (in-flight ones finish)."""
        self._closing.set()

    def export(
        self, request: ExportLogsServiceRequest, transport: str, *, rejected_before: int = 0, reason_before: str = ""
    ) -> ExportOutcome:
        """Convert and store ``request``; ``rejected_before`` records were already refused while decoding."""
        if self._closing.is_set():
            self.metrics.add("otel_logging_requests_total", transport=transport, outcome="unavailable")
            raise ExportError(Failure.UNAVAILABLE, "the service is shutting down; retry", retry_after_s=1)
        limit = self.max_records_per_request
        if limit is not None:
            count = sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)
            if count > limit:
                self.metrics.add("otel_logging_requests_total", transport=transport, outcome="invalid")
                raise ExportError(
                    Failure.TOO_LARGE, f"{count} log records in one request; at most {limit} are accepted"
                )
        conversion = convert_request(request)
        if rejected_before:
            conversion.rejected += rejected_before
            conversion.first_error = reason_before or conversion.first_error
        received = conversion.accepted + conversion.rejected
        self.metrics.add("otel_logging_records_received_total", received)
        if self.new_app_limiter is not None:
            try:
                self.new_app_limiter.admit(list(conversion.by_service))
            except ExportError:
                self.metrics.add("otel_logging_requests_total", transport=transport, outcome="rate_limited")
                raise
        if self.processors:
            for records in conversion.by_service.values():
                for i, record in enumerate(records):
                    for process in self.processors:
                        record = process(record)
                    records[i] = record
        try:
            for sink in self.sinks:
                sink.write(conversion.by_service)
        except SinkError as exc:
            self.metrics.add("otel_logging_requests_total", transport=transport, outcome="unavailable")
            raise ExportError(Failure.UNAVAILABLE, str(exc), retry_after_s=5) from exc
        self.metrics.add("otel_logging_records_written_total", conversion.accepted)
        if conversion.rejected:
            self.metrics.add("otel_logging_records_rejected_total", conversion.rejected)
        self.metrics.add(
            "otel_logging_requests_total",
            transport=transport,
            outcome="partial" if conversion.rejected else "ok",
        )
        return ExportOutcome(conversion.accepted, conversion.rejected, conversion.message())
