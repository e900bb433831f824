"""The app side's on-disk buffer: encoded OTLP requests kept in segment files while the service is away.

One directory per service (``<buffer_dir>/<service name>/``). Each process that opens it is an *owner*
(``<start time ns>-<pid>``) and holds ``<owner>.lock`` with ``fcntl.flock`` for its lifetime; it is the only
writer of its segments ``<owner>-<n>.seg``. A segment is a sequence of frames, each one encoded
``ExportLogsServiceRequest`` as the processor would send it::

    [payload length: u32][crc32 of payload: u32][records in it: u32][payload]

Frames are appended with one ``write``; a short write (full disk) is cut back off. The file is
fsynced at most once per ``fsync_interval_s`` (and when a segment is closed), so after ``kill -9`` every
written frame is still there (the page cache survives the process) and after a power loss every frame
written before the last fsync.

Frames are read back oldest first. Once the service acknowledged a frame the reader's position is
written to ``<segment>.ack`` (8 bytes, no fsync); a segment whose frames are all acknowledged is deleted.
At-least-once: a frame that the service acknowledged while its position was not yet written (the process
killed between the two) is sent again by the next owner, once.

A process that finds the lock of another owner free (that process exited or was killed) adopts its
segments: they are sent before this process's own, in the order they were written. A forked child
closes its copy of the parent's lock and opens its own owner.

Nothing here raises into the app: ``open`` returns ``None`` (with the reason) when the directory cannot
be used, ``append`` returns ``False`` when the size limit is reached or the disk fails.
"""

from __future__ import annotations

import fcntl
import os
import re
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from otel_logging.record.names import safe_app_name

HEADER = struct.Struct("<III")
_SEGMENT = re.compile(r"^(\d{20}-\d+)-(\d{10})\.seg$")
_LOCK = re.compile(r"^(\d{20}-\d+)\.lock$")
DEFAULT_MAX_BYTES = 256 << 20
DEFAULT_SEGMENT_BYTES = 4 << 20


def describe_size(size: int) -> str:
    """``256 MB``, ``4096 bytes``."""
    return f"{size / (1 << 20):g} MB" if size >= 1 << 20 else f"{size} bytes"


def service_directory(base: str | os.PathLike[str], service_name: str) -> Path:
    """``<base>/<service name>``, the name made safe as the service's own file is (two names that differ keep
    two directories: ``a/b`` and ``a_b``)."""
    return Path(base) / safe_app_name(service_name)


@dataclass(slots=True)
class Frame:
    payload: bytes
    records: int
    own: bool  # written by this process (else adopted from a previous owner)
    segment: _Segment
    end: int  # the segment offset after this frame


@dataclass(eq=False)
class _Segment:
    path: Path
    owner: str
    own: bool
    acked: int = 0  # offset up to which the service acknowledged
    size: int = 0  # bytes written (own, open segment) or the file's size
    writing: bool = False  # the open segment this process appends to
    ack_fd: int | None = None
    read_fd: int | None = None

    @property
    def ack_path(self) -> Path:
        return self.path.with_suffix(".ack")


@dataclass
class _Owner:
    name: str
    lock_fd: int
    segments: list[_Segment] = field(default_factory=list)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _try_lock(path: Path) -> int | None:
    """An fd holding ``flock(LOCK_EX)`` on ``path`` (created if missing), or None when someone holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    try:  # the file may have been deleted and re-created by its last adopter meanwhile
        if os.fstat(fd).st_ino != os.stat(path).st_ino:
            os.close(fd)
            return None
    except OSError:
        os.close(fd)
        return None
    return fd


class DiskBuffer:
    """This process's segments in one service's buffer directory, plus the ones it adopted."""

    def __init__(
        self,
        directory: Path,
        max_bytes: int = DEFAULT_MAX_BYTES,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        fsync_interval_s: float = 1.0,
    ) -> None:
        """Use ``open()``: it creates the directory and takes the lock."""
        self.directory = directory
        self.max_bytes = max(1, max_bytes)
        self._segment_bytes = max(HEADER.size + 1, segment_bytes)
        self._fsync_interval_s = fsync_interval_s
        self._lock = threading.Lock()
        self.owner = f"{time.time_ns():020d}-{os.getpid()}"
        self._lock_fd = -1
        self._adopted: dict[str, _Owner] = {}
        self._pending: list[_Segment] = []  # oldest first: adopted ones, then this process's
        self._write_fd: int | None = None
        self._write_segment: _Segment | None = None
        self._next_segment = 0
        self._last_fsync = time.monotonic()
        self._dirty = False
        self.bytes = 0  # bytes in the segments not yet deleted
        self.closed = False
        self.refusal = ""  # why the last refused append was refused ("full", "cannot be written (...)")

    @classmethod
    def open(
        cls, directory: Path, max_bytes: int = DEFAULT_MAX_BYTES, **options: float
    ) -> tuple[DiskBuffer | None, str]:
        """The buffer, or None and why it cannot be used (read-only, not a directory, ...)."""
        buffer = cls(directory, max_bytes, **options)  # type: ignore[arg-type]
        try:
            directory.mkdir(parents=True, exist_ok=True)
            # locked before it gets its name: another process never sees this owner's lock free
            temporary = directory / f".{buffer.owner}.lock"
            fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.rename(temporary, directory / f"{buffer.owner}.lock")
            except OSError:
                os.close(fd)
                temporary.unlink(missing_ok=True)
                raise
            buffer._lock_fd = fd
            buffer.adopt()
        except OSError as exc:
            return None, f"{directory}: {exc.strerror or exc}"
        return buffer, ""

    # -- writing ---------------------------------------------------------------------------
    def append(self, payload: bytes, records: int) -> bool:
        """Append one encoded request; False when the size limit is reached or the disk fails."""
        frame = HEADER.pack(len(payload), zlib.crc32(payload), records) + payload
        with self._lock:
            if self.closed:
                self.refusal = "it is closed"
                return False
            if self.bytes + len(frame) > self.max_bytes:
                self.refusal = "full"
                return False
            try:
                segment = self._writable_segment(len(frame))
                assert self._write_fd is not None
                written = os.write(self._write_fd, frame)
                if written != len(frame):
                    os.ftruncate(self._write_fd, segment.size)
                    self.refusal = "cannot be written (short write: disk full?)"
                    return False
            except OSError as exc:
                self.refusal = f"cannot be written ({exc.strerror or exc})"
                self._abandon_write_segment()
                return False
            segment.size += len(frame)
            self.bytes += len(frame)
            self._dirty = True
            if time.monotonic() - self._last_fsync >= self._fsync_interval_s:
                self._sync_locked()
            return True

    def _writable_segment(self, frame_size: int) -> _Segment:
        segment = self._write_segment
        if segment is not None and segment.size and segment.size + frame_size > self._segment_bytes:
            self._close_write_segment()
            segment = None
        if segment is None:
            self._next_segment += 1
            path = self.directory / f"{self.owner}-{self._next_segment:010d}.seg"
            self._write_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            segment = _Segment(path, self.owner, own=True, writing=True)
            self._write_segment = segment
            self._pending.append(segment)
            _fsync_dir(self.directory)
        return segment

    def _close_write_segment(self) -> None:
        if self._write_fd is not None:
            try:
                if self._dirty:
                    os.fsync(self._write_fd)
            except OSError:
                pass
            os.close(self._write_fd)
        self._write_fd = None
        self._dirty = False
        self._last_fsync = time.monotonic()
        if self._write_segment is not None:
            self._write_segment.writing = False
            self._write_segment = None

    def _abandon_write_segment(self) -> None:
        """After a write error: the next append starts a new segment (the frames written so far stay)."""
        try:
            self._close_write_segment()
        except OSError:
            self._write_fd = None
            self._write_segment = None

    def _sync_locked(self) -> None:
        if self._write_fd is not None and self._dirty:
            try:
                os.fsync(self._write_fd)
            except OSError:
                pass
        self._dirty = False
        self._last_fsync = time.monotonic()

    # -- reading ---------------------------------------------------------------------------
    @property
    def pending(self) -> bool:
        """Whether a frame waits to be sent (or the adopted segments are still there)."""
        with self._lock:
            return any(s.acked < s.size for s in self._pending)

    def peek(self) -> Frame | None:
        """The oldest frame not acknowledged yet (the same one until ``ack``). OSError when it cannot be read
        now (too many open files, an I/O error): the segment is kept for a later try."""
        with self._lock:
            while self._pending and not self.closed:
                segment = self._pending[0]
                if segment.acked < segment.size:
                    frame = self._read_frame(segment)
                    if frame is not None:
                        return frame
                    # a torn or corrupt tail (kill -9 during a write): the rest of it is unusable
                    self.bytes -= segment.size - segment.acked
                    segment.size = segment.acked
                    if segment.writing:
                        self._abandon_write_segment()
                if segment.writing:
                    return None  # all of it sent; appends continue in it
                self._remove_segment(segment)
            return None

    def _read_frame(self, segment: _Segment) -> Frame | None:
        """The frame at the segment's acknowledged offset; None when it is torn or corrupt (a short header, a
        frame past the end, a checksum that differs). A failure to read raises OSError: nothing is discarded."""
        if segment.read_fd is None:
            segment.read_fd = os.open(segment.path, os.O_RDONLY | os.O_CLOEXEC)
        header = os.pread(segment.read_fd, HEADER.size, segment.acked)
        if len(header) < HEADER.size:
            return None
        length, crc, records = HEADER.unpack(header)
        end = segment.acked + HEADER.size + length
        if end > segment.size:
            return None
        payload = os.pread(segment.read_fd, length, segment.acked + HEADER.size)
        if len(payload) != length or zlib.crc32(payload) != crc:
            return None
        return Frame(payload, records, segment.own, segment, end)

    def ack(self, frame: Frame) -> None:
        """The service acknowledged ``frame``: record it, delete the segment once all of it is."""
        with self._lock:
            segment = frame.segment
            if self.closed or segment not in self._pending or frame.end <= segment.acked:
                return
            self.bytes -= frame.end - segment.acked
            segment.acked = frame.end
            if segment.acked >= segment.size:
                if segment.writing:
                    if segment.size >= self._segment_bytes // 2:
                        self._close_write_segment()  # roll: the next append starts a new one
                        self._remove_segment(segment)
                    else:
                        self._write_ack(segment)
                else:
                    self._remove_segment(segment)
            else:
                self._write_ack(segment)

    def _write_ack(self, segment: _Segment) -> None:
        try:
            if segment.ack_fd is None:
                segment.ack_fd = os.open(segment.ack_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            os.pwrite(segment.ack_fd, struct.pack("<Q", segment.acked), 0)
        except OSError:
            pass  # resent once by the next owner: at-least-once

    def _remove_segment(self, segment: _Segment) -> None:
        self._pending.remove(segment)
        self.bytes -= segment.size - segment.acked
        for fd in (segment.read_fd, segment.ack_fd):
            if fd is not None:
                os.close(fd)
        segment.read_fd = segment.ack_fd = None
        for path in (segment.path, segment.ack_path):
            try:
                path.unlink()
            except OSError:
                pass
        owner = self._adopted.get(segment.owner)
        if owner is not None:
            owner.segments.remove(segment)
            if not owner.segments:
                self._release(owner)

    def _release(self, owner: _Owner) -> None:
        del self._adopted[owner.name]
        try:
            (self.directory / f"{owner.name}.lock").unlink()
        except OSError:
            pass
        os.close(owner.lock_fd)

    # -- other owners ------------------------------------------------------------------------
    def adopt(self) -> int:
        """Take over the segments of owners whose lock is free; returns how many frames' bytes were found."""
        with self._lock:
            if self.closed:
                return 0
            try:
                names = os.listdir(self.directory)
            except OSError:
                return 0
            segments: dict[str, list[str]] = {}
            owners: set[str] = set()
            for name in names:
                if match := _SEGMENT.match(name):
                    segments.setdefault(match.group(1), []).append(name)
                    owners.add(match.group(1))
                elif match := _LOCK.match(name):
                    owners.add(match.group(1))
            found = 0
            adopted: list[_Segment] = []
            for owner_name in sorted(owners - {self.owner} - set(self._adopted)):
                try:
                    fd = _try_lock(self.directory / f"{owner_name}.lock")
                except OSError:
                    continue
                if fd is None:
                    continue  # alive
                owner = _Owner(owner_name, fd)
                self._adopted[owner_name] = owner
                for name in sorted(segments.get(owner_name, [])):
                    segment = _Segment(self.directory / name, owner_name, own=False)
                    try:
                        segment.size = (self.directory / name).stat().st_size
                        ack = segment.ack_path.read_bytes() if segment.ack_path.exists() else b""
                        if len(ack) >= 8:
                            segment.acked = min(struct.unpack("<Q", ack[:8])[0], segment.size)
                    except OSError:
                        continue
                    owner.segments.append(segment)
                    adopted.append(segment)
                    self.bytes += segment.size - segment.acked
                    found += segment.size - segment.acked
                if not owner.segments:
                    self._release(owner)
            # the adopted segments go before this process's own (they were written earlier)
            own = [s for s in self._pending if s.own]
            self._pending = [s for s in self._pending if not s.own] + adopted + own
            return found

    # -- the end ------------------------------------------------------------------------------
    def close(self) -> None:
        """Fsync and release everything; the segments left are for the next owner."""
        with self._lock:
            if self.closed:
                return
            self._close_write_segment()
            for segment in [s for s in self._pending if s.acked >= s.size]:
                self._remove_segment(segment)  # wholly delivered
            self.closed = True
            for segment in self._pending:
                for fd in (segment.read_fd, segment.ack_fd):
                    if fd is not None:
                        os.close(fd)
                segment.read_fd = segment.ack_fd = None
            if not any(s.own for s in self._pending):
                try:
                    (self.directory / f"{self.owner}.lock").unlink()
                except OSError:
                    pass
            for owner in list(self._adopted.values()):
                os.close(owner.lock_fd)  # what is left of them stays for the next owner
            self._adopted.clear()
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
                self._lock_fd = -1

    def forget_after_fork(self) -> None:
        """In a forked child: close the parent's descriptors (its locks stay the parent's) without touching files."""
        fds = [self._lock_fd, self._write_fd, *(o.lock_fd for o in self._adopted.values())]
        for segment in self._pending:
            fds += [segment.read_fd, segment.ack_fd]
        for fd in fds:
            if fd is not None and fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.closed = True


def read_frames(path: Path) -> list[tuple[bytes, int]]:
    """Every whole frame of a segment file (payload, records): for tests and tools."""
    data = path.read_bytes()
    frames: list[tuple[bytes, int]] = []
    offset = 0
    while offset + HEADER.size <= len(data):
        length, crc, records = HEADER.unpack_from(data, offset)
        payload = data[offset + HEADER.size : offset + HEADER.size + length]
        if len(payload) != length or zlib.crc32(payload) != crc:
            break
        frames.append((payload, records))
        offset += HEADER.size + length
    return frames
