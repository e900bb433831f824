"""The Logstash transport against a real json_lines TCP peer running as its own process.

The peer (``tests/support/jsonl_peer.py``) appends every complete line it reads to a file.
Records carry a sequence number; a test counts the unique ones and reports duplicates.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from otel_logging.sinks.logstash import LogstashTls, LogstashTransport, LogstashUnavailable
from tests.support.certs import Pki, make_pki
from tests.support.procs import PYTHON, REPO, child_env, free_port, read_jsonl, run_app, start_serve, wait_for

pytestmark = pytest.mark.integration


@dataclass
class Peer:
    proc: subprocess.Popen[bytes]
    port: int
    out: Path

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def lines(self) -> list[dict]:
        """The records the peer has written so far; a line it is still writing is left for the next look."""
        if not self.out.exists():
            return []
        data = self.out.read_bytes()
        return [json.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines() if line.strip()]


@dataclass
class PeerFactory:
    directory: Path
    started: list[Peer] = field(default_factory=list)

    def start(self, *args: str, port: int = 0, out: Path | None = None) -> Peer:
        out = out or self.directory / f"received-{len(self.started)}.jsonl"
        command = [PYTHON, "-m", "tests.support.jsonl_peer", "--port", str(port), "--out", str(out), *args]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=REPO, env=child_env())
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            proc.kill()
            raise AssertionError(f"the json_lines peer did not start: {command}")
        peer = Peer(proc, json.loads(line)["port"], out)
        self.started.append(peer)
        return peer


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[PeerFactory]:
    factory = PeerFactory(tmp_path)
    yield factory
    for peer in factory.started:
        peer.kill()


def numbered_lines(start: int, count: int) -> list[bytes]:
    return [
        json.dumps({"seq": i, "body": f"record {i} " + "x" * 200, "service": "shop"}).encode()
        for i in range(start, start + count)
    ]


@dataclass
class Sender:
    """Sends numbered batches, retrying each until confirmed: what the durable queue does."""

    transport: LogstashTransport
    total: int
    batch: int = 100
    failures: int = 0
    sent: int = 0
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    pause_at: int | None = None  # stop after this many lines until ``resume`` is set
    paused: threading.Event = field(default_factory=threading.Event)
    resume: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        try:
            for start in range(0, self.total, self.batch):
                if start == self.pause_at:
                    self.paused.set()
                    self.resume.wait()
                lines = numbered_lines(start, min(self.batch, self.total - start))
                while True:
                    try:
                        self.transport.send(lines)
                        break
                    except LogstashUnavailable:
                        self.failures += 1
                self.sent = start + len(lines)
        except BaseException as exc:
            self.error = exc
        finally:
            self.done.set()

    def start(self) -> Sender:
        threading.Thread(target=self.run, daemon=True).start()
        return self


def delivery_report(lines: list[dict], total: int) -> tuple[set[int], int]:
    counts = Counter(line["seq"] for line in lines)
    missing = set(range(total)) - set(counts)
    duplicates = sum(c - 1 for c in counts.values())
    print(f"received {len(lines)} lines, {len(counts)} unique of {total}, {duplicates} duplicates")
    return missing, duplicates


def test_batches_arrive_in_order_once(peers: PeerFactory) -> None:
    peer = peers.start()
    transport = LogstashTransport("127.0.0.1", peer.port)
    sender = Sender(transport, 10_000)
    sender.run()
    assert sender.error is None and sender.failures == 0
    lines = wait_for(lambda: len(peer.lines()) >= 10_000 and peer.lines(), 30, what="10,000 lines at the peer")
    assert [line["seq"] for line in lines] == list(range(10_000))
    assert transport.stats.connects == 1
    transport.close()


def test_connection_resets_mid_stream_lose_nothing(peers: PeerFactory) -> None:
    total = 30_000
    peer = peers.start("--drop-after", "4000", "--drops", "3")
    transport = LogstashTransport("127.0.0.1", peer.port, backoff_initial_s=0.01)
    sender = Sender(transport, total).start()
    assert sender.done.wait(120), f"sender stuck at {sender.sent}"
    assert sender.error is None
    missing, duplicates = delivery_report(wait_for(lambda: _complete(total, peer), 30, what="all records"), total)
    assert not missing
    assert duplicates <= transport.stats.replayed_lines + sender.failures * sender.batch
    assert transport.stats.disconnects >= 3, transport.stats
    print(f"transport: {transport.stats}")
    transport.close()


def _complete(total: int, *peers: Peer) -> list[dict] | None:
    lines = [line for peer in peers for line in peer.lines()]
    return lines if len({line["seq"] for line in lines}) >= total else None


def test_peer_down_then_up_loses_nothing(peers: PeerFactory) -> None:
    total = 40_000
    first = peers.start()
    port = first.port
    transport = LogstashTransport("127.0.0.1", port, backoff_initial_s=0.05, backoff_max_s=0.5)
    sender = Sender(transport, total, batch=200, pause_at=10_000).start()
    assert sender.paused.wait(60), "the sender did not get through its first 10,000 lines"
    sender.resume.set()
    # SIGKILL while the sender is writing: whatever the peer had not read is gone, and its file may end in a torn
    # line (a write cut short by the kill), so the second peer writes a file of its own
    first.kill()
    wait_for(lambda: sender.failures >= 3, 30, what="the sender to notice that the peer is down")
    assert not sender.done.is_set()
    second = peers.start(port=port)
    assert sender.done.wait(120), f"sender stuck at {sender.sent}"
    assert sender.error is None
    missing, duplicates = delivery_report(
        wait_for(lambda: _complete(total, first, second), 30, what="all records"), total
    )
    assert not missing
    assert duplicates <= transport.stats.replayed_lines + sender.failures * sender.batch
    assert transport.stats.connects >= 2 and transport.stats.connect_failures >= 1, transport.stats
    transport.close()


def test_write_to_a_vanished_peer_is_not_counted_delivered(peers: PeerFactory) -> None:
    peer = peers.start()
    transport = LogstashTransport("127.0.0.1", peer.port, ack_timeout_s=5, backoff_initial_s=0.01)
    transport.send(numbered_lines(0, 10))
    peer.kill()
    with pytest.raises(LogstashUnavailable):
        transport.send(numbered_lines(10, 10))
    with pytest.raises(LogstashUnavailable, match="cannot connect"):
        transport.send(numbered_lines(10, 10))
    transport.close()


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


def test_tls_with_client_certificate(peers: PeerFactory, pki: Pki) -> None:
    tls_args = ("--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key), "--tls-ca", str(pki.ca_cert))
    peer = peers.start(*tls_args, "--drop-after", "1500", "--drops", "1")
    tls = LogstashTls(ca_file=pki.ca_cert, cert_file=pki.client_cert, key_file=pki.client_key, server_name="localhost")
    transport = LogstashTransport("127.0.0.1", peer.port, tls=tls, backoff_initial_s=0.01)
    sender = Sender(transport, 5_000).start()
    assert sender.done.wait(60) and sender.error is None
    missing, _ = delivery_report(wait_for(lambda: _complete(5_000, peer), 30, what="all records over TLS"), 5_000)
    assert not missing
    assert transport.stats.disconnects >= 1
    transport.close()


def test_tls_refuses_an_untrusted_server(peers: PeerFactory, pki: Pki, tmp_path: Path) -> None:
    other = make_pki(tmp_path / "other-pki")
    peer = peers.start("--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key))
    transport = LogstashTransport("127.0.0.1", peer.port, tls=LogstashTls(ca_file=other.ca_cert))
    with pytest.raises(LogstashUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        transport.send(numbered_lines(0, 1))
    transport.close()
    assert peer.lines() == []


def test_tls_without_the_required_client_certificate_delivers_nothing(peers: PeerFactory, pki: Pki) -> None:
    tls_args = ("--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key), "--tls-ca", str(pki.ca_cert))
    peer = peers.start(*tls_args)
    transport = LogstashTransport("127.0.0.1", peer.port, tls=LogstashTls(ca_file=pki.ca_cert), ack_timeout_s=5)
    with pytest.raises(LogstashUnavailable):
        transport.send(numbered_lines(0, 5))
    transport.close()
    assert peer.lines() == []


def test_unused_port_is_reported_with_the_address() -> None:
    port = free_port()
    transport = LogstashTransport("127.0.0.1", port)
    with pytest.raises(LogstashUnavailable, match=f"127.0.0.1:{port}: cannot connect"):
        transport.send(numbered_lines(0, 1))
    transport.close()


HANDLER_APP = """
import logging, sys
from otel_logging.handlers_logstash import LogstashHandler

handler = LogstashHandler("127.0.0.1", int(sys.argv[1]), service_name="seed-app")
log = logging.getLogger("shop.cart")
log.setLevel(logging.DEBUG)
log.addHandler(handler)
log.info("added %s", "apple", extra={"user_id": 42, "tags": ["a", "b"], "price": 1.5})
try:
    1 / 0
except ZeroDivisionError:
    log.exception("checkout failed")
for i in range(int(sys.argv[2])):
    log.debug("line %d", i, extra={"seq": i})
if len(sys.argv) > 3:  # Logstash is not there yet: wait until the handler has found that out
    import time
    deadline = time.monotonic() + 30
    while not handler.transport.stats.connect_failures and time.monotonic() < deadline:
        time.sleep(0.01)
print("emitted", flush=True)
assert handler.flush(30), "not flushed"
print(handler.sent, handler.dropped, handler.transport.stats.connect_failures)
handler.close()
"""


def test_logstash_handler_sends_canonical_records(peers: PeerFactory) -> None:
    peer = peers.start()
    result = run_app(HANDLER_APP, str(peer.port), "1000")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["emitted", "1002", "0", "0"]
    lines = peer.lines()
    assert len(lines) == 1002
    first, failure = lines[0], lines[1]
    assert set(first) == {
        "@timestamp", "observed_timestamp", "severity_text", "severity_number", "body", "logger", "service",
        "attributes", "resource",
    }  # fmt: skip
    assert first["body"] == "added apple" and first["logger"] == "shop.cart" and first["service"] == "seed-app"
    assert (first["severity_text"], first["severity_number"]) == ("INFO", 9)
    assert first["attributes"]["user_id"] == 42 and first["attributes"]["tags"] == ["a", "b"]
    assert first["attributes"]["price"] == 1.5 and first["attributes"]["code.function.name"] == "<module>"
    assert first["resource"] == {"service.name": "seed-app"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", first["@timestamp"])
    assert (failure["severity_text"], failure["severity_number"]) == ("ERROR", 17)
    assert failure["attributes"]["exception.type"] == "ZeroDivisionError"
    assert "ZeroDivisionError: division by zero" in failure["attributes"]["exception.stacktrace"]
    assert [line["attributes"]["seq"] for line in lines[2:]] == list(range(1000))
    assert lines[2]["severity_text"] == "DEBUG" and lines[2]["severity_number"] == 5


def test_logstash_handler_waits_for_a_late_logstash(peers: PeerFactory, tmp_path: Path) -> None:
    port = free_port()
    app = subprocess.Popen(
        [PYTHON, "-c", HANDLER_APP, str(port), "3000", "wait-for-a-failed-connect"],
        cwd=REPO,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert app.stdout is not None
        assert app.stdout.readline() == "emitted\n"  # logged while nothing listens on the port
        peer = peers.start(port=port, out=tmp_path / "late.jsonl")
        stdout, stderr = app.communicate(timeout=60)
    finally:
        if app.poll() is None:
            app.kill()
    assert app.returncode == 0, stderr
    sent, dropped, connect_failures = stdout.split()
    assert (sent, dropped) == ("3002", "0") and int(connect_failures) >= 1
    assert len(peer.lines()) == 3002


SERVE_APP = """
import logging, sys
import otel_logging
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

trace.set_tracer_provider(TracerProvider())
handle = otel_logging.setup(sys.argv[2], sys.argv[1])
log = logging.getLogger("shop.orders")
with trace.get_tracer("t").start_as_current_span("checkout"):
    log.warning("with a span", extra={"order": {"id": 7, "lines": [1, 2]}, "paid": True})
for i in range(int(sys.argv[3])):
    log.info("order %d", i, extra={"seq": i, "total": i / 2})
assert handle.force_flush(60)
"""


def _by_seq(records: list[dict]) -> dict[object, dict]:
    return {record["attributes"].get("seq", "span"): record for record in records}


def test_serve_forwards_every_record_to_logstash_unchanged(peers: PeerFactory, tmp_path: Path) -> None:
    peer = peers.start()
    service = start_serve(tmp_path / "logs", "--logstash", f"127.0.0.1:{peer.port}")
    try:
        result = run_app(SERVE_APP, service.grpc_endpoint, "shop-api", "2000")
        assert result.returncode == 0, result.stderr
        received = wait_for(lambda: len(peer.lines()) >= 2001 and peer.lines(), 60, what="2,001 records at the peer")
    finally:
        service.stop()
    written = read_jsonl(service.app_file("shop-api"))
    assert len(written) == 2001 and len(received) == 2001
    # The record Logstash gets is the record of the per-app file, field for field.
    assert _by_seq(received) == _by_seq(written)
    span_record = _by_seq(received)["span"]
    assert re.fullmatch(r"[0-9a-f]{32}", span_record["trace_id"]) and span_record["attributes"]["order"]["id"] == 7


def test_serve_keeps_records_while_logstash_is_down(peers: PeerFactory, tmp_path: Path) -> None:
    total = 20_000
    first = peers.start()
    port = first.port
    service = start_serve(tmp_path / "logs", "--logstash", f"127.0.0.1:{port}")
    try:
        result = run_app(SERVE_APP, service.grpc_endpoint, "burst", "2000")
        assert result.returncode == 0, result.stderr
        wait_for(lambda: len(first.lines()) >= 2001, 60, what="the first records at the peer")
        first.kill()
        result = run_app(SERVE_APP, service.grpc_endpoint, "burst", str(total))  # accepted while Logstash is down
        assert result.returncode == 0, result.stderr
        assert len(read_jsonl(service.app_file("burst"))) == 2001 + total + 1
        second = peers.start(port=port)
        expected = 2001 + total + 1
        received = wait_for(lambda: len(second.lines()) >= expected and second.lines(), 120, what="every record")
    finally:
        service.stop()
    written = read_jsonl(service.app_file("burst"))
    keys = Counter(json.dumps(r, sort_keys=True) for r in received)
    assert set(keys) == {json.dumps(r, sort_keys=True) for r in written}
    print(f"{len(written)} written, {len(received)} received by Logstash, {len(received) - len(keys)} duplicates")


def test_serve_to_logstash_over_mutual_tls_with_metrics(peers: PeerFactory, pki: Pki, tmp_path: Path) -> None:
    tls_args = ("--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key), "--tls-ca", str(pki.ca_cert))
    peer = peers.start(*tls_args)
    service = start_serve(
        tmp_path / "logs",
        *("--logstash", f"localhost:{peer.port}", "--logstash-tls-ca", str(pki.ca_cert)),
        *("--logstash-tls-cert", str(pki.client_cert), "--logstash-tls-key", str(pki.client_key)),
    )
    try:
        result = run_app(SERVE_APP, service.grpc_endpoint, "tls-app", "500")
        assert result.returncode == 0, result.stderr
        received = wait_for(lambda: len(peer.lines()) >= 501 and peer.lines(), 60, what="501 records over TLS")
        sink = f'sink="logstash-localhost-{peer.port}"'
        metrics = wait_for(
            lambda: (m := _metrics(service.http_url)) and f"otel_logging_sink_records_sent_total{{{sink}}} 501" in m,
            30,
            what="the sink's counters on /metrics",
        )
        assert f"otel_logging_sink_queue_bytes{{{sink}}} 0" in _metrics(service.http_url), metrics
    finally:
        service.stop()
    assert _by_seq(received) == _by_seq(read_jsonl(service.app_file("tls-app")))


def _metrics(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        return response.read().decode()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--logstash", "127.0.0.1:notaport"), "port 'notaport' is not a number"),
        (("--logstash", "h:5000", "--logstash", "h:5000"), "the same target is given twice"),
        (("--logstash", "h:5000", "--logstash-tls-ca", "/nonexistent/ca.pem"), "CA file '/nonexistent/ca.pem'"),
    ],
)
def test_serve_refuses_bad_logstash_options(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = run_app(
        "import sys; from otel_logging.cli import main; sys.exit(main(sys.argv[1:]))",
        *("serve", "--port", "0", "--http-port", "-1", "--log-dir", str(tmp_path / "logs"), *args),
    )
    assert result.returncode == 2
    assert message in result.stderr


def test_serve_survives_connection_resets_mid_stream(peers: PeerFactory, tmp_path: Path) -> None:
    peer = peers.start("--drop-after", "3000", "--drops", "2")
    service = start_serve(tmp_path / "logs", "--logstash", f"127.0.0.1:{peer.port}")
    try:
        result = run_app(SERVE_APP, service.grpc_endpoint, "resets", "10000")
        assert result.returncode == 0, result.stderr
        written = read_jsonl(service.app_file("resets"))
        want = {json.dumps(r, sort_keys=True) for r in written}

        def all_arrived() -> list[dict] | None:
            lines = peer.lines()
            return lines if want <= {json.dumps(r, sort_keys=True) for r in lines} else None

        received = wait_for(all_arrived, 60, what="every record after two connection resets")
    finally:
        service.stop()
    print(f"{len(written)} written, {len(received)} received, {len(received) - len(want)} duplicates")
    assert len(written) == 10_001


def test_a_stalled_peer_does_not_get_a_batch_counted_delivered(peers: PeerFactory) -> None:
    peer = peers.start()
    transport = LogstashTransport("127.0.0.1", peer.port, write_timeout_s=1.0, ack_timeout_s=1.0)
    transport.send(numbered_lines(0, 10))
    wait_for(lambda: len(peer.lines()) == 10, 10, what="the first 10 lines")
    big = numbered_lines(10, 100_000)  # about 24 MB: more than the kernel buffers on both sides hold
    peer.proc.send_signal(signal.SIGSTOP)  # the peer stops reading; its TCP stack stops acknowledging
    try:
        with pytest.raises(LogstashUnavailable, match="not confirmed"):
            transport.send(big)
        assert transport.stats.lines == 10
    finally:
        peer.proc.send_signal(signal.SIGCONT)
    transport.send(big)  # on a new connection, once the peer reads again
    missing, duplicates = delivery_report(wait_for(lambda: _complete(100_010, peer), 60, what="all lines"), 100_010)
    assert not missing
    assert duplicates < len(big)  # only the part of the unconfirmed batch that got through, sent again
    assert transport.stats.lines == 100_010 and transport.stats.connects == 2
    transport.close()


def test_records_queued_for_logstash_survive_kill_9_of_the_service(peers: PeerFactory, tmp_path: Path) -> None:
    port = free_port()  # Logstash is not there yet: everything stays in the queue
    log_dir = tmp_path / "logs"
    service = start_serve(log_dir, "--logstash", f"127.0.0.1:{port}")
    result = run_app(SERVE_APP, service.grpc_endpoint, "crashy", "5000")
    assert result.returncode == 0, result.stderr
    assert service.stop(signal.SIGKILL) == -signal.SIGKILL
    written = read_jsonl(service.app_file("crashy"))
    assert len(written) == 5001
    assert any((log_dir / "_queue" / f"logstash-127.0.0.1-{port}").glob("*.seg"))
    peer = peers.start(port=port)
    restarted = start_serve(log_dir, "--logstash", f"127.0.0.1:{port}")
    try:
        want = {json.dumps(r, sort_keys=True) for r in written}

        def all_arrived() -> list[dict] | None:
            lines = peer.lines()
            return lines if want <= {json.dumps(r, sort_keys=True) for r in lines} else None

        received = wait_for(all_arrived, 60, what="the queued records after the restart")
    finally:
        restarted.stop()
    print(f"{len(written)} written before kill -9, {len(received)} received after the restart")
