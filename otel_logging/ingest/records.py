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

# The severity table lives in otel_logging.record.severity; these names stay importable from here.
from otel_logging.record.severity import SEVERITY_BY_NAME as SEVERITY_BY_NAME
from otel_logging.record.severity import severity as severity

# Attributes every aggregated record carries (OpenTelemetry semantic conventions where one exists).
FILE_PATH = "log.file.path"
RECORD_UID = "log.record.uid"  # <file fingerprint>:<byte offset>: stable, lets a sink de-duplicate
UNPARSED = "otel_logging.unparsed"  # true on a line that matched no known format (body = the raw line)

_MAX_NS = 253402300799 * 1_000_000_000


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
