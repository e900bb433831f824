"""Per-app JSON-lines files: ``<log-dir>/<app>.jsonl``, with rotation and retention.

A write puts the whole request's lines for one app into the file with one ``write``
call on an unbuffered descriptor, so they are in the OS before the caller replies.
With ``fsync=True`` they are on stable storage too.

A write that fails part-way (disk full, file size limit, I/O error) is cut back to the
file's previous size before the error is raised, so no torn line stays behind; a file
whose last line was torn by a crash mid-write (never acknowledged) is repaired when opened.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from otel_logging.record import RecordBatch
from otel_logging.record.lines import last_line_end
from otel_logging.record.names import LOG_SUFFIX, parse_log_file_name, rotated_name, safe_app_name
from otel_logging.record.names import rotated_pattern as rotated_pattern
from otel_logging.sinks import SinkError
from otel_logging.sinks.replay_memory import RECENT_WRITES as RECENT_WRITES
from otel_logging.sinks.replay_memory import ReplayMemory, journal_path
from otel_logging.worker import WorkerPool

_log = logging.getLogger("otel_logging.sinks.files")

SUFFIX = LOG_SUFFIX
PARTIAL_SUFFIX = ".gz.partial"  # ``.<rotated name>.gz.partial``: a compression under way (or cut short by a kill)
DEFAULT_COMPRESS_THREADS = 2  # per FileSink, whatever the number of apps and rotations


@dataclass(frozen=True, slots=True)
class RotationPolicy:
    max_bytes: int | None = None  # rotate once the file reaches this size
    interval_s: int | None = None  # rotate once the file has been open this long
    retain_count: int | None = None  # keep at most this many rotated files per app
    retain_age_s: int | None = None  # delete rotated files older than this
    compress: bool = False  # gzip rotated files


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class AppFile:
    """The open file of one app, with its rotation state. Callers hold ``lock``."""

    def __init__(
        self,
        directory: Path,
        stem: str,
        policy: RotationPolicy,
        fsync: bool,
        compress: Callable[[Path], None] | None = None,
        replays: ReplayMemory | None = None,
    ) -> None:
        """``compress(rotated_path)`` schedules the compression (then retention) of a rotated file; without it,
        a rotation compresses in the calling thread. ``replays``: the digests of its last writes, to drop a
        request sent twice (``serve --drop-replayed-writes``)."""
        self.directory = directory
        self.stem = stem
        self.path = directory / f"{stem}{SUFFIX}"
        self.policy = policy
        self.fsync = fsync
        self._compress = compress
        self.lock = threading.Lock()
        self.replays = replays
        self._fd = -1
        self._size = 0
        self._opened_at = 0.0
        self._open()

    def _open(self) -> None:
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._size = os.fstat(self._fd).st_size
        if self._size and os.pread(self._fd, 1, self._size - 1) != b"\n":
            self._drop_torn_tail()
        self._opened_at = time.time()

    def _drop_torn_tail(self) -> None:
        """Cut a last line without its newline: a write cut short by a crash, never acknowledged."""
        complete = last_line_end(self._fd, 0, self._size)
        os.ftruncate(self._fd, complete)
        _log.warning("%s: removed a torn last line of %d bytes (an unfinished write)", self.path, self._size - complete)
        self._size = complete

    def write(self, data: bytes | memoryview) -> int:
        """Append ``data``; return the file's size before it (for ``take_back``)."""
        if self._fd < 0:
            self._open()
        before = self._size
        try:
            _write_all(self._fd, data)
            if self.fsync:
                os.fsync(self._fd)
        except OSError:
            self._undo_failed_write()
            raise
        self._size += len(data)
        if self._due_for_rotation():
            try:
                self.rotate()
            except OSError as exc:  # the records are written; a failed rotation must not fail the request
                _log.warning("could not rotate %s: %s", self.path, exc)
        return before

    def position(self) -> tuple[str, int, int, int]:
        """(path, device, inode, size) of the file the next write appends to. Callers hold ``lock``."""
        if self._fd < 0:
            self._open()
        info = os.fstat(self._fd)
        return str(self.path), info.st_dev, info.st_ino, self._size

    def take_back(self, before: int, length: int) -> bool:
        """Remove a completed write of ``length`` bytes at ``before`` if nothing was written after it.

        Used when a later part of the same request failed: the request is refused and retried,
        so its lines already written would otherwise be there twice. Callers hold ``lock``.
        """
        if self._fd < 0 or self._size != before + length:
            return False  # rotated, closed, or other lines followed: leave it (a duplicate at worst)
        try:
            os.ftruncate(self._fd, before)
        except OSError:
            return False
        self._size = before
        return True

    def _undo_failed_write(self) -> None:
        """Cut the file back to its size before the failed write, so no partial line stays."""
        try:
            os.ftruncate(self._fd, self._size)
        except OSError as exc:
            _log.warning("%s: could not remove a partial write (%s); it is repaired on reopen", self.path, exc)
            self.close()

    def _due_for_rotation(self) -> bool:
        policy = self.policy
        if policy.max_bytes is not None and self._size >= policy.max_bytes:
            return True
        return policy.interval_s is not None and time.time() - self._opened_at >= policy.interval_s

    def rotate(self) -> Path | None:
        """Rename the current file to ``<stem>.<UTC stamp>.jsonl`` and start a new one."""
        if self._size == 0:
            self._opened_at = time.time()
            return None
        self.close()
        target = self.directory / rotated_name(self.stem)
        os.replace(self.path, target)
        self._open()
        if not self.policy.compress:
            self.prune()
        elif self._compress is not None:
            self._compress(target)
        else:
            compress_then_prune(self.directory, self.stem, self.policy, target)
        return target

    def rotated_files(self) -> list[Path]:
        return rotated_files(self.directory, self.stem)

    def prune(self) -> list[Path]:
        """Apply retention to this app's rotated files; return what was deleted."""
        return prune(self.directory, self.stem, self.policy)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def release(self) -> None:
        """Close the file and its replay journal (the sink evicts or closes it)."""
        self.close()
        if self.replays is not None:
            self.replays.close()


def rotated_files(directory: Path, stem: str) -> list[Path]:
    pattern = rotated_pattern(stem)
    return sorted(p for p in directory.iterdir() if pattern.match(p.name))


def compress_then_prune(directory: Path, stem: str, policy: RotationPolicy, path: Path) -> None:
    """gzip the rotated file ``path`` of app ``stem``, then apply retention to the app's rotated files."""
    try:
        compress_file(path)
    except OSError as exc:
        _log.warning("could not compress %s: %s (it is compressed at the next start)", path, exc)
    prune(directory, stem, policy)


def prune(directory: Path, stem: str, policy: RotationPolicy) -> list[Path]:
    """Apply retention to the rotated files of app ``stem``; return what was deleted."""
    if policy.retain_count is None and policy.retain_age_s is None:
        return []
    files = rotated_files(directory, stem)
    doomed: list[Path] = []
    if policy.retain_count is not None and len(files) > policy.retain_count:
        doomed.extend(files[: len(files) - policy.retain_count])
    if policy.retain_age_s is not None:
        cutoff = time.time() - policy.retain_age_s
        for path in files:
            try:
                if path not in doomed and path.stat().st_mtime < cutoff:
                    doomed.append(path)
            except FileNotFoundError:
                continue
    for path in doomed:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
    return doomed


def compress_file(path: Path) -> Path:
    """gzip ``path`` to ``path.gz`` (written aside, then renamed) and remove the original."""
    target = path.with_name(path.name + ".gz")
    partial = path.with_name("." + path.name + PARTIAL_SUFFIX)
    try:
        with open(path, "rb") as src, gzip.open(partial, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)  # a kill leaves it instead: removed at the next start
        raise
    path.unlink()
    return target


class FileSink:
    """Writes each app's records to its own file under ``log_dir``.

    Rotated files are compressed (when the policy says so) by at most ``compress_threads`` threads of the
    sink, whatever the number of apps; ``close()`` lets the compressions already scheduled finish and joins
    those threads. On start the sink finishes what a killed predecessor left: ``.partial`` files of a
    compression cut short are removed, and rotated files not compressed yet are (in the background).
    """

    name = "files"

    def __init__(
        self,
        log_dir: Path | str,
        policy: RotationPolicy | None = None,
        *,
        fsync: bool = False,
        max_open_files: int = 256,
        compress_threads: int = DEFAULT_COMPRESS_THREADS,
        recover: bool = True,
        drop_replays: bool = False,
    ) -> None:
        if compress_threads < 1:
            raise ValueError(f"compress_threads must be at least 1, not {compress_threads}")
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.policy = policy or RotationPolicy()
        self.fsync = fsync
        self.max_open_files = max_open_files
        self._files: OrderedDict[str, AppFile] = OrderedDict()
        self._files_lock = threading.Lock()
        self._stems: dict[str, str] = {}
        self._compressor = WorkerPool("compress", compress_threads)
        self.drop_replays = drop_replays  # skip writes identical to a recent one (see ``write``); off by default
        self.duplicates_dropped = 0  # lines of requests sent twice, not written again (see ``write``)
        self._count_lock = threading.Lock()  # writes of different apps count at once (each under its own lock)
        if recover:
            self.recover()

    def recover(self) -> list[Path]:
        """Finish what a killed service left in ``log_dir``: remove the ``.partial`` files of compressions cut
        short, and (when rotated files are compressed) schedule the compression of rotated files that have
        none yet (one whose ``.gz`` exists too was cut short between the rename and the removal: it is
        compressed again). Returns the files scheduled."""
        scheduled: list[Path] = []
        for path in sorted(self.log_dir.iterdir()):
            name = path.name
            if name.startswith(".") and name.endswith(SUFFIX + PARTIAL_SUFFIX):
                try:
                    path.unlink()
                    _log.info("removed %s, left by a compression cut short", path)
                except OSError as exc:
                    _log.warning("could not remove %s: %s", path, exc)
            elif (
                self.policy.compress
                and (parsed := parse_log_file_name(name)) is not None
                and parsed.rotated
                and not parsed.compressed
                and path.is_file()
            ):
                self._schedule_compression(parsed.app, path)
                scheduled.append(path)
        if scheduled:
            _log.info("compressing %d rotated file(s) left uncompressed", len(scheduled))
        return scheduled

    def _schedule_compression(self, stem: str, path: Path) -> None:
        try:
            self._compressor.submit(compress_then_prune, self.log_dir, stem, self.policy, path)
        except RuntimeError:  # closed: the next start compresses it
            _log.info("%s: not compressed (the sink is closed); it is at the next start", path)

    def path_for(self, service: str) -> Path:
        return self.log_dir / f"{self._stem(service)}{SUFFIX}"

    def _stem(self, service: str) -> str:
        stem = self._stems.get(service)
        if stem is None:
            stem = safe_app_name(service)
            if len(self._stems) < 100_000:
                self._stems[service] = stem
        return stem

    def _app_file(self, stem: str) -> AppFile:
        with self._files_lock:
            app_file = self._files.get(stem)
            if app_file is not None:
                self._files.move_to_end(stem)
                return app_file
            app_file = AppFile(
                self.log_dir,
                stem,
                self.policy,
                self.fsync,
                lambda path: self._schedule_compression(stem, path),
                ReplayMemory(journal_path(self.log_dir, stem)) if self.drop_replays else None,
            )
            self._files[stem] = app_file
            while len(self._files) > self.max_open_files:
                _, idle = self._files.popitem(last=False)
                with idle.lock:
                    idle.release()
            return app_file

    def write(self, batch: RecordBatch) -> None:
        """Write each app's JSON lines; if one app's write fails, take back the others' and raise SinkError.

        With ``drop_replays`` (``serve --drop-replayed-writes``), an app's lines identical, byte for byte, to one
        of its last ``RECENT_WRITES`` writes are not written again: behind a gateway that replays its queue after a
        crash, that is a request sent twice. Off by default: a sender whose clock is coarse can send two
        genuinely equal records in two requests. Counted in ``duplicates_dropped``. A write that a later request
        was skipped for is never taken back (that request was acknowledged on the strength of it).
        """
        written: list[tuple[AppFile, int, int, bytes]] = []
        try:
            for service in batch:
                data = batch.lines(service)
                if data:
                    done = self._append(service, data)
                    if done is not None:
                        written.append(done)
        except SinkError:
            for app_file, before, length, digest in reversed(written):
                with app_file.lock:
                    replays = app_file.replays
                    if replays is not None and replays.kept(digest):  # a request was acknowledged as its duplicate
                        continue
                    app_file.take_back(before, length)
                    if replays is not None:
                        replays.forget(digest)  # refused: its retry is not a duplicate
            raise

    def metric_samples(self) -> Iterator[tuple[str, dict[str, str], int]]:
        """For ``/metrics``: the lines of requests sent twice that were not written again."""
        yield "otel_logging_file_duplicates_dropped_total", {}, self.duplicates_dropped

    def position(self, service: str) -> tuple[str, int, int, int]:
        """Where the next write for ``service`` goes: (path, device, inode, size before it)."""
        app_file = self._app_file(self._stem(service))
        with app_file.lock:
            return app_file.position()

    def _append(self, service: str, data: bytes | memoryview) -> tuple[AppFile, int, int, bytes] | None:
        """Append ``data`` to the app's file: (file, size before, length, digest), or None for a duplicate."""
        stem = self._stem(service)
        digest = hashlib.blake2b(data, digest_size=16).digest() if self.drop_replays else b""
        try:
            app_file = self._app_file(stem)
            with app_file.lock:
                replays = app_file.replays
                if replays is not None and replays.seen(digest):
                    dropped = bytes(data).count(b"\n")  # rare: the copy does not matter
                    with self._count_lock:
                        self.duplicates_dropped += dropped
                    return None
                before = app_file.write(data)
                if replays is not None:
                    replays.remember(digest)
        except OSError as exc:
            raise SinkError(f"cannot write {self.log_dir / (stem + SUFFIX)}: {exc.strerror or exc}") from exc
        return app_file, before, len(data), digest

    def rotate_due(self) -> None:
        """Rotate files whose time interval has passed (called periodically by the service)."""
        with self._files_lock:
            files = list(self._files.values())
        for app_file in files:
            with app_file.lock:
                if app_file._fd >= 0 and app_file._due_for_rotation():
                    app_file.rotate()

    def close(self, timeout: float = 10.0) -> None:
        """Close the files, let the compressions scheduled finish and join their threads for up to ``timeout``
        (one still running is logged and left, a daemon: the next start finishes its file). Files rotated
        after this are compressed at the next start."""
        with self._files_lock:
            for app_file in self._files.values():
                with app_file.lock:
                    app_file.release()
            self._files.clear()
        self._compressor.close(timeout)
