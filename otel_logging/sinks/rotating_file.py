"""One output file of canonical JSON lines with numbered backups: ``otel-logging aggregate --output-file``.

``F``, ``F.1`` .. ``F.<backup_count>``, rotated by the standard library's ``RotatingFileHandler`` before a line
that would take ``F`` past ``max_bytes``. The sink is also an ordinary ``logging`` handler (the older API's
``FileRotatingHandler`` is this class).
"""

from __future__ import annotations

import logging.handlers

from otel_logging.record import RecordBatch
from otel_logging.sinks import SinkError


class RotatingFileSink(logging.handlers.RotatingFileHandler):
    """Canonical records as JSON lines in ``filename``, rotated at ``max_bytes`` keeping ``backup_count`` files."""

    name: str  # "file:<filename>" (a logging.Handler's name may be None; a sink's is not)

    def __init__(
        self, filename: str, max_bytes: int = 10 << 20, backup_count: int = 5, encoding: str = "utf-8"
    ) -> None:
        super().__init__(filename, maxBytes=max_bytes, backupCount=backup_count, encoding=encoding, delay=False)
        self.name = f"file:{filename}"

    def write(self, batch: RecordBatch) -> None:
        """Append the records; rotate before a line that would take the file past ``max_bytes``."""
        lines, _services = batch.split_lines()
        self.acquire()
        try:
            if self.stream is None:
                self.stream = self._open()
            stream = self.stream
            size = stream.tell()
            pending: list[bytes] = []
            for line in lines:
                if self.maxBytes and size and size + len(line) > self.maxBytes:
                    stream.write(b"".join(pending).decode("utf-8"))
                    pending = []
                    self.doRollover()
                    stream = self.stream
                    size = 0
                pending.append(line)
                size += len(line)
            stream.write(b"".join(pending).decode("utf-8"))
            stream.flush()
        except OSError as exc:
            raise SinkError(f"cannot write {self.baseFilename}: {exc.strerror or exc}") from exc
        finally:
            self.release()
