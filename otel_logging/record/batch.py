"""``RecordBatch``: the records of one export request or one read of a file, the one batch every sink takes."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import orjson

from otel_logging.record.schema import Record, rejection_message, to_json_lines

# JSON lines, each ending with a newline: bytes, or a read-only memoryview (aggregation's native reader hands
# views of its pooled buffers, valid while the batch is alive).
Lines = bytes | memoryview
_Part = bytes | memoryview | list[Record]
_Filled = _Part | tuple[str, Lines]  # a run of lines of another service than the batch's


class RecordBatch(Mapping[str, list[Record]]):
    """The records of one export request, or of one read of a file: what every sink's ``write`` takes.

    Per service the records are JSON lines (``lines(service)``: what the per-app files and the durable queues
    take, encoded at most once) and, only when something asks, record dicts (``batch[service]``: the lines
    decoded, once). A batch is made

    - from JSON lines per service (``from_lines``: the native OTLP converter's output),
    - from records per service (``from_records``: the Python conversion; encoded on the first ``lines``),
    - or filled in order by a reader and read after: records of any service appended to ``tail``, runs of JSON
      lines of one service given to ``add_lines`` (aggregation; ``service``, the file's, comes first).

    It reads as a mapping service -> records (in order of first appearance), so a sink written for the older
    ``write(by_service)`` takes a batch as it took that dict. ``count`` records are in it; of the request it came
    from, ``rejected`` more were refused, the first for ``first_error``.
    """

    __slots__ = ("_counted", "_grouped", "_lines", "_parts", "_records", "first_error", "rejected", "service", "tail")

    def __init__(self, service: str = "", *, rejected: int = 0, first_error: str = "") -> None:
        self.service = service
        self.tail: list[Record] = []  # records appended by a reader since its last run of lines
        self.rejected = rejected
        self.first_error = first_error
        self._parts: list[_Filled] = []  # filled in order: runs of lines (of a service) and lists of records
        self._counted = 0  # records in the parts given whole (runs of lines, or a construction's)
        self._grouped: dict[str, list[_Part]] | None = None  # per service, its parts in order (once read)
        self._lines: dict[str, Lines] = {}
        self._records: dict[str, list[Record]] = {}

    @classmethod
    def from_lines(
        cls, lines_by_service: Mapping[str, Lines], count: int, *, rejected: int = 0, first_error: str = ""
    ) -> RecordBatch:
        """``count`` records as JSON lines per service (each buffer ends with a newline)."""
        batch = cls(rejected=rejected, first_error=first_error)
        batch._grouped = {service: [lines] for service, lines in lines_by_service.items() if lines}
        batch._counted = count
        return batch

    @classmethod
    def from_records(
        cls, by_service: Mapping[str, list[Record]], *, rejected: int = 0, first_error: str = ""
    ) -> RecordBatch:
        """Records per service (the lists are kept, not copied: ``batch[service]`` is the list given)."""
        batch = cls(rejected=rejected, first_error=first_error)
        batch._grouped = {service: [records] for service, records in by_service.items() if records}
        batch._records = {service: records for service, records in by_service.items() if records}
        batch._counted = sum(len(records) for records in batch._records.values())
        return batch

    @classmethod
    def of(cls, batch: Mapping[str, list[Record]]) -> RecordBatch:
        """``batch`` itself, or a batch of the records of a dict service -> records (the older sink argument)."""
        return batch if isinstance(batch, RecordBatch) else cls.from_records(batch)

    # -- filling (a reader) ------------------------------------------------------------------------------------

    def add_lines(self, lines: Lines, count: int, service: str | None = None) -> None:
        """``count`` records of ``service`` (default: the batch's) as JSON lines (each ending with a newline), after
        those so far."""
        if self.tail:
            self._parts.append(self.tail)
            self.tail = []
        self._parts.append(lines if service is None or service == self.service else (service, lines))
        self._counted += count

    # -- reading -----------------------------------------------------------------------------------------------

    @property
    def count(self) -> int:
        """The records in the batch (of a request: the accepted ones)."""
        if self._grouped is not None:
            return self._counted
        return self._counted + sum(len(part) for part in self._parts if type(part) is list) + len(self.tail)

    def message(self) -> str:
        """The partial-success message of the request (empty when nothing was rejected)."""
        return rejection_message(self.rejected, self.first_error)

    def parts(self, service: str) -> list[Lines | list[Record]]:
        """``service``'s records as they are held, in order: runs of JSON lines and lists of records (the dicts
        ``batch[service]`` gives; that list alone once they were decoded). For a processor that looks at the lines
        before it decodes them."""
        records = self._records.get(service)
        if records is not None:
            return [records]
        return list(self._groups()[service])

    def lines(self, service: str) -> Lines:
        """The JSON lines of ``service``'s records, in order (a single run of lines is given as it is)."""
        cached = self._lines.get(service)
        if cached is not None:
            return cached
        parts = self._groups()[service]
        first = parts[0]
        if len(parts) == 1 and not isinstance(first, list):
            lines: Lines = first
        else:
            lines = b"".join([to_json_lines(part) if isinstance(part, list) else part for part in parts])
        self._lines[service] = lines
        return lines

    def split_lines(self) -> tuple[list[bytes], list[str]]:
        """Every record's JSON line (with its newline), service by service, and the service of each line."""
        lines: list[bytes] = []
        services: list[str] = []
        for service in self._groups():
            mine = bytes(self.lines(service)).splitlines(keepends=True)
            lines += mine
            services += [service] * len(mine)
        return lines, services

    def map_records(self, process: Callable[[Record], Record]) -> None:
        """Replace every record by ``process(record)`` (service-side processors: redaction, truncation)."""
        for service in self._groups():
            records = self[service]
            for i, record in enumerate(records):
                records[i] = process(record)
        self._grouped = {service: [self[service]] for service in self._groups()}
        self._lines.clear()

    def __getitem__(self, service: str) -> list[Record]:
        """``service``'s records as dicts (its JSON lines decoded on the first call)."""
        records = self._records.get(service)
        if records is None:
            parts = self._groups()[service]
            first = parts[0]
            if len(parts) == 1 and isinstance(first, list):
                records = first
            else:
                records = []
                for part in parts:
                    if isinstance(part, list):
                        records.extend(part)
                    else:
                        records.extend([orjson.loads(line) for line in bytes(part).split(b"\n")[:-1]])
            self._records[service] = records
        return records

    def __iter__(self) -> Iterator[str]:
        return iter(self._groups())

    def __len__(self) -> int:
        """The number of services (as the dict it stands for); ``count`` is the number of records."""
        return len(self._groups())

    def __contains__(self, service: object) -> bool:
        return service in self._groups()

    def __repr__(self) -> str:
        services = list(self._groups())
        return f"RecordBatch(count={self.count}, services={services!r}, rejected={self.rejected})"

    def _groups(self) -> dict[str, list[_Part]]:
        """The parts per service; a batch being filled is grouped on its first read (and filled no more)."""
        grouped = self._grouped
        if grouped is not None:
            return grouped
        own = self.service
        grouped = {own: []}
        counted = self._counted
        for part in [*self._parts, self.tail] if self.tail else self._parts:
            if isinstance(part, tuple):
                service, run = part
                grouped.setdefault(service, []).append(run)
                continue
            if type(part) is not list:
                grouped[own].append(part)
                continue
            counted += len(part)
            mine: list[Record] = []
            others: dict[str, list[Record]] = {}
            for record in part:
                service = record["service"]
                if service == own:
                    mine.append(record)
                else:
                    bucket = others.get(service)
                    if bucket is None:
                        others[service] = bucket = []
                    bucket.append(record)
            if mine:
                grouped[own].append(mine)
            for service, records in others.items():
                grouped.setdefault(service, []).append(records)
        if not grouped[own]:
            del grouped[own]
        self._grouped, self._counted = grouped, counted
        self._parts, self.tail = [], []
        return grouped
