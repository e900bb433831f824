"""Bridges from other logging libraries (structlog, loguru) into the pipeline ``setup()`` installed.

A bridge turns one event of its library into the fields of an OpenTelemetry log record and calls
``emit()``. ``emit()`` does what the stdlib handler does with a record: attribute values cleaned once
(nested maps stay maps, see ``client/attributes.py``), exception attributes, secrets masked with the
handler's redactor, the trace and span ids of the current span, then the same compact entry handed to
the same ``ReliableBatchProcessor`` (its queue, back-pressure and loss accounting); when another SDK
processor is registered, or the process runs under ``opentelemetry-instrument``, the record goes
through the SDK ``Logger`` API instead, so every processor sees it.

Events below ``setup(level=...)`` are left out, as the stdlib handler leaves out records below its level.
The pipeline is looked up at each event, so a bridge configured before ``setup()``, or kept across
a second ``setup()``, sends to the current one. An event logged while no pipeline is set up is not
exported: that is counted (``not_exported()``) and reported once on stderr, never silent. A bridge
never raises into the app's logging call: an event that cannot be built is counted (``failed()``) and
reported once.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from opentelemetry.trace import get_current_span

from otel_logging.client.attributes import clean_mapping, clean_value
from otel_logging.client.guard import export_guard
from otel_logging.client.processor import _report
from otel_logging.client.state import CLIENT_STATE
from otel_logging.record.redaction import Redactor
from otel_logging.record.severity import severity, stdlib_text

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]

_EVENT_KEYS = ("otel.event.name", "event.name")

_lock = threading.Lock()
_not_exported = 0
_failed = 0
_default_redactors: dict[int, Redactor] = {}


def not_exported() -> int:
    """Bridge events logged while no ``setup()`` pipeline existed (so they were not exported)."""
    return _not_exported


def failed() -> int:
    """Bridge events that could not be turned into a record (reported once on stderr)."""
    return _failed


def exception_attributes(exc_info: ExcInfo) -> dict[str, str]:
    """``exception.type``, ``exception.message``, ``exception.stacktrace``: as the stdlib handler sets them."""
    kind, value, tb = exc_info
    attributes = {"exception.type": kind.__name__}
    if value.args:
        attributes["exception.message"] = str(value.args[0])
    attributes["exception.stacktrace"] = "".join(traceback.format_exception(kind, value, tb))
    return attributes


def level_severity(number: int, name: str) -> tuple[int, str]:
    """(OTel severity number, severity text) of a level with a stdlib-like number (10 DEBUG .. 50 CRITICAL).

    Numbers between the named levels get the steps in between (25 -> INFO2), as the SDK maps
    stdlib numbers; anything above 0 and below DEBUG is TRACE; the text is the level's own name
    (``WARNING`` -> ``WARN``, ``CRITICAL`` -> ``FATAL``, custom names kept).
    """
    severity_number = severity(number)[0] if number > 0 else 0
    if number > 0 and severity_number == 0:
        severity_number = 1
    return min(severity_number, 24), stdlib_text(name.upper())


def _threshold(level: int) -> int:
    """The lowest severity number ``setup(level=...)`` lets through."""
    return level_severity(level, "")[0] if level > 0 else 0


def _redactor(handle: Any) -> Redactor | None:
    handler = handle.handler
    if handler is not None:
        redactor: Redactor | None = getattr(handler, "redactor", None)
        return redactor
    if not handle.settings.redact:
        return None
    with _lock:  # the process runs under opentelemetry-instrument: setup() built no handler
        return _default_redactors.setdefault(id(handle), Redactor())


def emit(
    *,
    scope: str,
    body: Any,
    severity_number: int,
    severity_text: str,
    attributes: Mapping[str, Any] | None,
    exc_info: ExcInfo | None = None,
    time_ns: int | None = None,
    source: str = "a bridge",
) -> bool:
    """Send one record through the current pipeline; False when it was not sent. Never raises.

    Not sent: below ``setup(level=...)``; no pipeline set up (counted in ``not_exported()``, reported
    once); the record could not be built (counted in ``failed()``, reported once), the logging call
    of the app goes on, as with a stdlib handler's ``handleError``.
    """
    try:
        if export_guard.active:
            return False  # logged by the export thread itself: never fed back
        handle = CLIENT_STATE.handle
        if handle is None:
            _count_not_exported(source)
            return False
        if severity_number and severity_number < _threshold(handle.settings.level):
            return False  # below setup(level=...): not wanted, as with the stdlib handler
        values = clean_mapping(attributes) if attributes else {}
        if exc_info is not None:
            values.update(exception_attributes(exc_info))
        event_name = None
        if _EVENT_KEYS[0] in values or _EVENT_KEYS[1] in values:
            stable = values.pop(_EVENT_KEYS[0], None)
            deprecated = values.pop(_EVENT_KEYS[1], None)
            event_name = str(stable or deprecated)
        if type(body) is not str:
            body = clean_value(body)
        redactor = _redactor(handle)
        if redactor is not None:
            body = redactor.text(body) if type(body) is str else redactor.value(body)
            if values:
                values = redactor.mapping(values)
        now = time.time_ns()
        event_ns = time_ns or now
        handler = handle.handler
        fast = handler._fast_path() if handler is not None and hasattr(handler, "_fast_path") else None
        if fast is not None:
            span_context = get_current_span().get_span_context()
            fast.enqueue(
                (
                    event_ns,
                    now,
                    severity_number,
                    severity_text,
                    body,
                    values or None,
                    span_context.trace_id,
                    span_context.span_id,
                    int(span_context.trace_flags),
                    scope,
                    event_name,
                )
            )
            return True
        from opentelemetry._logs import SeverityNumber

        handle.provider.get_logger(scope).emit(
            timestamp=event_ns,
            observed_timestamp=now,
            severity_number=SeverityNumber(severity_number),
            severity_text=severity_text,
            body=body,
            attributes=values or None,
            event_name=event_name,
        )
        return True
    except Exception as exc:
        global _failed
        with _lock:
            _failed += 1
            first = _failed == 1
        if first:
            _report(f"otel-logging: {source} event could not be exported ({exc!r}); further failures are counted")
        return False


def _count_not_exported(source: str) -> None:
    global _not_exported
    with _lock:
        _not_exported += 1
        first = _not_exported == 1
    if first:
        _report(
            f"otel-logging: {source} event was logged before otel_logging.setup() (or after shutdown()); "
            "it is not exported. Call setup() first; otel_logging.client.bridges.not_exported() counts them."
        )
