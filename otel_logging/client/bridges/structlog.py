"""structlog -> OpenTelemetry log records: a processor that sends each event through ``setup()``'s pipeline.

Put ``OtelProcessor()`` in the processor chain just before the renderer (``setup(structlog=True)``
does that for you). For each event it sends one record and returns the event dict unchanged, so
the renderer still prints what it printed before:

- body: the ``event`` value; severity: the level (``add_log_level``'s ``level`` key, else the method
  name: ``exception`` -> ERROR, ``warning`` -> WARN, ``critical`` -> FATAL, custom names through the
  severity table);
- attributes: every other key, typed (bound values, ``structlog.contextvars`` values merged by
  ``merge_contextvars``, nested dicts as maps); ``timestamp`` sets the record's time, ``logger``
  (``add_logger_name``) its scope;
- ``exc_info`` (``log.exception()``, ``exc_info=True`` or an exception) becomes ``exception.type``,
  ``exception.message``, ``exception.stacktrace``; an ``exception`` string already rendered by
  ``format_exc_info`` becomes ``exception.stacktrace``;
- trace and span id of the current span, redaction, the same queue: see ``otel_logging.client.bridges``.
"""

from __future__ import annotations

import datetime
import sys
from collections.abc import Callable, MutableMapping
from typing import Any

from otel_logging.client.bridges import ExcInfo, emit
from otel_logging.record.severity import severity

_METHOD_LEVELS = {"msg": "info", "log": "info", "exception": "error", "warn": "warning", "fatal": "critical"}
# Keys of structlog's stdlib ProcessorFormatter, never user data.
_INTERNAL_KEYS = ("_record", "_from_structlog", "_logger", "_name")


def _exc_info(value: Any) -> ExcInfo | None:
    if value is True:
        current = sys.exc_info()
        return (current[0], current[1], current[2]) if current[0] is not None and current[1] is not None else None
    if isinstance(value, BaseException):
        return (type(value), value, value.__traceback__)
    if isinstance(value, tuple) and len(value) == 3 and isinstance(value[1], BaseException):
        return (type(value[1]), value[1], value[2])
    return None


def _timestamp_ns(value: Any) -> int | None:
    """The time ``TimeStamper`` put in the event (epoch seconds, or ISO 8601 with a zone)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value * 1e9)
    if isinstance(value, str):
        try:
            parsed = datetime.datetime.fromisoformat(value)
        except ValueError:
            return None
        if parsed.tzinfo is not None:
            return int(parsed.timestamp() * 1e9)
    return None


def event_severity(level: str) -> tuple[int, str]:
    name = _METHOD_LEVELS.get(level.lower(), level)
    number, text = severity(name)
    return number, (text or name).upper()


class OtelProcessor:
    """A structlog processor: sends the event as an OpenTelemetry log record, returns the event dict as is."""

    def __init__(self, scope: str = "structlog") -> None:
        self.scope = scope

    def __call__(self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
        fields = dict(event_dict)
        body = fields.pop("event", None)
        level = fields.pop("level", None)
        number, text = event_severity(level if isinstance(level, str) else method_name)
        time_ns = _timestamp_ns(fields.pop("timestamp", None))
        scope = fields.pop("logger", None)
        for key in _INTERNAL_KEYS:
            fields.pop(key, None)
        exc_info = _exc_info(fields.pop("exc_info", None))
        if exc_info is None and method_name == "exception":
            exc_info = _exc_info(True)
        rendered = fields.get("exception")
        if exc_info is None and isinstance(rendered, str):
            fields["exception.stacktrace"] = fields.pop("exception")
        emit(
            scope=scope if isinstance(scope, str) and scope else self.scope,
            body=body,
            severity_number=number,
            severity_text=text,
            attributes=fields,
            exc_info=exc_info,
            time_ns=time_ns,
            source="a structlog",
        )
        return event_dict


def install() -> Callable[[], None]:
    """Put ``OtelProcessor()`` before the last processor (the renderer) of structlog's configuration.

    Returns the function that takes it out again. Raises ``ValueError`` when structlog hands its
    events to stdlib logging (``structlog.stdlib.LoggerFactory``): ``setup()``'s handler already
    exports those, and a second copy would be sent.
    """
    import structlog

    config = structlog.get_config()
    processors = list(config["processors"])
    if any(isinstance(p, OtelProcessor) for p in processors):
        return lambda: None
    if isinstance(config["logger_factory"], structlog.stdlib.LoggerFactory):
        raise ValueError(
            "setup(structlog=True): structlog is configured with structlog.stdlib.LoggerFactory, so its events "
            "already reach stdlib logging, which setup() exports. Leave structlog=False and end the structlog "
            "processor chain with structlog.stdlib.render_to_log_kwargs (the event dict's keys then become typed "
            "attributes), or use a non-stdlib logger factory with structlog=True."
        )
    processor = OtelProcessor()
    processors.insert(max(len(processors) - 1, 0), processor)
    structlog.configure(processors=processors)

    def uninstall() -> None:
        current = list(structlog.get_config()["processors"])
        if any(p is processor for p in current):
            structlog.configure(processors=[p for p in current if p is not processor])

    return uninstall
