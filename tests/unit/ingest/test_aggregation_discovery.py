"""Which files aggregation reads: globs, recursion, hidden files, its own outputs, oldest first."""

from __future__ import annotations

import os
from pathlib import Path

from otel_logging.ingest.discovery import discover, exclusions


def touch(path: Path, mtime: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x\n")
    os.utime(path, (mtime, mtime))
    return path


def test_globs_recursion_hidden_files_and_outputs(tmp_path: Path) -> None:
    live = touch(tmp_path / "app.log", 300)
    rotated = touch(tmp_path / "app.log.1", 200)
    oldest = touch(tmp_path / "app.log.2.gz", 100)
    touch(tmp_path / ".hidden.log", 50)
    nested = touch(tmp_path / "sub" / "worker.log", 250)
    touch(tmp_path / "logs" / "app.jsonl", 10)  # the per-app files this run writes
    touch(tmp_path / "notes.txt", 10)

    flat = discover([str(tmp_path)], glob="*.log*", exclude=exclusions(tmp_path / "logs"))
    assert flat.files == [str(oldest), str(rotated), str(live)]  # oldest first: rotated before live

    deep = discover([str(tmp_path)], recursive=True, glob="*.log*", exclude=exclusions(tmp_path / "logs"))
    assert deep.files == [str(oldest), str(rotated), str(nested), str(live)]

    everything = discover([str(tmp_path)], recursive=True, exclude=exclusions(tmp_path / "logs"))
    assert str(tmp_path / "notes.txt") in everything.files
    assert not any("/logs/" in f or ".hidden" in f for f in everything.files)


def test_named_files_are_taken_as_given_and_missing_ones_reported(tmp_path: Path) -> None:
    named = touch(tmp_path / "odd-name.txt", 100)
    found = discover([str(named), str(tmp_path / "nope.log")], glob="*.log")
    assert found.files == [str(named)]
    assert found.missing == [(str(tmp_path / "nope.log"), "no such file or directory: check the path")]
