"""A failed export is explained once, early; exit waits one documented setting; scheme-less endpoints.

The real processes (an app against a real ``otel-logging serve``, a closed port, the HTTP port) are in
tests/integration/test_user_mistakes.py; these cover the rules those rely on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from opentelemetry._logs import LogRecord
from opentelemetry.sdk._logs import ReadWriteLogRecord
from opentelemetry.sdk.resources import Resource

from otel_logging.client.encoder import BatchEncoder
from otel_logging.client.processor import ReliableBatchProcessor
from otel_logging.client.state import CLIENT_STATE
from otel_logging.client.transport import SendOutcome, explain_failure
from otel_logging.config import resolve_client_settings
from tests.support.procs import wait_for


@pytest.fixture(autouse=True)
def no_processor_left_running() -> Iterator[None]:
    yield
    CLIENT_STATE.reset()


def settings(endpoint: str, **env: str):  # type: ignore[no-untyped-def]
    return resolve_client_settings(service_name="t", endpoint=endpoint, env=env)


# -- what a scheme-less endpoint means --------------------------------------------------------------
@pytest.mark.parametrize(
    ("endpoint", "env", "insecure"),
    [
        ("127.0.0.1:4317", {}, True),  # this machine: the service listens in plaintext by default
        ("localhost:4317", {}, True),
        ("[::1]:4317", {}, True),
        ("127.0.0.2:4317", {}, True),
        ("logs.example.com:4317", {}, False),  # elsewhere: TLS, as the OTel spec says
        ("10.0.0.7:4317", {}, False),
        ("logs.example.com:4317", {"OTEL_EXPORTER_OTLP_INSECURE": "true"}, True),
        ("127.0.0.1:4317", {"OTEL_EXPORTER_OTLP_INSECURE": "false"}, False),  # said explicitly: TLS
        ("127.0.0.1:4317", {"OTEL_EXPORTER_OTLP_LOGS_INSECURE": "false"}, False),
        ("127.0.0.1:4317", {"OTEL_EXPORTER_OTLP_CERTIFICATE": "/ca.pem"}, False),  # a certificate means TLS
        ("https://127.0.0.1:4317", {}, False),  # a scheme decides, whatever the variable says
        ("http://logs.example.com:4317", {"OTEL_EXPORTER_OTLP_INSECURE": "false"}, True),
    ],
)
def test_scheme_less_endpoint_is_plaintext_only_on_this_machine(
    endpoint: str, env: dict[str, str], insecure: bool
) -> None:
    assert settings(endpoint, **env).insecure is insecure


def test_the_exit_wait_is_export_timeout_ms_with_a_short_default() -> None:
    assert settings("127.0.0.1:4317").export_timeout_ms == 5_000
    assert settings("127.0.0.1:4317", OTEL_BLRP_EXPORT_TIMEOUT="1500").export_timeout_ms == 1_500
    explicit = resolve_client_settings(endpoint="127.0.0.1:4317", export_timeout_ms=250, env={})
    assert explicit.export_timeout_ms == 250


# -- the causes, from the errors gRPC gives (copied from real failures) -------------------------------
TLS_TO_PLAINTEXT = (
    "UNAVAILABLE: failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:4317: Tls handshake "
    "failed (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: error:100000f7:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER"
)
HTTP_PORT = (
    "UNAVAILABLE: failed to connect to all addresses; last error: UNAVAILABLE: ipv4:127.0.0.1:4318: "
    "Failed parsing HTTP/2 (Expected SETTINGS frame as the first frame, got frame type 79)"
)
REFUSED = (
    "UNAVAILABLE: failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: "
    "Failed to connect to remote host: Connection refused"
)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (TLS_TO_PLAINTEXT, "TLS handshake with 127.0.0.1:4317 failed: the port probably serves plaintext gRPC"),
        (TLS_TO_PLAINTEXT, 'use the endpoint "http://127.0.0.1:4317"'),
        (HTTP_PORT, "127.0.0.1:4317 answers HTTP/1.1, not gRPC: it looks like an OTLP/HTTP port"),
        (REFUSED, "connection refused: nothing listens on 127.0.0.1:4317"),
        ("UNAVAILABLE: errors resolving nohost.invalid:4317", "does not resolve"),
        ("DEADLINE_EXCEEDED: Deadline Exceeded", "no answer from 127.0.0.1:4317 within 10 s"),
        ("UNAUTHENTICATED: missing token", "requires a token"),
        ("INTERNAL: something new", "INTERNAL: something new"),  # unknown: the error itself
    ],
)
def test_a_failure_is_explained_by_its_likely_cause(error: str, expected: str) -> None:
    assert expected in explain_failure(error, settings("https://127.0.0.1:4317"))


# -- the processor: report once, early; exit bounded ---------------------------------------------------
RESOURCE = Resource.create({})


def record(i: int) -> ReadWriteLogRecord:
    return ReadWriteLogRecord(LogRecord(body=i), resource=RESOURCE)


class FailingTransport:
    """Fails every export like a TLS handshake with a plaintext port; ``hang`` makes a send not return."""

    def __init__(self) -> None:
        self.last_error = ""
        self.calls = 0
        self.hang = threading.Event()
        self.released = threading.Event()

    def send(self, payload: bytes) -> SendOutcome:
        self.calls += 1
        if self.hang.is_set():
            self.released.wait(60)
        self.last_error = TLS_TO_PLAINTEXT
        return SendOutcome.RETRY

    def explain(self) -> str:
        return explain_failure(self.last_error, settings("https://127.0.0.1:4317"))

    def close(self) -> None:
        self.released.set()


def make(transport: FailingTransport, export_timeout_ms: int) -> ReliableBatchProcessor:
    return ReliableBatchProcessor(
        lambda: transport,
        BatchEncoder({"service.name": "t"}),
        schedule_delay_ms=10,
        export_timeout_ms=export_timeout_ms,
        target="https://127.0.0.1:4317",
    )


def test_the_first_failed_export_is_reported_once_with_its_cause(capfd: pytest.CaptureFixture[str]) -> None:
    transport = FailingTransport()
    processor = make(transport, export_timeout_ms=300)
    processor.on_emit(record(0))
    wait_for(lambda: transport.calls >= 3, what="three failed exports")
    err = capfd.readouterr().err
    assert err.count("otel-logging: cannot export logs to https://127.0.0.1:4317: the TLS handshake") == 1
    assert "exit waits at most 0.3 s for them (export_timeout_ms / OTEL_BLRP_EXPORT_TIMEOUT)" in err
    processor.on_emit(record(1))
    processor.shutdown()
    err = capfd.readouterr().err
    assert "cannot export" not in err  # not again
    assert "2 log record(s) were dropped in this process, 0 exported to https://127.0.0.1:4317." in err
    assert "2 of them were not delivered within the exit wait of 0.3 s" in err
    assert processor.stats().dropped == 2


def test_shutdown_does_not_wait_past_the_deadline_for_a_request_in_flight(
    capfd: pytest.CaptureFixture[str],
) -> None:
    transport = FailingTransport()
    transport.hang.set()  # a host that never answers
    processor = make(transport, export_timeout_ms=500)
    for i in range(3):
        processor.on_emit(record(i))
    wait_for(lambda: transport.calls >= 1, what="the request in flight")
    started = time.monotonic()
    processor.shutdown()
    waited = time.monotonic() - started
    assert waited < 2.0, waited
    stats = processor.stats()
    assert stats.dropped == 3 and stats.exported == 0
    assert "3 log record(s) were dropped in this process" in capfd.readouterr().err
