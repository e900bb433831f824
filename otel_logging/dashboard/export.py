"""The filtered set as a download: CSV (one row per record, main columns) or JSON lines (whole records)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

import orjson

from otel_logging.dashboard.query import CSV_COLUMNS, ExportFormat, Hit
from otel_logging.record import to_json_line


def export_chunks(batches: Iterable[list[Hit]], fmt: ExportFormat) -> Iterator[bytes]:
    """One chunk of bytes per batch of hits (newest first as given), CSV with a header row."""
    if fmt == "jsonl":
        for batch in batches:
            yield b"".join(to_json_line(hit.record) for hit in batch)
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for batch in batches:
        for hit in batch:
            rec = hit.record
            writer.writerow(
                [
                    rec.get("@timestamp"),
                    hit.level,
                    rec.get("severity_text"),
                    rec.get("service"),
                    rec.get("logger"),
                    hit.message,
                    rec.get("trace_id", ""),
                    rec.get("span_id", ""),
                    orjson.dumps(rec.get("attributes") or {}).decode(),
                ]
            )
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()
