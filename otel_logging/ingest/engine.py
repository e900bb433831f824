"""The aggregation engine: files -> canonical records -> every sink, with checkpoints.

One pass (``run``) reads each file from its checkpoint to its end. ``follow`` keeps going:
it re-scans the paths, reads what was appended, picks up new files, drains a file that was
rotated away (renamed or deleted while open) before letting it go, and starts again from 0 on
a file that was truncated. A batch is committed to the checkpoint only after every sink took it.
A file that cannot be read is reported and skipped; the others go on.
"""

from __future__ import annotations

import contextlib
import gc
import os
import queue
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from otel_logging.ingest.assembler import Assembler
from otel_logging.ingest.checkpoint import Checkpoints, FileState, OutputWrite
from otel_logging.ingest.discovery import discover
from otel_logging.ingest.formats import FORMATS, compile_pattern, detect_format, make_parser
from otel_logging.ingest.progress import Progress
from otel_logging.ingest.records import SEVERITY_BY_NAME, RecordContext
from otel_logging.ingest.redact import BatchRedactor
from otel_logging.ingest.source import FileError, FileSource
from otel_logging.ingest.timestamps import TimestampParser, load_zone
from otel_logging.record import RecordBatch, native
from otel_logging.sinks import Sink, SinkError
from otel_logging.sinks.files import FileSink

SAMPLE_BYTES = 64 << 10
SAMPLE_LINES = 50


@contextlib.contextmanager
def fewer_gc_passes(threshold: int = 200_000) -> Iterator[None]:
    """Records are short-lived acyclic dicts made by the hundred thousand; the default collector
    threshold (700 allocations) makes the cyclic GC run thousands of times for nothing (~20% of the CPU).
    For a process that aggregates (the command, the benchmark); not used inside a library call."""
    old = gc.get_threshold()
    gc.set_threshold(max(threshold, old[0]), old[1], old[2])
    try:
        yield
    finally:
        gc.set_threshold(*old)


class DeliveryFailed(RuntimeError):
    """A sink kept refusing records; the checkpoint stays before them, so a new run resends them."""


@dataclass(slots=True)
class IngestOptions:
    service: str
    format: str = "auto"
    pattern: str | None = None
    timezone: str = "UTC"
    recursive: bool = False
    glob: str | None = None
    checkpoint_path: Path | None = None
    retry_for_s: float | None = None  # how long a refusing sink is retried: None = 60 s in a pass, forever following
    flush_after_s: float = 1.0  # --follow: finish an entry (maybe a traceback) after this much quiet
    poll_interval_s: float = 0.25
    exclude: frozenset[str] = frozenset()
    # Mask secrets (password=..., tokens, card numbers, values under keys such as "password") before the records
    # leave, as the app side does: on unless turned off. ``redact_rules``: extra rules (a JSON file, as serve's).
    redact: bool = True
    redact_rules: Path | None = None

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"unknown format {self.format!r}: choose one of {', '.join(FORMATS)}")
        if self.format == "pattern" and not self.pattern:
            raise ValueError("--format pattern needs --pattern")


@dataclass(slots=True)
class FileReport:
    path: str
    status: str = "ok"  # ok | error | unchanged
    format: str = ""
    records: int = 0
    unparsed: int = 0
    bytes: int = 0
    error: str = ""


@dataclass(slots=True)
class Summary:
    service: str
    files: list[FileReport] = field(default_factory=list)
    seconds: float = 0.0
    delivery_error: str = ""

    @property
    def records(self) -> int:
        return sum(f.records for f in self.files)

    @property
    def failed(self) -> list[FileReport]:
        return [f for f in self.files if f.status == "error"]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.delivery_error

    def exit_code(self) -> int:
        """0 everything shipped; 1 some files could not be read; 3 a sink refused records."""
        if self.delivery_error:
            return 3
        return 1 if self.failed else 0

    def to_dict(self) -> dict[str, Any]:
        total_bytes = sum(f.bytes for f in self.files)
        return {
            "event": "aggregated",
            "service": self.service,
            "ok": self.ok,
            "files": len(self.files),
            "files_failed": len(self.failed),
            "records": self.records,
            "unparsed": sum(f.unparsed for f in self.files),
            "bytes": total_bytes,
            "seconds": round(self.seconds, 3),
            "records_per_s": round(self.records / self.seconds) if self.seconds > 0 else 0,
            "errors": [{"path": f.path, "error": f.error} for f in self.failed],
            "delivery_error": self.delivery_error,
            "file_reports": [asdict(f) for f in self.files],
        }


class Ingestor:
    """Reads files into records and hands them to ``sinks``; one instance per app."""

    def __init__(self, sinks: list[Sink], options: IngestOptions, progress: Progress | None = None) -> None:
        self.sinks = sinks
        self.options = options
        self.progress = progress or Progress(enabled=False)
        self.zone = load_zone(options.timezone)
        self.pattern: re.Pattern[str] | None = compile_pattern(options.pattern) if options.pattern else None
        self.checkpoints = Checkpoints(options.checkpoint_path)
        self._lock = threading.Lock()  # one batch at a time reaches the sinks and the checkpoint
        self.stop_event = threading.Event()
        self._following = False
        exclude = set(options.exclude)
        if options.checkpoint_path is not None:
            exclude.add(os.path.abspath(options.checkpoint_path))
            exclude.add(os.path.abspath(options.checkpoint_path) + ".journal")
        self._exclude = frozenset(exclude)
        self._redact = BatchRedactor(options.redact_rules) if options.redact else None

    # --- one pass ------------------------------------------------------------------------------

    def run(self, paths: list[str]) -> Summary:
        """Read every file named by ``paths`` from its checkpoint to its end."""
        started = time.monotonic()
        summary = Summary(self.options.service)
        found = discover(paths, recursive=self.options.recursive, glob=self.options.glob, exclude=self._exclude)
        for path, reason in found.missing:
            summary.files.append(FileReport(path, status="error", error=reason))
        self.progress.plan(len(found.files), self._pending_bytes(found.files))
        try:
            for path in found.files:
                report = FileReport(path)
                summary.files.append(report)  # before reading: a refused delivery still shows what was sent
                self.ingest_file(path, report)
                self.progress.file_done()
        except DeliveryFailed as exc:
            summary.delivery_error = str(exc)
        summary.seconds = time.monotonic() - started
        return summary

    def ingest_file(self, path: str, report: FileReport | None = None) -> FileReport:
        """Read one file from its checkpoint to its end (raises ``DeliveryFailed`` if a sink refuses).

        A file of more than one chunk is read and shipped at once: while a ``Shipper`` thread delivers a batch
        (the file writes and the checkpoint's commit, which release the GIL), the next chunk is read and parsed
        (the native readers release it too). Batches reach the sinks and the checkpoint one at a time, in order,
        as when shipped from this thread."""
        report = report if report is not None else FileReport(path)
        try:
            source = self.open_source(path, report)
        except FileError as exc:
            report.status, report.error = "error", exc.reason
            return report
        shipper: Shipper | None = None
        read_before = False
        try:
            if source.complete:
                report.status = "unchanged"
                return report
            while True:
                out = RecordBatch(self.options.service)
                nbytes = source.read_batch(out, final=True)
                if shipper is None and nbytes and read_before:
                    shipper = Shipper(self)  # a second chunk: a file worth overlapping (not one read at once)
                read_before = read_before or bool(nbytes)
                if shipper is not None:
                    shipper.put(self.handover(source, out, report, nbytes))
                else:
                    self.ship(source, out, report, nbytes)
                if not nbytes:
                    break
        except FileError as exc:
            report.status, report.error = "error", exc.reason
        finally:
            try:
                if shipper is not None:
                    shipper.close()  # the batches read before an error are delivered too; raises a refusal
            finally:
                source.close()
        return report

    # --- building blocks -----------------------------------------------------------------------

    def open_source(self, path: str, report: FileReport) -> FileSource:
        source = FileSource.open(path, self.checkpoints)
        try:
            name = self.options.format
            if name == "auto":
                name = detect_format(self._sample(source), self.pattern)
            report.format = name
            ctx = RecordContext(self.options.service, path, f"{source.state.dev}-{source.state.ino}")
            timestamps = TimestampParser(self.zone)
            primary = make_parser(name, ctx, timestamps, self.pattern)
            fallbacks = []
            if self.options.format == "auto":
                others = ["jsonl", "seed", "stdlib"]
                fallbacks = [make_parser(n, ctx, timestamps) for n in others if n != name]
            source.assembler = Assembler(primary, fallbacks, ctx)
            if name in ("stdlib", "seed") and self.zone is None:  # the native reader, when installed
                source.native = _native_reader(ctx, seed=name == "seed")
            elif name == "jsonl" and self.zone is None:
                source.native_jsonl = _native_jsonl_reader(ctx)
        except FileError:
            source.close()
            raise
        except (OSError, EOFError) as exc:
            source.close()
            raise FileError(path, f"cannot read the start of the file: {exc}") from exc
        return source

    def _sample(self, source: FileSource) -> list[bytes]:
        if source.compressed:
            import gzip

            with gzip.open(source.path, "rb") as f:
                head = f.read(SAMPLE_BYTES)
        else:
            head = os.pread(source.raw_fd, SAMPLE_BYTES, 0)
        if b"\0" in head[:8192]:
            raise FileError(source.path, "binary file (NUL bytes near the start): not a log file, skipped")
        return head.split(b"\n")[:SAMPLE_LINES]

    def ship(self, source: FileSource, batch: RecordBatch, report: FileReport, nbytes: int) -> None:
        """Hand the records of ``batch`` to every sink, then move the file's checkpoint past them."""
        self.send(self.handover(source, batch, report, nbytes))

    def handover(self, source: FileSource, batch: RecordBatch, report: FileReport, nbytes: int) -> Shipment:
        """What delivering ``batch`` takes, fixed now: the checkpoint state after it (a copy, when it is committed:
        a batch with records always is; a skip, such as blank lines or a sparse hole, once the file is at its end).
        The file counts as committed up to it from now on: shipments are sent in order, and a refusal ends the
        reading of every file (``DeliveryFailed``), so a source never outlives a shipment that was not sent."""
        assembler = source.assembler
        assert assembler is not None
        state = source.state_for_commit()
        commit = bool(batch.count) or (
            nbytes == 0 and (state.offset != source.committed_offset or state.done != source.committed_done)
        )
        if not commit:
            return Shipment(None, batch, report, nbytes, assembler.unparsed)
        source.committed_offset, source.committed_done = state.offset, state.done
        return Shipment(replace(state), batch, report, nbytes, assembler.unparsed)

    def send(self, shipment: Shipment) -> None:
        """Deliver a shipment's batch to every sink between the checkpoint's prepare and publish."""
        batch, state = shipment.batch, shipment.state
        count = batch.count
        with self._lock:
            if state is not None:
                self.checkpoints.prepare(state)
            if count:
                if self._redact is not None:
                    self._redact(batch)
                self._deliver(batch)
            if state is not None:
                self.checkpoints.publish()
        report = shipment.report
        report.records += count
        report.unparsed = shipment.unparsed
        report.bytes += shipment.nbytes
        self.progress.advance(shipment.nbytes, count)

    def _deliver(self, batch: RecordBatch) -> None:
        # Local files last: a remote destination is the one that refuses, and when it does the files have not
        # taken the batch either, so the next run does not write it into them twice.
        waiting = sorted(self.sinks, key=_is_local_file)
        limit = self.options.retry_for_s
        if limit is None:
            limit = float("inf") if self._following else 60.0
        deadline = time.monotonic() + limit
        delay = 0.2
        while waiting:
            sink = waiting[0]
            try:
                if isinstance(sink, FileSink):
                    self._intend(sink, batch)
                sink.write(batch)  # the same batch on a retry (LogstashDestination resumes it)
                waiting.pop(0)
            except SinkError as exc:
                if time.monotonic() >= deadline or self.stop_event.is_set():
                    how_long = "until the stop" if self.stop_event.is_set() else f"for {limit:.0f}s"
                    raise DeliveryFailed(
                        f"sink {getattr(sink, 'name', sink)!r} refused records {how_long}: {exc}; "
                        "fix it and run again (the checkpoint resumes here)"
                    ) from exc
                self.stop_event.wait(delay)
                delay = min(delay * 2, 5.0)

    def _intend(self, sink: FileSink, batch: RecordBatch) -> None:
        """Record where the per-app files' appends go before they are made (see ``Checkpoints.intend``), so that
        they happen exactly once. (A memoryview of the native reader's output is written without a copy.)"""
        self.checkpoints.intend([OutputWrite.of(sink.position(service), batch.lines(service)) for service in batch])

    def _pending_bytes(self, files: list[str]) -> int:
        total = 0
        for path in files:
            try:
                st = os.stat(path)
            except OSError:
                continue
            state = self.checkpoints.files.get(f"{st.st_dev}:{st.st_ino}")
            total += max(st.st_size - (state.offset if state and not path.endswith(".gz") else 0), 0)
        return total

    # --- follow --------------------------------------------------------------------------------

    def follow(self, paths: list[str], stop: threading.Event | None = None) -> Summary:
        """Tail ``paths`` until ``stop`` is set: appended lines, new files, rotation, truncation."""
        follower = Follower(self, paths)
        self._following = True
        if stop is not None:
            self.stop_event = stop
        return follower.run()

    def close(self) -> None:
        self.checkpoints.close()
        for sink in self.sinks:
            sink.close()


def _native_reader(ctx: RecordContext, seed: bool = False) -> native.StdlibLineReader | None:
    """The native reader for a file's stdlib (``seed``: seed-format) lines; None (the Python path) when it is not
    installed, or for a path or service that is no valid UTF-8 (a file name with undecodable bytes): Python deals
    with those."""
    try:
        resource = orjson.dumps(ctx.resource)
        return native.stdlib_reader(
            ctx.service, ctx.path, ctx.uid_prefix, resource, seed=seed, other_resource=_other_resource(ctx)
        )
    except (UnicodeEncodeError, orjson.JSONEncodeError):
        return None


_MARK = "\x00otel-logging:service\x00"


def _other_resource(ctx: RecordContext) -> tuple[bytes, bytes] | None:
    """The JSON of the resource of a record of another service (a seed line's app_name; ``RecordContext.make``
    gives it ``{**resource, "service.name": service}``) before and after the JSON of the service; None when that
    cannot be told apart (the resource holds the marker)."""
    mark = orjson.dumps(_MARK)
    parts = orjson.dumps({**ctx.resource, "service.name": _MARK}).split(mark)
    if len(parts) != 2:
        return None
    return parts[0], parts[1]


def _native_jsonl_reader(ctx: RecordContext) -> native.JsonlLineReader | None:
    """The native reader for a file's JSON lines; None (the Python path) as for ``_native_reader``."""
    try:
        resource = orjson.dumps(ctx.resource)
        return native.jsonl_reader(ctx.service, ctx.path, ctx.uid_prefix, resource, SEVERITY_BY_NAME)
    except (UnicodeEncodeError, orjson.JSONEncodeError):
        return None


def _is_local_file(sink: Sink) -> bool:
    return isinstance(sink, FileSink) or hasattr(sink, "baseFilename")


@dataclass(slots=True)
class Shipment:
    """A batch read from a file, with what its delivery changes: the checkpoint state (None: no commit), the
    file's report and the bytes read for it."""

    state: FileState | None
    batch: RecordBatch
    report: FileReport
    nbytes: int
    unparsed: int


class Shipper:
    """The thread that delivers a file's batches while the next one is read: ``put`` hands over a shipment (it
    waits while one is still queued, so at most two batches are in memory besides the one being read), ``close``
    waits for the last one and joins the thread. A refusal (``DeliveryFailed``) or any other error of a delivery
    stops the thread and is raised by the next ``put`` or by ``close``; what was queued after it is dropped
    (neither delivered nor committed: the next run reads it again)."""

    def __init__(self, ingestor: Ingestor) -> None:
        self._ingestor = ingestor
        self._queue: queue.Queue[Shipment | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None  # stays set: every later shipment is dropped
        self._raised = False
        self._thread = threading.Thread(target=self._run, name="otel-logging-aggregate-ship", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            shipment = self._queue.get()
            if shipment is None:
                return
            if self._error is not None:
                continue  # dropped: a batch after a refused one is not delivered
            try:
                self._ingestor.send(shipment)
            except BaseException as exc:  # handed to the reading thread, which raises it
                self._error = exc

    def put(self, shipment: Shipment) -> None:
        self._raise()
        self._queue.put(shipment)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._raise()

    def _raise(self) -> None:
        """Raise the delivery's error, once (``close`` after a ``put`` that raised it does not raise it again)."""
        error = self._error
        if error is not None and not self._raised:
            self._raised = True
            raise error


class Follower:
    """The state of one ``--follow`` run: the open files and what was reported about each path."""

    def __init__(self, ingestor: Ingestor, paths: list[str]) -> None:
        self.ingestor = ingestor
        self.paths = paths
        self.sources: dict[str, FileSource] = {}  # by dev:ino
        self.reports: dict[str, FileReport] = {}  # by dev:ino (or path for errors)
        self.failed: dict[str, tuple[int, int, float]] = {}  # path -> the stat it failed with
        self.summary = Summary(ingestor.options.service)

    def run(self) -> Summary:
        started = time.monotonic()
        stop = self.ingestor.stop_event
        try:
            while True:
                self.scan()
                busy = self.read_all()
                if stop.is_set():
                    break
                if not busy:
                    stop.wait(self.ingestor.options.poll_interval_s)
            for key, source in list(self.sources.items()):  # stopping: what is buffered counts as complete
                self._finish(key, source, self.reports[key])
        except DeliveryFailed as exc:
            self.summary.delivery_error = str(exc)
        finally:
            for source in self.sources.values():
                source.close()
            self.sources.clear()
        self.summary.files = list(self.reports.values())
        self.summary.seconds = time.monotonic() - started
        return self.summary

    def scan(self) -> None:
        options = self.ingestor.options
        found = discover(self.paths, recursive=options.recursive, glob=options.glob, exclude=self.ingestor._exclude)
        for path in found.files:
            try:
                st = os.stat(path)
            except OSError:
                continue
            key = f"{st.st_dev}:{st.st_ino}"
            if key in self.sources:
                continue
            signature = (st.st_dev, st.st_ino, st.st_mtime)
            if self.failed.get(path) == signature:
                continue  # reported already; tried again when the file changes
            report = self.reports.get(key) or FileReport(path)
            try:
                source = self.ingestor.open_source(path, report)
            except FileError as exc:
                self.failed[path] = signature
                self.reports[path] = FileReport(path, status="error", error=exc.reason)
                continue
            self.failed.pop(path, None)
            self.reports.pop(path, None)
            if source.complete:
                source.close()
                report.status = "unchanged"
                self.reports.setdefault(key, report)
                continue
            self.sources[source.state.key] = source
            self.reports[source.state.key] = report
            self.ingestor.progress.plan(len(self.sources), self.ingestor.progress.total_bytes + st.st_size)

    def read_all(self) -> bool:
        """Read what is new in every open file; True when some file had more than one chunk to read."""
        busy = False
        options = self.ingestor.options
        for key, source in list(self.sources.items()):
            report = self.reports[key]
            try:
                for _ in range(16):  # a few chunks per file per round, so one big file does not starve the rest
                    out = RecordBatch(options.service)
                    nbytes = source.read_batch(out, final=False)
                    if out.count or nbytes:
                        self.ingestor.ship(source, out, report, nbytes)
                    if not nbytes:
                        break
                else:
                    busy = True
                    continue
                if source.truncated():
                    self._finish(key, source, report)
                    continue  # the next scan opens it again, from 0
                if source.replaced_or_gone():
                    self._finish(key, source, report)  # rotated away and read to its end
                    continue
                if source.has_buffered() and time.monotonic() - source.last_growth >= options.flush_after_s:
                    out = RecordBatch(options.service)
                    source.finish(out)
                    self.ingestor.ship(source, out, report, 0)
            except FileError as exc:
                report.status, report.error = "error", exc.reason
                source.close()
                del self.sources[key]
        return busy

    def _finish(self, key: str, source: FileSource, report: FileReport) -> None:
        out = RecordBatch(self.ingestor.options.service)
        source.finish(out)
        self.ingestor.ship(source, out, report, 0)
        source.close()
        del self.sources[key]
