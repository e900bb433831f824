"""Zero code, zero loss: unmodified apps under ``opentelemetry-instrument`` with otel-logging's distro.

``OTEL_PYTHON_DISTRO=otel_logging`` (docs/zero-code.md) makes ``opentelemetry-instrument`` run otel-logging's
pipeline for the logs (otel_logging/client/distro.py). The apps here never import otel_logging (except the
one that checks ``setup()`` inside such a process): a 1,000,000-record burst arrives whole, a service that is
down then up costs records that are counted and reported as with ``setup()``, and gunicorn workers forked
from an instrumented master send every request's record with its span's trace id.
"""

from __future__ import annotations

import re
import subprocess
import textwrap
import tomllib
from importlib.metadata import distribution, entry_points
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.integration.test_servers import Server, records_by_id, send_requests, servers, wait_listening
from tests.support.procs import (
    PYTHON,
    REPO,
    ServeProcess,
    child_env,
    count_lines,
    free_port,
    read_jsonl,
    start_serve,
    wait_for,
)

pytestmark = pytest.mark.integration
_ = servers  # a fixture, used by name

INSTRUMENT = str(Path(PYTHON).with_name("opentelemetry-instrument"))
DROP_REPORT = re.compile(r"otel-logging: (\d+) log record\(s\) were dropped in this process, (\d+) exported to")


def entry_points_path(tmp_path: Path) -> str | None:
    """A directory for PYTHONPATH holding this checkout's entry points, when the installed otel-logging lacks them.

    An editable install made before pyproject.toml declared them (a venv not reinstalled since) has no
    ``opentelemetry_distro`` entry point named otel_logging; the metadata written here declares this
    checkout's, under another distribution name, so the installed metadata is not shadowed.
    """
    if entry_points(group="opentelemetry_distro", name="otel_logging"):
        return None
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]
    info = tmp_path / "entry-points" / "otel_logging_zero_code_test-0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: otel-logging-zero-code-test\nVersion: 0\n")
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in names.items()) + "\n"
            for group, names in declared.items()
            if group.startswith("opentelemetry_")
        )
    )
    return str(info.parent)


def zero_code_env(tmp_path: Path, endpoint: str, service: str, **extra: str) -> dict[str, str]:
    """What docs/zero-code.md tells users to set: the distro, the service name, the endpoint."""
    env = child_env(
        OTEL_PYTHON_DISTRO="otel_logging",
        OTEL_SERVICE_NAME=service,
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_TRACES_EXPORTER="none",  # no trace or metrics backend in these tests
        OTEL_METRICS_EXPORTER="none",
        **extra,
    )
    shim = entry_points_path(tmp_path)
    if shim:
        env["PYTHONPATH"] = shim + ":" + env["PYTHONPATH"]
    return env


def script(tmp_path: Path, code: str) -> str:
    path = tmp_path / "app.py"
    path.write_text(textwrap.dedent(code))
    return str(path)


def assert_zero_code_resource(record: dict[str, Any], service: str) -> None:
    """Exported by the configurator's pipeline: the SDK's resource (auto version) plus the process id."""
    assert record["service"] == service
    assert "telemetry.auto.version" in record["resource"], record["resource"]
    assert isinstance(record["resource"]["process.pid"], int)


@pytest.mark.heavy
def test_one_million_record_burst_of_an_unmodified_script_loses_nothing(tmp_path: Path) -> None:
    serve = start_serve(tmp_path / "logs")
    app = script(
        tmp_path,
        """
        import logging, sys
        logging.getLogger().setLevel(logging.INFO)
        log = logging.getLogger("burst")
        for i in range(int(sys.argv[1])):
            log.info("user %s did %s", "alice", "checkout", extra={"seq": i})
        """,
    )
    try:
        result = subprocess.run(
            [INSTRUMENT, PYTHON, app, "1000000"],
            env=zero_code_env(tmp_path, serve.grpc_endpoint, "zero-code-burst"),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert "otel-logging:" not in result.stderr, result.stderr[-3000:]  # no loss and no failure to report
        seqs: set[int] = set()
        total = 0
        with open(serve.app_file("zero-code-burst"), "rb") as f:
            for line in f:
                record = orjson.loads(line)
                if total == 0:
                    assert_zero_code_resource(record, "zero-code-burst")
                seqs.add(record["attributes"]["seq"])
                total += 1
        print(f"ZERO-CODE BURST sent=1000000 arrived={total} unique={len(seqs)}")
        assert total == 1_000_000 and seqs == set(range(1_000_000))
    finally:
        serve.stop()


def test_service_down_then_up_the_loss_is_counted_and_reported(tmp_path: Path) -> None:
    port = free_port()  # nothing listens here yet
    log_dir = tmp_path / "logs"
    app = script(
        tmp_path,
        """
        import logging, sys
        logging.getLogger().setLevel(logging.INFO)
        log = logging.getLogger("app")
        for i in range(1000):
            log.info("while down %d", i, extra={"seq": i})
        print("LOGGED", flush=True)
        sys.stdin.readline()  # the test starts the service, then lets the app go on
        for i in range(1000, 2000):
            log.info("once up %d", i, extra={"seq": i})
        """,
    )
    env = zero_code_env(
        tmp_path,
        f"http://127.0.0.1:{port}",
        "zero-code-down",
        OTEL_BLRP_MAX_QUEUE_SIZE="100",
        OTEL_BLRP_SCHEDULE_DELAY="50",
        OTEL_EXPORTER_OTLP_TIMEOUT="1000",
        OTEL_BLRP_EXPORT_TIMEOUT="60000",  # the exit waits for what is queued once the service is up
    )
    stdout_path, stderr_path = tmp_path / "app.stdout", tmp_path / "app.stderr"
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        proc = subprocess.Popen([INSTRUMENT, PYTHON, app], env=env, stdin=subprocess.PIPE, stdout=out, stderr=err)
    serve: ServeProcess | None = None
    try:
        wait_for(lambda: "LOGGED" in stdout_path.read_text(), timeout=60, what="the app's records while down")
        wait_for(
            lambda: "otel-logging: dropping log records" in stderr_path.read_text(),
            timeout=30,
            what="the drop reported while the service is down",
        )
        serve = start_serve(log_dir, grpc_port=port, http_port=-1)
        path = serve.app_file("zero-code-down")
        wait_for(
            lambda: count_lines(path) > 0, timeout=90, what="the records kept in the queue, once the service is up"
        )
        assert proc.stdin is not None
        proc.stdin.write(b"\n")
        proc.stdin.close()
        assert proc.wait(120) == 0, stderr_path.read_text()[-3000:]
        stderr = stderr_path.read_text()
        assert stderr.count("otel-logging: dropping log records") == 1, stderr
        report = DROP_REPORT.search(stderr)
        assert report, stderr
        dropped, exported = int(report[1]), int(report[2])
        records = [r for r in (orjson.loads(line) for line in path.read_bytes().splitlines()) if r["logger"] == "app"]
        seqs = [r["attributes"]["seq"] for r in records]
        print(f"ZERO-CODE DOWN-UP sent=2000 dropped={dropped} exported={exported} arrived={len(seqs)}")
        assert len(seqs) == len(set(seqs)) == exported  # what the report says arrived, arrived once
        assert dropped > 0 and dropped + exported == 2000  # every record is either delivered or counted
        assert set(range(1000, 2000)) <= set(seqs)  # once the service is up nothing is lost
        assert_zero_code_resource(records[0], "zero-code-down")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if serve is not None:
            serve.stop()


def test_setup_inside_an_instrumented_process_adds_no_second_handler(serve: ServeProcess, tmp_path: Path) -> None:
    app = script(
        tmp_path,
        """
        import logging, otel_logging
        from otel_logging.client.handler import OtelLoggingHandler
        handle = otel_logging.setup("other-name", structlog=False)
        handle = otel_logging.setup()
        ours = [h for h in logging.getLogger().handlers if isinstance(h, OtelLoggingHandler)]
        print("HANDLERS", len(ours), handle.zero_code)
        for i in range(100):
            logging.getLogger("both").warning("w %d", i)
        """,
    )
    result = subprocess.run(
        [INSTRUMENT, PYTHON, app],
        env=zero_code_env(tmp_path, serve.grpc_endpoint, "zero-code-setup"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "HANDLERS 1 True" in result.stdout, result.stdout
    bodies = [r["body"] for r in map(orjson.loads, serve.app_file("zero-code-setup").read_bytes().splitlines())]
    assert sorted(bodies) == sorted(f"w {i}" for i in range(100))  # each exactly once, under the OTEL_* name


@pytest.mark.parametrize("selected", [True, False], ids=["OTEL_PYTHON_DISTRO=otel_logging", "no-variable"])
def test_with_the_stock_distro_listed_first_the_variable_decides(
    serve: ServeProcess, tmp_path: Path, selected: bool
) -> None:
    """Both distros installed, the stock one listed first (a copy of its metadata earlier on the path)."""
    stock = distribution("opentelemetry-distro")
    first = tmp_path / "listed-first" / f"opentelemetry_distro-{stock.version}.dist-info"
    first.mkdir(parents=True)
    for name in ("METADATA", "entry_points.txt"):
        (first / name).write_text(stock.read_text(name) or "")
    service = f"zero-code-order-{selected}"
    env = zero_code_env(tmp_path, serve.grpc_endpoint, service)
    env["PYTHONPATH"] = f"{first.parent}:{env['PYTHONPATH']}"
    if not selected:
        del env["OTEL_PYTHON_DISTRO"]
    app = script(
        tmp_path,
        """
        import logging
        logging.getLogger().setLevel(logging.INFO)
        for i in range(100):
            logging.getLogger("order").info("r %d", i)
        """,
    )
    result = subprocess.run([INSTRUMENT, PYTHON, app], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    records = [r for r in read_jsonl(serve.app_file(service)) if r["logger"] == "order"]
    assert sorted(r["body"] for r in records) == sorted(f"r {i}" for i in range(100))
    # process.pid: in the resource of otel-logging's pipeline only (the stock one has no process detector)
    assert all(("process.pid" in r["resource"]) is selected for r in records)
    if selected:  # the stock configurator, listed first, was skipped; opentelemetry-instrument says so
        assert "Configuration of configurator not loaded because otel_logging is set" in result.stderr


FLASK_APP = """
import logging, os
from flask import Flask
from opentelemetry import trace
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware

app = Flask(__name__)
app.wsgi_app = OpenTelemetryMiddleware(app.wsgi_app)  # what opentelemetry-instrumentation-flask does
log = logging.getLogger("app.flask")


@app.get("/work/<request_id>")
def work(request_id):
    context = trace.get_current_span().get_span_context()
    log.info("handled %s", request_id, extra={"request_id": request_id})
    trace_id, span_id = format(context.trace_id, "032x"), format(context.span_id, "016x")
    return {"trace_id": trace_id, "span_id": span_id, "pid": os.getpid()}
"""


def test_gunicorn_workers_under_opentelemetry_instrument_send_each_request_with_its_trace_id(
    serve: ServeProcess, servers: list[Server], tmp_path: Path
) -> None:
    pytest.importorskip("gunicorn")
    pytest.importorskip("flask")
    pytest.importorskip("opentelemetry.instrumentation.wsgi")
    (tmp_path / "zero_code_flask.py").write_text(FLASK_APP)
    service, port = "zero-code-gunicorn", free_port()
    env = zero_code_env(tmp_path, serve.grpc_endpoint, service)
    env["PYTHONPATH"] = str(tmp_path) + ":" + env["PYTHONPATH"]
    args = [
        INSTRUMENT, str(Path(PYTHON).with_name("gunicorn")), "-w", "3", "--bind", f"127.0.0.1:{port}",
        "--graceful-timeout", "5", "--no-control-socket", "zero_code_flask:app",
    ]  # fmt: skip
    # python <venv>/bin/opentelemetry-instrument <venv>/bin/gunicorn ...: the console scripts, as a shell runs them
    server = Server(args, env, tmp_path / "gunicorn.log")
    servers.append(server)
    wait_listening(server, port)
    sent = send_requests(f"http://127.0.0.1:{port}", [f"work/{service}-{i}" for i in range(90)])
    assert server.stop() == 0, server.output()  # SIGTERM: gunicorn's graceful stop

    arrived = records_by_id(serve, service, "request_id")  # each at most once
    assert sorted(arrived) == sorted(sent), f"lost: {sorted(set(sent) - set(arrived))[:10]}"
    for request_id, answer in sent.items():
        record = arrived[request_id]
        assert_zero_code_resource(record, service)
        assert answer["trace_id"] != "0" * 32
        assert (record.get("trace_id"), record.get("span_id")) == (answer["trace_id"], answer["span_id"])
        assert record["resource"]["process.pid"] == answer["pid"]
    worker_pids = {answer["pid"] for answer in sent.values()}
    assert server.proc.pid not in worker_pids and 1 <= len(worker_pids) <= 3
