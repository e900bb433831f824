"""Sends N tasks to the Celery app from an instrumented producer; prints one JSON line per task.

``python -m tests.integration.apps.celery_producer PREFIX N``: each task is sent inside a span
(so the worker's task span continues that trace), then its result (what the task saw: its span
ids and pid) is awaited and printed with the producer's trace id.
"""

from __future__ import annotations

import json
import sys

from opentelemetry import trace
from opentelemetry.instrumentation.celery import CeleryInstrumentor

from tests.integration.apps.common import use_sdk_tracer_provider


def main() -> None:
    prefix, count = sys.argv[1], int(sys.argv[2])
    use_sdk_tracer_provider()
    CeleryInstrumentor().instrument()
    from tests.integration.apps.celery_app import work

    tracer = trace.get_tracer("producer")
    sent = []
    for i in range(count):
        with tracer.start_as_current_span("enqueue") as span:
            task_id = f"{prefix}-{i}"
            sent.append((task_id, format(span.get_span_context().trace_id, "032x"), work.delay(task_id)))
    for task_id, trace_id, result in sent:
        print(json.dumps({"task_id": task_id, "producer_trace_id": trace_id, **result.get(timeout=120)}), flush=True)


if __name__ == "__main__":
    main()
