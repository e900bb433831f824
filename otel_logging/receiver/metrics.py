"""Counters of the central service, readable as Prometheus text at ``GET /metrics``."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable

# A source of samples read at render time: (name, labels, value), e.g. a sink's queue counters.
MetricSource = Callable[[], Iterable[tuple[str, dict[str, str], int]]]


class ServiceMetrics:
    """Thread-safe counters. Names follow Prometheus conventions."""

    _HELP = {
        "otel_logging_requests_total": "Export requests received, by transport and outcome.",
        "otel_logging_records_received_total": "Log records received in export requests.",
        "otel_logging_records_written_total": "Log records written to the per-app files.",
        "otel_logging_records_rejected_total": "Log records rejected (partial success).",
        "otel_logging_sink_records_queued_total": "Records appended to a remote sink's durable queue.",
        "otel_logging_sink_records_sent_total": "Records a remote sink delivered.",
        "otel_logging_sink_records_retried_total": "Record deliveries a remote sink had to retry.",
        "otel_logging_sink_records_dead_lettered_total": "Records a remote sink wrote to its dead-letter file.",
        "otel_logging_sink_queue_bytes": "Bytes in a remote sink's durable queue not yet delivered.",
    }
    _GAUGES = frozenset({"otel_logging_sink_queue_bytes"})

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
        self._sources: list[MetricSource] = []

    def add_source(self, source: MetricSource) -> None:
        """Samples from ``source`` are read each time the metrics are rendered."""
        self._sources.append(source)

    def add(self, name: str, value: int = 1, **labels: str) -> None:
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
            counts = Counter(self._counts)
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
            for (n, labels), value in items:
                if n != name:
                    continue
                found = True
                label_text = ",".join(f'{k}="{v}"' for k, v in labels)
                lines.append(f"{name}{{{label_text}}} {value}" if label_text else f"{name} {value}")
            if not found:
                lines.append(f"{name} 0")
        for (n, labels), value in items:
            if n not in seen:
                label_text = ",".join(f'{k}="{v}"' for k, v in labels)
                lines.append(f"{n}{{{label_text}}} {value}" if label_text else f"{n} {value}")
        return "\n".join(lines) + "\n"
