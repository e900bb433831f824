"""Where each file was read up to: identity (device, inode, fingerprint of the first bytes) and offset.

A file is the same file when its device and inode match *and* the first bytes it had when the
checkpoint was taken are still its first bytes. So a file renamed by rotation keeps its offset
under its new name, a new file that reuses an inode starts from 0, and a file that shrank below
its offset (truncated) starts again from 0.

The offset only moves after the sinks accepted the records before it. The checkpoint is a
snapshot (``<path>``) plus a journal (``<path>.journal``, one JSON line per commit). A commit is
one ``write`` of one short line to the journal right after the sinks accepted the batch (the line
is encoded before the batch goes out), so the gap in which a ``kill -9`` makes a batch go out
twice is that one system call; a crash at any other moment neither skips nor repeats a line, and
a commit costs the same with ten files or ten thousand. Every ``COMPACT_EVERY`` commits, and on
close, the snapshot is rewritten (aside, fsync, rename) and the journal emptied.

Local files are written exactly once: before a batch is appended to a per-app file, an intent
line names the file (path, device, inode), its size before the write, the length and the first
and last bytes of what is appended. If the process dies after the append but before the commit,
the next start finds the intent without its commit, sees the bytes in place, and commits it
instead of sending the batch again. Bytes not in place (the append never happened) leave the
checkpoint where it was. (Remote destinations get the batch before the intent: a resend to
Elasticsearch is stored once, by document id; Logstash may see it twice.)
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from otel_logging.record.atomic import write_atomic
from otel_logging.record.names import safe_app_name

_log = logging.getLogger("otel_logging.ingest.checkpoint")

FINGERPRINT_BYTES = 1024
EDGE_BYTES = 32  # how much of the start and end of an appended batch an intent keeps to recognise it
VERSION = 1
COMPACT_EVERY = 1000


def default_checkpoint_path(app_name: str) -> Path:
    """``$OTEL_LOGGING_STATE_DIR`` (else ``$XDG_STATE_HOME/otel-logging``, else ``~/.local/state/otel-logging``)."""
    base = os.environ.get("OTEL_LOGGING_STATE_DIR")
    if base:
        root = Path(base)
    else:
        root = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "otel-logging"
    return root / "aggregate" / f"{safe_app_name(app_name)}.checkpoint.json"


@dataclass(slots=True)
class FileState:
    path: str
    dev: int
    ino: int
    fingerprint: str  # blake2b of the first ``fingerprint_len`` bytes
    fingerprint_len: int
    offset: int  # bytes (uncompressed, for .gz) fully shipped
    size: int  # the file's size (compressed, for .gz) when ``offset`` was committed
    done: bool = False  # a .gz read to its end

    @property
    def key(self) -> str:
        return f"{self.dev}:{self.ino}"


def fingerprint(path: str | Path, length: int = FINGERPRINT_BYTES) -> tuple[str, int]:
    """Hash of the first ``length`` bytes of ``path`` (fewer when the file is shorter) and how many."""
    with open(path, "rb") as f:
        head = f.read(length)
    return fingerprint_of(head), len(head)


def fingerprint_of(head: bytes) -> str:
    return hashlib.blake2b(head, digest_size=12).hexdigest()


@dataclass(frozen=True, slots=True)
class OutputWrite:
    """One append of a batch to a local file, as named by an intent."""

    path: str
    dev: int
    ino: int
    at: int  # the file's size before the append
    length: int
    head: str  # hex of the first EDGE_BYTES appended
    tail: str  # hex of the last EDGE_BYTES appended

    @classmethod
    def of(cls, position: tuple[str, int, int, int], data: bytes | memoryview) -> OutputWrite:
        path, dev, ino, at = position
        return cls(path, dev, ino, at, len(data), data[:EDGE_BYTES].hex(), data[-EDGE_BYTES:].hex())

    def locate(self) -> str | None:
        """The file now: under its path, or renamed (rotated) in the same directory; None if gone."""
        try:
            info = os.stat(self.path)
            if (info.st_dev, info.st_ino) == (self.dev, self.ino):
                return self.path
            with os.scandir(os.path.dirname(self.path) or ".") as entries:
                for entry in entries:
                    info = entry.stat(follow_symlinks=False)
                    if (info.st_dev, info.st_ino) == (self.dev, self.ino):
                        return entry.path
        except OSError:
            return None
        return None

    def found_in(self, path: str) -> str:
        """What the file at ``path`` holds at ``at``: "complete" (these bytes, checked at both ends),
        "partial" (their start, cut short: a kill can interrupt a large write), or "absent"."""
        head, tail = bytes.fromhex(self.head), bytes.fromhex(self.tail)
        try:
            with open(path, "rb") as f:
                fd = f.fileno()
                size = os.fstat(fd).st_size
                present = min(size - self.at, len(head))
                if present <= 0 or os.pread(fd, present, self.at) != head[:present]:
                    return "absent"
                if size < self.at + self.length:
                    return "partial"
                end = self.at + self.length
                return "complete" if os.pread(fd, len(tail), end - len(tail)) == tail else "absent"
        except OSError:
            return "absent"


def _entry(s: FileState) -> dict[str, Any]:
    return {
        "path": s.path,
        "dev": s.dev,
        "ino": s.ino,
        "fingerprint": s.fingerprint,
        "fingerprint_len": s.fingerprint_len,
        "offset": s.offset,
        "size": s.size,
        "done": s.done,
    }


class Checkpoints:
    """The checkpoint of one aggregation (one app): ``FileState`` by dev:ino, snapshot + journal."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.files: dict[str, FileState] = {}  # live: what this run has read (ahead of the sinks in flight)
        self._published: dict[str, dict[str, Any]] = {}  # what the sinks have: the only thing ever stored
        self._pending: tuple[str, dict[str, Any], bytes] | None = None
        self._journal_fd = -1
        self._journal_entries = 0
        if path is not None:
            torn = self._load(path)
            if torn:
                self.compact()  # a commit cut by a crash: start a clean journal

    @property
    def journal_path(self) -> Path:
        assert self.path is not None
        return self.path.with_name(self.path.name + ".journal")

    def _load(self, path: Path) -> bool:
        """Read the snapshot and replay the journal; True if the journal ends in a torn line."""
        try:
            if path.exists():
                document = orjson.loads(path.read_bytes())
                for entry in document.get("files", []):
                    state = FileState(**entry)
                    self.files[state.key] = state
                    self._published[state.key] = entry
            journal = self.journal_path
            if not journal.exists():
                return False
            lines = journal.read_bytes().split(b"\n")
            torn = lines.pop() != b""  # what follows the last newline: empty unless a write was cut
            intent: dict[str, Any] | None = None
            for number, line in enumerate(lines, 1):
                entry = orjson.loads(line)
                self._journal_entries = number
                if "intent" in entry:
                    intent = entry
                    continue
                intent = None  # committed
                self._apply(entry)
            if intent is not None:
                self._settle(intent["intent"], [OutputWrite(**o) for o in intent["outputs"]])
                return True  # rewrite the snapshot now: the intent is settled once
            return torn
        except (orjson.JSONDecodeError, TypeError, AttributeError) as exc:
            raise ValueError(
                f"checkpoint {path} (or its .journal) is damaged ({exc}); move both aside to read every file from "
                "the start"
            ) from exc

    def _apply(self, entry: dict[str, Any]) -> None:
        state = FileState(**entry)
        self.files[state.key] = state
        self._published[state.key] = entry

    def _settle(self, entry: dict[str, Any], outputs: list[OutputWrite]) -> None:
        """A batch whose local-file appends were intended but whose commit is missing (a crash between)."""
        found = [(out, path, out.found_in(path) if path else "absent") for out in outputs for path in [out.locate()]]
        if all(what == "complete" for _, _, what in found):
            self._apply(entry)  # every append happened: the batch is shipped
            return
        # The batch is sent again: take back what of it is in the files (cut short, or some apps only).
        for out, path, what in found:
            if path is None or what == "absent":
                continue
            try:
                if what == "partial" or os.stat(path).st_size == out.at + out.length:
                    os.truncate(path, out.at)
                    continue
            except OSError:
                pass
            _log.warning("%s: %d bytes of an interrupted batch stay and will be written again", path, out.length)

    def lookup(self, dev: int, ino: int, head: bytes) -> FileState | None:
        """The state of the file with this device/inode whose first bytes ``head`` still starts with."""
        state = self.files.get(f"{dev}:{ino}")
        if state is None:
            return None
        if len(head) < state.fingerprint_len or fingerprint_of(head[: state.fingerprint_len]) != state.fingerprint:
            return None  # a different file on a reused inode, or rewritten
        return state

    def commit(self, state: FileState) -> None:
        self.prepare(state)
        self.publish()

    def prepare(self, state: FileState) -> None:
        """Encode the commit of ``state``; ``publish`` writes it once the sinks took the batch."""
        self.files[state.key] = state
        entry = _entry(state)
        self._pending = (state.key, entry, orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE))

    def intend(self, outputs: list[OutputWrite]) -> None:
        """Record, before the local files get the prepared batch, where it will be appended."""
        if self._pending is None or self.path is None:
            return
        _key, entry, _line = self._pending
        line = orjson.dumps(
            {"intent": entry, "outputs": [asdict(o) for o in outputs]}, option=orjson.OPT_APPEND_NEWLINE
        )
        self._journal_write(line)

    def _journal_write(self, line: bytes) -> None:
        assert self.path is not None
        if self._journal_fd < 0:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._journal_fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        os.write(self._journal_fd, line)  # one short write: a kill -9 cannot cut it
        self._journal_entries += 1

    def publish(self) -> None:
        if self._pending is None:
            return
        key, entry, line = self._pending
        self._pending = None
        self._published[key] = entry
        if self.path is None:
            return
        self._journal_write(line)
        if self._journal_entries >= COMPACT_EVERY:
            self.compact()

    def compact(self) -> None:
        """Rewrite the snapshot with every state (aside, fsync, rename), then empty the journal."""
        if self.path is None:
            return
        document: dict[str, Any] = {"version": VERSION, "files": list(self._published.values())}
        write_atomic(self.path, orjson.dumps(document, option=orjson.OPT_INDENT_2))
        if self._journal_fd >= 0:
            os.ftruncate(self._journal_fd, 0)
        elif self.journal_path.exists():
            os.truncate(self.journal_path, 0)
        self._journal_entries = 0

    def close(self) -> None:
        if self.path is not None and (self._journal_entries or not self.path.exists()):
            self.compact()
        if self._journal_fd >= 0:
            os.close(self._journal_fd)
            self._journal_fd = -1
