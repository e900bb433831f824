"""The per-app files under a log directory: ``<app>.jsonl`` and rotated ``<app>.<stamp>.jsonl[.gz]``.

Only regular files directly inside the directory are ever listed or opened: no symlinks, no
subdirectories. The browser only ever names a file by a name from this listing (a filter value),
never by a path.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from otel_logging.record.names import parse_log_file_name


@dataclass(frozen=True, slots=True)
class LogFile:
    path: Path
    name: str
    app: str
    rotated: bool  # a rotated file never grows
    compressed: bool
    size: int
    device: int
    inode: int

    @property
    def key(self) -> tuple[int, int]:
        return (self.device, self.inode)


def parse_name(name: str) -> tuple[str, bool, bool] | None:
    """``(app, rotated, compressed)`` for a per-app file name, else None."""
    parsed = parse_log_file_name(name)
    if parsed is None:
        return None
    return parsed.app, parsed.rotated, parsed.compressed


def list_log_files(log_dir: Path) -> list[LogFile]:
    """Every per-app file directly in ``log_dir`` (missing directory: none)."""
    found: list[LogFile] = []
    try:
        entries = list(os.scandir(log_dir))
    except FileNotFoundError:
        return []
    for entry in entries:
        parsed = parse_name(entry.name)
        if parsed is None:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(info.st_mode):
            continue
        app, rotated, compressed = parsed
        path = Path(entry.path)
        found.append(
            LogFile(path, entry.name, app, rotated or compressed, compressed, info.st_size, info.st_dev, info.st_ino)
        )
    found.sort(key=lambda f: (f.app, f.rotated, _reverse(f.name)))
    return found


def _reverse(name: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in name)
