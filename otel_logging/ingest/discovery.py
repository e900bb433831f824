"""Which files a set of PATH arguments names: files as given, directories by glob (optionally recursive)."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(slots=True)
class Discovery:
    files: list[str] = field(default_factory=list)  # oldest first, so rotated files come before the live one
    missing: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def discover(
    paths: list[str],
    *,
    recursive: bool = False,
    glob: str | None = None,
    exclude: frozenset[str] = frozenset(),
) -> Discovery:
    """Expand ``paths``. A file named explicitly is always taken; inside directories only files matching
    ``glob`` (default: every file not starting with a dot), one level deep unless ``recursive``."""
    found: dict[str, float] = {}
    result = Discovery()
    pattern = glob or "*"
    for raw in paths:
        path = os.path.abspath(raw)
        if os.path.isdir(path):
            for file_path in _walk(path, recursive):
                name = os.path.basename(file_path)
                if name.startswith(".") or not fnmatch.fnmatch(name, pattern):
                    continue
                if file_path in exclude or any(file_path.startswith(d + os.sep) for d in exclude):
                    continue
                found.setdefault(file_path, _mtime(file_path))
        elif os.path.lexists(path):
            found.setdefault(path, _mtime(path))
        else:
            result.missing.append((raw, "no such file or directory: check the path"))
    result.files = sorted(found, key=lambda p: (found[p], p))
    return result


def _walk(directory: str, recursive: bool) -> list[str]:
    out: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return out
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                if recursive and not entry.name.startswith("."):
                    out.extend(_walk(entry.path, recursive))
            else:
                out.append(entry.path)
        except OSError:
            out.append(entry.path)  # reported when it is opened
    return out


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def exclusions(*paths: Path | str | None) -> frozenset[str]:
    """Absolute forms of the paths the aggregation itself writes (never read back)."""
    return frozenset(os.path.abspath(p) for p in paths if p is not None)
