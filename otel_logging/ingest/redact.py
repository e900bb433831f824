"""Aggregation masks secrets as the app side does (``record/redaction.py``) before records leave.

Each record's body and attributes go through the ``Redactor``, except the aggregation's own attributes (the
file's path and the line's uid, whose digits would otherwise be checked as a card number in every record).
Only a batch where something was masked is encoded again; the others keep their lines byte for byte (the
native reader's output included). Decoding every line to look costs throughput: see docs/aggregation.md.
"""

from __future__ import annotations

from pathlib import Path

from otel_logging.ingest.records import FILE_PATH, RECORD_UID
from otel_logging.record import RecordBatch
from otel_logging.record.redaction import Redactor, redactor_from_rules_file
from otel_logging.record.schema import Record

# The aggregation's own attributes; the rest of a record is the file's content.
_OWN_ATTRIBUTES = frozenset((FILE_PATH, RECORD_UID))


class BatchRedactor:
    """Masks the secrets of each batch before it leaves (``redact_rules``: extra rules, as ``serve``'s)."""

    def __init__(self, redact_rules: Path | None = None) -> None:
        self._redactor = redactor_from_rules_file(redact_rules) if redact_rules else Redactor()

    def __call__(self, batch: RecordBatch) -> None:
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


def _same(record: Record) -> Record:
    return record
