"""The on-disk buffer's segment files: order, acknowledgements, restart, adoption, limits, broken disks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from otel_logging.client.disk_buffer import HEADER, DiskBuffer, read_frames, service_directory
from tests.support.procs import REPO, child_env


def open_buffer(directory: Path, max_bytes: int = 1 << 20, **options: float) -> DiskBuffer:
    buffer, why = DiskBuffer.open(directory, max_bytes, **options)
    assert buffer is not None, why
    return buffer


def drain(buffer: DiskBuffer) -> list[bytes]:
    sent = []
    while (frame := buffer.peek()) is not None:
        sent.append(frame.payload)
        buffer.ack(frame)
    return sent


def test_frames_come_back_in_order_and_acknowledged_segments_are_deleted(tmp_path: Path) -> None:
    buffer = open_buffer(tmp_path, segment_bytes=64)
    payloads = [f"request-{i:03d}".encode() * 3 for i in range(20)]
    for payload in payloads:
        assert buffer.append(payload, 7)
    assert len(list(tmp_path.glob("*.seg"))) > 5  # rolled at 64 bytes
    assert buffer.pending and buffer.bytes == sum(HEADER.size + len(p) for p in payloads)
    first = buffer.peek()
    assert first is not None and first.payload == payloads[0] and first.records == 7 and first.own
    assert buffer.peek() is not None and buffer.peek().payload == payloads[0]  # type: ignore[union-attr]
    assert drain(buffer) == payloads
    assert not buffer.pending and buffer.bytes == 0
    assert len(list(tmp_path.glob("*.seg"))) <= 1  # only the one being appended to
    buffer.close()
    assert list(tmp_path.iterdir()) == []  # nothing left: no segment, no ack, no lock


def test_the_next_owner_sends_what_was_left_after_the_acknowledged_position(tmp_path: Path) -> None:
    first = open_buffer(tmp_path)
    for i in range(5):
        first.append(b"old-%d" % i, 1)
    frame = first.peek()
    assert frame is not None
    first.ack(frame)  # the service took old-0
    frame = first.peek()
    assert frame is not None
    first.ack(frame)  # and old-1
    second = open_buffer(tmp_path)  # first is alive: its lock is held, nothing adopted
    assert not second.pending
    first.close()
    assert second.adopt() > 0
    second.append(b"new-0", 1)
    assert drain(second) == [b"old-2", b"old-3", b"old-4", b"new-0"]
    second.close()
    assert list(tmp_path.iterdir()) == []


def test_kill_9_leaves_every_written_frame_for_the_next_run(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import os, signal, sys
        from pathlib import Path
        from otel_logging.client.disk_buffer import DiskBuffer
        buffer, why = DiskBuffer.open(Path(sys.argv[1]), 1 << 20, segment_bytes=200)
        for i in range(50):
            assert buffer.append(b"frame-%03d" % i, 1)
            if i == 9:
                for _ in range(10):
                    buffer.ack(buffer.peek())
        os.write(buffer._write_fd, b"\\x20\\x00\\x00\\x00torn")  # a write cut short by the kill
        print("written", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], env=child_env(), cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == -signal.SIGKILL and "written" in result.stdout, result.stderr
    assert sum(len(read_frames(path)) for path in tmp_path.glob("*.seg")) == 41  # the first 9 were a segment: gone
    nxt = open_buffer(tmp_path)
    assert drain(nxt) == [b"frame-%03d" % i for i in range(10, 50)]
    nxt.close()
    assert list(tmp_path.iterdir()) == []


def test_an_owner_without_a_lock_file_is_adopted_and_a_live_one_is_not(tmp_path: Path) -> None:
    alive = open_buffer(tmp_path)
    alive.append(b"alive", 1)
    dead = open_buffer(tmp_path)
    dead.append(b"dead", 1)
    dead.close()
    (tmp_path / f"{dead.owner}.lock").unlink(missing_ok=True)
    third = open_buffer(tmp_path)
    assert drain(third) == [b"dead"]
    assert alive.peek() is not None  # untouched
    third.close()
    alive.close()


def test_the_size_limit_refuses_appends_until_frames_are_acknowledged(tmp_path: Path) -> None:
    buffer = open_buffer(tmp_path, max_bytes=3 * (HEADER.size + 100))
    assert all(buffer.append(b"x" * 100, 1) for _ in range(3))
    assert not buffer.append(b"x" * 100, 1)
    assert drain(buffer) == [b"x" * 100] * 3
    assert buffer.append(b"y" * 100, 1)
    buffer.close()


def test_an_unusable_directory_is_reported_not_raised(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    for directory in (a_file / "buffer", Path("/sys/otel-logging-buffer-test")):
        buffer, why = DiskBuffer.open(directory)
        assert buffer is None and str(directory) in why


def test_a_directory_removed_under_it_makes_appends_fail_not_raise(tmp_path: Path) -> None:
    directory = tmp_path / "buf"
    buffer = open_buffer(directory, segment_bytes=HEADER.size + 10)
    assert buffer.append(b"0123456789", 1)
    for path in directory.iterdir():
        path.unlink()
    directory.rmdir()
    assert not buffer.append(b"0123456789", 1)  # a new segment cannot be created
    buffer.close()


def test_service_directory_is_a_safe_name(tmp_path: Path) -> None:
    assert service_directory(tmp_path, "shop") == tmp_path / "shop"
    assert service_directory(tmp_path, "shop/api:v1").name.startswith("shop_api_v1-")
    assert service_directory(tmp_path, "a/b") != service_directory(tmp_path, "a_b")  # never one buffer for two
    assert service_directory(tmp_path, "..").parent == tmp_path
    assert os.path.dirname(service_directory(tmp_path, "../../etc")) == str(tmp_path)


def test_owners_starting_together_never_adopt_each_other(tmp_path: Path) -> None:
    barrier = threading.Barrier(8)
    opened: list[DiskBuffer | None] = []

    def start() -> None:
        barrier.wait()
        buffer, _why = DiskBuffer.open(tmp_path)
        if buffer is not None:
            buffer.append(buffer.owner.encode(), 1)
        opened.append(buffer)

    for _round in range(5):
        opened.clear()
        threads = [threading.Thread(target=start) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        buffers = [b for b in opened if b is not None]
        assert len(buffers) == 8  # every one could lock its own name
        for buffer in buffers:
            assert drain(buffer) == [buffer.owner.encode()]  # its own frame only: nobody adopted a live owner
        for buffer in buffers:
            buffer.close()
    assert list(tmp_path.iterdir()) == []


def test_a_frame_that_cannot_be_read_now_is_kept_for_a_later_try(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Too many open files while reading is not a torn segment: nothing is discarded (it was: the whole segment)."""
    buffer = open_buffer(tmp_path)
    payloads = [f"request-{i}".encode() for i in range(3)]
    for payload in payloads:
        assert buffer.append(payload, 10)
    real_open = os.open

    def no_more_files(path, flags, *args):  # type: ignore[no-untyped-def]
        if not flags & (os.O_WRONLY | os.O_RDWR):
            raise OSError(24, "Too many open files")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", no_more_files)
    try:
        buffer.peek()
    except OSError as exc:
        assert exc.errno == 24
    else:
        raise AssertionError("peek() hid the failure")
    assert buffer.pending and list(tmp_path.glob("*.seg"))
    monkeypatch.setattr(os, "open", real_open)
    assert drain(buffer) == payloads
    buffer.close()
