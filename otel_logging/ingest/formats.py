"""Log line formats: detection, and one parser per format turning a line into canonical records.

Formats (``FORMATS``): ``jsonl`` covers every JSON-lines flavour, told apart per line by its keys:
this project's canonical records (kept as they are), OTLP JSON as the collector's file exporter
writes it (one ``ExportLogsServiceRequest`` per line, converted by ``otel_logging.record``),
python-json-logger, structlog's JSONRenderer and ECS (ecs-logging) objects, and any other JSON
object (kept as a structured body). ``stdlib`` is ``%(asctime)s - %(name)s - %(levelname)s -
%(message)s``; ``seed`` is the older server's ``{timestamp} - {app_name} - {logger_name} - {level} -
{message}``; ``pattern`` is a user regex with named groups or a logging format string.

A parser returns a record, a list of records (OTLP), or ``None`` when the line is not its format.
Text parsers set ``multiline``: continuation lines (tracebacks) are joined by the assembler.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson

from otel_logging.ingest.records import (
    SEVERITY_BY_NAME,
    UNPARSED,
    RecordContext,
    exception_attributes,
    severity,
    stamp,
)
from otel_logging.ingest.timestamps import TimestampError, TimestampParser
from otel_logging.record import MalformedRequest, Record, convert_request, parse_json

FORMATS = ("auto", "jsonl", "stdlib", "seed", "pattern")

_LEVELS = r"TRACE|DEBUG|INFO|NOTICE|WARNING|WARN|ERROR|CRITICAL|FATAL|NOTSET|Level \d+"
STDLIB_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"


class LineParser:
    """Base of the parsers; ``parse`` gets the line without its line ending."""

    name = "?"
    multiline = False

    def __init__(self, ctx: RecordContext, timestamps: TimestampParser) -> None:
        self.ctx = ctx
        self.timestamps = timestamps
        self.last_timestamp: str | None = None  # of the latest parsed record, for unparsed lines

    def parse(self, line: str, offset: int) -> Record | list[Record] | None:
        raise NotImplementedError

    def _time(self, value: Any) -> str | None:
        """A timestamp field's value -> the record's RFC 3339 UTC text (``None`` if absent or unreadable)."""
        try:
            if isinstance(value, str):
                ns = self.timestamps.parse(value)
            elif isinstance(value, int | float) and not isinstance(value, bool):
                ns = TimestampParser.from_epoch(value)
            else:
                return None
        except (TimestampError, OverflowError, ValueError):
            return None
        text = stamp(ns)
        if text is not None:
            self.last_timestamp = text
        return text


# --- JSON lines -------------------------------------------------------------------------------

# (time keys, level keys, message keys, logger keys, exception keys) per flavour, most specific first.
_PY_JSON_KEYS = (
    ("asctime", "timestamp", "time", "created"),
    ("levelname", "level", "levelno"),
    ("message", "msg"),
    ("name", "logger"),
    ("exc_info", "exc_text", "stack_info"),
)
_STRUCTLOG_KEYS = (
    ("timestamp", "time"),
    ("level", "log_level"),
    ("event",),
    ("logger", "logger_name"),
    ("exception", "exc_info", "stack"),
)
_GENERIC_KEYS = (
    ("@timestamp", "timestamp", "time", "ts", "asctime", "date"),
    ("level", "severity", "levelname", "lvl"),
    ("message", "msg", "event", "text"),
    ("logger", "name", "logger_name"),
    ("exception", "stack_trace"),
)


def json_flavour(obj: dict[str, Any]) -> str:
    """Which JSON-lines logger wrote this object."""
    if "resourceLogs" in obj or "resource_logs" in obj:
        return "otlp"
    if "observed_timestamp" in obj and "severity_number" in obj and "service" in obj:
        return "canonical"
    if "ecs.version" in obj or "ecs" in obj or "log.level" in obj:
        return "ecs"
    if "event" in obj and "message" not in obj:
        return "structlog"
    if "levelname" in obj or "asctime" in obj or "message" in obj:
        return "python-json-logger"
    return "json"


def _pop_first(obj: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in obj:
            return obj.pop(key)
    return None


class JsonLinesParser(LineParser):
    name = "jsonl"

    def parse(self, line: str, offset: int) -> Record | list[Record] | None:
        if line[:1] != "{":
            line = line.strip()
            if line[:1] != "{":
                return None
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(obj, dict):
            return None
        flavour = json_flavour(obj)
        if flavour == "canonical":
            return obj
        if flavour == "otlp":
            return self._otlp(line, offset)
        if flavour == "ecs":
            return self._ecs(obj, offset)
        keys = _STRUCTLOG_KEYS if flavour == "structlog" else _PY_JSON_KEYS if flavour != "json" else _GENERIC_KEYS
        return self._mapped(obj, offset, keys)

    def _otlp(self, line: str, offset: int) -> list[Record] | None:
        try:
            request = parse_json(line.encode("utf-8", "surrogatepass"))
        except MalformedRequest:
            return None
        batch = convert_request(request)
        records = [r for rs in batch.values() for r in rs]
        if batch.rejected:  # the line is kept too, raw and flagged, so the refused records are not lost
            attributes = {UNPARSED: True, "otel_logging.error": batch.message()}
            records.append(self.ctx.make(None, (0, ""), line, "", attributes, offset))
        return records

    def _mapped(self, obj: dict[str, Any], offset: int, keys: tuple[tuple[str, ...], ...]) -> Record:
        time_keys, level_keys, message_keys, logger_keys, exception_keys = keys
        timestamp = self._time(_pop_first(obj, time_keys))
        level = severity(_pop_first(obj, level_keys))
        body = _pop_first(obj, message_keys)
        logger = _pop_first(obj, logger_keys)
        stack = _pop_first(obj, exception_keys) if exception_keys else None
        if body is None and not timestamp and not level[0]:
            body, obj = obj, {}  # not a logger's object: keep it whole as a structured body
        if isinstance(stack, str) and stack:
            obj.update(exception_attributes(stack))
        return self.ctx.make(timestamp, level, body, logger if isinstance(logger, str) else "", obj, offset)

    def _ecs(self, obj: dict[str, Any], offset: int) -> Record:
        timestamp = self._time(obj.pop("@timestamp", None))
        level = severity(obj.pop("log.level", None))
        body = obj.pop("message", None)
        logger = obj.pop("log.logger", None)
        log = obj.get("log")
        if logger is None and isinstance(log, dict):
            logger = log.pop("logger", None)
            if not log:
                del obj["log"]
        error = obj.get("error")
        if isinstance(error, dict) and isinstance(error.get("stack_trace"), str):
            del obj["error"]
            obj.update(exception_attributes(error["stack_trace"]))
            if isinstance(error.get("type"), str):
                obj["exception.type"] = error["type"]
            if isinstance(error.get("message"), str):
                obj["exception.message"] = error["message"]
        elif isinstance(obj.get("error.stack_trace"), str):
            obj.update(exception_attributes(obj.pop("error.stack_trace")))
            for key in ("type", "message"):
                if isinstance(obj.get(f"error.{key}"), str):
                    obj[f"exception.{key}"] = obj.pop(f"error.{key}")
        return self.ctx.make(timestamp, level, body, logger if isinstance(logger, str) else "", obj, offset)


# --- text ----------------------------------------------------------------------------------------


class RegexParser(LineParser):
    """A text format as a regex; groups named like logging's fields (or ``timestamp/level/logger``)."""

    multiline = True
    _TIME = ("asctime", "timestamp", "time", "created")
    _LEVEL = ("levelname", "level", "levelno", "severity")
    _MESSAGE = ("message", "msg")
    _LOGGER = ("name", "logger", "logger_name")
    _SERVICE = ("app_name", "service")

    def __init__(self, ctx: RecordContext, timestamps: TimestampParser, regex: re.Pattern[str], name: str) -> None:
        super().__init__(ctx, timestamps)
        self.regex = regex
        self.name = name
        groups = list(regex.groupindex)
        pick = lambda names: next((n for n in names if n in groups), None)  # noqa: E731
        self._time_group = pick(self._TIME)
        self._level_group = pick(self._LEVEL)
        self._message_group = pick(self._MESSAGE)
        self._logger_group = pick(self._LOGGER)
        self._service_group = pick(self._SERVICE)
        used = {self._time_group, self._level_group, self._message_group, self._logger_group, self._service_group}
        self._extra_groups = [g for g in groups if g not in used]
        self._match: Callable[[str], re.Match[str] | None] = regex.match

    def parse(self, line: str, offset: int) -> Record | None:
        match = self._match(line)
        if match is None:
            return None
        get = match.group
        timestamp = self._time(get(self._time_group)) if self._time_group else None
        level = severity(get(self._level_group)) if self._level_group else (0, "")
        body = get(self._message_group) if self._message_group else line
        logger = (get(self._logger_group) or "") if self._logger_group else ""
        service = get(self._service_group) or None if self._service_group else None
        attributes: dict[str, Any] = {}
        for group in self._extra_groups:
            value = get(group)
            if value is not None:
                attributes[group] = _number(value)
        return self.ctx.make(timestamp, level, body, logger, attributes, offset, service)


def _number(value: str) -> Any:
    if value.isdigit():
        return int(value)
    return value


STDLIB_REGEX = re.compile(
    rf"(?P<asctime>\d{{4}}-\d{{2}}-\d{{2}} \d{{2}}:\d{{2}}:\d{{2}}(?:,\d{{1,6}})?) - (?P<name>.*?) - "
    rf"(?P<levelname>{_LEVELS}) - (?P<message>.*)\Z",
    re.DOTALL,
)
SEED_REGEX = re.compile(
    r"(?P<timestamp>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})?) - (?P<app_name>.*?) - "
    rf"(?P<logger>.*?) - (?P<level>{_LEVELS}) - (?P<message>.*)\Z",
    re.DOTALL,
)


class StdlibParser(RegexParser):
    """The stdlib default text format, with a per-second cache of the ``asctime`` conversion."""

    def __init__(self, ctx: RecordContext, timestamps: TimestampParser) -> None:
        super().__init__(ctx, timestamps, STDLIB_REGEX, "stdlib")
        self._seconds: dict[str, str] = {}  # local "YYYY-MM-DD HH:MM:SS" -> UTC "YYYY-MM-DDTHH:MM:SS" ("" out of range)

    def parse(self, line: str, offset: int) -> Record | None:
        match = self._match(line)
        if match is None:
            return None
        asctime, logger, levelname, body = match.groups()
        prefix = asctime[:19]
        utc_second = self._seconds.get(prefix)
        if utc_second is None:
            try:
                seconds_ns = self.timestamps.parse(prefix)
            except TimestampError:
                return None  # no such date: not this format after all
            text = stamp(seconds_ns)
            utc_second = text[:19] if text else ""
            if len(self._seconds) >= 100_000:
                self._seconds.clear()
            self._seconds[prefix] = utc_second
        if utc_second:
            fraction = asctime[20:]
            timestamp: str | None = f"{utc_second}.{fraction:0<9}Z"
            self.last_timestamp = timestamp
        else:
            timestamp = None
        level = SEVERITY_BY_NAME.get(levelname) or severity(levelname)
        return self.ctx.make(timestamp, level, body, logger, {}, offset)


# --- user patterns -------------------------------------------------------------------------------

_FORMAT_FIELD = re.compile(r"%\((\w+)\)[-#0 +]*(\d*)(?:\.\d+)?([sdfrxXeEgGi])")
_FIELD_REGEX = {
    "asctime": r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[,.]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?",
    "levelname": _LEVELS,
    "levelno": r"\d+",
    "message": r".*",
    "created": r"\d+(?:\.\d+)?",
    "msecs": r"\d+(?:\.\d+)?",
    "relativeCreated": r"\d+(?:\.\d+)?",
    "lineno": r"\d+",
    "process": r"\d+",
    "thread": r"\d+",
}


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A regex with named groups, or a logging format string such as ``%(asctime)s [%(levelname)s] %(message)s``."""
    if "%(" in pattern:
        parts: list[str] = []
        position = 0
        seen: set[str] = set()
        for match in _FORMAT_FIELD.finditer(pattern):
            parts.append(re.escape(pattern[position : match.start()]))
            field = match.group(1)
            body = _FIELD_REGEX.get(field, r".*?")
            group = f"(?P<{field}>{body})" if field not in seen else f"(?:{body})"
            parts.append(rf"\s*{group}\s*" if match.group(2) else group)  # a width pads with spaces
            seen.add(field)
            position = match.end()
        parts.append(re.escape(pattern[position:]))
        regex = "".join(parts).replace(r"\ ", " ") + r"\Z"
    else:
        regex = pattern
    try:
        compiled = re.compile(regex, re.DOTALL)
    except re.error as exc:
        raise ValueError(f"--pattern {pattern!r} is not a valid regex: {exc}") from exc
    if not compiled.groupindex:
        raise ValueError(f"--pattern {pattern!r} has no named groups: name them, e.g. (?P<message>.*)")
    return compiled


def make_parser(
    name: str, ctx: RecordContext, timestamps: TimestampParser, pattern: re.Pattern[str] | None = None
) -> LineParser:
    if name == "jsonl":
        return JsonLinesParser(ctx, timestamps)
    if name == "stdlib":
        return StdlibParser(ctx, timestamps)
    if name == "seed":
        return RegexParser(ctx, timestamps, SEED_REGEX, "seed")
    if name == "pattern":
        if pattern is None:
            raise ValueError("--format pattern needs --pattern")
        return RegexParser(ctx, timestamps, pattern, "pattern")
    raise ValueError(f"unknown format {name!r}: choose one of {', '.join(FORMATS)}")


def detect_format(sample: list[bytes], pattern: re.Pattern[str] | None = None) -> str:
    """The format matching most of the first non-empty lines of a file (``stdlib`` if none does)."""
    scores = {"pattern": 0, "jsonl": 0, "seed": 0, "stdlib": 0}
    for raw in sample:
        line = raw.strip()
        if not line:
            continue
        text = line.decode("utf-8", "replace")
        if pattern is not None and pattern.match(text):
            scores["pattern"] += 1
        if line.startswith(b"{"):
            try:
                if isinstance(orjson.loads(line), dict):
                    scores["jsonl"] += 1
            except orjson.JSONDecodeError:
                pass
        if SEED_REGEX.match(text):
            scores["seed"] += 1
        if STDLIB_REGEX.match(text):
            scores["stdlib"] += 1
    best = max(scores, key=lambda k: scores[k])
    return best if scores[best] else ("pattern" if pattern is not None else "stdlib")
