"""The store survives kill -9 at any point: afterwards it holds every record of the files exactly once.

A real ``otel-logging store follow`` process keeps the store of a log directory up to date while this test
writes to the directory as the service does (appends, rotation by rename, gzip of rotated files through a
``.gz.partial``), truncates a file and deletes old ones; the follower is killed with SIGKILL at random moments
(during the first catch-up and during later reads), restarted, and at the end the store's records are compared,
as a multiset, with the records in the files; the per-minute roll-up equals a GROUP BY of the records, both as
the kills left it and after the last catch-up, and the trace index equals a scan of the records.
"""

from __future__ import annotations

import gzip
import os
import random
import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path

import duckdb
import orjson
import pytest

from otel_logging.dashboard.filters import LogFilter
from otel_logging.dashboard.sources.files import FileSource
from otel_logging.record.names import rotated_name
from otel_logging.store import rollup, trace_index, words
from tests.support.generated_logs import make_record
from tests.support.procs import PYTHON, REPO

pytestmark = pytest.mark.integration
APPS = ("api", "billing", "worker.v2")


class Writer:
    """Writes records with unique bodies to per-app files and mimics rotation, compression, truncation, deletion."""

    def __init__(self, log_dir: Path, rng: random.Random) -> None:
        self.log_dir = log_dir
        self.rng = rng
        self.n = 0
        self.rotations = 0

    def append(self, app: str, count: int) -> None:
        from datetime import UTC, datetime, timedelta

        base = datetime(2026, 12, 1, tzinfo=UTC)
        lines = []
        for _ in range(count):
            self.n += 1
            lines.append(
                orjson.dumps(
                    make_record(
                        app, base + timedelta(milliseconds=self.n), body=f"rec-{self.n}", trace_id=f"{self.n % 97:032x}"
                    )
                )
            )
        with open(self.log_dir / f"{app}.jsonl", "ab") as f:
            f.write(b"\n".join(lines) + b"\n")

    def rotate(self, app: str, compress: bool) -> None:
        from datetime import UTC, datetime, timedelta

        live = self.log_dir / f"{app}.jsonl"
        if not live.exists():
            return
        self.rotations += 1
        rotated = self.log_dir / rotated_name(app, datetime(2026, 12, 1, tzinfo=UTC) + timedelta(hours=self.rotations))
        os.rename(live, rotated)
        if compress:
            partial = rotated.with_name(rotated.name + ".gz.partial")
            with open(rotated, "rb") as src, gzip.open(partial, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.rename(partial, rotated.with_name(rotated.name + ".gz"))
            rotated.unlink()

    def step(self) -> None:
        app = self.rng.choice(APPS)
        roll = self.rng.random()
        if roll < 0.7:
            self.append(app, self.rng.randint(500, 4000))
        elif roll < 0.85:
            self.rotate(app, compress=self.rng.random() < 0.6)
        elif roll < 0.92:
            rotated = sorted(self.log_dir.glob(f"{app}.2*.jsonl*"))
            if rotated:
                rotated[0].unlink()  # retention
        else:
            live = self.log_dir / f"{app}.jsonl"
            if live.exists():
                os.truncate(live, 0)  # copytruncate-style: the records go from the files


def file_bodies(log_dir: Path) -> Counter[str]:
    bodies: Counter[str] = Counter()
    for path in log_dir.iterdir():
        if path.name.endswith(".jsonl"):
            data = path.read_bytes()
        elif path.name.endswith(".jsonl.gz"):
            data = gzip.decompress(path.read_bytes())
        else:
            continue
        bodies.update(orjson.loads(line)["body"] for line in data.splitlines() if line.strip())
    return bodies


def assert_derived_tables_exact(con: duckdb.DuckDBPyConnection) -> None:
    """The roll-up holds one row per (file_id, minute, service, level, logger) with the count of ``logs``; the
    trace index one row per row of ``logs`` with a hex trace id; the word index one row per (file_id, hour,
    service, level, logger, word) with the count of the records holding the word."""
    kept = con.execute(f"SELECT file_id, minute, service, level, logger, n FROM {rollup.TABLE} ORDER BY ALL").fetchall()
    fresh = con.execute(
        "SELECT file_id, date_trunc('minute', ts), service, level, logger, count(*) FROM logs GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert kept, "the roll-up is empty"
    assert kept == fresh, f"the roll-up has {len(kept)} rows, the GROUP BY of logs {len(fresh)}"
    indexed = con.execute(f"SELECT * FROM ({trace_index.union_sql()}) ORDER BY ALL").fetchall()
    scanned = con.execute(f"SELECT * FROM ({trace_index.derived_sql()}) ORDER BY ALL").fetchall()
    assert indexed == scanned, f"the trace index has {len(indexed)} rows, a scan of logs {len(scanned)}"
    counted = con.execute(f"SELECT * FROM ({words.union_sql()}) ORDER BY ALL").fetchall()
    grouped = con.execute(f"SELECT * FROM ({words.grouped('TRUE')}) ORDER BY ALL").fetchall()
    assert counted, "the word index is empty"
    assert counted == grouped, f"the word index has {len(counted)} rows, the GROUP BY of logs {len(grouped)}"


def store_bodies(log_dir: Path, store: Path) -> Counter[str]:
    con = duckdb.connect(str(store))  # as the last kill left it
    try:
        assert_derived_tables_exact(con)
    finally:
        con.close()
    source = FileSource(log_dir, store=store, min_refresh_interval_s=0)
    try:
        source.refresh(force=True)
        assert_derived_tables_exact(source._con)
        chunks = b"".join(source.export(LogFilter(), "jsonl"))
        return Counter(orjson.loads(line)["body"] for line in chunks.splitlines() if line.strip())
    finally:
        source.close()


def follow(log_dir: Path, store: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            PYTHON,
            "-m",
            "otel_logging",
            "store",
            "follow",
            "--log-dir",
            str(log_dir),
            "--store",
            str(store),
            "--interval",
            "0.02",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _stderr(proc: subprocess.Popen[bytes]) -> str:
    if proc.poll() is None:
        return "(still running)"
    return proc.stderr.read().decode() if proc.stderr else ""


@pytest.mark.parametrize("seed", [1, 2])
def test_kill_9_at_any_point_leaves_every_record_exactly_once(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    log_dir, store = tmp_path / "logs", tmp_path / "store" / "store.duckdb"
    log_dir.mkdir()
    writer = Writer(log_dir, rng)
    for app in APPS:
        writer.append(app, 20_000)  # a first catch-up that takes long enough to be killed in
    kills = 0
    for round_no in range(12):
        proc = follow(log_dir, store)
        try:
            if round_no % 2:
                # it prints a line once caught up (or ends: readline gives b""); then write while it reads
                assert proc.stdout is not None and b"following" in proc.stdout.readline(), _stderr(proc)
            for _ in range(rng.randint(1, 6)):
                writer.step()
            # the fault schedule (not a synchronisation): let it work a random while, then kill it
            try:
                proc.wait(timeout=rng.uniform(0.05, 1.5))
            except subprocess.TimeoutExpired:
                pass
            assert proc.poll() is None, _stderr(proc)
            proc.send_signal(signal.SIGKILL)
            kills += 1
        finally:
            proc.kill()
            proc.wait(timeout=30)
    assert kills == 12
    expected = file_bodies(log_dir)
    assert expected and max(expected.values()) == 1
    got = store_bodies(log_dir, store)
    missing, extra = expected - got, got - expected
    assert not missing and not extra, (
        f"{sum(missing.values())} records of the files missing from the store, {sum(extra.values())} extra "
        f"(duplicates or records no longer in the files), e.g. {list(missing)[:3]} {list(extra)[:3]}"
    )
