"""``otel-logging aggregate`` as a subprocess over generated directories, and the LogAggregator API."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.compat import older_api
from tests.support.procs import (
    PYTHON,
    REPO,
    ServeProcess,
    child_env,
    count_lines,
    free_port,
    read_jsonl,
    run_app,
    wait_for,
)

pytestmark = pytest.mark.integration

_BODY = re.compile(r"msg (\S+) (\d+)")


def stdlib_lines(tag: str, start: int, count: int, traceback_every: int = 0) -> str:
    out = []
    for i in range(start, start + count):
        level = "ERROR" if traceback_every and i % traceback_every == 0 else "INFO"
        out.append(
            f"2024-03-01 10:{i // 60 % 60:02d}:{i % 60:02d},{i % 1000:03d} - app.{tag} - {level} - msg {tag} {i}"
        )
        if level == "ERROR":
            out.append("Traceback (most recent call last):")
            out.append(f'  File "/srv/{tag}.py", line {i}, in handler')
            out.append(f"ValueError: failure {i}")
    return "".join(line + "\n" for line in out)


def seed_lines(tag: str, start: int, count: int, traceback_every: int = 0) -> str:
    """Seed-format lines naming their app, ``seed-app`` (not the ``--app`` of ``base_args``)."""
    out = []
    for i in range(start, start + count):
        level = "ERROR" if traceback_every and i % traceback_every == 0 else "INFO"
        stamp = f"2024-03-01T10:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z"
        out.append(f"{stamp} - seed-app - app.{tag} - {level} - msg {tag} {i}")
        if level == "ERROR":
            out.append("Traceback (most recent call last):")
            out.append(f'  File "/srv/{tag}.py", line {i}, in handler')
            out.append(f"ValueError: failure {i}")
    return "".join(line + "\n" for line in out)


def json_lines(tag: str, start: int, count: int, traceback_every: int = 0) -> str:
    """python-json-logger lines (``traceback_every``: some with an ``exc_info``, which the Python path reads)."""
    out = []
    for i in range(start, start + count):
        record = {
            "asctime": f"2024-03-01 10:{i // 60 % 60:02d}:{i % 60:02d},{i % 1000:03d}",
            "levelname": "INFO",
            "name": f"app.{tag}",
            "message": f"msg {tag} {i}",
            "n": i,
        }
        if traceback_every and i % traceback_every == 0:
            record["exc_info"] = f"Traceback (most recent call last):\nValueError: failure {i}"
        out.append(json.dumps(record))
    return "".join(line + "\n" for line in out)


def aggregate(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "otel_logging", "aggregate", *args],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


def summary_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return json.loads(result.stdout.strip().splitlines()[-1])


def bodies(path: Path) -> Counter[tuple[str, int]]:
    found: Counter[tuple[str, int]] = Counter()
    for record in read_jsonl(path):
        match = _BODY.fullmatch(str(record["body"]))
        if match:
            found[(match.group(1), int(match.group(2)))] += 1
    return found


def expected(tag: str, start: int, count: int) -> Counter[tuple[str, int]]:
    return Counter({(tag, i): 1 for i in range(start, start + count)})


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    d = {"src": tmp_path / "src", "out": tmp_path / "out", "ck": tmp_path / "state" / "ck.json"}
    d["src"].mkdir()
    return d


def base_args(d: dict[str, Path]) -> list[str]:
    return ["--app", "legacy", "--log-dir", str(d["out"]), "--checkpoint", str(d["ck"]), "--json"]


def test_directory_counts_and_a_second_run_sends_nothing_twice(dirs: dict[str, Path]) -> None:
    src = dirs["src"]
    (src / "web.log").write_text(stdlib_lines("web", 0, 500, traceback_every=50))
    (src / "nested").mkdir()
    (src / "nested" / "db.log").write_text(stdlib_lines("db", 0, 300))
    with gzip.open(src / "nested" / "old.log.gz", "wt") as f:
        f.write(stdlib_lines("old", 0, 200))
    json_lines = [
        {"event": f"msg js {i}", "level": "info", "timestamp": f"2024-03-01T10:00:{i % 60:02d}Z"} for i in range(100)
    ]
    (src / "structlog.json").write_text("".join(json.dumps(x) + "\n" for x in json_lines))
    (src / "notes.txt").write_text("ignored by the glob\n")
    args = [str(src), "--recursive", "--glob", "*.*[gn]*", *base_args(dirs)]

    first = aggregate(*args)
    assert first.returncode == 0, first.stderr
    summary = summary_of(first)
    assert summary["ok"] and summary["files"] == 4 and summary["records"] == 1100
    assert summary["unparsed"] == 0
    out_file = dirs["out"] / "legacy.jsonl"
    got = bodies(out_file)
    assert got == expected("web", 0, 500) + expected("db", 0, 300) + expected("old", 0, 200) + expected("js", 0, 100)
    tracebacks = [r for r in read_jsonl(out_file) if "exception.stacktrace" in r["attributes"]]
    assert len(tracebacks) == 10 and all(r["attributes"]["exception.type"] == "ValueError" for r in tracebacks)

    second = aggregate(*args)
    assert second.returncode == 0, second.stderr
    assert summary_of(second)["records"] == 0
    assert count_lines(out_file) == 1100

    with open(src / "web.log", "a") as f:
        f.write(stdlib_lines("web", 500, 25))
    third = aggregate(*args)
    assert summary_of(third)["records"] == 25
    assert bodies(out_file) == got + expected("web", 500, 25)


def test_rotation_and_truncation_between_runs(dirs: dict[str, Path]) -> None:
    src = dirs["src"]
    live = src / "app.log"
    live.write_text(stdlib_lines("a", 0, 100))
    args = [str(src), *base_args(dirs)]
    assert summary_of(aggregate(*args))["records"] == 100

    with open(live, "a") as f:  # more lines, then logrotate-style rename and a fresh file
        f.write(stdlib_lines("a", 100, 40))
    live.rename(src / "app.log.1")
    live.write_text(stdlib_lines("b", 0, 30))
    second = summary_of(aggregate(*args))
    assert second["records"] == 70, second
    out_file = dirs["out"] / "legacy.jsonl"
    assert bodies(out_file) == expected("a", 0, 140) + expected("b", 0, 30)

    live.write_text(stdlib_lines("c", 0, 5))  # truncated and rewritten, shorter than before
    third = summary_of(aggregate(*args))
    assert third["records"] == 5
    assert bodies(out_file) == expected("a", 0, 140) + expected("b", 0, 30) + expected("c", 0, 5)


def test_per_file_errors_are_reported_and_the_rest_is_shipped(dirs: dict[str, Path]) -> None:
    src = dirs["src"]
    (src / "good.log").write_text(stdlib_lines("g", 0, 10))
    os.mkfifo(src / "pipe.log")
    (src / "image.log").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    damaged = gzip.compress(stdlib_lines("z", 0, 50).encode())
    (src / "cut.log.gz").write_bytes(damaged[: len(damaged) // 2])  # a .gz cut short (a copy that stopped)
    result = aggregate(str(src), str(src / "missing.log"), *base_args(dirs), timeout=60)
    assert result.returncode == 1, result.stderr
    summary = summary_of(result)
    assert summary["records"] == 10 and not summary["ok"]
    errors = {Path(e["path"]).name: e["error"] for e in summary["errors"]}
    assert "regular file" in errors["pipe.log"]
    assert "binary" in errors["image.log"]
    assert "no such file" in errors["missing.log"]
    assert "end-of-stream" in errors["cut.log.gz"]
    assert "pipe.log" in result.stderr and "image.log" in result.stderr
    assert bodies(dirs["out"] / "legacy.jsonl") == expected("g", 0, 10)


def test_permission_denied_is_reported(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "ok.log").write_text(stdlib_lines("ok", 0, 3))
    secret = src / "secret.log"
    secret.write_text(stdlib_lines("s", 0, 3))
    secret.chmod(0o000)
    # root reads any file; without the capabilities that let it bypass permissions it is refused like anyone
    prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    out = tmp_path / "out"
    args = [str(src), "--app", "p", "--log-dir", str(out), "--checkpoint", str(out / "ck.json"), "--json"]
    result = subprocess.run(
        [*prefix, PYTHON, "-m", "otel_logging", "aggregate", *args],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 1, result.stderr
    summary = summary_of(result)
    assert summary["records"] == 3
    assert [Path(e["path"]).name for e in summary["errors"]] == ["secret.log"]
    assert "permission denied" in summary["errors"][0]["error"]


@older_api
def test_vanishing_file_is_reported(tmp_path: Path) -> None:
    from otel_logging.compat.aggregation import LogAggregator

    gone = tmp_path / "gone.log"
    gone.write_text(stdlib_lines("x", 0, 1))
    aggregator = LogAggregator("v", files_dir=tmp_path / "out", checkpoint=tmp_path / "ck.json")
    gone.unlink()  # removed between being listed and being opened
    report = aggregator.aggregate_log_file(gone)
    assert report.status == "error" and "vanished" in report.error


@pytest.mark.parametrize(
    ("lines", "app"),
    [(stdlib_lines, "legacy"), (json_lines, "legacy"), (seed_lines, "seed-app")],
    ids=["stdlib", "jsonl", "seed"],
)
def test_kill_9_mid_file_then_resume_has_no_gaps_and_no_duplicates(
    dirs: dict[str, Path], lines: Callable[[str, int, int, int], str], app: str
) -> None:
    src = dirs["src"]
    # Large enough that the kill lands mid-file even on a loaded machine: the kill comes once a tenth is shipped,
    # and the other nine tenths take seconds to aggregate. (The formats go through their native readers when
    # installed, and the batches are written by the engine's Shipper thread while the next chunk is read; seed
    # lines name their app, whose per-app file they go to.)
    total = 600_000
    with open(src / "big.log", "w") as f:
        for start in range(0, total, 10_000):
            f.write(lines("big", start, 10_000, 997))
    out_file = dirs["out"] / f"{app}.jsonl"
    command = [PYTHON, "-m", "otel_logging", "aggregate", str(src), *base_args(dirs)]
    proc = subprocess.Popen(command, env=child_env(), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: count_lines(out_file) > total // 10, timeout=120, what="a tenth of the file shipped")
    finally:
        proc.kill()
        proc.wait(30)
    shipped_before = count_lines(out_file)
    assert 0 < shipped_before < total, "killed too late to test a resume"
    result = aggregate(str(src), *base_args(dirs))
    assert result.returncode == 0, result.stderr
    got = bodies(out_file)
    duplicates = sum(got.values()) - total
    print(f"AGGREGATE_KILL9 total={total} shipped_before_kill={shipped_before} duplicates={duplicates}")
    # No gap, and no duplicate: a kill between the file append and the checkpoint commit is
    # settled on restart from the intent the checkpoint journal recorded before the append.
    assert got == expected("big", 0, total)


def test_follow_picks_up_appends_new_files_rotation_and_truncation(dirs: dict[str, Path]) -> None:
    src = dirs["src"]
    live = src / "app.log"
    live.write_text(stdlib_lines("f", 0, 10))
    out_file = dirs["out"] / "legacy.jsonl"
    command = [PYTHON, "-m", "otel_logging", "aggregate", str(src), "--follow", "--poll-interval", "0.05"]
    command += ["--multiline-timeout", "0.5"]  # the traceback pieces below arrive well within it
    proc = subprocess.Popen(
        [*command, *base_args(dirs)],
        env=child_env(),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["event"] == "following"

        def have(counter: Counter[tuple[str, int]]) -> bool:
            return bodies(out_file) == counter

        want = expected("f", 0, 10)
        wait_for(lambda: have(want), timeout=30, what="the initial lines")
        with open(live, "a") as f:  # appended lines
            f.write(stdlib_lines("f", 10, 5))
        want += expected("f", 10, 5)
        wait_for(lambda: have(want), timeout=30, what="appended lines")

        (src / "new.log").write_text(stdlib_lines("n", 0, 7))  # a new file
        want += expected("n", 0, 7)
        wait_for(lambda: have(want), timeout=30, what="the new file")

        with open(live, "a") as f:  # written just before rotation: must be read from the renamed file
            f.write(stdlib_lines("f", 15, 3))
        live.rename(src / "app.log.1")
        live.write_text(stdlib_lines("r", 0, 4))
        want += expected("f", 15, 3) + expected("r", 0, 4)
        wait_for(lambda: have(want), timeout=30, what="lines around the rotation")

        with open(src / "new.log", "w") as f:  # copytruncate style: truncated, then written again
            f.write(stdlib_lines("t", 0, 2))
        want += expected("t", 0, 2)
        wait_for(lambda: have(want), timeout=30, what="lines after truncation")

        with open(live, "a") as f:  # a traceback arriving in pieces stays one record
            f.write(stdlib_lines("r", 4, 1, traceback_every=1)[:-20])
            f.flush()
            size = live.stat().st_size
            wait_for(lambda: read_position(proc.pid, live) == size, timeout=30, what="the first piece read")
            f.write(stdlib_lines("r", 4, 1, traceback_every=1)[-20:])
        want += expected("r", 4, 1)
        wait_for(lambda: have(want), timeout=30, what="the traceback record")
        last = read_jsonl(out_file)[-1]
        assert last["attributes"]["exception.message"] == "failure 4"
    finally:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["records"] == sum(want.values())


def read_position(pid: int, path: Path) -> int:
    """Where process ``pid`` is reading ``path`` (from /proc), or -1 if it has no such file open."""
    target = os.stat(path)
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            st = os.stat(f"/proc/{pid}/fd/{fd}")
            if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
                with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                    return int(info.readline().split()[1])
        except OSError:
            continue
    return -1


def test_aggregated_records_have_the_shape_the_receiver_writes(tmp_path: Path, serve: ServeProcess) -> None:
    result = run_app(
        textwrap.dedent(
            """
            import logging, sys
            import otel_logging
            handle = otel_logging.setup("shape", sys.argv[1])
            logging.getLogger("shape.logger").warning("from the receiver", extra={"n": 1})
            assert handle.force_flush(30)
            """
        ),
        serve.grpc_endpoint,
    )
    assert result.returncode == 0, result.stderr
    (received,) = wait_for(lambda: read_jsonl(serve.app_file("shape")), timeout=30, what="the receiver's record")
    src = tmp_path / "old.log"
    src.write_text("2024-03-01 10:00:00,123 - shape.logger - WARNING - from a file\n")
    out = aggregate(str(src), "--app", "shape", "--log-dir", str(tmp_path / "agg"), "--checkpoint", str(tmp_path / "c"))
    assert out.returncode == 0, out.stderr
    (aggregated,) = read_jsonl(tmp_path / "agg" / "shape.jsonl")
    assert list(aggregated) == list(received)
    for key, value in received.items():
        assert type(aggregated[key]) is type(value), key
    for key in ("severity_text", "severity_number", "logger", "service"):
        assert aggregated[key] == received[key]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", aggregated["@timestamp"])
    assert aggregated["resource"]["service.name"] == received["resource"]["service.name"]


def test_a_2gb_sparse_file_is_streamed_in_bounded_memory(dirs: dict[str, Path]) -> None:
    huge = dirs["src"] / "huge.log"
    with open(huge, "wb") as f:
        f.write(stdlib_lines("head", 0, 20_000).encode())
        f.seek(2 << 30, os.SEEK_CUR)  # a 2 GiB hole: zero bytes that take no disk space
        f.write(stdlib_lines("tail", 0, 1_000).encode())
    assert huge.stat().st_size > 2 << 30
    # peak resident set of the command itself (VmHWM is per address space: the forking pytest is not counted)
    code = (
        "import sys; from otel_logging.cli import main; rc = main(sys.argv[1:]);"
        "print(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')), file=sys.stderr); sys.exit(rc)"
    )
    result = subprocess.run(
        [PYTHON, "-c", code, "aggregate", str(huge), *base_args(dirs)],
        env=child_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    summary = summary_of(result)
    assert summary["records"] == 21_000 and summary["bytes"] == huge.stat().st_size
    assert bodies(dirs["out"] / "legacy.jsonl") == expected("head", 0, 20_000) + expected("tail", 0, 1_000)
    peak_mb = int(result.stderr.split("VmHWM:")[1].split()[0]) / 1024
    assert peak_mb < 250, f"peak RSS {peak_mb:.0f} MB for a 2 GiB file"


@pytest.fixture
def logstash_peer(tmp_path: Path) -> Any:
    out = tmp_path / "logstash-received.jsonl"
    command = [PYTHON, "-m", "tests.support.jsonl_peer", "--port", "0", "--out", str(out)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=REPO, env=child_env())
    assert proc.stdout is not None
    port = json.loads(proc.stdout.readline())["port"]
    yield port, out
    proc.kill()
    proc.wait(10)


@older_api
def test_logstash_destination_from_the_cli_and_the_seed_handler(dirs: dict[str, Path], logstash_peer: Any) -> None:
    port, received = logstash_peer
    src = dirs["src"]
    (src / "a.log").write_text(stdlib_lines("ls", 0, 5_000, traceback_every=100))
    result = aggregate(str(src), "--logstash", f"127.0.0.1:{port}", *base_args(dirs))
    assert result.returncode == 0, result.stderr
    assert summary_of(result)["records"] == 5_000
    assert bodies(received) == expected("ls", 0, 5_000)  # confirmed before the command returned
    assert bodies(dirs["out"] / "legacy.jsonl") == expected("ls", 0, 5_000)

    from otel_logging.compat.aggregation import LogAggregator, LogstashHandler

    (src / "b.log").write_text(stdlib_lines("api", 0, 30_000))
    aggregator = LogAggregator("legacy", checkpoint=dirs["ck"])
    aggregator.add_handler(LogstashHandler("127.0.0.1", port, service_name="legacy", max_buffer=1_000))
    report = aggregator.aggregate_log_file(src / "b.log")
    aggregator.close()
    assert report.status == "ok" and report.records == 30_000
    assert bodies(received) == expected("ls", 0, 5_000) + expected("api", 0, 30_000)


def docs_python_blocks(page: str, section: str) -> list[str]:
    text = (REPO / "docs" / page).read_text()
    start = text.index(f"## {section}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start : end if end > 0 else None], re.DOTALL)


def test_migrating_guide_aggregation_examples_run_as_written(tmp_path: Path) -> None:
    old = tmp_path / "old-logs"
    old.mkdir()
    with gzip.open(old / "billing.log.1.gz", "wt") as f:
        f.write(stdlib_lines("gz", 0, 40, traceback_every=10))
    (old / "billing.log").write_text(stdlib_lines("live", 0, 25))
    blocks = docs_python_blocks("migrating.md", "Log aggregation")
    assert len(blocks) == 2
    env = child_env(OTEL_LOGGING_STATE_DIR=str(tmp_path / "state"))

    def run(code: str) -> str:
        result = subprocess.run(
            [PYTHON, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert run(blocks[0]).split() == ["40", "25", "0"]
    assert bodies(tmp_path / "logs" / "billing.jsonl") == expected("gz", 0, 40) + expected("live", 0, 25)
    assert bodies(tmp_path / "aggregated.jsonl") == expected("gz", 0, 40) + expected("live", 0, 25)
    assert run(blocks[0]).split() == ["0", "0", "0"]  # resumable: nothing is sent twice

    with open(old / "billing.log", "a") as f:
        f.write(stdlib_lines("live", 25, 5))
    assert run(blocks[1]).split() == ["5"]  # the app's checkpoint is shared: only the new lines
    assert bodies(tmp_path / "billing-all.jsonl") == expected("live", 25, 5)


@older_api
def test_configure_log_aggregation_follows_in_the_background_until_stopped(tmp_path: Path) -> None:
    from otel_logging.compat.aggregation import configure_log_aggregation

    src = tmp_path / "app-logs"
    src.mkdir()
    (src / "app.log").write_text(stdlib_lines("bg", 0, 3))
    output = tmp_path / "all.jsonl"
    stop = configure_log_aggregation(
        "bg", src, output_file=output, checkpoint=tmp_path / "ck.json", poll_interval_s=0.05, multiline_timeout_s=0.1
    )
    with stop:
        wait_for(lambda: bodies(output) == expected("bg", 0, 3), timeout=30, what="the existing lines")
        with open(src / "app.log", "a") as f:
            f.write(stdlib_lines("bg", 3, 4))
        (src / "second.log").write_text(stdlib_lines("two", 0, 2))
        wait_for(
            lambda: bodies(output) == expected("bg", 0, 7) + expected("two", 0, 2), timeout=30, what="the new lines"
        )
        assert stop.thread is not None and stop.thread.is_alive()
    assert stop.thread is not None and not stop.thread.is_alive()
    assert stop.summary is not None and stop.summary.records == 9


def test_progress_bar_on_a_terminal(dirs: dict[str, Path]) -> None:
    import pty

    src = dirs["src"]
    (src / "one.log").write_text(stdlib_lines("p", 0, 2_000))
    (src / "two.log").write_text(stdlib_lines("q", 0, 1_000))
    master, slave = pty.openpty()
    command = [PYTHON, "-m", "otel_logging", "aggregate", str(src), "--app", "legacy", "--log-dir", str(dirs["out"])]
    proc = subprocess.Popen(
        [*command, "--checkpoint", str(dirs["ck"])], env=child_env(), cwd=REPO, stdout=subprocess.PIPE, stderr=slave
    )
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the terminal's other side is closed
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.wait(60) == 0
    text = seen.decode()
    last = text.rstrip().split("\r")[-1]
    assert "files 2/2" in last and "3,000 records" in last and "/s" in last and "ETA 0:00:00" in last, text
    assert "[####################]" in last


@older_api
def test_elasticsearch_destination_on_a_real_node(dirs: dict[str, Path], es_node: Any) -> None:
    from otel_logging.compat.aggregation import ElasticsearchHandler, LogAggregator

    prefix = f"agg{os.getpid()}{time.monotonic_ns() % 10**9}"
    src = dirs["src"]
    (src / "a.log").write_text(stdlib_lines("es", 0, 2_000, traceback_every=100))
    args = [str(src), "--es-url", es_node.url, "--es-index", prefix, *base_args(dirs)]
    first = aggregate(*args)
    assert first.returncode == 0, first.stderr
    assert summary_of(first)["records"] == 2_000
    client = es_node.client()
    client.indices.refresh(index=f"{prefix}-*")
    assert client.count(index=f"{prefix}-*")["count"] == 2_000
    hit = client.search(index=f"{prefix}-*", query={"match_phrase": {"body": "msg es 100"}})["hits"]["hits"][0]
    document = hit["_source"]
    assert document["severity_text"] == "ERROR" and document["service"] == "legacy"
    assert document["attributes"]["exception.message"] == "failure 100"
    assert document["@timestamp"] == "2024-03-01T10:01:40.100000000Z"

    second = aggregate(*args)  # resumable: nothing is sent twice
    assert summary_of(second)["records"] == 0
    client.indices.refresh(index=f"{prefix}-*")
    assert client.count(index=f"{prefix}-*")["count"] == 2_000

    (src / "b.log").write_text(stdlib_lines("seed", 0, 300))  # the seed API with the seed's handler
    aggregator = LogAggregator("legacy", checkpoint=dirs["ck"])
    aggregator.add_handler(ElasticsearchHandler(client, index_name=prefix))
    report = aggregator.aggregate_log_file(src / "b.log")
    aggregator.close()
    assert report.status == "ok" and report.records == 300
    client = es_node.client()
    client.indices.refresh(index=f"{prefix}-*")
    assert client.count(index=f"{prefix}-*")["count"] == 2_300


@older_api
def test_configure_log_aggregation_ships_to_elasticsearch_and_logstash(
    tmp_path: Path, es_node: Any, logstash_peer: Any
) -> None:
    from otel_logging.compat.aggregation import configure_log_aggregation

    port, received = logstash_peer
    host, es_port = es_node.url.removeprefix("http://").rsplit(":", 1)
    prefix = f"cfg{os.getpid()}{time.monotonic_ns() % 10**9}"
    src = tmp_path / "app-logs"
    src.mkdir()
    (src / "app.log").write_text(stdlib_lines("cfg", 0, 50))
    client = es_node.client()

    def es_count() -> int:
        client.indices.refresh(index=f"{prefix}-*", ignore_unavailable=True, allow_no_indices=True)
        return client.count(index=f"{prefix}-*", ignore_unavailable=True, allow_no_indices=True)["count"]

    stop = configure_log_aggregation(
        "cfgapp",
        str(src),
        es_host=host,
        es_port=int(es_port),
        es_index=prefix,
        logstash_host="127.0.0.1",
        logstash_port=port,
        output_file=str(tmp_path / "all.jsonl"),
        checkpoint=tmp_path / "ck.json",
        poll_interval_s=0.05,
        multiline_timeout_s=0.1,
    )
    with stop:
        with open(src / "app.log", "a") as f:
            f.write(stdlib_lines("cfg", 50, 10))
        wait_for(lambda: bodies(received) == expected("cfg", 0, 60), timeout=60, what="records at Logstash")
        wait_for(lambda: es_count() == 60, timeout=60, what="records in Elasticsearch")
    assert bodies(tmp_path / "all.jsonl") == expected("cfg", 0, 60)


def test_a_refusing_destination_gives_exit_3_and_the_next_run_sends_everything(
    dirs: dict[str, Path], tmp_path: Path
) -> None:
    src = dirs["src"]
    (src / "a.log").write_text(stdlib_lines("down", 0, 500))
    port = free_port()  # nothing listens here yet
    down = aggregate(str(src), "--logstash", f"127.0.0.1:{port}", "--retry-for", "1", *base_args(dirs))
    assert down.returncode == 3, down.stderr
    summary = summary_of(down)
    assert not summary["ok"] and f"127.0.0.1:{port}" in summary["delivery_error"]
    assert summary["records"] == 0 and summary["files"] == 1
    assert "run again" in down.stderr

    received = tmp_path / "received.jsonl"
    command = [PYTHON, "-m", "tests.support.jsonl_peer", "--port", str(port), "--out", str(received)]
    peer = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=REPO, env=child_env())
    try:
        assert peer.stdout is not None and json.loads(peer.stdout.readline())["port"] == port
        up = aggregate(str(src), "--logstash", f"127.0.0.1:{port}", *base_args(dirs))
        assert up.returncode == 0, up.stderr
    finally:
        peer.kill()
        peer.wait(10)
    assert bodies(received) == expected("down", 0, 500)  # nothing was committed while it was down
    assert bodies(dirs["out"] / "legacy.jsonl") == expected("down", 0, 500)  # and the files got each line once
