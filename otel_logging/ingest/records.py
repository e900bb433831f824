"""Building canonical records (``otel_logging.record``) from what a log line said.

The shape is exactly the receiver's: ``@timestamp, observed_timestamp, severity_text,
severity_number, body, logger, service, attributes, resource``. Severity names follow what
``otel_logging.setup()`` sends for stdlib levels (``WARNING`` -> ``WARN`` 13, ``CRITICAL`` -> ``FATAL`` 21).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from otel_logging.record import Record, rfc3339_nanos

# Attributes every aggregated record carries (OpenTelemetry semantic conventions where one exists).
FILE_PATH = "log.file.path"
RECORD_UID = "log.record.uid"  # <file fingerprint>:<byte offset>: stable, lets a sink de-duplicate
UNPARSED = "otel_logging.unparsed"  # true on a line that matched no known format (body = the raw line)

_SEVERITIES: dict[str, tuple[int, str]] = {}
for _names, _number, _text in (
    (("trace", "notset"), 1, "TRACE"),
    (("debug", "dbug"), 5, "DEBUG"),
    (("info", "information", "informational", "notice"), 9, "INFO"),
    (("warn", "warning"), 13, "WARN"),
    (("error", "err", "exception"), 17, "ERROR"),
    (("critical", "crit", "fatal", "alert", "emerg", "emergency", "panic"), 21, "FATAL"),
):
    for _name in _names:
        _SEVERITIES[_name] = (_number, _text)
        _SEVERITIES[_name.upper()] = (_number, _text)
        _SEVERITIES[_name.capitalize()] = (_number, _text)
SEVERITY_BY_NAME = _SEVERITIES
_MAX_NS = 253402300799 * 1_000_000_000
_STDLIB_NUMBERS = {
    0: (0, ""),
    10: (5, "DEBUG"),
    20: (9, "INFO"),
    30: (13, "WARN"),
    40: (17, "ERROR"),
    50: (21, "FATAL"),
}


def severity(value: Any) -> tuple[int, str]:
    """A level name (any case) or stdlib level number -> (OTel severity number, text)."""
    if isinstance(value, str):
        found = _SEVERITIES.get(value) or _SEVERITIES.get(value.strip().lower())
        if found is not None:
            return found
        if value.isdigit():
            return severity(int(value))
        return 0, value
    if isinstance(value, int) and not isinstance(value, bool):
        found = _STDLIB_NUMBERS.get(value)
        if found is not None:
            return found
        # stdlib numbers between the named levels: 11-19 -> DEBUG2.., as OTel's mapping does
        base = max(k for k in _STDLIB_NUMBERS if k <= value) if value > 0 else 0
        number, text = _STDLIB_NUMBERS.get(min(base, 50), (0, ""))
        return min(number + (value - base) // 3, 24), text
    return 0, ""


_EXCEPTION_LINE = re.compile(
    r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Group|[A-Z]\w*))(?::\s?(.*))?$"
)


def exception_attributes(stacktrace: str) -> dict[str, str]:
    """``exception.type/message/stacktrace`` from a Python traceback (type and message from its last line)."""
    attributes = {"exception.stacktrace": stacktrace}
    for line in reversed(stacktrace.rstrip().splitlines()):
        if not line or line[0].isspace():
            continue
        match = _EXCEPTION_LINE.match(line)
        if match:
            attributes["exception.type"] = match.group(1)
            attributes["exception.message"] = match.group(2) or ""
        break
    return attributes


@dataclass(slots=True)
class RecordContext:
    """What every record from one file shares."""

    service: str
    path: str
    uid_prefix: str
    resource: dict[str, Any] = field(default_factory=dict)
    observed: str = ""

    def __post_init__(self) -> None:
        if not self.resource:
            self.resource = {"service.name": self.service}

    def set_observed(self, now_ns: int) -> None:
        self.observed = rfc3339_nanos(now_ns)

    def make(
        self,
        timestamp: str | None,
        level: tuple[int, str],
        body: Any,
        logger: str,
        attributes: dict[str, Any],
        offset: int,
        service: str | None = None,
    ) -> Record:
        """A canonical record; ``timestamp`` is RFC 3339 UTC (see ``stamp``), ``None`` for the observed time."""
        attributes[FILE_PATH] = self.path
        attributes[RECORD_UID] = f"{self.uid_prefix}:{offset}"
        resource = self.resource
        if service is None or service == self.service:
            service = self.service
        else:
            resource = {**resource, "service.name": service}
        return {
            "@timestamp": timestamp or self.observed,
            "observed_timestamp": self.observed,
            "severity_text": level[1],
            "severity_number": level[0],
            "body": body,
            "logger": logger,
            "service": service,
            "attributes": attributes,
            "resource": resource,
        }


def stamp(time_ns: int | None) -> str | None:
    """Nanoseconds -> the record's RFC 3339 UTC text; ``None`` outside 1970..9999 (the observed time stands in)."""
    if time_ns is None or not 0 <= time_ns <= _MAX_NS:
        return None
    return rfc3339_nanos(time_ns)
