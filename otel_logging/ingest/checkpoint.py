"""Where each file was read up to: identity (device, inode, fingerprint of the first bytes) and offset.

A file is the same file when its device and inode match *and* the first bytes it had when the
checkpoint was taken are still its first bytes. So a file renamed by rotation keeps its offset
under its new name, a new file that reuses an inode starts from 0, and a file that shrank below
its offset (truncated) starts again from 0.

The offset only moves after the sinks accepted the records before it. The new checkpoint is
written aside and fsynced *before* the records go to the sinks, and only renamed into place
after they accepted them, so the gap in which a ``kill -9`` leads to a batch being sent twice is
one ``rename`` long; a crash at any other moment neither skips nor repeats a line.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

FINGERPRINT_BYTES = 1024
VERSION = 1


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


class Checkpoints:
    """The checkpoint file of one aggregation (one app), as a dict of ``FileState`` by dev:ino."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.files: dict[str, FileState] = {}
        if path is not None and path.exists():
            self._load(path)

    def _load(self, path: Path) -> None:
        try:
            document = orjson.loads(path.read_bytes())
            for entry in document.get("files", []):
                state = FileState(**entry)
                self.files[state.key] = state
        except (orjson.JSONDecodeError, TypeError, AttributeError) as exc:
            raise ValueError(
                f"checkpoint file {path} is damaged ({exc}); move it aside to read every file from the start"
            ) from exc

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
        """Write the checkpoint with ``state`` aside (durably); ``publish`` makes it the checkpoint."""
        self.files[state.key] = state
        self._write_aside()

    def publish(self) -> None:
        if self.path is not None:
            os.replace(self._partial_path(), self.path)

    def forget(self, key: str) -> None:
        if self.files.pop(key, None) is not None:
            self.save()

    def save(self) -> None:
        self._write_aside()
        self.publish()

    def _partial_path(self) -> Path:
        assert self.path is not None
        return self.path.with_name(f".{self.path.name}.partial")

    def _write_aside(self) -> None:
        if self.path is None:
            return
        document: dict[str, Any] = {
            "version": VERSION,
            "files": [
                {
                    "path": s.path,
                    "dev": s.dev,
                    "ino": s.ino,
                    "fingerprint": s.fingerprint,
                    "fingerprint_len": s.fingerprint_len,
                    "offset": s.offset,
                    "size": s.size,
                    "done": s.done,
                }
                for s in self.files.values()
            ],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._partial_path(), "wb") as f:
            f.write(orjson.dumps(document, option=orjson.OPT_INDENT_2))
            f.flush()
            os.fsync(f.fileno())
