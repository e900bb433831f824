"""Apps in real subprocesses log through setup() / the seed API / opentelemetry-instrument to a real receiver."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.support.procs import ServeProcess, child_env, free_port, read_jsonl, run_app, wait_for

pytestmark = pytest.mark.integration


def app(code: str) -> str:
    return textwrap.dedent(code)


def test_setup_sends_typed_attributes_exceptions_and_trace_context(serve: ServeProcess) -> None:
    result = run_app(
        app(
            """
            import logging, sys
            import otel_logging
            from opentelemetry import trace
            from opentelemetry.sdk.trace import TracerProvider
            trace.set_tracer_provider(TracerProvider())
            handle = otel_logging.setup("shop-api", sys.argv[1], resource_attributes={"deployment.environment": "ci"})
            log = logging.getLogger("shop.orders")
            console = logging.StreamHandler(sys.stdout)
            console.setFormatter(logging.Formatter("%(otelTraceID)s %(otelSpanID)s %(message)s"))
            log.addHandler(console)
            with trace.get_tracer("t").start_as_current_span("checkout") as span:
                ctx = span.get_span_context()
                print("IDS", format(ctx.trace_id, "032x"), format(ctx.span_id, "016x"))
                log.info("order %s placed by %s", 42, "ann", extra={
                    "order_id": 42, "total": 9.5, "paid": True, "tags": ["a", "b"], "mixed": [1, "x", None],
                    "customer": {"tier": "gold", "address": {"city": "Oslo"}}, "password": "hunter2",
                    "huge": 2**70, "nothing": None})
            try:
                {}["missing"]
            except KeyError:
                log.exception("lookup failed")
            logging.getLogger("shop.debug").debug("not sent: below level")
            assert handle.force_flush(30)
            print("STATS", handle.stats())
            """
        ),
        serve.grpc_endpoint,
    )
    assert result.returncode == 0, result.stderr
    ids_line = next(line for line in result.stdout.splitlines() if line.startswith("IDS"))
    _, trace_id, span_id = ids_line.split()
    assert f"{trace_id} {span_id} order 42 placed by ann" in result.stdout  # stdlib formatter sees the ids

    records = read_jsonl(serve.app_file("shop-api"))
    assert len(records) == 2
    order, failure = records
    assert order["body"] == "order 42 placed by ann"
    assert order["severity_text"] == "INFO" and order["severity_number"] == 9
    assert order["logger"] == "shop.orders" and order["service"] == "shop-api"
    assert order["trace_id"] == trace_id and order["span_id"] == span_id
    assert order["attributes"] == {
        "order_id": 42,
        "total": 9.5,
        "paid": True,
        "tags": ["a", "b"],
        "mixed": [1, "x", None],
        "customer": {"tier": "gold", "address": {"city": "Oslo"}},
        "password": "[REDACTED]",
        "huge": str(2**70),
    }
    assert order["resource"]["service.name"] == "shop-api"
    assert order["resource"]["deployment.environment"] == "ci"
    assert order["resource"]["telemetry.sdk.language"] == "python"
    assert order["@timestamp"].endswith("Z") and len(order["@timestamp"]) == 30
    assert failure["severity_text"] == "ERROR" and failure["body"] == "lookup failed"
    assert failure["attributes"]["exception.type"] == "KeyError"
    assert failure["attributes"]["exception.message"] == "missing"
    assert "Traceback" in failure["attributes"]["exception.stacktrace"]
    assert "trace_id" not in failure


def test_environment_variables_configure_everything(serve: ServeProcess) -> None:
    env = child_env(
        OTEL_SERVICE_NAME="env-app",
        OTEL_EXPORTER_OTLP_ENDPOINT=serve.grpc_endpoint,
        OTEL_RESOURCE_ATTRIBUTES="team=payments,region=eu%2Dnorth",
        OTEL_EXPORTER_OTLP_COMPRESSION="gzip",
    )
    result = run_app(
        "import logging, otel_logging; h = otel_logging.setup(); logging.getLogger('x').warning('hi'); "
        "assert h.force_flush(30)",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    (record,) = read_jsonl(serve.app_file("env-app"))
    assert record["severity_text"] == "WARN" and record["body"] == "hi"
    assert record["resource"]["team"] == "payments" and record["resource"]["region"] == "eu-north"


def test_setup_twice_keeps_one_handler_and_exports_each_record_once(serve: ServeProcess) -> None:
    result = run_app(
        app(
            """
            import logging, sys, otel_logging
            a = otel_logging.setup("twice", sys.argv[1])
            b = otel_logging.setup("twice", sys.argv[1])
            assert a is b
            c = otel_logging.setup("twice", sys.argv[1], level=logging.DEBUG)  # new settings replace the pipeline
            from otel_logging.client.handler import OtelLoggingHandler
            print("HANDLERS", sum(isinstance(h, OtelLoggingHandler) for h in logging.getLogger().handlers))
            for i in range(10):
                logging.getLogger("t").debug("m%d", i)
            assert c.force_flush(30)
            """
        ),
        serve.grpc_endpoint,
    )
    assert result.returncode == 0, result.stderr
    assert "HANDLERS 1" in result.stdout
    assert [r["body"] for r in read_jsonl(serve.app_file("twice"))] == [f"m{i}" for i in range(10)]


def test_logs_are_flushed_at_interpreter_exit(serve: ServeProcess) -> None:
    result = run_app(
        "import logging, sys, otel_logging; otel_logging.setup('at-exit', sys.argv[1]); "
        "[logging.getLogger('e').info('m %d', i) for i in range(500)]",
        serve.grpc_endpoint,
    )
    assert result.returncode == 0, result.stderr
    assert len(read_jsonl(serve.app_file("at-exit"))) == 500


def test_forked_workers_keep_logging(serve: ServeProcess) -> None:
    result = run_app(
        app(
            """
            import logging, os, sys, otel_logging
            otel_logging.setup("prefork", sys.argv[1])
            log = logging.getLogger("master")
            log.info("master before fork")
            children = []
            for worker in range(3):
                pid = os.fork()
                if pid == 0:
                    for i in range(200):
                        logging.getLogger("worker").info("w%d-%d", worker, i, extra={"worker": worker})
                    sys.exit(0)  # exit handlers flush, as in gunicorn workers
                children.append(pid)
            for pid in children:
                _, status = os.waitpid(pid, 0)
                assert status == 0, status
            log.info("master after fork")
            """
        ),
        serve.grpc_endpoint,
    )
    assert result.returncode == 0, result.stderr
    bodies = [r["body"] for r in read_jsonl(serve.app_file("prefork"))]
    assert len(bodies) == len(set(bodies)) == 602  # nothing lost, nothing duplicated by the fork
    assert {"master before fork", "master after fork"} <= set(bodies)
    pids = {r["resource"].get("process.pid") for r in read_jsonl(serve.app_file("prefork"))}
    assert len(pids) == 4 and None not in pids  # the master and its three children, each with its own pid


def test_receiver_down_means_no_recursion_and_an_explicit_count(tmp_path: Path) -> None:
    port = free_port()  # nothing listens here
    result = run_app(
        app(
            """
            import logging, sys, otel_logging
            logging.basicConfig(level=logging.DEBUG)  # the SDK's and grpc's own warnings go to the console
            h = otel_logging.setup("down", sys.argv[1], max_queue_size=100, export_timeout_ms=2000, timeout_s=1)
            for i in range(1000):
                logging.getLogger("app").info("m%d", i)
            h.shutdown()
            print("STATS", h.stats())
            """
        ),
        f"http://127.0.0.1:{port}",
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("otel-logging: dropping log records") == 1
    assert "log record(s) were dropped in this process" in result.stderr
    assert "exported=0" in result.stdout and "dropped=1000" in result.stdout


def test_seed_api_configure_centralized_logging(serve: ServeProcess) -> None:
    result = run_app(
        app(
            """
            import logging, sys
            from otel_logging.centralized_logging import configure_centralized_logging, get_centralized_logger
            configure_centralized_logging(app_name="my_app", host="127.0.0.1", port=int(sys.argv[1]))
            logger = get_centralized_logger(__name__)
            logger.info("User logged in", extra={"user_id": "12345", "ip": "192.168.1.1"})
            logger.error("Database connection failed", extra={"db": "users", "error_code": 500})
            logger.debug("below the default level")
            """
        ),
        str(serve.grpc_port),
    )
    assert result.returncode == 0, result.stderr
    records = read_jsonl(serve.app_file("my_app"))
    assert [(r["severity_text"], r["body"]) for r in records] == [
        ("INFO", "User logged in"),
        ("ERROR", "Database connection failed"),
    ]
    assert records[0]["attributes"] == {"user_id": "12345", "ip": "192.168.1.1"}
    assert records[1]["attributes"] == {"db": "users", "error_code": 500}


def _instrument_env(serve: ServeProcess, name: str) -> dict[str, str]:
    return child_env(
        OTEL_SERVICE_NAME=name,
        OTEL_LOGS_EXPORTER="otlp",
        OTEL_TRACES_EXPORTER="none",
        OTEL_METRICS_EXPORTER="none",
        OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED="true",
        OTEL_EXPORTER_OTLP_ENDPOINT=serve.grpc_endpoint,
        OTEL_EXPORTER_OTLP_INSECURE="true",
    )


def test_zero_code_opentelemetry_instrument(serve: ServeProcess, tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(
        "import logging\nlogging.basicConfig(level=logging.INFO)\n"
        "for i in range(1000):\n    logging.getLogger('plain.app').info('plain %d', i, extra={'seq': i})\n"
    )
    result = _run_instrumented(script, _instrument_env(serve, "zero-code"))
    assert result.returncode == 0, result.stderr
    records = [r for r in read_jsonl(serve.app_file("zero-code")) if r["logger"] == "plain.app"]
    assert sorted(r["attributes"]["seq"] for r in records) == list(range(1000))


def test_setup_inside_opentelemetry_instrument_adds_no_second_handler(serve: ServeProcess, tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(
        "import logging, otel_logging\nh = otel_logging.setup()\n"
        "for i in range(100):\n    logging.getLogger('both').warning('w %d', i)\nh.force_flush(30)\n"
    )
    result = _run_instrumented(script, _instrument_env(serve, "instrumented-setup"))
    assert result.returncode == 0, result.stderr
    bodies = [r["body"] for r in read_jsonl(serve.app_file("instrumented-setup")) if r["logger"] == "both"]
    assert sorted(bodies) == sorted(f"w {i}" for i in range(100))  # each exactly once


def _run_instrumented(script: Path, env: dict[str, str]):
    import subprocess
    import sys

    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    return subprocess.run(
        [str(instrument), sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120
    )


def test_records_arrive_without_an_explicit_flush(serve: ServeProcess) -> None:
    """The processor's timer sends a record while the app is still running (no flush, no exit)."""
    import subprocess
    import sys

    code = (
        "import logging, sys, otel_logging\n"
        "otel_logging.setup('no-flush', sys.argv[1], schedule_delay_ms=100)\n"
        "logging.getLogger('x').info('hello')\n"
        "sys.stdin.readline()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, serve.grpc_endpoint], stdin=subprocess.PIPE, env=child_env(), text=True
    )
    try:
        wait_for(lambda: read_jsonl(serve.app_file("no-flush")), timeout=15, what="record sent by the timer")
        assert proc.poll() is None  # the app had not exited: the record came without a flush
    finally:
        proc.communicate("\n", timeout=30)


def test_dict_config_after_setup_keeps_exporting_once(serve: ServeProcess) -> None:
    result = run_app(
        app(
            """
            import logging, logging.config, sys, otel_logging
            h = otel_logging.setup("dictconfig", sys.argv[1])
            logging.config.dictConfig({
                "version": 1,
                "handlers": {"console": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"}},
                "root": {"level": "INFO", "handlers": ["console"]},
            })
            logging.basicConfig(force=True, level=logging.INFO)
            for i in range(50):
                logging.getLogger("after").info("m%d", i)
            assert h.force_flush(30)
            """
        ),
        serve.grpc_endpoint,
    )
    assert result.returncode == 0, result.stderr
    assert [r["body"] for r in read_jsonl(serve.app_file("dictconfig"))] == [f"m{i}" for i in range(50)]


def test_records_from_the_logs_api_keep_their_scope(serve: ServeProcess) -> None:
    result = run_app(
        app(
            """
            import sys, otel_logging
            from opentelemetry._logs import get_logger_provider, LogRecord
            h = otel_logging.setup("api-app", sys.argv[1])
            logger = get_logger_provider().get_logger("lib.x", "2.1", attributes={"lib.kind": "db"})
            logger.emit(LogRecord(body="from the api", severity_text="INFO", attributes={"n": 1}))
            assert h.force_flush(30)
            """
        ),
        serve.grpc_endpoint,
    )
    assert result.returncode == 0, result.stderr
    (record,) = read_jsonl(serve.app_file("api-app"))
    assert record["logger"] == "lib.x" and record["body"] == "from the api"
    assert record["scope_version"] == "2.1" and record["scope_attributes"] == {"lib.kind": "db"}
    assert record["attributes"] == {"n": 1}
