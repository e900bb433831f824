"""Saved views (dashboard/saved_views.py): the file beside the logs, its atomic writes, names, damage."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from otel_logging.dashboard import saved_views
from otel_logging.dashboard.saved_views import SavedView, SavedViewsError, check_name, delete, load, save, views_file
from otel_logging.record import atomic


def test_round_trip(tmp_path: Path) -> None:
    path = views_file(tmp_path / "logs")
    assert path == tmp_path / "logs" / ".otel-logging" / "views.json"
    assert load(path) == {}  # no file yet: no views
    errors = SavedView(
        "checkout errors", "service:checkout AND level:error", "24h", "", "", ["attributes.order"], "Asia/Tokyo"
    )
    window = SavedView("incident 12.3", 'message:"timed out"', "abs", "2026-12-01T10:00", "2026-12-01T11:00", [], "UTC")
    save(path, errors)
    assert save(path, window) == {errors.name: errors, window.name: window}
    assert load(path) == {errors.name: errors, window.name: window}
    data = json.loads(path.read_text())
    assert data["version"] == 1 and data["views"]["checkout errors"]["query"] == "service:checkout AND level:error"
    changed = SavedView("checkout errors", "service:checkout", "1h")
    save(path, changed)  # the same name replaces
    assert load(path)["checkout errors"] == changed
    assert list(delete(path, "checkout errors")) == ["incident 12.3"]
    assert list(load(path)) == ["incident 12.3"]
    with pytest.raises(SavedViewsError, match="no saved view named 'nope'"):
        delete(path, "nope")


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = views_file(tmp_path)
    save(path, SavedView("first", "a"))
    before = path.read_bytes()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(SavedViewsError, match=r"cannot save the views in .*No space left on device"):
        save(path, SavedView("second", "b"))
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == ["views.json"]  # the temporary file is gone


def test_the_file_is_written_through_a_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = views_file(tmp_path)
    renames: list[tuple[str, str]] = []
    real = os.replace

    def spy(src: str, dst: str) -> None:
        assert json.loads(Path(src).read_text())["views"]["v"]["query"] == "a"  # complete before the rename
        renames.append((src, dst))
        real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", spy)
    save(path, SavedView("v", "a"))
    assert len(renames) == 1 and Path(renames[0][1]) == path and Path(renames[0][0]).parent == path.parent


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "needs a name"),
        ("   ", "needs a name"),
        ("x" * 81, "at most 80 characters"),
        ("a/b", "is not a view name"),
        ("-x", "is not a view name"),
        ("a?b", "is not a view name"),
        ("Records", "name of a tab"),
    ],
)
def test_bad_names_are_rejected_with_a_clear_message(tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(SavedViewsError, match=message):
        save(views_file(tmp_path), SavedView(name, "a"))
    assert not views_file(tmp_path).exists()


def test_good_names() -> None:
    assert check_name("  checkout errors ") == "checkout errors"
    assert check_name("prod_eu-1.2") == "prod_eu-1.2"
    assert check_name("Überblick") == "Überblick"


@pytest.mark.parametrize(
    "content", ["{not json", "[]", '{"views": []}', '{"views": {"a": 3}}', '{"views": {"a": {"cols": "x"}}}']
)
def test_a_damaged_file_is_reported_and_never_overwritten(tmp_path: Path, content: str) -> None:
    path = views_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(SavedViewsError, match=r"views\.json is damaged .*: fix or delete it"):
        load(path)
    with pytest.raises(SavedViewsError, match="damaged"):
        save(path, SavedView("v", "a"))
    assert path.read_text() == content


def test_a_view_holds_every_setting_it_names_of_a_page_state_and_gives_them_back() -> None:
    from dataclasses import replace

    from otel_logging.dashboard.state import ViewState

    state = ViewState(
        query="level:error",
        range="abs",
        start="2026-12-01T08:00",
        end="2026-12-01T09:00",
        cols=["user"],
        tz="Asia/Tokyo",
    )
    view = SavedView.of("errors", replace(state, page=3, live=True))
    assert view == SavedView(
        "errors", "level:error", "abs", "2026-12-01T08:00", "2026-12-01T09:00", ["user"], "Asia/Tokyo"
    )
    assert set(saved_views.VIEW_SETTINGS) == {"query", "range", "start", "end", "cols", "tz"}
    opened = replace(ViewState(page=2), **view.settings())
    assert opened == replace(state, page=2)
    opened.cols.append("changed")  # the page's list is its own
    assert view.cols == ["user"]
