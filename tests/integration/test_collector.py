"""collector-config/ with a real OpenTelemetry Collector (built by scripts/build-collector.sh) and real receivers.

Every config passes ``validate``; the gateway, the agent and the load balancer run end to end between real
``otel_logging.setup()`` apps or log files and real ``otel-logging serve`` processes.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from tests.integration.collector_fixtures import (  # noqa: F401 - the fixtures are used by name
    CONFIG_DIR,
    CollectorProcess,
    RunCollector,
    collector_binary_fixture,
    run_collector_fixture,
)
from tests.support.procs import free_port, read_jsonl, run_app, start_serve, wait_for

# The first test to use the collector may build it from an empty cache (minutes).
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

# Each entry is one way to run the collector with the files of collector-config/.
CONFIG_SETS = [
    ["agent.yaml"],
    ["gateway.yaml"],
    ["gateway.yaml", "gateway-elasticsearch.yaml"],
    ["loadbalancing.yaml"],
]


def str_value(text: str) -> AnyValue:
    return AnyValue(string_value=text)


# --------------------------------------------------------------------------------------------- validate


@pytest.mark.parametrize("configs", CONFIG_SETS, ids=["+".join(c) for c in CONFIG_SETS])
def test_config_passes_validate_without_deprecation_warnings(collector_binary: Path, configs: list[str]) -> None:
    args = [str(collector_binary), "validate"] + [f"--config={CONFIG_DIR / c}" for c in configs]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "deprecat" not in (result.stdout + result.stderr).lower(), result.stdout + result.stderr


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


def test_gateway_passes_every_field_through(run_collector: RunCollector, tmp_path: Path) -> None:
    direct = start_serve(tmp_path / "direct")
    behind = start_serve(tmp_path / "behind-gateway")
    try:
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
                if key != "observed_timestamp":  # set by the SDK at emit time: differs between the two runs
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
        request = ExportLogsServiceRequest(
            resource_logs=[
                ResourceLogs(
                    resource=Resource(attributes=[KeyValue(key="service.name", value=str_value("http-app"))]),
                    scope_logs=[
                        ScopeLogs(
                            scope=InstrumentationScope(
                                name="http.scope",
                                version="3.1",
                                attributes=[KeyValue(key="scope.team", value=str_value("search"))],
                            ),
                            log_records=[
                                LogRecord(
                                    time_unix_nano=1_764_000_000_000_000_001,
                                    severity_number=9,
                                    severity_text="INFO",
                                    body=str_value("over http"),
                                    trace_id=bytes(range(16)),
                                    span_id=bytes(range(8)),
                                )
                            ],
                        )
                    ],
                )
            ]
        )
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
        assert gateway.metric("otelcol_exporter_send_failed_log_records_total") == 0
    finally:
        direct.stop()
        behind.stop()
