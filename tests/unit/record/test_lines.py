"""otel_logging.record.lines.last_line_end: the one "last complete line" rule."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from otel_logging.record.lines import last_line_end


@pytest.fixture
def open_file(tmp_path: Path) -> Iterator[Callable[[bytes], int]]:
    fds: list[int] = []

    def opener(data: bytes) -> int:
        path = tmp_path / f"f{len(fds)}"
        path.write_bytes(data)
        fd = os.open(path, os.O_RDONLY)
        fds.append(fd)
        return fd

    yield opener
    for fd in fds:
        os.close(fd)


@pytest.mark.parametrize(
    ("data", "start", "expected"),
    [
        (b"", 0, 0),
        (b"abc", 0, 0),
        (b"a\n", 0, 2),
        (b"a\nb", 0, 2),
        (b"a\nb\nc", 0, 4),
        (b"a\nb\nc", 2, 4),
        (b"a\nbcd", 2, 2),  # no newline after start: start
        (b"a\nb\n", 4, 4),
    ],
)
def test_last_line_end(open_file: Callable[[bytes], int], data: bytes, start: int, expected: int) -> None:
    fd = open_file(data)
    assert last_line_end(fd, start, len(data)) == expected


@pytest.mark.parametrize("block", [1, 2, 3, 7, 1 << 16])
def test_reads_backwards_across_blocks(open_file: Callable[[bytes], int], block: int) -> None:
    data = b"first\n" + b"x" * 50
    fd = open_file(data)
    assert last_line_end(fd, 0, len(data), block=block) == 6
    assert last_line_end(fd, 6, len(data), block=block) == 6
    # the size given bounds the search (bytes after it are not looked at)
    assert last_line_end(fd, 0, 5, block=block) == 0
    assert last_line_end(fd, 0, 6, block=block) == 6


def test_does_not_move_the_file_position(open_file: Callable[[bytes], int]) -> None:
    fd = open_file(b"a\nb\n")
    os.lseek(fd, 1, os.SEEK_SET)
    assert last_line_end(fd, 0, 4) == 4
    assert os.lseek(fd, 0, os.SEEK_CUR) == 1
