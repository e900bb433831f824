"""collector-config/ with a real OpenTelemetry Collector (built by scripts/build-collector.sh) and real receivers.

Every config passes ``validate``; the gateway, the agent and the load balancer run end to end between real
``otel_logging.setup()`` apps or log files and real ``otel-logging serve`` processes.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2_grpc import LogsServiceStub
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope

from tests.support import otlp
from tests.support.collector_fixtures import (  # noqa: F401 - the fixtures are used by name
    CONFIG_DIR,
    CollectorProcess,
    RunCollector,
    StartReceiver,
    collector_binary_fixture,
    run_collector_fixture,
    start_receiver_fixture,
)
from tests.support.procs import ServeProcess, free_port, read_jsonl, run_app, wait_for

# The first test to use the collector may build it from an empty cache (minutes).
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

# Each entry is one way to run the collector with the files of collector-config/.
CONFIG_SETS = [
    ["agent.yaml"],
    ["gateway.yaml"],
    ["gateway.yaml", "gateway-elasticsearch.yaml"],
    ["loadbalancing.yaml"],
    ["scale-out.yaml"],
]


def str_value(text: str) -> AnyValue:
    return AnyValue(string_value=text)


# --------------------------------------------------------------------------------------------- validate


@pytest.mark.parametrize("configs", CONFIG_SETS, ids=["+".join(c) for c in CONFIG_SETS])
def test_config_passes_validate(collector_binary: Path, configs: list[str]) -> None:
    args = [str(collector_binary), "validate"] + [f"--config={CONFIG_DIR / c}" for c in configs]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_config_file_is_validated() -> None:
    shipped = {p.name for p in CONFIG_DIR.glob("*.yaml")} - {"builder-config.yaml"}
    assert shipped == {name for configs in CONFIG_SETS for name in configs}


def test_validate_rejects_a_broken_config(collector_binary: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    text = (CONFIG_DIR / "gateway.yaml").read_text().replace("exporters: [otlp_grpc/otel_logging]", "exporters: [nope]")
    broken.write_text(text)
    result = subprocess.run(
        [str(collector_binary), "validate", f"--config={broken}"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "nope" in result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------- gateway

GATEWAY_APP = r"""
import json, logging, sys
import otel_logging
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber, get_logger
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator

class FixedIds(IdGenerator):
    def generate_trace_id(self): return 0x0AF7651916CD43DD8448EB211C80319C
    def generate_span_id(self): return 0xB7AD6B7169203331

class FixedTime(logging.Filter):  # the same @timestamp in both runs, so every field can be compared
    n = 0
    def filter(self, record):
        FixedTime.n += 1
        record.created = 1764000000.25 + FixedTime.n
        return True

trace.set_tracer_provider(TracerProvider(id_generator=FixedIds()))
handle = otel_logging.setup(
    "gateway-app", endpoint=sys.argv[1],
    resource_attributes={"deployment.environment.name": "test", "service.version": "1.2.3",
                         "service.instance.id": "instance-1"},
)
log = logging.getLogger("shop.checkout")
log.addFilter(FixedTime())
log.info("plain message")
log.warning("typed attributes", extra={"order.id": 42, "amount": 9.5, "paid": True, "tags": ["a", "b"],
                                      "nested": {"k": "v", "n": 1}})
with trace.get_tracer("shop").start_as_current_span("checkout"):
    log.error("inside a span")
try:
    1 / 0
except ZeroDivisionError:
    log.exception("with a traceback")
api_logger = get_logger("shop.api", "2.0.1", attributes={"scope.team": "payments"})
api_logger.emit(timestamp=1764000100_000000000, severity_number=SeverityNumber.WARN, severity_text="WARN",
                body={"structured": [1, "two", {"three": 3.0}]}, attributes={"via": "logs-api"})
print(json.dumps({"flushed": handle.force_flush(30)}))
handle.shutdown()
"""


def run_gateway_app(endpoint: str) -> None:
    result = run_app(GATEWAY_APP, endpoint)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {"flushed": True}, result.stdout + result.stderr


def test_gateway_passes_every_field_through(
    run_collector: RunCollector, start_receiver: StartReceiver, tmp_path: Path
) -> None:
    direct = start_receiver(tmp_path / "direct")
    behind = start_receiver(tmp_path / "behind-gateway")
    grpc_port, http_port = free_port(), free_port()
    gateway = run_collector(
        ["gateway.yaml"],
        {
            "GATEWAY_GRPC_ENDPOINT": f"127.0.0.1:{grpc_port}",
            "GATEWAY_HTTP_ENDPOINT": f"127.0.0.1:{http_port}",
            "OTEL_LOGGING_RECEIVER": f"127.0.0.1:{behind.grpc_port}",
        },
    )
    run_gateway_app(direct.grpc_endpoint)
    run_gateway_app(f"http://127.0.0.1:{grpc_port}")
    expected = read_jsonl(direct.app_file("gateway-app"))
    assert len(expected) == 5
    got = wait_for(
        lambda: len(records := read_jsonl(behind.app_file("gateway-app"))) >= 5 and records,
        30,
        what="5 records through the gateway",
    )
    by_body = {json.dumps(r["body"], sort_keys=True): r for r in got}
    assert len(got) == len(by_body) == 5
    for want in expected:
        have = by_body[json.dumps(want["body"], sort_keys=True)]
        assert set(have) == set(want)
        for key in want:
            if key == "resource":  # the same but for the pid of each run's process
                assert {**have[key], "process.pid": 0} == {**want[key], "process.pid": 0}, (
                    f"resource of {want['body']!r}"
                )
                assert have[key]["process.pid"] != want[key]["process.pid"]
            elif key != "observed_timestamp":  # set by the SDK at emit time: differs between the two runs
                assert have[key] == want[key], f"{key} of {want['body']!r}"
        assert have["observed_timestamp"].endswith("Z")
    span_record = by_body[json.dumps("inside a span")]
    assert span_record["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert span_record["span_id"] == "b7ad6b7169203331"
    assert span_record["logger"] == "shop.checkout"
    assert span_record["@timestamp"].startswith("2025-11-24T16:00:")
    assert span_record["resource"]["deployment.environment.name"] == "test"
    assert span_record["resource"]["service.version"] == "1.2.3"
    typed = by_body[json.dumps("typed attributes")]["attributes"]
    assert (typed["order.id"], typed["amount"], typed["paid"], typed["tags"]) == (42, 9.5, True, ["a", "b"])
    api = by_body[json.dumps({"structured": [1, "two", {"three": 3.0}]}, sort_keys=True)]
    assert (api["logger"], api["attributes"]) == ("shop.api", {"via": "logs-api"})
    assert "exception.stacktrace" in by_body[json.dumps("with a traceback")]["attributes"]

    # The gateway's OTLP/HTTP side (POST /v1/logs, protobuf) reaches the receiver too.
    scope = InstrumentationScope(name="http.scope", version="3.1", attributes=otlp.attributes({"scope.team": "search"}))
    record = otlp.log_record(
        "over http",
        time_unix_nano=1_764_000_000_000_000_001,
        severity_number=9,
        severity_text="INFO",
        trace_id=bytes(range(16)),
        span_id=bytes(range(8)),
    )
    request = otlp.request("http-app", [record], scope=scope)
    post = urllib.request.Request(
        f"http://127.0.0.1:{http_port}/v1/logs",
        data=request.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )
    with urllib.request.urlopen(post, timeout=10) as response:
        assert response.status == 200
    (http_record,) = wait_for(lambda: read_jsonl(behind.app_file("http-app")), 30, what="the OTLP/HTTP record")
    assert http_record["@timestamp"] == "2025-11-24T16:00:00.000000001Z"
    assert (http_record["body"], http_record["logger"]) == ("over http", "http.scope")
    assert (http_record["scope_version"], http_record["scope_attributes"]) == ("3.1", {"scope.team": "search"})
    assert (http_record["trace_id"], http_record["span_id"]) == (bytes(range(16)).hex(), bytes(range(8)).hex())
    # 5 from the app, 1 over HTTP (the counter moves once the receiver's answer is in: after the file write)
    wait_for(lambda: gateway.metric("otelcol_exporter_sent_log_records") == 6, 10, what="6 records counted as sent")


def test_gateway_elasticsearch_addon_leaves_the_receivers_copy_alone(
    run_collector: RunCollector, start_receiver: StartReceiver, tmp_path: Path
) -> None:
    """With gateway-elasticsearch.yaml and Elasticsearch unreachable, records still reach otel-logging, and the
    data stream routing attributes of the Elasticsearch pipeline do not leak into them."""
    receiver = start_receiver(tmp_path / "logs")
    grpc_port = free_port()
    gateway = run_collector(
        ["gateway.yaml", "gateway-elasticsearch.yaml"],
        {
            "GATEWAY_GRPC_ENDPOINT": f"127.0.0.1:{grpc_port}",
            "GATEWAY_HTTP_ENDPOINT": f"127.0.0.1:{free_port()}",
            "OTEL_LOGGING_RECEIVER": f"127.0.0.1:{receiver.grpc_port}",
            "ELASTICSEARCH_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens there
        },
    )
    records = [otlp.log_record(f"r{i}") for i in range(20)]
    request = otlp.request("Billing-API", records, resource={"host.name": "web-1"})
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        LogsServiceStub(channel).Export(request, timeout=10)
    records = wait_for(
        lambda: len(rs := read_jsonl(receiver.app_file("Billing-API"))) >= 20 and rs, 30, what="20 records"
    )
    assert [r["body"] for r in records] == [f"r{i}" for i in range(20)]
    assert all(r["resource"] == {"service.name": "Billing-API", "host.name": "web-1"} for r in records)
    # All 20 sent to otel-logging; none can have gone to Elasticsearch, which is down.
    wait_for(lambda: gateway.metric("otelcol_exporter_sent_log_records") == 20, 10, what="20 records counted as sent")
    gateway.stop(timeout=1)  # no need to wait for the Elasticsearch exporter to give up


# ------------------------------------------------------------------------------------------------ agent

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"


def agent_env(log_glob: Path, storage: Path, receiver_port: int) -> dict[str, str]:
    return {
        "AGENT_LOG_GLOB": str(log_glob),
        "AGENT_STORAGE_DIR": str(storage),
        "OTEL_LOGGING_RECEIVER": f"127.0.0.1:{receiver_port}",
    }


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)


def test_agent_tails_a_growing_file_and_parses_each_format(
    run_collector: RunCollector, tmp_path: Path, serve: ServeProcess
) -> None:
    app_logs = tmp_path / "app-logs"
    app_logs.mkdir()
    log_file = app_logs / "billing.log"
    append(log_file, "")
    run_collector(["agent.yaml"], agent_env(app_logs / "*.log", tmp_path / "agent-state", serve.grpc_port))

    json_line = {
        "time": "2026-01-02T03:04:05.123456789Z",
        "level": "WARNING",
        "logger": "billing.invoices",
        "message": "invoice overdue",
        "trace_id": TRACE_ID,
        "span_id": SPAN_ID,
        "invoice.id": 1234,
        "amount": 99.5,
        "paid": False,
        "customer": {"tier": "gold"},
    }
    append(log_file, json.dumps(json_line) + "\n")
    first = wait_for(lambda: read_jsonl(serve.app_file("billing")), 30, what="the first line in billing.jsonl")

    # The file grows while the agent runs: plain text in the OpenTelemetry instrumentation format.
    append(
        log_file,
        f"2026-01-02 03:04:06,250 ERROR [billing.payments] [pay.py:17] [trace_id={TRACE_ID} span_id={SPAN_ID} "
        "resource.service.name=billing trace_sampled=True] - card declined\n"
        "2026-01-02 03:04:07,000 INFO [billing.payments] [pay.py:30] [trace_id=0 span_id=0 "
        "resource.service.name=billing trace_sampled=False] - retry scheduled\n"
        "2026-01-02 03:04:08,500 CRITICAL [billing] - crashed\n"
        "Traceback (most recent call last):\n"
        '  File "pay.py", line 40, in charge\n'
        "ZeroDivisionError: division by zero\n"
        "{not json at all\n"
        "2026-01-02 03:04:09,000 INFO [billing] - last line\n",
    )
    records = wait_for(
        lambda: len(rs := read_jsonl(serve.app_file("billing"))) >= 6 and rs, 30, what="6 records in billing.jsonl"
    )
    assert len(records) == 6
    assert records[0] == first[0]
    by_body = {r["body"] if isinstance(r["body"], str) else json.dumps(r["body"]): r for r in records}
    assert set(by_body) == {
        "invoice overdue",
        "card declined",
        "retry scheduled",
        'crashed\nTraceback (most recent call last):\n  File "pay.py", line 40, in charge\n'
        "ZeroDivisionError: division by zero",
        "{not json at all",
        "last line",
    }
    for record in records:
        assert record["service"] == "billing"
        assert record["resource"] == {"service.name": "billing"}
        assert record["attributes"]["log.file.name"] == "billing.log"

    overdue = by_body["invoice overdue"]
    assert overdue["@timestamp"] == "2026-01-02T03:04:05.123456789Z"
    assert (overdue["severity_text"], overdue["severity_number"]) == ("WARNING", 13)
    assert overdue["logger"] == "billing.invoices"
    assert (overdue["trace_id"], overdue["span_id"]) == (TRACE_ID, SPAN_ID)
    assert overdue["attributes"] == {
        "log.file.name": "billing.log",
        "invoice.id": 1234,
        "amount": 99.5,
        "paid": False,
        "customer": {"tier": "gold"},
    }

    declined = by_body["card declined"]
    assert declined["@timestamp"] == "2026-01-02T03:04:06.250000000Z"
    assert (declined["severity_text"], declined["severity_number"]) == ("ERROR", 17)
    assert (declined["logger"], declined["trace_id"], declined["span_id"]) == ("billing.payments", TRACE_ID, SPAN_ID)
    assert declined["attributes"] == {"log.file.name": "billing.log"}

    retry = by_body["retry scheduled"]
    assert "trace_id" not in retry and "span_id" not in retry
    assert (retry["severity_number"], retry["@timestamp"]) == (9, "2026-01-02T03:04:07.000000000Z")

    crashed = next(r for r in records if r["body"].startswith("crashed"))
    assert (crashed["severity_text"], crashed["severity_number"], crashed["logger"]) == ("CRITICAL", 21, "billing")

    raw = by_body["{not json at all"]
    assert raw["severity_number"] == 0 and raw["logger"] == ""


PLAIN_FILE_APP = r"""
import json, logging, sys, time
from opentelemetry import trace
from opentelemetry.instrumentation.logging import LoggingInstrumentor
from opentelemetry.instrumentation.logging.constants import DEFAULT_LOGGING_FORMAT
from opentelemetry.sdk.trace import TracerProvider

trace.set_tracer_provider(TracerProvider())
# otelTraceID, otelSpanID, ... on every record, as otel_logging.setup() also does
LoggingInstrumentor().instrument(inject_trace_context=True, enable_log_auto_instrumentation=False)
handler = logging.FileHandler(sys.argv[1])
formatter = logging.Formatter(DEFAULT_LOGGING_FORMAT)
formatter.converter = time.gmtime  # the agent reads these times as UTC (AGENT_LOG_TIMEZONE)
handler.setFormatter(formatter)
log = logging.getLogger("inventory.sync")
log.addHandler(handler)
log.setLevel(logging.INFO)
seen = []
class Remember(logging.Filter):
    def filter(self, record):
        seen.append({"second": int(record.created), "ms": int(record.msecs)})  # what %(asctime)s shows
        return True
log.addFilter(Remember())
log.info("sync started")
with trace.get_tracer("inventory").start_as_current_span("sync") as span:
    log.warning("stock low for %s", "sku-1")
    try:
        {}["missing"]
    except KeyError:
        log.exception("lookup failed")
    ids = {"trace_id": format(span.get_span_context().trace_id, "032x"),
           "span_id": format(span.get_span_context().span_id, "016x")}
log.info("sync done")
print(json.dumps({"ids": ids, "seen": seen}))
"""


def test_agent_ships_a_python_apps_plain_log_file(
    run_collector: RunCollector, serve: ServeProcess, tmp_path: Path
) -> None:
    """A real Python app logs with OpenTelemetry's logging format into inventory.log while the agent tails it."""
    app_logs = tmp_path / "app-logs"
    app_logs.mkdir()
    run_collector(["agent.yaml"], agent_env(app_logs / "*.log", tmp_path / "agent-state", serve.grpc_port))
    result = run_app(PLAIN_FILE_APP, str(app_logs / "inventory.log"))
    assert result.returncode == 0, result.stderr
    app = json.loads(result.stdout)
    records = wait_for(lambda: len(rs := read_jsonl(serve.app_file("inventory"))) >= 4 and rs, 30, what="4 records")
    assert [r["body"].splitlines()[0] for r in records] == [
        "sync started",
        "stock low for sku-1",
        "lookup failed",
        "sync done",
    ]
    assert "KeyError: 'missing'" in records[2]["body"] and "Traceback" in records[2]["body"]
    assert [r["severity_text"] for r in records] == ["INFO", "WARNING", "ERROR", "INFO"]
    assert [r["severity_number"] for r in records] == [9, 13, 17, 9]
    for record, seen in zip(records, app["seen"], strict=True):
        assert record["logger"] == "inventory.sync"
        assert record["service"] == "inventory"
        second = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seen["second"]))
        assert record["@timestamp"] == f"{second}.{seen['ms']:03d}000000Z"
    for record in records[1:3]:
        assert (record["trace_id"], record["span_id"]) == (app["ids"]["trace_id"], app["ids"]["span_id"])
    assert "trace_id" not in records[0] and "trace_id" not in records[3]


def json_lines(first: int, count: int) -> str:
    return "".join(
        json.dumps({"time": "2026-01-02T03:04:05Z", "level": "INFO", "logger": "outage", "message": f"line {i}"}) + "\n"
        for i in range(first, first + count)
    )


def wait_until_read(agent: CollectorProcess, lines: int) -> None:
    """Until the agent's file receiver has taken ``lines`` records from the file (since it started)."""
    metric = "otelcol_receiver_accepted_log_records"
    wait_for(lambda: agent.metric(metric, default=0) >= lines, 30, what=f"the agent to read {lines} lines")


def wait_until_queued(agent: CollectorProcess) -> None:
    wait_for(lambda: agent.metric("otelcol_exporter_queue_size", default=0) > 0, 30, what="a non-empty sending queue")


def test_agent_loses_nothing_while_the_receiver_is_down_for_30_s(
    run_collector: RunCollector, start_receiver: StartReceiver, tmp_path: Path
) -> None:
    """Receiver stopped for 30 s while the app keeps logging and the agent restarts once; then the receiver
    comes back on the same port: every line arrives (the sending queue and the file offsets are on disk)."""
    port = free_port()
    log_dir = tmp_path / "logs"
    serve = start_receiver(log_dir, grpc_port=port)
    app_logs = tmp_path / "app-logs"
    app_logs.mkdir()
    log_file = app_logs / "orders.log"
    env = agent_env(app_logs / "*.log", tmp_path / "agent-state", port)
    agent = run_collector(["agent.yaml"], env)
    bodies = lambda: [r["body"] for r in read_jsonl(log_dir / "orders.jsonl")]  # noqa: E731

    append(log_file, json_lines(0, 100))
    wait_for(lambda: len(bodies()) >= 100, 30, what="100 lines before the outage")
    assert serve.stop() == 0
    down_at = time.monotonic()

    written, read_by_this_agent, restarted = 100, 0, False
    while time.monotonic() - down_at < 30:
        append(log_file, json_lines(written, 25))
        written += 25
        wait_until_read(agent, written - read_by_this_agent)
        if not restarted and time.monotonic() - down_at >= 15:
            # What the agent holds for the receiver is on disk: it survives an agent restart.
            wait_until_queued(agent)
            assert agent.stop() == 0
            read_by_this_agent = written
            agent = run_collector(["agent.yaml"], env)
            wait_until_queued(agent)  # before any new line: what the stopped agent held came back from disk
            restarted = True
    assert restarted and bodies() == [f"line {i}" for i in range(100)]

    start_receiver(log_dir, grpc_port=port)
    append(log_file, json_lines(written, 25))
    written += 25
    back_at = time.monotonic()
    wait_for(lambda: len(set(bodies())) >= written, 120, what=f"all {written} lines after the receiver is back")
    print(f"{written} lines; all arrived {time.monotonic() - back_at:.1f} s after the receiver came back")
    got = bodies()
    assert set(got) == {f"line {i}" for i in range(written)}
    assert len(got) == written, f"{len(got) - written} duplicates"


# ---------------------------------------------------------------------------------------- load balancing

LB_SERVICES = [f"app-{k:02d}" for k in range(16)]


def lb_request(round_no: int, per_service: int) -> ExportLogsServiceRequest:
    """One request with records of every service, as a gateway in front of many apps receives them."""
    return otlp.requests(
        *(
            otlp.resource_logs(
                service,
                [
                    otlp.log_record(
                        f"{service} round {round_no} #{i}", time_unix_nano=time.time_ns(), severity_number=9
                    )
                    for i in range(per_service)
                ],
                scope="lb.test",
            )
            for service in LB_SERVICES
        )
    )


def test_load_balancer_keeps_each_app_on_one_receiver(
    run_collector: RunCollector, start_receiver: StartReceiver, tmp_path: Path
) -> None:
    receivers = [start_receiver(tmp_path / f"receiver-{n}") for n in (1, 2)]
    grpc_port = free_port()
    lb = run_collector(
        ["loadbalancing.yaml"],
        {
            "LB_GRPC_ENDPOINT": f"127.0.0.1:{grpc_port}",
            "LB_HTTP_ENDPOINT": f"127.0.0.1:{free_port()}",
            "LB_RECEIVERS": "[" + ", ".join(f"127.0.0.1:{r.grpc_port}" for r in receivers) + "]",
        },
    )
    rounds, per_service = 4, 10
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = LogsServiceStub(channel)
        for round_no in range(rounds):
            stub.Export(lb_request(round_no, per_service), timeout=10)
    expected_per_app = rounds * per_service
    total = expected_per_app * len(LB_SERVICES)

    def arrived() -> int:
        return sum(len(read_jsonl(r.app_file(s))) for r in receivers for s in LB_SERVICES)

    wait_for(lambda: arrived() >= total, 30, what=f"{total} records on the two receivers")
    placement: dict[str, list[int]] = {}
    for service in LB_SERVICES:
        holders = [n for n, r in enumerate(receivers) if r.app_file(service).exists()]
        assert len(holders) == 1, f"{service} is on receivers {holders}"
        bodies = [rec["body"] for rec in read_jsonl(receivers[holders[0]].app_file(service))]
        assert sorted(bodies) == sorted(f"{service} round {k} #{i}" for k in range(rounds) for i in range(per_service))
        placement.setdefault(str(holders[0]), []).append(int(service[-2:]))
    assert arrived() == total
    # Both receivers take a share (16 apps all hashed to one of two receivers: about 1 run in 30,000).
    assert len(placement) == 2, placement
    print(f"apps per receiver: {placement}")
    wait_for(lambda: lb.metric("otelcol_exporter_sent_log_records") >= total, 10, what=f"{total} counted as sent")
