"""The progress bar's line: records and their rate when counted, else bytes per second."""

from __future__ import annotations

import io

from otel_logging.ingest.progress import Progress


def test_a_bar_that_counts_records_shows_them_and_their_rate() -> None:
    bar = Progress(io.StringIO(), enabled=False)
    bar.plan(2, 4096)
    bar.advance(2048, 300)
    line = bar.line(bar.started + 2)
    assert "files 0/2  2.0 KB/4.0 KB  300 records  150/s  ETA 0:00:02" in line
    assert line.startswith("[" + "#" * 10 + "." * 10 + "]")


def test_a_bar_told_only_bytes_shows_bytes_per_second_not_zero_records() -> None:
    bar = Progress(io.StringIO(), enabled=False, counts_records=False)
    bar.plan(1, 8 * 1024 * 1024)
    bar.advance(4 * 1024 * 1024, 0)
    line = bar.line(bar.started + 2)
    assert "4.0 MB/8.0 MB  2.0 MB/s  ETA 0:00:02" in line
    assert "records" not in line


def test_a_delayed_bar_leaves_no_line_for_quick_work_and_draws_once_it_is_due() -> None:
    out = io.StringIO()
    quick = Progress(out, enabled=True, counts_records=False, delay_s=60)
    quick.plan(1, 1024)
    quick.advance(1024, 0)
    quick.file_done()
    quick.close()
    assert out.getvalue() == ""  # `otel-logging query` over a store already up to date prints only its answer
    slow = Progress(out, enabled=True, counts_records=False, delay_s=60)
    slow.plan(1, 2048)
    slow._quiet_until = slow.started  # the delay has passed
    slow.advance(1024, 0)
    slow.close()
    assert out.getvalue().count("1.0 KB/2.0 KB") == 2 and out.getvalue().endswith("\n")  # drawn, then closed
