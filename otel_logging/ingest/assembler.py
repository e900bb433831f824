"""Lines -> complete records: multi-line entries joined, unmatched lines kept on their own.

A text record owns the lines that follow it when they are indented, or form a Python traceback
(``Traceback (most recent call last):`` ... ``ValueError: ...``, chained ones included). The
traceback becomes ``exception.stacktrace/type/message`` attributes, as ``otel_logging.setup()``
records exceptions; other continuation lines are appended to the body. A line that no parser
accepts and that continues nothing becomes its own record: raw text as body, ``otel_logging.unparsed``
true. Blank lines outside a traceback carry nothing and are skipped.
"""

from __future__ import annotations

import re
from typing import Any

from otel_logging.ingest.formats import LineParser
from otel_logging.ingest.records import FILE_PATH, RECORD_UID, UNPARSED, RecordContext, exception_attributes
from otel_logging.record import Record
from otel_logging.record.native import PendingEntry

_TRACEBACK_STARTS = (
    "Traceback (most recent call last):",
    "Stack (most recent call last):",
    "Exception Group Traceback",
)
_CHAIN_LINES = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)
_BLANK = frozenset(" \t\f\v\r")
_MAY_CONTINUE = _BLANK | {"T", "S", "E"}  # first letters of indented lines and of _TRACEBACK_STARTS
_EXCEPTION_LINE = re.compile(r"[A-Za-z_][\w.]*(?::|$)")
_RECORD_KEYS = (
    "@timestamp",
    "observed_timestamp",
    "severity_text",
    "severity_number",
    "body",
    "logger",
    "service",
    "attributes",
    "resource",
)


class Assembler:
    """Feeds lines (with their byte offsets) through the parsers; emits finished records into ``out``."""

    def __init__(self, primary: LineParser, fallbacks: list[LineParser], ctx: RecordContext) -> None:
        self.primary = primary
        self.fallbacks = fallbacks
        self.ctx = ctx
        self.pending: Record | None = None
        self.pending_offset = -1  # byte offset where the pending record starts
        self._continuation: list[str] = []
        self._traceback_at = -1  # index in _continuation where a traceback starts
        self._in_traceback = False
        self.records = 0
        self.unparsed = 0

    def feed(self, line: str, offset: int, out: list[Any]) -> None:
        """One line without its ending, starting at byte ``offset`` of the file."""
        pending = self.pending
        if pending is not None and line and (self._in_traceback or line[0] in _MAY_CONTINUE) and self._continues(line):
            return
        if not line or (line[0] in _BLANK and line.isspace()):
            return
        parser = self.primary
        try:
            parsed = parser.parse(line, offset)
            if parsed is None:
                for fallback in self.fallbacks:
                    parsed = fallback.parse(line, offset)
                    if parsed is not None:
                        parser = fallback
                        break
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
            parsed = None  # a line shaped like a format with values it cannot hold: kept raw, flagged
        if pending is not None:
            if self._continuation:
                self._finish(out)
            else:
                out.append(pending)
                self.records += 1
                self.pending = None
        if parsed is None:
            self._unparsed(line, offset, out)
        elif parser.multiline and type(parsed) is dict:
            self.pending = parsed
            self.pending_offset = offset
        elif type(parsed) is list:
            out.extend(parsed)
            self.records += len(parsed)
        else:
            out.append(parsed)
            self.records += 1

    def _continues(self, text: str) -> bool:
        if self._in_traceback:
            if not text or text[0].isspace() or text in _CHAIN_LINES or text.startswith(_TRACEBACK_STARTS):
                self._continuation.append(text)
                return True
            if _EXCEPTION_LINE.match(text):
                self._continuation.append(text)
                return True
            return False
        if text.startswith(_TRACEBACK_STARTS):
            self._traceback_at = len(self._continuation)
            self._in_traceback = True
            self._continuation.append(text)
            return True
        if text[0].isspace() and not text.isspace():
            self._continuation.append(text)
            return True
        return False

    def _finish(self, out: list[Any]) -> None:
        record = self.pending
        assert record is not None
        if self._continuation:
            lines = self._continuation
            cut = self._traceback_at if self._traceback_at >= 0 else len(lines)
            if cut:
                body = record["body"]
                record["body"] = "\n".join([body if isinstance(body, str) else str(body), *lines[:cut]])
            if cut < len(lines):
                stacktrace = "\n".join(lines[cut:]).rstrip()
                attributes = record["attributes"]
                extra = exception_attributes(stacktrace)
                # keep the file attributes last, as on every other record
                path, uid = attributes.pop("log.file.path", None), attributes.pop("log.record.uid", None)
                attributes.update(extra)
                if path is not None:
                    attributes["log.file.path"] = path
                    attributes["log.record.uid"] = uid
            self._continuation = []
            self._traceback_at = -1
        self._in_traceback = False
        out.append(record)
        self.records += 1
        self.pending = None
        self.pending_offset = -1

    def _unparsed(self, text: str, offset: int, out: list[Any]) -> None:
        last = self.primary.last_timestamp
        for fallback in self.fallbacks:  # RFC 3339 UTC texts of one width: the greatest is the latest
            if fallback.last_timestamp is not None and (last is None or fallback.last_timestamp > last):
                last = fallback.last_timestamp
        out.append(self.ctx.make(last, (0, ""), text, "", {UNPARSED: True}, offset))
        self.records += 1
        self.unparsed += 1

    # --- the native text reader (otel_logging.record.native) carries on and hands back the pending entry ---------

    def native_pending(self) -> tuple[bool, PendingEntry | None]:
        """``(True, entry)``: the pending entry in the native reader's terms (``None`` when there is none);
        ``(False, None)`` when the native reader could not finish it as ``_finish`` would: a record of another
        shape than ``RecordContext.make`` gives the file's text records (more attributes, another resource)."""
        pending = self.pending
        if pending is None:
            return True, None
        ctx = self.ctx
        if type(pending) is not dict or tuple(pending) != _RECORD_KEYS:
            return False, None
        timestamp, observed, severity_text, severity_number, body, logger, service, attributes, resource = (
            pending.values()
        )
        if not (
            type(timestamp) is str
            and type(observed) is str
            and type(severity_text) is str
            and type(severity_number) is int
            and type(body) is str
            and type(logger) is str
            and type(service) is str
            and (
                (service == ctx.service and resource is ctx.resource)
                or (type(resource) is dict and list(resource.items()) == list(_resource_of(ctx, service).items()))
            )
            and type(attributes) is dict
            and tuple(attributes) == (FILE_PATH, RECORD_UID)
            and attributes[FILE_PATH] == ctx.path
            and attributes[RECORD_UID] == f"{ctx.uid_prefix}:{self.pending_offset}"
        ):
            return False, None
        entry = (
            self.pending_offset,
            timestamp,
            observed,
            severity_text,
            severity_number,
            body,
            logger,
            self._continuation,
            self._traceback_at,
            self._in_traceback,
            None if service == ctx.service else service,
        )
        return True, entry

    def set_native_pending(self, entry: PendingEntry | None, records: int) -> None:
        """Take back the pending entry from the native reader, which finished ``records`` records."""
        self.records += records
        if entry is None:
            self.pending = None
            self.pending_offset = -1
            self._continuation = []
            self._traceback_at = -1
            self._in_traceback = False
            return
        offset, timestamp, observed, severity_text, severity_number, body, logger, continuation, at, in_tb, service = (
            entry
        )
        ctx = self.ctx
        self.pending = {  # what RecordContext.make made of the entry's first line
            "@timestamp": timestamp,
            "observed_timestamp": observed,
            "severity_text": severity_text,
            "severity_number": severity_number,
            "body": body,
            "logger": logger,
            "service": ctx.service if service is None else service,
            "attributes": {FILE_PATH: ctx.path, RECORD_UID: f"{ctx.uid_prefix}:{offset}"},
            "resource": ctx.resource if service is None else _resource_of(ctx, service),
        }
        self.pending_offset = offset
        self._continuation = continuation
        self._traceback_at = at
        self._in_traceback = in_tb

    def flush(self, out: list[Any]) -> None:
        """End of input: the pending record is complete."""
        if self.pending is not None:
            self._finish(out)


def _resource_of(ctx: RecordContext, service: str) -> dict[str, Any]:
    """The resource ``RecordContext.make`` gives a record of ``service`` (not the file's)."""
    return {**ctx.resource, "service.name": service}
