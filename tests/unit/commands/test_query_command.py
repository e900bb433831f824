"""``otel-logging query``: the newest matches oldest first, as text or JSON lines, their count, mistakes named
before anything is read, a store of its own read incrementally, and ``--follow`` printing each arrival once
(a late record with an older time included). Real subprocesses of the command over real per-app files."""

from __future__ import annotations

import signal
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from otel_logging.dashboard.filters import LogFilter
from otel_logging.dashboard.sources.files import FileSource
from tests.support.generated_logs import make_record
from tests.support.procs import PYTHON, REPO, child_env, wait_for

BASE = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def append(path: Path, *records: dict[str, object]) -> None:
    with open(path, "ab") as f:
        f.write(b"".join(orjson.dumps(r) + b"\n" for r in records))


def api(i: int) -> dict[str, object]:
    return dict(make_record("api", BASE + timedelta(seconds=i), body=f"request {i}"))


def query(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "otel_logging", "query", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


@pytest.fixture()
def log_dir(tmp_path: Path) -> Path:
    append(tmp_path / "api.jsonl", *(api(i) for i in range(50)))
    error = make_record(
        "web",
        BASE + timedelta(seconds=25, milliseconds=5),
        level=("ERROR", 17),
        body="payment failed",
        logger="web.pay",
        attributes={"order_id": 7, "exception.type": "ValueError", "exception.message": "bad card"},
    )
    append(tmp_path / "web.jsonl", error)
    return tmp_path


def test_the_newest_matches_are_printed_oldest_first_as_text_and_json(log_dir: Path) -> None:
    done = query("--log-dir", str(log_dir), "-n", "3", "service:api")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"2026-12-01T12:00:{s}.000 INFO  api app.main: request {s}" for s in (47, 48, 49)
    ]
    done = query("--log-dir", str(log_dir), "--tz", "Europe/Paris", "level:error")
    assert done.stdout.splitlines() == [
        '2026-12-01T13:00:25.005 ERROR web web.pay: payment failed {"order_id":7}',
        "    ValueError: bad card",
    ]
    done = query("--log-dir", str(log_dir), "--json", "-n", "0", "request")
    records = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert [r["body"] for r in records] == [f"request {i}" for i in range(50)]  # every one (-n 0), in time order
    assert records[0]["resource"] == {"service.name": "api", "host.name": "test-host"}  # the whole record
    done = query("--log-dir", str(log_dir), "--count", "--from", "2026-12-01T12:00:10", "--to", "2026-12-01T12:00:20")
    assert done.stdout == "10\n"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["level:error AND ("], "'(' needs a search term after it (column 18)\n  level:error AND (\n"),
        (["--tz", "Mars/Olympus"], "--tz: unknown time zone 'Mars/Olympus'"),
        (["--since", "5 fortnights"], "--since: '5 fortnights' is not a duration"),
        (["--since", "1h", "--from", "2026-12-01T12:00"], "--since cannot be combined with --from or --to"),
        (["--from", "yesterday"], "--from/--to: 'yesterday' is not a date and time"),
        (["--from", "2026-12-01T13:00", "--to", "2026-12-01T12:00"], "is not before --to"),
        (["-n", "-1"], "--limit -1: give 0 (every record) or more"),
        (["--count", "--json"], "--count prints a number"),
        (["--every", "0", "-f"], "--every must be more than 0"),
    ],
)
def test_a_mistake_is_named_before_anything_is_read(log_dir: Path, args: list[str], said: str) -> None:
    done = query("--log-dir", str(log_dir), *args)
    assert done.returncode == 2
    assert said in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""
    assert not (log_dir / ".otel-logging").exists()  # no store was built for a command that cannot run


def test_a_missing_log_dir_is_named(tmp_path: Path) -> None:
    done = query("--log-dir", str(tmp_path / "nope"))
    assert done.returncode == 1
    assert "is not a directory" in done.stderr and "Traceback" not in done.stderr


def test_a_second_run_reads_only_what_the_files_gained(log_dir: Path) -> None:
    assert query("--log-dir", str(log_dir), "--count").stdout == "51\n"
    store = log_dir / ".otel-logging" / "query" / "store.duckdb"
    assert store.exists()
    append(log_dir / "api.jsonl", api(50), api(51))
    assert query("--log-dir", str(log_dir), "--count").stdout == "53\n"
    source = FileSource(log_dir, store=store, min_refresh_interval_s=0)  # the command's store, reopened
    try:
        assert source.status().records == 53
        source.refresh(force=True)
        assert source.status().bytes_read_last == 0  # the command had read everything already
    finally:
        source.close()
    # While another process holds that store, the command says so instead of waiting or failing obscurely.
    holder = FileSource(log_dir, store=store, min_refresh_interval_s=0)
    try:
        done = query("--log-dir", str(log_dir), "--count")
        assert done.returncode == 1 and "another process has it open" in done.stderr
        assert query("--log-dir", str(log_dir), "--count", "--no-store").stdout == "53\n"
    finally:
        holder.close()


def test_the_arrived_filter_bypasses_the_rollup(log_dir: Path) -> None:
    """``after`` (what --follow reads) counts rows by arrival; the per-minute roll-up cannot tell arrivals apart."""
    source = FileSource(log_dir, store=log_dir / "s.duckdb", min_refresh_interval_s=0)
    try:
        source.refresh(force=True)
        token = source.snapshot()
        append(log_dir / "api.jsonl", api(3), api(100))  # one lands in a minute that already has rows
        source.refresh(force=True)
        for flt in (LogFilter(after=token), LogFilter(query="service:api", after=token)):
            assert source.count(flt) == 2
            assert [h.record["body"] for h in source.page(flt).hits] == ["request 100", "request 3"]
        assert source.newer_than(LogFilter(query="service:api"), token) == 2
    finally:
        source.close()


class Follower:
    """``otel-logging query --follow`` running; its lines collected as they come."""

    def __init__(self, *args: str) -> None:
        command = [PYTHON, "-m", "otel_logging", "query", "--every", "0.2", "-f", *args]
        self.proc = subprocess.Popen(
            command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env()
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(30)
        self._reader.join(30)
        assert self.proc.stderr is not None
        return code, self.proc.stderr.read()


def test_follow_prints_each_arrival_once_late_ones_included(log_dir: Path) -> None:
    follower = Follower("--log-dir", str(log_dir), "-n", "2", "service:api")
    try:
        wait_for(lambda: len(follower.lines) == 2, 60, 0.05, "the two newest records")
        assert follower.lines == [f"2026-12-01T12:00:{s}.000 INFO  api app.main: request {s}" for s in (48, 49)]
        for i in range(60, 70):  # arriving while it follows, with one record late (an older time) among them
            append(log_dir / "api.jsonl", api(i), *([api(5)] if i == 64 else []))
            append(log_dir / "web.jsonl", make_record("web", BASE + timedelta(seconds=i)))  # not matching
            wait_for(
                lambda i=i: any(line.endswith(f"request {i}") for line in follower.lines), 60, 0.05, f"request {i}"
            )
    finally:
        code, stderr = follower.stop()
    assert code == 0 and "Traceback" not in stderr
    bodies = [line.split(": ", 1)[1] for line in follower.lines]
    assert len(bodies) == len(set(bodies)) == 13  # each once: none twice, none missed
    # In arrival order; the late record comes with the look that found it, next to the record written with it.
    assert [b for b in bodies if b != "request 5"] == [
        "request 48",
        "request 49",
        *(f"request {i}" for i in range(60, 70)),
    ]
    assert abs(bodies.index("request 5") - bodies.index("request 64")) == 1


@pytest.mark.parametrize("limit", [3, 7, 0])
def test_more_than_a_page_is_read_in_one_pass_and_printed_oldest_first(
    log_dir: Path, limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from otel_logging.commands import query as command

    monkeypatch.setattr(command, "PAGE_LIMIT", 5)  # 7 and every record (0) go past one page
    source = FileSource(log_dir, min_refresh_interval_s=0)
    try:
        source.refresh(force=True)
        printed: list[str] = []
        command._print_newest(
            source, LogFilter(query="service:api"), limit, lambda hits: printed.extend(h.message for h in hits)
        )
    finally:
        source.close()
    first = 50 - limit if limit else 0
    assert printed == [f"request {i}" for i in range(first, 50)]


def test_a_reader_that_stops_early_ends_the_command_quietly(log_dir: Path) -> None:
    """``otel-logging query -n 0 | head -1``: the pipe closes under the command, which ends without a traceback."""
    command = [PYTHON, "-m", "otel_logging", "query", "--log-dir", str(log_dir), "-n", "0", "--json"]
    append(log_dir / "api.jsonl", *(api(i) for i in range(100, 20_100)))  # more than a pipe holds
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    assert proc.wait(60) == 0
    assert orjson.loads(first)["body"] == "request 0"
    assert proc.stderr.read() == b""
