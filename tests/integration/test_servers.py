"""The servers people run: gunicorn, uvicorn and Celery workers log through setup() to a real service.

Each test starts the real server as a user would (``python -m gunicorn|uvicorn|celery``) with a
small app from ``tests/integration/apps/``, sends requests or tasks, stops the server the normal
way (SIGTERM: a graceful/warm shutdown) and then counts: every request or task id arrives exactly
once, with the service, the pid of the worker that handled it (resource ``process.pid``) and the
trace/span ids of the span the official instrumentation created for the request or task.

The batch delay is 60 s (``OTEL_BLRP_SCHEDULE_DELAY``), so records reach the service only through
the flushes these tests are about: before a fork, at a worker's exit (recycled or stopped).
docs/servers.md names these tests for each guarantee.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.support.procs import REPO, ServeProcess, child_env, free_port, read_jsonl, wait_for

pytestmark = pytest.mark.integration

APPS = Path(__file__).resolve().parent / "apps"
QUIET_BATCHES = "60000"  # ms: no timed export during a test; only flushes send


class Server:
    """A server process started as a user would, stopped with SIGTERM (then SIGKILL) in the fixture."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._log_file = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, *args], cwd=REPO, env=env, stdout=self._log_file, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM (graceful for gunicorn and uvicorn, warm for Celery) and wait for the exit."""
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError(f"did not stop on SIGTERM within {timeout}s:\n{self.output()}") from None
        finally:
            self.close()

    def close(self) -> None:
        self._log_file.close()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:  # those a test did not stop (it failed first)
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(10)
        server.close()


def start(servers: list[Server], tmp_path: Path, name: str, args: list[str], env: dict[str, str]) -> Server:
    server = Server(args, env, tmp_path / f"{name}.log")
    servers.append(server)
    return server


def app_env(serve: ServeProcess, service: str, **extra: str) -> dict[str, str]:
    """The apps read service, endpoint and batching from the OTEL_* environment, as setup() does."""
    return child_env(
        OTEL_SERVICE_NAME=service,
        OTEL_EXPORTER_OTLP_ENDPOINT=serve.grpc_endpoint,
        OTEL_BLRP_SCHEDULE_DELAY=QUIET_BATCHES,
        **extra,
    )


def wait_listening(server: Server, port: int, timeout: float = 60) -> None:
    def accepts() -> bool:
        if server.proc.poll() is not None:
            raise AssertionError(f"the server exited ({server.proc.returncode}):\n{server.output()}")
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait_for(accepts, timeout, what=f"port {port} to accept connections")


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=60) as response:
        assert response.status == 200
        return json.loads(response.read())


def send_requests(base: str, paths: list[str], concurrency: int = 4) -> dict[str, dict[str, Any]]:
    """GET base/<path> for each path (the path's last part is its request id); id -> response."""
    with ThreadPoolExecutor(concurrency) as pool:
        answers = list(pool.map(lambda path: get_json(f"{base}/{path}"), paths))
    return {path.rsplit("/", 1)[1]: answer for path, answer in zip(paths, answers, strict=True)}


def records_by_id(serve: ServeProcess, service: str, key: str) -> dict[str, dict[str, Any]]:
    """The service's records that carry attribute ``key``; each id must have arrived exactly once."""
    records = [r for r in read_jsonl(serve.app_file(service)) if key in r.get("attributes", {})]
    counts = Counter(r["attributes"][key] for r in records)
    duplicated = {k: n for k, n in counts.items() if n > 1}
    assert not duplicated, f"records exported more than once: {duplicated}"
    return {r["attributes"][key]: r for r in records}


def assert_carries(record: dict[str, Any], service: str, expected: dict[str, Any]) -> None:
    """The record has the service, the worker's pid and the trace/span ids the handler saw."""
    assert record["service"] == service
    assert record["resource"]["process.pid"] == expected["pid"]
    assert record.get("trace_id") == expected["trace_id"]
    assert record.get("span_id") == expected["span_id"]


def assert_one_instance_per_process(records: Iterable[dict[str, Any]]) -> None:
    """Each worker process has its own ``service.instance.id`` (also when forked after setup())."""
    instances: dict[int, set[str]] = {}
    for record in records:
        instances.setdefault(record["resource"]["process.pid"], set()).add(record["resource"]["service.instance.id"])
    assert all(len(ids) == 1 for ids in instances.values()), instances
    assert len({next(iter(ids)) for ids in instances.values()}) == len(instances), instances


# -- gunicorn ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("setup_at", "preload"),
    [("import", False), ("import", True), ("post_fork", True)],
    ids=["setup-at-import", "setup-at-import-preload", "setup-in-post-fork-preload"],
)
def test_gunicorn_sync_workers_recycled_while_logging_lose_nothing(
    serve: ServeProcess, servers: list[Server], tmp_path: Path, setup_at: str, preload: bool
) -> None:
    pytest.importorskip("gunicorn")
    pytest.importorskip("flask")
    pytest.importorskip("opentelemetry.instrumentation.wsgi")
    service = f"gunicorn-{setup_at}-{'preload' if preload else 'lazy'}"
    port = free_port()
    args = [
        "-m", "gunicorn", "--config", str(APPS / "gunicorn_conf.py"), "--bind", f"127.0.0.1:{port}",
        "--workers", "3", "--max-requests", "20", "--max-requests-jitter", "5", "--no-control-socket",
        # SIGTERM can reach a worker that is still booting, before gunicorn installed its handlers
        # (its post_fork hook runs then): gunicorn ignores it there and kills the worker after the
        # graceful timeout. Such a worker has served nothing; a short timeout keeps the test short.
        "--graceful-timeout", "5",
        *(["--preload"] if preload else []), "tests.integration.apps.flask_app:app",
    ]  # fmt: skip
    gunicorn = start(servers, tmp_path, service, args, app_env(serve, service, SERVERS_SETUP_AT=setup_at))
    wait_listening(gunicorn, port)
    sent = send_requests(f"http://127.0.0.1:{port}", [f"work/{service}-{i}" for i in range(90)])
    assert gunicorn.stop() == 0, gunicorn.output()

    arrived = records_by_id(serve, service, "request_id")
    assert sorted(arrived) == sorted(sent), f"lost: {sorted(set(sent) - set(arrived))[:10]}"
    for request_id, answer in sent.items():
        assert answer["span_kind"] == "SERVER" and answer["span_name"].startswith("GET")
        assert_carries(arrived[request_id], service, answer)
    worker_pids = {answer["pid"] for answer in sent.values()}
    assert gunicorn.proc.pid not in worker_pids
    assert len(worker_pids) > 3, "workers were recycled (--max-requests): more than 3 pids served"
    assert_one_instance_per_process(arrived.values())


# -- uvicorn ----------------------------------------------------------------------------------
def run_uvicorn(
    serve: ServeProcess,
    servers: list[Server],
    tmp_path: Path,
    service: str,
    kinds: list[str],
    per_kind: int,
    **env: str,
) -> dict[str, dict[str, Any]]:
    """``uvicorn --workers 2`` serves ``per_kind`` requests on each endpoint kind; then SIGTERM."""
    port = free_port()
    args = [
        "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--log-level", "warning",
        "tests.integration.apps.fastapi_app:app",
    ]  # fmt: skip
    uvicorn = start(servers, tmp_path, service, args, app_env(serve, service, **env))
    wait_listening(uvicorn, port)
    paths = [f"{kind}/{kind}-{i}" for kind in kinds for i in range(per_kind)]
    sent = send_requests(f"http://127.0.0.1:{port}", paths)
    assert uvicorn.stop() == 0, uvicorn.output()
    assert uvicorn.proc.pid not in {answer["pid"] for answer in sent.values()}
    return sent


def test_uvicorn_workers_log_from_async_handlers_and_thread_pools_with_the_request_span(
    serve: ServeProcess, servers: list[Server], tmp_path: Path
) -> None:
    pytest.importorskip("uvicorn")
    pytest.importorskip("opentelemetry.instrumentation.fastapi")
    service = "uvicorn-fastapi"
    kinds = ["async", "sync", "to-thread", "executor", "executor-no-context"]
    sent = run_uvicorn(serve, servers, tmp_path, service, kinds, 30)

    arrived = records_by_id(serve, service, "request_id")
    assert sorted(arrived) == sorted(sent), f"lost: {sorted(set(sent) - set(arrived))[:10]}"
    for request_id, answer in sent.items():
        record = arrived[request_id]
        if request_id.startswith("executor-no-context"):
            # run_in_executor does not copy contextvars: the record arrives, without the request's
            # trace (docs/servers.md: copy the context, as the "executor" endpoint does).
            assert answer["trace_id"] == "0" * 32 and answer["request_span"]["span_kind"] == "SERVER"
            assert "trace_id" not in record and record["resource"]["process.pid"] == answer["pid"]
            continue
        assert answer["span_kind"] == "SERVER" and answer["span_name"].startswith("GET /")
        assert_carries(record, service, answer)
    assert 1 <= len({answer["pid"] for answer in sent.values()}) <= 2
    assert_one_instance_per_process(arrived.values())


# -- Celery -----------------------------------------------------------------------------------
def run_celery(
    serve: ServeProcess,
    servers: list[Server],
    tmp_path: Path,
    service: str,
    tasks: int,
    loglevel: str = "WARNING",
    **env: str,
) -> tuple[dict[str, dict[str, Any]], Server]:
    """A prefork worker (2 processes, recycled every 10 tasks) runs ``tasks`` tasks; then a warm shutdown."""
    environment = app_env(serve, service, SERVERS_CELERY_DIR=str(tmp_path / "celery"), **env)
    args = [
        "-m", "celery", "-A", "tests.integration.apps.celery_app", "worker", "--pool", "prefork",
        "--concurrency", "2", "--max-tasks-per-child", "10", "--loglevel", loglevel,
        "--without-heartbeat", "--without-mingle", "--without-gossip",
    ]  # fmt: skip
    worker = start(servers, tmp_path, service, args, environment)
    producer = subprocess.run(
        [sys.executable, "-m", "tests.integration.apps.celery_producer", service, str(tasks)],
        cwd=REPO, env=environment, capture_output=True, text=True, timeout=150,
    )  # fmt: skip
    assert producer.returncode == 0, producer.stderr + worker.output()
    results = [json.loads(line) for line in producer.stdout.splitlines()]
    assert worker.stop() == 0, worker.output()  # SIGTERM: warm shutdown
    return {result["task_id"]: result for result in results}, worker


@pytest.mark.parametrize(
    ("loglevel", "env"),
    [
        ("WARNING", {"SERVERS_SETUP_AT": "worker_process_init"}),
        ("INFO", {"SERVERS_SETUP_AT": "import", "SERVERS_CELERY_HIJACK": "0"}),
    ],
    ids=["setup-in-worker-process-init", "setup-at-import-no-hijack"],
)
def test_celery_prefork_task_logs_carry_the_task_trace_and_a_warm_shutdown_flushes(
    serve: ServeProcess, servers: list[Server], tmp_path: Path, loglevel: str, env: dict[str, str]
) -> None:
    pytest.importorskip("celery")
    pytest.importorskip("opentelemetry.instrumentation.celery")
    service = "celery-prefork"
    results, worker = run_celery(serve, servers, tmp_path, service, 60, loglevel, **env)

    arrived = records_by_id(serve, service, "task_id")
    assert sorted(arrived) == sorted(results), f"lost: {sorted(set(results) - set(arrived))[:10]}"
    for task_id, result in results.items():
        assert result["span_kind"] == "CONSUMER" and result["span_name"] == "run/servers.work"
        assert result["trace_id"] == result["producer_trace_id"]  # the task span continues the producer's trace
        assert_carries(arrived[task_id], service, result)
    worker_pids = {result["pid"] for result in results.values()}
    assert worker.proc.pid not in worker_pids
    assert len(worker_pids) > 2, "pool processes were recycled (--max-tasks-per-child): more than 2 pids"
    assert_one_instance_per_process(arrived.values())
    # Celery's task loggers (get_task_logger) do not propagate to the root logger: not sent.
    assert not records_by_id(serve, service, "task_logger_id")


# -- what loses records without the recipes of docs/servers.md --------------------------------
@pytest.mark.parametrize(
    "case",
    ["celery-setup-at-import", "celery-no-flush-at-process-shutdown", "uvicorn-no-flush-in-lifespan"],
)
def test_without_the_recipe_buffered_records_are_lost(
    serve: ServeProcess, servers: list[Server], tmp_path: Path, case: str
) -> None:
    """Each case sends records that arrive only through a flush at exit (60 s batch delay); none arrives."""
    if case.startswith("celery"):
        pytest.importorskip("opentelemetry.instrumentation.celery")
        env = (
            {"SERVERS_SETUP_AT": "import"}  # Celery then empties the root logger's handlers (hijack)
            if case == "celery-setup-at-import"
            else {"SERVERS_SETUP_AT": "worker_process_init", "SERVERS_FLUSH_AT_PROCESS_SHUTDOWN": "0"}
        )  # pool processes end with os._exit: no atexit flush
        results, _ = run_celery(serve, servers, tmp_path, case, 20, "INFO", **env)
        assert len(results) == 20
        assert records_by_id(serve, case, "task_id") == {}
    else:
        pytest.importorskip("opentelemetry.instrumentation.fastapi")
        sent = run_uvicorn(serve, servers, tmp_path, case, ["async"], 10, SERVERS_FLUSH_IN_LIFESPAN="0")
        assert len(sent) == 10
        assert records_by_id(serve, case, "request_id") == {}  # uvicorn re-raises SIGTERM: no atexit
