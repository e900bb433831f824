"""loguru -> OpenTelemetry log records: a loguru sink that sends each message through ``setup()``'s pipeline.

``logger.add(OtelSink(), format="{message}")`` (``setup(loguru=True)`` does that for you):

- body: the formatted message; scope: the module that logged (``record["name"]``);
- severity: the level's number mapped like stdlib numbers (TRACE 5 -> TRACE, DEBUG 10, INFO 20,
  SUCCESS 25 -> INFO2, WARNING 30, ERROR 40, CRITICAL 50 -> FATAL; custom levels by their number),
  the severity text is the level's name;
- attributes: ``record["extra"]`` typed (``logger.bind()``, ``logger.contextualize()``, keyword
  arguments of the call), nested dicts as maps;
- an exception (``logger.exception()``, ``logger.opt(exception=...)``) becomes ``exception.type``,
  ``exception.message``, ``exception.stacktrace``;
- trace and span id of the current span (the sink runs in the logging thread: do not add it with
  ``enqueue=True``), redaction, the same queue: see ``otel_logging.client.bridges``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from otel_logging.client.bridges import emit, level_severity


class OtelSink:
    """A loguru sink (a callable taking the message) that emits OpenTelemetry log records."""

    def __call__(self, message: Any) -> None:
        record = message.record
        level = record["level"]
        number, text = level_severity(level.no, level.name)
        exception = record["exception"]
        exc_info = None
        if exception is not None and exception.type is not None and exception.value is not None:
            exc_info = (exception.type, exception.value, exception.traceback)
        emit(
            scope=record["name"] or "loguru",
            body=record["message"],
            severity_number=number,
            severity_text=text,
            attributes=record["extra"],
            exc_info=exc_info,
            time_ns=int(record["time"].timestamp() * 1e9),
            source="a loguru",
        )


def install(level: int) -> Callable[[], None]:
    """Add ``OtelSink()`` to loguru's logger at ``level``; returns the function that removes it."""
    from loguru import logger

    sink_id = logger.add(OtelSink(), level=level, format="{message}", enqueue=False, catch=True)

    def uninstall() -> None:
        try:
            logger.remove(sink_id)
        except ValueError:  # removed by the app already
            pass

    return uninstall
