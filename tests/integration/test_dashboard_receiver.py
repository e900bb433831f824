"""The files source over what a real ``otel-logging serve`` writes while it rotates and gzips the files."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from otel_logging.dashboard.filters import FieldRef, LogFilter
from otel_logging.dashboard.sources.files import FileSource
from tests.support.procs import PYTHON, REPO, child_env, start_serve, wait_for

pytestmark = pytest.mark.integration

APP = textwrap.dedent(
    """
    import logging, sys, otel_logging
    h = otel_logging.setup("dash-app", sys.argv[1], schedule_delay_ms=20, max_export_batch_size=100)
    log = logging.getLogger("dash.worker")
    for i in range(3000):
        if i % 100 == 99:
            log.error("job %s failed", i, extra={"seq": i})
        else:
            log.info("job %s done", i, extra={"seq": i})
    assert h.force_flush(60)
    """
)


def test_rotated_and_compressed_files_read_once_while_the_service_writes(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    serve = start_serve(log_dir, "--rotate-bytes", "64KB", "--compress")
    source = FileSource(log_dir, min_refresh_interval_s=0)
    try:
        app = subprocess.Popen([PYTHON, "-c", APP, serve.grpc_endpoint], cwd=REPO, env=child_env())
        refreshes = 0
        while app.poll() is None:  # read while the service appends, rotates and compresses
            source.refresh()
            refreshes += 1
            assert source.count(LogFilter()) <= 3000
        assert app.returncode == 0

        def all_read() -> bool:
            source.refresh()
            compressed = [p for p in log_dir.iterdir() if p.name.endswith(".jsonl.gz")]
            plain_rotated = [p for p in log_dir.iterdir() if p.name.count(".") > 1 and p.name.endswith(".jsonl")]
            return source.count(LogFilter()) == 3000 and bool(compressed) and not plain_rotated

        wait_for(all_read, timeout=60, what="every record read once, rotated files compressed")
        assert refreshes > 1
        assert source.status().malformed == 0
        assert source.count(LogFilter(query="level:ERROR")) == 30
        seqs = [int(v.value) for v in source.top_values(LogFilter(), FieldRef("attributes", "seq"), limit=5000)]
        assert sorted(seqs) == list(range(3000))
        assert len(source.apps()[0].files) > 2
    finally:
        source.close()
        serve.stop()
