"""The digests of an app's last writes, kept across a restart, to drop a request sent twice.

``serve --drop-replayed-writes`` skips an app's write identical, byte for byte, to one of its last
``RECENT_WRITES`` writes (a gateway replaying its queue after a crash). A receiver killed between its write and
its reply gets that request again after its restart: so the digests are also appended to a journal,
``<log-dir>/_replays/<app>.digests``, and read back when the app's file is opened again. A record is 17 bytes:
``+`` (written) or ``-`` (taken back: its retry is not a duplicate), then the 16-byte digest. The journal is
rewritten with only the live digests once it holds ``COMPACT_AFTER`` records. It is not fsynced: a crash of the
machine (not of the process) can forget the last digests, and then a replay is written twice, never lost.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from pathlib import Path

_log = logging.getLogger("otel_logging.sinks.files")

RECENT_WRITES = 1024  # per app: digests of its last writes, to drop a request sent twice
DIGEST_BYTES = 16
RECORD_BYTES = 1 + DIGEST_BYTES
COMPACT_AFTER = 4 * RECENT_WRITES  # journal records before it is rewritten with the live digests only
REMEMBERED = b"+"
FORGOTTEN = b"-"
JOURNAL_DIR = "_replays"
JOURNAL_SUFFIX = ".digests"


class ReplayMemory:
    """One app's recent write digests, in memory and in its journal. Callers hold the app file's lock.

    A journal that cannot be opened or written leaves the memory working in memory only (logged once): the
    records are written either way, a replay after a restart may then be written twice.
    """

    def __init__(self, journal: Path) -> None:
        self.journal = journal
        # digest of a recent write -> whether a later request was skipped as its duplicate (then it stays)
        self.recent: OrderedDict[bytes, bool] = OrderedDict()
        self._records = 0
        self._fd = -1
        self._failed = False  # the journal could not be used: memory only from then on
        try:
            journal.parent.mkdir(exist_ok=True)
            self._fd = _open_append(journal)
            self._load()
        except OSError as exc:
            self._give_up(exc)

    def _load(self) -> None:
        size = os.fstat(self._fd).st_size
        whole = size - size % RECORD_BYTES  # a record cut short by a crash of the machine: ignored
        start = max(0, whole - COMPACT_AFTER * RECORD_BYTES)
        data = os.pread(self._fd, whole - start, start)
        for at in range(0, len(data), RECORD_BYTES):
            op, digest = data[at : at + 1], data[at + 1 : at + RECORD_BYTES]
            if op == REMEMBERED:
                self.recent[digest] = False
                self.recent.move_to_end(digest)
            else:
                self.recent.pop(digest, None)
        while len(self.recent) > RECENT_WRITES:
            self.recent.popitem(last=False)
        self._records = whole // RECORD_BYTES
        if whole != size:
            os.ftruncate(self._fd, whole)

    def seen(self, digest: bytes) -> bool:
        """Whether ``digest`` is one of the recent writes; if so it is kept (a request was skipped for it)."""
        if digest not in self.recent:
            return False
        self.recent[digest] = True
        self.recent.move_to_end(digest)
        return True

    def remember(self, digest: bytes) -> None:
        """After a write: its digest joins the recent ones (the oldest leaves)."""
        self.recent[digest] = False
        if len(self.recent) > RECENT_WRITES:
            self.recent.popitem(last=False)
        self._append(REMEMBERED + digest)

    def kept(self, digest: bytes) -> bool:
        """Whether a later request was skipped as a duplicate of this write (then it must stay written)."""
        return bool(self.recent.get(digest))

    def forget(self, digest: bytes) -> None:
        """A write taken back: a retry of its request is written, not skipped."""
        if self.recent.pop(digest, None) is not None:
            self._append(FORGOTTEN + digest)

    def _append(self, record: bytes) -> None:
        if self._failed:
            return
        try:
            if self._fd < 0:  # closed with its app file (evicted while a write was on its way)
                self._fd = _open_append(self.journal)
            if self._records >= COMPACT_AFTER:
                self._compact()
            os.write(self._fd, record)
            self._records += 1
        except OSError as exc:
            self._give_up(exc)

    def _compact(self) -> None:
        """Rewrite the journal with the live digests only (a new file renamed over it: a kill leaves either)."""
        fresh = self.journal.with_name(f".{self.journal.name}.new")
        fd = _open_append(fresh, os.O_TRUNC)
        try:
            os.write(fd, b"".join(REMEMBERED + digest for digest in self.recent))
            os.replace(fresh, self.journal)
        except OSError:
            os.close(fd)
            raise
        os.close(self._fd)
        self._fd = fd
        self._records = len(self.recent)

    def _give_up(self, exc: OSError) -> None:
        _log.warning(
            "%s: %s; the recent writes are remembered in memory only (a request replayed after a restart may be "
            "written twice)",
            self.journal,
            exc.strerror or exc,
        )
        self._failed = True
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _open_append(path: Path, extra_flags: int = 0) -> int:
    return os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | extra_flags, 0o644)


def journal_path(log_dir: Path, stem: str) -> Path:
    return log_dir / JOURNAL_DIR / f"{stem}{JOURNAL_SUFFIX}"
