"""One log file being read: open (plain or .gz), position from its checkpoint, batches of records.

Reading is streamed in chunks, so a file of any size needs only a chunk and one entry in memory.
The offset that may be committed after a batch is where the first line not yet turned into a
shipped record starts: a record still collecting traceback lines, or a line without its newline
yet, is read again after a restart.

A stdlib-format file read with naive times in UTC goes through the native reader when it is installed
(``otel_logging.record.native.stdlib_reader``): it turns a chunk's lines into JSON lines directly, byte-for-byte
what the assembler and ``to_json_lines`` make of them. A line it leaves (one of another format, a raw
line, a non-ASCII subtlety) goes through the assembler, which holds the pending entry between calls, and
the native reader takes over again at the next line once the assembler's pending entry is one it can carry.
A read fills a ``RecordBatch`` (``otel_logging.record``) in file order: the assembler's records go to its
``tail``, the native reader's runs of JSON lines (memoryviews of its pooled buffers) to ``add_lines``.
"""

from __future__ import annotations

import gzip
import os
import stat
import time
import zlib
from pathlib import Path
from typing import Any, BinaryIO

from otel_logging.ingest.assembler import Assembler
from otel_logging.ingest.checkpoint import FINGERPRINT_BYTES, Checkpoints, FileState, fingerprint_of
from otel_logging.record import RecordBatch
from otel_logging.record.native import JsonlLineReader, StdlibLineReader

CHUNK_BYTES = 1 << 20
MAX_LINE_BYTES = 4 << 20  # a longer "line" is cut into pieces rather than held in memory
_GZIP_MAGIC = b"\x1f\x8b"


class FileError(Exception):
    """A file that cannot be read; the message says why and what to do."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def describe_os_error(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied: grant read access to the user running the aggregation"
    if isinstance(exc, FileNotFoundError):
        return "the file vanished before it could be read (deleted or rotated away)"
    if isinstance(exc, IsADirectoryError):
        return "is a directory: pass --recursive to read the files inside"
    return exc.strerror or str(exc)


class FileSource:
    """An open log file with its checkpoint state and the assembler turning its lines into records."""

    def __init__(self, path: str, fh: BinaryIO, raw: BinaryIO, state: FileState, compressed: bool) -> None:
        self.path = path
        self.fh = fh
        self.raw = raw
        self.raw_fd = raw.fileno()
        self.complete = compressed and state.done  # a .gz already read to its end: nothing to do
        self.state = state
        self.compressed = compressed
        self.assembler: Assembler | None = None
        self.native: StdlibLineReader | None = None  # the native reader, for a stdlib- or seed-format file in UTC
        self.native_jsonl: JsonlLineReader | None = None  # the native reader, for a JSON-lines file in UTC
        self.committed_offset = state.offset
        self.committed_done = state.done
        self.position = state.offset  # where the next unread byte of the (uncompressed) stream is
        self._partial = b""
        self._partial_offset = state.offset
        self.last_growth = time.monotonic()
        self.eof = False
        self.bytes_read = 0
        self._checked_binary = state.offset > 0

    @classmethod
    def open(cls, path: str, checkpoints: Checkpoints) -> FileSource:
        """Open ``path`` at its checkpointed offset; ``FileError`` when it cannot be read."""
        try:
            st = os.stat(path)
        except OSError as exc:
            raise FileError(path, describe_os_error(exc)) from exc
        if stat.S_ISDIR(st.st_mode):
            raise FileError(path, "is a directory: pass --recursive to read the files inside")
        if not stat.S_ISREG(st.st_mode):
            raise FileError(path, "not a regular file (a pipe, socket or device): aggregate regular files only")
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as exc:
            raise FileError(path, describe_os_error(exc)) from exc
        raw = os.fdopen(fd, "rb", buffering=0)
        try:
            st = os.fstat(fd)  # the file actually opened (it may have been replaced since the stat above)
            if not stat.S_ISREG(st.st_mode):
                raise FileError(path, "not a regular file: aggregate regular files only")
            head = os.pread(fd, FINGERPRINT_BYTES, 0)
            compressed = head.startswith(_GZIP_MAGIC)
            state = checkpoints.lookup(st.st_dev, st.st_ino, head)
            if state is None:
                state = FileState(path, st.st_dev, st.st_ino, fingerprint_of(head), len(head), 0, st.st_size)
            elif not compressed and st.st_size < state.offset:
                state.offset = 0  # truncated below what was read: it was rewritten, read it again
                state.fingerprint, state.fingerprint_len = fingerprint_of(head), len(head)
            elif compressed and state.done and st.st_size != state.size:
                state.done = False  # a .gz that changed after it was read to its end: read the rest
            state.path = path
            fh: Any
            if compressed:
                fh = gzip.GzipFile(fileobj=raw, mode="rb")
                if state.offset and not state.done:
                    _skip(fh, state.offset)
            else:
                fh = raw
                fh.seek(state.offset)
        except OSError as exc:
            raw.close()
            raise FileError(path, describe_os_error(exc)) from exc
        except FileError:
            raw.close()
            raise
        return cls(path, fh, raw, state, compressed)

    @property
    def committable_offset(self) -> int:
        """Everything before this byte is in records already handed out."""
        assembler = self.assembler
        if assembler is not None and assembler.pending is not None:
            return assembler.pending_offset
        return self._partial_offset

    def read_batch(self, out: RecordBatch, final: bool) -> int:
        """Read one chunk and put the finished records in ``out``; returns the bytes read (0 at EOF).

        At EOF with ``final``, an unterminated last line and a pending entry are finished too.
        """
        assembler = self.assembler
        assert assembler is not None
        assembler.ctx.set_observed(time.time_ns())
        try:
            data = self.fh.read(CHUNK_BYTES)
        except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise FileError(self.path, f"read failed at byte {self.position}: {exc}") from exc
        if not data:
            self.eof = True
            if final:
                self.finish(out)
            return 0
        self.eof = False
        self.last_growth = time.monotonic()
        if not self._checked_binary:
            self._checked_binary = True
            if b"\0" in data[:8192]:
                raise FileError(self.path, "binary file (NUL bytes near the start): not a log file, skipped")
        self.position += len(data)
        self.bytes_read += len(data)
        skipped = 0
        buffer = self._partial + data if self._partial else data
        cut = buffer.rfind(b"\n")
        offset = self._partial_offset
        if cut < 0:
            partial = buffer
        elif self.native is not None:
            partial = buffer[cut + 1 :]
            self._read_native(buffer, cut, offset, out)
            offset += cut + 1
        elif self.native_jsonl is not None:
            partial = buffer[cut + 1 :]
            self._read_native_jsonl(buffer, cut, offset, out)
            offset += cut + 1
        else:
            complete, partial = buffer[:cut], buffer[cut + 1 :]
            feed = assembler.feed
            records = out.tail
            if complete.isascii():  # one decode for the chunk; characters are bytes, so offsets stay exact
                text = complete.decode("ascii")
                crlf = "\r" in text
                nul = "\0" in text
                for line in text.split("\n"):
                    next_offset = offset + len(line) + 1
                    if crlf and line[-1:] == "\r":
                        line = line[:-1]
                    if nul:
                        line = line.strip("\0")  # zero-filled runs (preallocation, a crash) are not log data
                    feed(line, offset, records)
                    offset = next_offset
            else:
                for raw_line in complete.split(b"\n"):
                    next_offset = offset + len(raw_line) + 1
                    feed(raw_line.strip(b"\0").decode("utf-8", "replace").removesuffix("\r"), offset, records)
                    offset = next_offset
        if partial and partial[0] == 0 and not partial.strip(b"\0"):
            offset += len(partial)  # a run of zero bytes (a hole in a sparse file): skipped
            partial = b""
            skipped = self._skip_hole(offset) - offset
            offset += skipped
        elif len(partial) > MAX_LINE_BYTES:
            assembler.feed(partial.decode("utf-8", "replace"), offset, out.tail)
            offset += len(partial)
            partial = b""
        self._partial = partial
        self._partial_offset = offset
        return len(data) + skipped

    def _read_native(self, buffer: bytes, end: int, offset: int, out: RecordBatch) -> None:
        """The lines of ``buffer[:end]`` (starting at byte ``offset``) through the native reader, and each line it
        leaves through the assembler; the native reader goes on at the next line once the assembler's pending
        entry is one it can carry (none, or one of the file's text records). A call that made records may have
        stopped only before a record of another service: the next call goes on from there."""
        assembler = self.assembler
        reader = self.native
        assert assembler is not None and reader is not None
        # whether the lines are all ASCII decides, as in the Python path, if a CR or the NULs are stripped first
        ascii = buffer.isascii() or buffer[:end].isascii()
        observed = assembler.ctx.observed
        primary = assembler.primary
        position = 0
        while position <= end:
            carried, entry = assembler.native_pending()
            if carried:
                read = reader.read(buffer, position, end, offset, ascii, observed, entry)
                lines, count, position, entry, last, service = read
                assembler.set_native_pending(entry, count)
                if last is not None:
                    primary.last_timestamp = last
                if count:
                    out.add_lines(lines, count, service)
                if position > end:
                    break
                if count:
                    continue
            newline = buffer.find(b"\n", position, end)
            if newline < 0:
                newline = end
            assembler.feed(_line_text(buffer[position:newline], ascii), offset + position, out.tail)
            position = newline + 1

    def _read_native_jsonl(self, buffer: bytes, end: int, offset: int, out: RecordBatch) -> None:
        """The lines of ``buffer[:end]`` (starting at byte ``offset``) through the native JSON-lines reader while
        the assembler has no entry pending, and each line it leaves (or that may continue a pending entry)
        through the assembler."""
        assembler = self.assembler
        reader = self.native_jsonl
        assert assembler is not None and reader is not None
        observed = assembler.ctx.observed
        primary = assembler.primary
        ascii: bool | None = None  # decided once a line goes through Python
        position = 0
        while position <= end:
            if assembler.pending is None:
                lines, count, position, last = reader.read(buffer, position, end, offset, observed)
                assembler.records += count
                if last is not None:
                    primary.last_timestamp = last
                if count:
                    out.add_lines(lines, count)
                if position > end:
                    break
            if ascii is None:
                ascii = buffer.isascii() or buffer[:end].isascii()
            newline = buffer.find(b"\n", position, end)
            if newline < 0:
                newline = end
            assembler.feed(_line_text(buffer[position:newline], ascii), offset + position, out.tail)
            position = newline + 1

    def _skip_hole(self, offset: int) -> int:
        """Jump over the rest of a hole in a sparse file instead of reading its zeros."""
        if self.compressed or not hasattr(os, "SEEK_DATA"):
            return offset
        try:
            data_at = os.lseek(self.raw_fd, self.position, os.SEEK_DATA)
        except OSError:  # ENXIO: no data after this point; or not supported
            return offset
        if data_at > self.position:
            self.fh.seek(data_at)
            offset += data_at - self.position
            self.bytes_read += data_at - self.position
            self.position = data_at
        return offset

    def finish(self, out: RecordBatch) -> None:
        """Treat what is buffered as complete: the unterminated last line and the pending entry."""
        assembler = self.assembler
        assert assembler is not None
        assembler.ctx.set_observed(time.time_ns())
        if self._partial:
            text = self._partial.decode("utf-8", "replace").removesuffix("\r")
            assembler.feed(text, self._partial_offset, out.tail)
            self._partial_offset += len(self._partial)
            self._partial = b""
        assembler.flush(out.tail)

    def has_buffered(self) -> bool:
        assembler = self.assembler
        return bool(self._partial) or (assembler is not None and assembler.pending is not None)

    def state_for_commit(self) -> FileState:
        """The checkpoint state to store once every record handed out so far was accepted."""
        state = self.state
        state.offset = self.committable_offset
        try:
            st = os.fstat(self.raw_fd)
            state.size = st.st_size
            if state.fingerprint_len < FINGERPRINT_BYTES and st.st_size > state.fingerprint_len:
                head = os.pread(self.raw_fd, FINGERPRINT_BYTES, 0)
                state.fingerprint, state.fingerprint_len = fingerprint_of(head), len(head)
        except OSError:
            pass
        if self.compressed:
            state.done = self.eof and not self.has_buffered()
        return state

    def replaced_or_gone(self) -> bool:
        """True when ``path`` no longer names this file (rotated away, deleted, replaced)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return True
        return (st.st_dev, st.st_ino) != (self.state.dev, self.state.ino)

    def truncated(self) -> bool:
        if self.compressed:
            return False
        try:
            return os.fstat(self.raw_fd).st_size < self.position
        except OSError:
            return False

    def close(self) -> None:
        try:
            self.fh.close()
        finally:
            self.raw.close()


def _line_text(raw: bytes, ascii: bool) -> str:
    """The text ``read_batch`` feeds for one line of a chunk (``ascii``: the chunk's lines are all ASCII)."""
    if ascii:
        text = raw.decode("ascii")
        if text[-1:] == "\r":
            text = text[:-1]
        return text.strip("\0")
    return raw.strip(b"\0").decode("utf-8", "replace").removesuffix("\r")


def _skip(fh: Any, count: int) -> None:
    remaining = count
    while remaining:
        data = fh.read(min(remaining, CHUNK_BYTES))
        if not data:
            break
        remaining -= len(data)


def is_probably_compressed(path: Path) -> bool:
    return path.suffix == ".gz"
