"""Saved views: a named query with its time range, columns and time zone, kept beside the logs.

The file is ``<log-dir>/.otel-logging/views.json`` (the dashboard's ``--log-dir``, for the
Elasticsearch source too)::

    {"version": 1, "views": {"checkout errors": {"query": "service:checkout AND level:error",
                                                 "range": "24h", "start": "", "end": "",
                                                 "cols": ["attributes.order_id"], "tz": "UTC"}}}

It is written whole to a temporary file in the same directory and renamed over the old one, so a
reader never sees half a file. A file that cannot be read is reported (``SavedViewsError``) and
is never overwritten: fix or delete it.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from otel_logging.dashboard.state import VIEWS
from otel_logging.record.atomic import write_atomic
from otel_logging.store import STORE_DIR

FILE_NAME = "views.json"
VERSION = 1
MAX_NAME = 80
_NAME = re.compile(r"[\w][\w .\-]*", re.UNICODE)
# The page's tabs: ``?view=records`` opens a tab, ``?view=<name>`` a saved view.
RESERVED_NAMES = frozenset(VIEWS)


class SavedViewsError(Exception):
    """A bad name, or a views file that cannot be read or written (the message says which and why)."""


@dataclass(frozen=True)
class SavedView:
    name: str
    query: str = ""
    range: str = "all"
    start: str = ""
    end: str = ""
    cols: list[str] = field(default_factory=list)
    tz: str = "UTC"

    @classmethod
    def of(cls, name: str, state: Any) -> SavedView:
        """The view ``name`` of what ``state`` (a page state: it has every field below) shows."""
        return cls(name=name, **{key: copy.copy(getattr(state, key)) for key in VIEW_SETTINGS})

    def settings(self) -> dict[str, Any]:
        """The page settings this view sets, by the page state's field names."""
        return {key: copy.copy(getattr(self, key)) for key in VIEW_SETTINGS}


VIEW_SETTINGS: tuple[str, ...] = tuple(f.name for f in fields(SavedView) if f.name != "name")


def views_file(log_dir: Path) -> Path:
    return log_dir / STORE_DIR / FILE_NAME


def query_lookup(log_dir: Path) -> Callable[[str], str | None]:
    """The query of a saved view by name (None: no such view, or the file is unreadable), read from
    ``log_dir``'s views file at each call: what an alert rule's ``view = "..."`` names."""

    def lookup(name: str) -> str | None:
        try:
            view = load(views_file(log_dir)).get(name)
        except SavedViewsError:
            return None
        return None if view is None else view.query

    return lookup


def check_name(name: str) -> str:
    """The name, stripped; a SavedViewsError saying what is wrong with it otherwise."""
    name = name.strip()
    if not name:
        raise SavedViewsError("a saved view needs a name")
    if len(name) > MAX_NAME:
        raise SavedViewsError(f"a view's name has at most {MAX_NAME} characters ({len(name)} given)")
    if not _NAME.fullmatch(name):
        raise SavedViewsError(
            f"{name!r} is not a view name: use letters, digits, spaces, '.', '-' and '_' "
            "(not first: a space, '.' or '-')"
        )
    if name.lower() in RESERVED_NAMES:
        raise SavedViewsError(f"{name!r} is the name of a tab of the page: choose another name")
    return name


def load(path: Path) -> dict[str, SavedView]:
    """The saved views by name (none when the file does not exist yet)."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SavedViewsError(f"cannot read the saved views in {path}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or not isinstance(data.get("views"), dict):
            raise ValueError('no "views" object')
        views = {}
        for name, item in data["views"].items():
            if not isinstance(item, dict):
                raise ValueError(f"the view {name!r} is not an object")
            cols = item.get("cols", [])
            if not isinstance(cols, list):
                raise ValueError(f"the view {name!r} has columns that are not a list")
            views[name] = SavedView(
                name=name,
                query=str(item.get("query", "")),
                range=str(item.get("range", "all")),
                start=str(item.get("start", "")),
                end=str(item.get("end", "")),
                cols=[str(c) for c in cols],
                tz=str(item.get("tz", "UTC")),
            )
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise SavedViewsError(f"the saved views file {path} is damaged ({exc}): fix or delete it") from exc
    return views


def save(path: Path, view: SavedView) -> dict[str, SavedView]:
    """Add or replace ``view`` (by name); the views after it."""
    view = SavedView(**{**asdict(view), "name": check_name(view.name)})
    views = load(path)
    views[view.name] = view
    _write(path, views)
    return views


def delete(path: Path, name: str) -> dict[str, SavedView]:
    views = load(path)
    if name not in views:
        raise SavedViewsError(f"there is no saved view named {name!r}")
    del views[name]
    _write(path, views)
    return views


def _write(path: Path, views: dict[str, SavedView]) -> None:
    """The whole file, atomically: a temporary file beside it, flushed to disk, renamed over it."""
    data = {
        "version": VERSION,
        "views": {name: {k: v for k, v in asdict(view).items() if k != "name"} for name, view in sorted(views.items())},
    }
    try:
        write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise SavedViewsError(f"cannot save the views in {path}: {exc.strerror or exc}") from exc
