"""Aggregation masks secrets as the app side does (``record/redaction.py``) before records leave.

Each record's body and attributes go through the ``Redactor``, except the aggregation's own attributes (the
file's path and the line's uid, whose digits would otherwise be checked as a card number in every record).
Only a batch where something was masked is encoded again; the others keep their lines byte for byte (the
native reader's output included).

Most lines hold no secret, and decoding each to look would cost more than reading it: with the native extension
and the built-in rules (no custom pattern), the raw JSON lines are scanned first (``RecordScan``, reference
``ingest/line_scan.py``: the rules' triggers in the strings of body and attributes, sensitive key names), and only
the lines it names are decoded and redacted. The output is byte for byte what decoding every line would give: a
line the scan passes is one redaction leaves as it is. Without the scan (custom patterns, no native extension)
every record is decoded and redacted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from otel_logging.ingest.line_scan import usable
from otel_logging.ingest.records import FILE_PATH, RECORD_UID
from otel_logging.record import RecordBatch, native
from otel_logging.record.redaction import Redactor, redactor_from_rules_file
from otel_logging.record.schema import Record

# The aggregation's own attributes; the rest of a record is the file's content.
_OWN_ATTRIBUTES = frozenset((FILE_PATH, RECORD_UID))


class BatchRedactor:
    """Masks the secrets of each batch before it leaves (``redact_rules``: extra rules, as ``serve``'s).

    ``scan_lines=False``: decode and redact every record (the reference of the scan's parity tests).
    """

    def __init__(self, redact_rules: Path | None = None, *, scan_lines: bool = True) -> None:
        self._redactor = redactor_from_rules_file(redact_rules) if redact_rules else Redactor()
        self._scan = line_scan(self._redactor) if scan_lines else None
        self.decoded = 0  # lines decoded from JSON to be redacted (the hot-path tests count them)

    @property
    def redactor(self) -> Redactor:
        return self._redactor

    @property
    def scans_lines(self) -> bool:
        """Whether runs of JSON lines are scanned before any is decoded."""
        return self._scan is not None

    def __call__(self, batch: RecordBatch) -> None:
        scan = self._scan
        if scan is None:
            self._every_record(batch)
            return
        masked: list[tuple[str, int, Record]] = []  # decoded lines that changed: service, index, record
        changed = False
        for service in batch:
            index = 0
            for part in batch.parts(service):
                if isinstance(part, list):  # records a Python parser made: redacted as they are
                    for record in part:
                        changed |= self.record(record)
                    index += len(part)
                    continue
                data = bytes(part)
                suspects = scan.suspects(data)
                if suspects is None:  # not lines as a batch holds them: every one as batch[service] reads it
                    suspects = _every_line(data)
                for i, start, end in suspects:
                    record = orjson.loads(data[start:end])
                    self.decoded += 1
                    if self.record(record):
                        masked.append((service, index + i, record))
                index += data.count(b"\n")
        if masked or changed:
            for service, i, record in masked:
                batch[service][i] = record  # the other lines decode to records redaction leaves as they are
            batch.map_records(_same)  # the records, masked in place, become the batch's lines

    def _every_record(self, batch: RecordBatch) -> None:
        changed = False
        for service in batch:
            for record in batch[service]:
                changed |= self.record(record)
        if changed:
            batch.map_records(_same)  # the records, masked in place, become the batch's lines

    def record(self, record: Record) -> bool:
        """Mask ``record``'s body and (its content's) attributes in place; True when something changed."""
        redactor = self._redactor
        changed = False
        body = record.get("body")
        if body is not None:
            masked = redactor.value(body)
            if masked != body:
                record["body"] = masked
                changed = True
        attributes = record.get("attributes")
        if isinstance(attributes, dict) and attributes:
            theirs = {key: value for key, value in attributes.items() if key not in _OWN_ATTRIBUTES}
            masked_attributes = redactor.mapping(theirs) if theirs else theirs
            if masked_attributes is not theirs and masked_attributes != theirs:
                record["attributes"] = {key: masked_attributes.get(key, value) for key, value in attributes.items()}
                changed = True
        return changed


def line_scan(redactor: Redactor) -> Any:
    """The native pre-check of JSON lines for ``redactor``'s rules, or None (custom patterns, a trigger a raw text
    may hide, or no native extension)."""
    trigger_scan = redactor.native_scan
    if trigger_scan is None or not usable(t for rule in redactor.rules for t in rule.triggers):
        return None
    return native.record_scan(trigger_scan, list(redactor.key_words), sorted(_OWN_ATTRIBUTES))


def _every_line(data: bytes) -> list[tuple[int, int, int]]:
    """(index, start, end) of each line as ``RecordBatch.__getitem__`` splits ``data``."""
    out = []
    start = 0
    for i, line in enumerate(data.split(b"\n")[:-1]):
        out.append((i, start, start + len(line)))
        start += len(line) + 1
    return out


def _same(record: Record) -> Record:
    return record
