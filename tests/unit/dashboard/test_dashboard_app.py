"""The Streamlit page through Streamlit's AppTest: widgets, URL state, views, errors, password."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from otel_logging.dashboard.app import ENV_LOG_DIR, ENV_PASSWORD
from otel_logging.record import to_json_lines
from tests.support.generated_logs import make_record
from tests.support.procs import REPO

ENTRY = str(REPO / "dashboards" / "streamlit_app.py")
TRACE = "5b8aa5a2d2c872e8321cf37308d69df2"
NOW = datetime.now(UTC)


@pytest.fixture
def log_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "logs"
    directory.mkdir()
    at = lambda s: NOW - timedelta(seconds=s)  # noqa: E731
    shop = [
        make_record("shop", at(50), body="cart 1 created", logger="shop.cart", attributes={"user": "ann"}),
        make_record("shop", at(40), level=("ERROR", 17), body="payment failed for order 9", logger="shop.pay"),
        make_record("shop", at(30), level=("ERROR", 17), body="payment failed for order 10", trace_id=TRACE),
        make_record("shop", at(20), level=("WARN", 13), body="stock low: 3 left", logger="shop.stock"),
    ]
    mail = [
        make_record("mail", at(29), body="receipt queued", logger="mail.out", trace_id=TRACE),
        make_record("mail", at(10), body="receipt sent", logger="mail.out", attributes={"user": "ann"}),
    ]
    (directory / "shop.jsonl").write_bytes(to_json_lines(shop))
    (directory / "mail.jsonl").write_bytes(to_json_lines(mail))
    monkeypatch.setenv(ENV_LOG_DIR, str(directory))
    monkeypatch.delenv(ENV_PASSWORD, raising=False)
    return directory


def run_app(query: dict[str, str | list[str]] | None = None) -> AppTest:
    app = AppTest.from_file(ENTRY, default_timeout=60)
    app.query_params = dict(query or {})
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def markdown_text(app: AppTest) -> str:
    return html.unescape("\n".join(m.value for m in app.markdown))


def widget(app: AppTest, kind: str, label: str) -> Callable:  # type: ignore[type-arg]
    return next(w for w in getattr(app, kind) if w.label == label)


def params_of(app: AppTest) -> dict[str, list[str]]:
    return {k: v if isinstance(v, list) else [v] for k, v in app.query_params.items()}


def test_an_old_link_opens_as_the_equivalent_query(log_dir: Path) -> None:
    """level=, service=, f= and s= (links from before the query bar held the filters) become its clauses."""
    app = run_app({"level": "ERROR", "service": "shop", "s": "PAYMENT"})
    assert app.text_input(key="w_query").value == "level:ERROR AND service:shop AND PAYMENT"
    assert "2 records match" in markdown_text(app)
    assert widget(app, "multiselect", "Levels").value == ["ERROR"]
    assert widget(app, "multiselect", "Services").value == ["shop"]
    assert app.dataframe[0].value["message"].tolist() == ["payment failed for order 10", "payment failed for order 9"]
    params = params_of(app)
    assert params["q"] == ["level:ERROR AND service:shop AND PAYMENT"]
    assert not {"level", "service", "s"} & set(params)  # the URL now carries the query alone
    app = run_app({"f": ["user!=ann"], "s": "^receipt", "re": "1"})
    assert app.text_input(key="w_query").value == "-user:ann AND /^receipt/"
    assert app.dataframe[0].value["message"].tolist() == ["receipt queued"]


def test_picking_a_level_writes_the_query_and_removing_it_removes_it(log_dir: Path) -> None:
    app = run_app({"q": "payment OR receipt"})
    assert "4 records match" in markdown_text(app)
    widget(app, "multiselect", "Levels").select("ERROR").run()
    assert app.text_input(key="w_query").value == "(payment OR receipt) AND level:ERROR"
    assert "2 records match" in markdown_text(app)
    widget(app, "multiselect", "Levels").select("INFO").run()
    assert app.text_input(key="w_query").value == "(payment OR receipt) AND level:(ERROR OR INFO)"
    assert "4 records match" in markdown_text(app)
    widget(app, "multiselect", "Services").select("mail").run()
    assert app.text_input(key="w_query").value == "(payment OR receipt) AND level:(ERROR OR INFO) AND service:mail"
    assert "2 records match" in markdown_text(app)
    assert params_of(app)["q"] == ["(payment OR receipt) AND level:(ERROR OR INFO) AND service:mail"]
    widget(app, "multiselect", "Levels").unselect("ERROR").unselect("INFO").run()
    assert app.text_input(key="w_query").value == "(payment OR receipt) AND service:mail"
    assert widget(app, "multiselect", "Levels").value == []
    assert widget(app, "multiselect", "Services").value == ["mail"]


def test_pickers_follow_the_query_bar(log_dir: Path) -> None:
    """The pickers show the query's simple clauses; a query they cannot show leaves them empty but applies."""
    app = run_app()
    app.text_input(key="w_query").input("level:(error OR warn) AND logger:shop.pay").run()
    assert widget(app, "multiselect", "Levels").value == ["ERROR", "WARN"]
    assert widget(app, "multiselect", "Loggers").value == ["shop.pay"]
    assert "1 record matches" in markdown_text(app)
    app.text_input(key="w_query").input("service:sh* OR level:warn").run()
    assert widget(app, "multiselect", "Levels").value == [] and widget(app, "multiselect", "Services").value == []
    assert "4 records match" in markdown_text(app)


def test_query_bar_filters_and_lives_in_the_url(log_dir: Path) -> None:
    app = run_app({"q": "service:shop AND level:error"})
    assert app.text_input(key="w_query").value == "service:shop AND level:error"
    assert "2 records match" in markdown_text(app)
    app.text_input(key="w_query").input("user:ann OR stock").run()
    assert "3 records match" in markdown_text(app)
    assert sorted(app.dataframe[0].value["message"].tolist()) == ["cart 1 created", "receipt sent", "stock low: 3 left"]
    params = {k: v if isinstance(v, list) else [v] for k, v in app.query_params.items()}
    assert params["q"] == ["user:ann OR stock"]
    again = run_app({"q": params["q"]})  # the link opens the same view
    assert "3 records match" in markdown_text(again)
    assert not app.error


def test_query_mistake_is_shown_with_its_position(log_dir: Path) -> None:
    app = run_app({"q": "service:shop AND (level:error"})
    assert [e.value for e in app.error] == ["Query error at column 18: this '(' is never closed: add ')'"]
    assert app.code[0].value == "service:shop AND (level:error\n                 ^"
    assert "records match" not in markdown_text(app) and "No records match" not in markdown_text(app)
    # The sidebar does not repeat the mistake (its caret line, flattened into one paragraph, pointed nowhere).
    assert "fix the query above to see values" in [c.value for c in app.sidebar.caption]
    assert not any("^" in c.value for c in app.sidebar.caption)
    app.text_input(key="w_query").input("level:eror").run()
    assert any("column 7" in e.value and "not a level" in e.value for e in app.error)
    app.text_input(key="w_query").input("level:error").run()
    assert not app.error and "2 records match" in markdown_text(app)


def test_pickers_show_plain_values_and_levels_their_counts(log_dir: Path) -> None:
    """Options are the values themselves (a count in a label changes the widget while logs arrive
    and drops the user's pick); the level counts are a caption under the picker."""
    app = run_app()
    levels = widget(app, "multiselect", "Levels")
    assert levels.options == ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "UNSET"]
    assert "INFO 3 · WARN 1 · ERROR 2" in [c.value for c in app.sidebar.caption]
    assert widget(app, "multiselect", "Loggers").options == [
        "app.main",
        "mail.out",
        "shop.cart",
        "shop.pay",
        "shop.stock",
    ]
    assert widget(app, "multiselect", "Services").options == ["mail", "shop"]
    assert not [w for w in app.multiselect if w.label == "Apps"]  # the same names as the services: one picker


def test_a_pick_survives_new_records_arriving(log_dir: Path) -> None:
    app = run_app()
    more = [make_record("shop", NOW, level=("ERROR", 17), body=f"late {i}", logger="shop.late") for i in range(3)]
    with open(log_dir / "shop.jsonl", "ab") as f:
        f.write(to_json_lines(more))
    widget(app, "multiselect", "Levels").select("ERROR").run()
    widget(app, "multiselect", "Services").select("shop").run()
    assert widget(app, "multiselect", "Levels").value == ["ERROR"]
    assert widget(app, "multiselect", "Services").value == ["shop"]


def test_bad_regex_and_bad_time_are_errors_not_tracebacks(log_dir: Path) -> None:
    app = run_app({"q": "order (", "re": "1"})  # a link from before the query bar: q was the regex search
    assert any("bad regular expression" in e.value for e in app.error)
    assert app.get("button_group") or app.get("segmented_control")  # the view tabs stay
    app = run_app({"range": "abs", "from": "yesterday"})
    assert any("is not a date and time" in e.value for e in app.error)


def test_empty_directory_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_LOG_DIR, str(tmp_path / "empty"))
    monkeypatch.delenv(ENV_PASSWORD, raising=False)
    app = run_app()
    message = next(i.value for i in app.info if "No log records yet" in i.value)
    assert "make run" in message and "otel-logging serve" in message and "otel_logging.setup" in message
    assert not [c for c in app.sidebar.caption if "read " in c.value]  # the read time is at the top of the view


def test_trace_view(log_dir: Path) -> None:
    app = run_app({"view": "trace", "trace": TRACE})
    assert f"Trace {TRACE}: 2 records from 2 services (mail, shop)" in markdown_text(app)

    assert app.dataframe[0].value["message"].tolist() == ["payment failed for order 10", "receipt queued"]


def test_context_view_marks_the_record_among_every_service_in_time_order(log_dir: Path) -> None:
    app = run_app({"view": "context", "ctx": "shop.jsonl:2"})
    frame = app.dataframe[0].value
    assert frame["message"].tolist() == [
        "cart 1 created",
        "payment failed for order 9",
        "payment failed for order 10",
        "receipt queued",
        "stock low: 3 left",
        "receipt sent",
    ]
    assert frame[""].tolist()[1] == "▶"
    app.toggle(key="w_ctx_all").set_value(False).run()
    frame = app.dataframe[0].value
    assert "receipt queued" not in frame["message"].tolist()
    assert frame["service"].unique().tolist() == ["shop"]


def test_charts_and_patterns_views(log_dir: Path) -> None:
    app = run_app({"view": "charts", "range": "1h"})
    assert any("buckets" in c.value for c in app.caption)
    app = run_app({"view": "patterns"})
    templates = app.dataframe[0].value["template"].tolist()
    assert "payment failed for order <num>" in templates
    assert any("growth: the template's records in the second half" in c.value for c in app.caption)  # says its unit


def test_choices_outlive_a_drawing_that_hides_their_widgets(log_dir: Path) -> None:
    """A bad query hides the field-values picker and the records view's columns (Streamlit forgets the value of a
    widget it did not draw); fixing the query brings both back as they were (it crashed on the missing field)."""
    app = run_app({"field": "attributes.user", "col": "attributes.user"})
    app.text_input(key="w_query").input("service:shop AND (level:error").run()
    assert app.error and not app.exception
    app.segmented_control(key="w_view").set_value("charts").run()
    app.text_input(key="w_query").input("service:shop").run()
    app.segmented_control(key="w_view").set_value("records").run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.selectbox(key="w_field").value == "attributes.user"
    assert app.multiselect(key="w_cols").value == ["attributes.user"]
    assert params_of(app)["field"] == ["attributes.user"] and params_of(app)["col"] == ["attributes.user"]


def test_field_values_include_and_exclude(log_dir: Path) -> None:
    app = run_app({"field": "attributes.user"})
    assert any("ann · 2 (33%)" in c.value for c in app.sidebar.caption)  # of the 6 records, not of the values
    app.button(key="add_field_0").click().run()
    assert app.text_input(key="w_query").value == "attributes.user:ann"
    assert "2 records match" in markdown_text(app)
    app.button(key="drop_field_0").click().run()  # exclude replaces the include of the same value
    assert app.text_input(key="w_query").value == "-attributes.user:ann"
    assert "4 records match" in markdown_text(app)  # records without the attribute are kept
    assert params_of(app)["q"] == ["-attributes.user:ann"]


def test_including_a_service_picks_it(log_dir: Path) -> None:
    """Include on a picker's field writes its clause, and the picker shows it."""
    app = run_app({"field": "service", "q": "level:ERROR OR level:INFO"})
    assert any(c.value.startswith("shop · 3") for c in app.sidebar.caption)
    app.button(key="add_field_0").click().run()
    assert app.text_input(key="w_query").value == "(level:ERROR OR level:INFO) AND service:shop"
    assert widget(app, "multiselect", "Services").value == ["shop"]
    assert "3 records match" in markdown_text(app)
    app.button(key="drop_field_0").click().run()
    assert app.text_input(key="w_query").value == "(level:ERROR OR level:INFO) AND -service:shop"
    assert widget(app, "multiselect", "Services").value == []
    assert "2 records match" in markdown_text(app)


def test_field_names_list_attributes_first(log_dir: Path) -> None:
    app = run_app()
    options = app.selectbox(key="w_field").options
    assert options[0] == "attributes.user"
    assert options.index("service") > max(i for i, name in enumerate(options) if name.startswith("resource."))


def test_extra_columns_and_exception_type(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "exc"
    directory.mkdir()
    stack = 'Traceback (most recent call last):\n  File "app.py", line 3, in <module>\nKeyError: "k"\n'
    records = [
        make_record("api", NOW - timedelta(seconds=2), body="ok", attributes={"http.route": "/a"}),
        make_record(
            "api",
            NOW - timedelta(seconds=1),
            level=("ERROR", 17),
            body="failed",
            attributes={"exception.type": "KeyError", "exception.message": "'k'", "exception.stacktrace": stack},
        ),
    ]
    (directory / "api.jsonl").write_bytes(to_json_lines(records))
    monkeypatch.setenv(ENV_LOG_DIR, str(directory))
    monkeypatch.delenv(ENV_PASSWORD, raising=False)
    app = run_app({"col": "attributes.http.route"})
    frame = app.dataframe[0].value
    assert frame["exception"].tolist() == ["KeyError", ""]
    assert frame["attributes.http.route"].tolist() == ["", "/a"]


def test_pagination(log_dir: Path) -> None:
    app = run_app({"size": "50"})
    assert "page 1 of 1" in markdown_text(app)
    app = run_app({"page": "9", "size": "50"})
    assert "showing 1 to 6, newest first · page 1 of 1" in markdown_text(app)


def test_password_guards_the_page(log_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_PASSWORD, "s3cret")
    app = run_app()
    assert "records match" not in markdown_text(app)
    app.text_input(key="password_input").input("wrong").run()
    assert any("Wrong password" in e.value for e in app.error)
    app.text_input(key="password_input").input("s3cret").run()
    assert "6 records match" in markdown_text(app)


def test_older_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.generated_logs import write_app_logs

    write_app_logs(tmp_path / "many", apps=1, per_app=120)
    monkeypatch.setenv(ENV_LOG_DIR, str(tmp_path / "many"))
    monkeypatch.delenv(ENV_PASSWORD, raising=False)
    app = run_app({"size": "50"})
    newest = app.dataframe[0].value["time"].tolist()
    app.button(key="page_next").click().run()
    assert "showing 51 to 100, newest first · page 2 of 3" in markdown_text(app)
    older = app.dataframe[0].value["time"].tolist()
    assert max(older) <= min(newest)
    params = {k: v if isinstance(v, list) else [v] for k, v in app.query_params.items()}
    assert params["page"] == ["2"]
    app.number_input(key="page_input_2").set_value(3).run()  # a page typed into the page box
    assert "showing 101 to 120, newest first · page 3 of 3" in markdown_text(app)
    assert app.number_input(key="page_input_3").value == 3
    app.button(key="page_prev").click().run()
    assert "page 2 of 3" in markdown_text(app)


def test_unreachable_elasticsearch_is_an_error_not_a_traceback(log_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from otel_logging.dashboard.app import ENV_ES_URL

    monkeypatch.setenv(ENV_ES_URL, "http://127.0.0.1:9")
    app = run_app({"source": "es"})
    assert app.radio(key="w_source").value == "es"
    assert any("unreachable" in w.value for w in [*app.warning, *app.error])
    app.radio(key="w_source").set_value("files").run()
    assert "6 records match" in markdown_text(app)


def test_log_data_is_shown_as_text_not_html(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "hostile"
    directory.mkdir()
    record = make_record("<img src=x onerror=alert(1)>", NOW, body="*bold* <b>x</b>", trace_id=TRACE)
    (directory / "hostile.jsonl").write_bytes(to_json_lines([record]))
    monkeypatch.setenv(ENV_LOG_DIR, str(directory))
    monkeypatch.delenv(ENV_PASSWORD, raising=False)
    app = run_app({"view": "trace", "trace": TRACE})
    raw = "".join(m.value for m in app.markdown)
    assert "1 record from 1 service" in markdown_text(app)
    assert "<img" not in raw and "&#60;img src=x onerror=alert&#40;1&#41;&#62;" in raw


def test_times_shown_in_the_chosen_zone(log_dir: Path) -> None:
    from zoneinfo import ZoneInfo

    app = run_app({"tz": "Asia/Tokyo"})
    assert app.selectbox(key="w_tz").value == "Asia/Tokyo"
    newest = NOW - timedelta(seconds=10)
    expected = newest.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%dT%H:%M:%S")
    assert app.dataframe[0].value["time"].tolist()[0].startswith(expected)


def test_save_a_view_and_open_it_by_url(log_dir: Path) -> None:
    app = run_app({"q": "level:ERROR", "range": "24h", "col": "attributes.user", "tz": "Asia/Tokyo"})
    app.text_input(key="saved_name").input("shop errors")
    app.button(key="saved_save").click().run()
    assert not app.exception and any("saved as 'shop errors'" in s.value for s in app.success)
    saved = json.loads((log_dir / ".otel-logging" / "views.json").read_text())["views"]
    assert saved == {
        "shop errors": {
            "query": "level:ERROR",
            "range": "24h",
            "start": "",
            "end": "",
            "cols": ["attributes.user"],
            "tz": "Asia/Tokyo",
        }
    }
    assert app.selectbox(key="w_saved").value == "shop errors"
    opened = run_app({"view": "shop errors"})  # a shared link
    assert opened.text_input(key="w_query").value == "level:ERROR"
    assert (opened.selectbox(key="w_range").value, opened.selectbox(key="w_tz").value) == ("24h", "Asia/Tokyo")
    assert "attributes.user" in opened.dataframe[0].value.columns
    assert "2 records match" in markdown_text(opened)
    params = params_of(opened)  # the URL shows the whole state, the records tab
    assert params["q"] == ["level:ERROR"] and params["range"] == ["24h"] and params["col"] == ["attributes.user"]
    assert "view" not in params
    # Another view is opened from the list; the page shows it.
    opened.text_input(key="w_query").input("service:mail").run()
    opened.text_input(key="saved_name").input("mail").run()
    opened.button(key="saved_save").click().run()
    opened.selectbox(key="w_saved").select("shop errors").run()
    assert opened.text_input(key="w_query").value == "level:ERROR"
    opened.button(key="saved_delete").click().run()
    assert list(json.loads((log_dir / ".otel-logging" / "views.json").read_text())["views"]) == ["mail"]


def test_saved_view_problems_are_reported_not_fatal(log_dir: Path) -> None:
    app = run_app({"view": "nothing here"})
    assert any("no saved view named 'nothing here'" in e.value for e in app.error)
    assert "6 records match" in markdown_text(app)
    app.text_input(key="saved_name").input("a/b")
    app.button(key="saved_save").click().run()
    assert any("'a/b' is not a view name" in e.value for e in app.error)
    (log_dir / ".otel-logging").mkdir(exist_ok=True)
    (log_dir / ".otel-logging" / "views.json").write_text("{oops")
    app = run_app()
    assert any("damaged" in w.value for w in app.warning)
    assert "6 records match" in markdown_text(app)


def test_while_live_the_sidebar_says_when_its_counts_were_made(log_dir: Path) -> None:
    """Live redraws the records only; the sidebar's counts keep the time they were counted."""
    still = run_app()
    assert not [c.value for c in still.sidebar.caption if "counts as of" in c.value]
    live = run_app({"live": "1"})
    stamped = [c.value for c in live.sidebar.caption if "counts as of" in c.value]
    assert len(stamped) == 2, stamped  # the level counts and the field values
    assert stamped[0].startswith("INFO 3 · WARN 1 · ERROR 2 · counts as of ")
