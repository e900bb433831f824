"""Counters of the central service, readable as Prometheus text at ``GET /metrics``.

Export requests are counted in one place, the way the OpenTelemetry Collector's obsreport does
it (``StartLogsOp`` / ``EndLogsOp``): a front end starts a ``RequestReport`` as soon as a request
for ``/v1/logs`` or ``LogsService/Export`` arrives and ends it with the request's outcome. The
report counts the request exactly once (``otel_logging_requests_total{transport,outcome}``) and
its records as received, written, rejected alone (partial success) or refused with the request.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable
from types import TracebackType

from otel_logging.receiver.errors import Failure

# A source of samples read at render time: (name, labels, value), e.g. a sink's queue counters.
MetricSource = Callable[[], Iterable[tuple[str, dict[str, str], int]]]

REQUESTS = "otel_logging_requests_total"
RECORDS_RECEIVED = "otel_logging_records_received_total"
RECORDS_WRITTEN = "otel_logging_records_written_total"
RECORDS_REJECTED = "otel_logging_records_rejected_total"
RECORDS_REFUSED = "otel_logging_records_refused_total"
# Counted by a RequestReport only; see ServiceMetrics.add.
_REQUEST_COUNTERS = frozenset({REQUESTS, RECORDS_RECEIVED, RECORDS_WRITTEN, RECORDS_REJECTED, RECORDS_REFUSED})

# Outcomes of a request besides the failures (``Failure.name`` in lower case).
OK = "ok"
PARTIAL = "partial"
INTERNAL = "internal"  # the front end failed unexpectedly (a bug): the client got INTERNAL / 500


def outcome_of(failure: Failure) -> str:
    return failure.name.lower()


_current = threading.local()  # the RequestReport open on this thread, if any


class RequestReport:
    """One export request from its arrival to its outcome; counts it exactly once.

    Use it as a context manager around the whole request and end it with ``accepted`` or
    ``refused``. Leaving the block without either (an unexpected exception) counts the request
    as ``internal``. Ending it twice is a bug and raises.
    """

    __slots__ = ("_ended", "_metrics", "_outer", "_received", "transport")

    def __init__(self, metrics: ServiceMetrics, transport: str) -> None:
        self._metrics = metrics
        self.transport = transport
        self._received = 0  # records of the request counted so far, before its outcome is known
        self._ended = False
        self._outer: RequestReport | None = None

    def accepted(self, accepted: int, rejected: int = 0) -> None:
        """The request was answered: ``accepted`` records written, ``rejected`` refused alone."""
        self._end(PARTIAL if rejected else OK, accepted + rejected, written=accepted, rejected=rejected)

    def refused(self, failure: Failure) -> None:
        """The whole request was refused; the records it was known to hold are refused with it."""
        self._end(outcome_of(failure), self._received, refused=self._received)

    def _end(self, outcome: str, received: int, *, written: int = 0, rejected: int = 0, refused: int = 0) -> None:
        if self._ended:
            raise RuntimeError(f"the {self.transport} request was already counted")
        self._ended = True
        transport = self.transport
        counts = self._metrics.count
        counts(REQUESTS, 1, transport=transport, outcome=outcome)
        if received:
            counts(RECORDS_RECEIVED, received, transport=transport)
        if written:
            counts(RECORDS_WRITTEN, written, transport=transport)
        if rejected:
            counts(RECORDS_REJECTED, rejected, transport=transport)
        if refused:
            counts(RECORDS_REFUSED, refused, transport=transport, outcome=outcome)

    def _note(self, name: str, value: int) -> None:
        if name == RECORDS_RECEIVED:
            self._received += value

    def __enter__(self) -> RequestReport:
        self._outer = getattr(_current, "report", None)
        _current.report = self
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _current.report = self._outer
        if not self._ended:
            self._end(INTERNAL, self._received, refused=self._received)


class ServiceMetrics:
    """Thread-safe counters. Names follow Prometheus conventions."""

    _HELP = {
        REQUESTS: (
            "Export requests, each counted once, by transport and outcome "
            "(ok, partial, malformed, too_large, unsupported_media, unauthenticated, rate_limited, unavailable, "
            "internal)."
        ),
        RECORDS_RECEIVED: "Log records received in export requests that could be decoded.",
        RECORDS_WRITTEN: "Log records accepted: written to the per-app files (and queued for remote sinks).",
        RECORDS_REJECTED: "Log records rejected alone (partial success), their batch-mates accepted.",
        RECORDS_REFUSED: "Log records refused with their whole request, by outcome (rate_limited, unavailable).",
        "otel_logging_sink_records_queued_total": "Records appended to a remote sink's durable queue.",
        "otel_logging_sink_records_sent_total": "Records a remote sink delivered.",
        "otel_logging_sink_records_retried_total": "Record deliveries a remote sink had to retry.",
        "otel_logging_sink_records_dead_lettered_total": "Records a remote sink wrote to its dead-letter file.",
        "otel_logging_sink_queue_bytes": "Bytes in a remote sink's durable queue not yet delivered.",
        "otel_logging_redactions_total": (
            "Secrets masked by --redact, by rule (key_name, github_token, keyword_phrase, a custom rule's name, ...)."
        ),
        "otel_logging_conversion_path": (
            "1 for the path the service converts OTLP protobuf with: native, or python and the reason "
            "(record_processors, native_unavailable, native_disabled)."
        ),
    }
    _GAUGES = frozenset({"otel_logging_sink_queue_bytes", "otel_logging_conversion_path"})

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
        self._sources: list[MetricSource] = []

    def add_source(self, source: MetricSource) -> None:
        """Samples from ``source`` are read each time the metrics are rendered."""
        self._sources.append(source)

    def start_request(self, transport: str) -> RequestReport:
        """The one way an export request is counted: ``with metrics.start_request("grpc") as report:``."""
        return RequestReport(self, transport)

    def add(self, name: str, value: int = 1, **labels: str) -> None:
        """Add to a counter.

        The request counters belong to the ``RequestReport`` open on this thread: while one is
        open, ``add`` calls for them (the export path in ``export.py`` still makes its own) are
        taken as notes for the report (how many records the request held) and not counted again.
        Outside a report they are counted as given (the export path used on its own).
        """
        report: RequestReport | None = getattr(_current, "report", None)
        if report is not None and report._metrics is self and name in _REQUEST_COUNTERS:
            report._note(name, value)
            return
        self.count(name, value, **labels)

    def count(self, name: str, value: int = 1, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._counts[key] += value

    def get(self, name: str, **labels: str) -> int:
        with self._lock:
            if labels:
                return self._counts[(name, tuple(sorted(labels.items())))]
            return sum(v for (n, _), v in self._counts.items() if n == name)

    def render(self) -> str:
        with self._lock:
            counts: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter(self._counts)
        for source in self._sources:
            for name, labels, value in source():
                counts[(name, tuple(sorted(labels.items())))] = value
        items = sorted(counts.items())
        lines: list[str] = []
        seen: set[str] = set()
        for name in self._HELP:
            lines.append(f"# HELP {name} {self._HELP[name]}")
            lines.append(f"# TYPE {name} {'gauge' if name in self._GAUGES else 'counter'}")
            seen.add(name)
            found = False
            for (n, pairs), value in items:
                if n != name:
                    continue
                found = True
                label_text = ",".join(f'{k}="{v}"' for k, v in pairs)
                lines.append(f"{name}{{{label_text}}} {value}" if label_text else f"{name} {value}")
            if not found:
                lines.append(f"{name} 0")
        for (n, pairs), value in items:
            if n not in seen:
                label_text = ",".join(f'{k}="{v}"' for k, v in pairs)
                lines.append(f"{n}{{{label_text}}} {value}" if label_text else f"{n} {value}")
        return "\n".join(lines) + "\n"
