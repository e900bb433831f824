"""Capturing, in your own tests, the OpenTelemetry records that ``otel_logging.setup()`` would export.

``capture_logs()`` is a context manager; ``captured_logs`` is the same as a pytest fixture (import it
into a ``conftest.py``: ``from otel_logging.testing import captured_logs``; it is not registered as a
plugin automatically, so it never collides with a fixture of yours of the same name)::

    import logging
    from otel_logging.testing import capture_logs

    def test_order_is_logged():
        with capture_logs() as logs:
            logging.getLogger("shop").info("order placed", extra={"order_id": 42})
        (record,) = logs.records
        assert record["body"] == "order placed"
        assert record["attributes"] == {"order_id": 42}

Inside the block, records take the path ``setup()`` builds (our handler on the root logger, the
redaction, the ``ReliableBatchProcessor``, the OTLP encoder) and the encoded requests are decoded
into the records the service would write to the app's file (``body``, ``severity_number``,
``severity_text``, ``attributes``, ``trace_id``, ``span_id``, ``logger``, ``service``, ...). Nothing
is sent anywhere. ``structlog=True`` / ``loguru=True`` route those libraries through the bridges
too (a structlog ``OtelProcessor`` or loguru sink that ``setup()`` installed captures anyway).

On exit everything is as before: the previous ``setup()`` pipeline (its handler is taken off the
root logger while capturing, so the records are not sent to a receiver as well), other
OpenTelemetry handlers on the root logger, the root logger's level, the bridges. The global
OpenTelemetry providers are never changed. Capturing is thread-safe.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

__all__ = ["CapturedLogs", "capture_logs", "captured_logs"]


class CapturedLogs:
    """The records exported so far in a ``capture_logs()`` block (canonical record dicts)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []
        self._processor: Any = None
        self.last_error = ""  # the Transport protocol of the processor

    @property
    def records(self) -> list[dict[str, Any]]:
        """Every record logged so far (waits until the processor exported them), in order."""
        processor = self._processor
        if processor is not None:
            processor.force_flush(30_000)
        with self._lock:
            return list(self._records)

    def bodies(self) -> list[Any]:
        return [record["body"] for record in self.records]

    def clear(self) -> None:
        self.records  # noqa: B018 - settle what is in flight first
        with self._lock:
            self._records.clear()

    # -- the processor's transport --------------------------------------------------------
    def send(self, payload: bytes) -> Any:
        from otel_logging.client.transport import SendOutcome
        from otel_logging.record.otlp import iter_records, parse_protobuf

        records = list(iter_records(parse_protobuf(payload)))
        with self._lock:
            self._records.extend(records)
        return SendOutcome.SENT

    def close(self) -> None:
        pass


def _other_otel_handlers(root: logging.Logger) -> list[logging.Handler]:
    from opentelemetry.instrumentation.logging.handler import LoggingHandler as InstrumentationLoggingHandler
    from opentelemetry.sdk._logs import LoggingHandler as SdkLoggingHandler

    return [h for h in root.handlers if isinstance(h, (InstrumentationLoggingHandler, SdkLoggingHandler))]


@contextmanager
def capture_logs(
    service_name: str = "test",
    *,
    level: int = logging.DEBUG,
    redact: bool = True,
    resource_attributes: Mapping[str, str] | None = None,
    structlog: bool = False,
    loguru: bool = False,
) -> Iterator[CapturedLogs]:
    """Capture what ``setup(service_name, level=..., redact=...)`` would export; restore everything after."""
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk.resources import Resource

    from otel_logging.client.bridges.install import install_bridges
    from otel_logging.client.encoder import BatchEncoder
    from otel_logging.client.handler import OtelLoggingHandler
    from otel_logging.client.processor import ReliableBatchProcessor
    from otel_logging.client.setup import LoggingHandle
    from otel_logging.client.state import CLIENT_STATE
    from otel_logging.config import resolve_client_settings
    from otel_logging.record.redaction import Redactor

    settings = resolve_client_settings(
        service_name=service_name, level=level, redact=redact, resource_attributes=resource_attributes, env={}
    )
    captured = CapturedLogs()
    resource = Resource.create(settings.resource_attributes)
    provider = LoggerProvider(resource=resource)
    processor = ReliableBatchProcessor(
        lambda: captured, BatchEncoder(resource.attributes, resource.schema_url), schedule_delay_ms=50
    )
    provider.add_log_record_processor(processor)
    handler = OtelLoggingHandler(level=level, logger_provider=provider, redactor=Redactor() if redact else None)
    handler.enable_fast_path(processor)
    captured._processor = processor
    handle = LoggingHandle(settings, provider, processor, handler)

    root = logging.getLogger()
    with CLIENT_STATE.lock:
        previous = CLIENT_STATE.handle
        set_aside = _other_otel_handlers(root)
        for other in set_aside:
            root.removeHandler(other)
        root_level = root.level
        if root.getEffectiveLevel() > level:
            root.setLevel(level)
        root.addHandler(handler)
        CLIENT_STATE.handle = handle
    try:
        already = previous.libraries if previous is not None else ()
        wanted = [name for name, on in (("structlog", structlog), ("loguru", loguru)) if on and name not in already]
        handle.libraries = tuple(wanted)
        handle._uninstall.extend(install_bridges(wanted, level))
        yield captured
        captured.records  # noqa: B018 - export what was logged inside the block
    finally:
        handle.shutdown()  # takes the handler off, uninstalls the bridges, stops the worker
        with CLIENT_STATE.lock:
            CLIENT_STATE.handle = previous
            for other in set_aside:
                if other not in root.handlers:
                    root.addHandler(other)
            if root.level == level and root_level != level:
                root.setLevel(root_level)
        captured._processor = None


try:
    import pytest
except ImportError:  # pragma: no cover - the context manager works without pytest
    pass
else:

    @pytest.fixture
    def captured_logs() -> Iterator[CapturedLogs]:
        """The records ``setup()`` would export during the test (see ``capture_logs()``)."""
        with capture_logs() as captured:
            yield captured
