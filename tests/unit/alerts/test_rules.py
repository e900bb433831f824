"""The rule file: a good file gives its rules; a bad one is refused naming the rule, the field and why."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from otel_logging.alerts.rules import RuleFileError, load_rules, parse_duration, parse_rules, rule_toml

GOOD = """
[defaults]
every = "10s"
repeat = "1h"
notify = ["ops"]
labels = { env = "prod" }

[[target]]
name = "ops"
url = "http://127.0.0.1:1/hook"

[[target]]
name = "chat"
kind = "slack"
url = "https://hooks.slack.example/T0/B0/x"

[[rule]]
name = "checkout errors"
query = "service:checkout AND level:error"
window = "5m"
count_above = 10
labels = { team = "shop" }
notify = ["ops", "chat"]

[[rule]]
name = "error ratio"
query = "level:error"
base = "service:api"
ratio_above = 0.05

[[rule]]
name = "more than usual"
query = "level >= warn"
window = "1h"
change_above = 3
min_count = 20

[[rule]]
name = "new errors"
query = "level:error"
new_pattern = true
lookback = "7d"

[[rule]]
name = "checkout quiet"
query = "service:checkout"
silence = "10m"
for = "1m"

[[rule]]
name = "too few orders"
query = "order placed"
count_below = 5
every = 60

[[silence]]
rule = "checkout quiet"
until = 2026-12-03T18:00:00Z
comment = "maintenance"
"""


def test_a_good_file_gives_every_rule_with_defaults_applied() -> None:
    rules = parse_rules(GOOD)
    by_name = {r.name: r for r in rules.rules}
    assert list(by_name) == [
        "checkout errors",
        "error ratio",
        "more than usual",
        "new errors",
        "checkout quiet",
        "too few orders",
    ]
    first = by_name["checkout errors"]
    assert (first.condition, first.threshold, first.window_s, first.every_s, first.repeat_s) == (
        "count_above",
        10.0,
        300.0,
        10.0,
        3600.0,
    )
    assert first.labels == {"env": "prod", "team": "shop"}
    assert first.notify == ("ops", "chat")
    assert by_name["error ratio"].notify == ("ops",)  # the default
    assert by_name["error ratio"].base == "service:api"
    assert by_name["more than usual"].min_count == 20
    assert by_name["new errors"].lookback_s == 7 * 86400
    quiet = by_name["checkout quiet"]
    assert (quiet.condition, quiet.window_s, quiet.for_s) == ("silence", 600.0, 60.0)
    assert by_name["too few orders"].every_s == 60.0
    assert rules.targets["chat"].kind == "slack"
    assert rules.silenced("checkout quiet", datetime(2026, 12, 3, 17, 59, tzinfo=UTC)) is not None
    assert rules.silenced("checkout quiet", datetime(2026, 12, 3, 18, 0, tzinfo=UTC)) is None
    assert rules.silenced("checkout errors", datetime(2026, 12, 3, 17, 0, tzinfo=UTC)) is None


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ('name = "r"\nquery = "level:("\ncount_above = 1', "rule 'r': query: '(' needs a search term"),
        ('name = "r"\ncount_above = 1\ncount_below = 2', "rule 'r': condition: give exactly one of"),
        ('name = "r"\nquery = "x"', "rule 'r': condition: give exactly one of"),
        ('name = "r"\ncount_above = "many"', "rule 'r': count_above: must be a number >= 0 ('many' given)"),
        ('name = "r"\ncount_above = 1\nwindow = "soon"', "rule 'r': window: 'soon' is not a duration"),
        ('name = "r"\ncount_above = 1\nevery = "100ms"', "rule 'r': every: at least 1s"),
        ('name = "r"\ncount_above = 1\nevery = "1m"\nwindow = "30s"', "rule 'r': window: 30s is shorter than every"),
        ('name = "r"\nratio_above = 5', "rule 'r': ratio_above: a ratio is between 0 and 1"),
        ('name = "r"\nchange_above = 1', "rule 'r': change_above: a factor above 1"),
        ('name = "r"\nnew_pattern = "yes"', "rule 'r': new_pattern: write new_pattern = true"),
        ('name = "r"\nnew_pattern = true\nwindow = "8d"', "rule 'r': lookback: must be longer than the window"),
        ('name = "r"\nsilence = "10m"\nwindow = "5m"', "rule 'r': window: a silence rule's window is its silence"),
        ('name = "r"\ncount_above = 1\nbase = "x"', "rule 'r': base: only for ratio_above"),
        ('name = "r"\ncount_above = 1\nnotify = ["pager"]', "rule 'r': notify: no target named 'pager'"),
        ('name = "r"\ncount_above = 1\nthreshold = 3', "rule 'r': threshold: unknown field"),
        ('name = "r"\ncount_above = 1\nview = "mine"', "rule 'r': view: there is no saved view named 'mine'"),
        ('query = "x"\ncount_above = 1', "rule #1: name: required"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_rule_the_field_and_why(rule: str, expected: str) -> None:
    with pytest.raises(RuleFileError) as caught:
        parse_rules(f"[[rule]]\n{rule}\n", "rules.toml", views=lambda name: None)
    assert any(expected in p for p in caught.value.problems), caught.value.problems
    assert str(caught.value).startswith("rule file rules.toml: ")


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    text = '[[rule]]\nname = "a"\ncount_above = -1\n[[rule]]\nname = "a"\ncount_above = 1\n[[rule]]\nname = "b"\n'
    with pytest.raises(RuleFileError) as caught:
        parse_rules(text)
    problems = caught.value.problems
    assert any(p.startswith("rule 'a': count_above:") for p in problems)
    assert any(p.startswith("rule 'b': condition:") for p in problems)
    assert len(problems) == 2  # the second 'a' is good: no duplicate reported against a refused rule


def test_duplicate_names_bad_targets_and_silences() -> None:
    text = """
[[target]]
name = "t"
kind = "pager"
[[target]]
name = "u"
url = "ftp://x"
[[rule]]
name = "a"
count_above = 1
[[rule]]
name = "a"
count_above = 2
[[silence]]
rule = "nope"
until = 2026-12-03T18:00:00Z
[[silence]]
rule = "a"
until = "tomorrow"
"""
    with pytest.raises(RuleFileError) as caught:
        parse_rules(text)
    problems = caught.value.problems
    assert "target 't': kind: 'pager' is not one of webhook, slack, log" in problems
    assert "target 'u': url: webhook needs an http:// or https:// URL ('ftp://x' given)" in problems
    assert "rule 'a': name: another rule has the same name" in problems
    assert "silence #1: rule: there is no rule named 'nope'" in problems
    assert any(p.startswith("silence #2: until: 'tomorrow' is not a date and time") for p in problems)


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RuleFileError, match="not valid TOML"):
        parse_rules("[[rule]\nname=")
    with pytest.raises(RuleFileError, match="cannot read it"):
        load_rules(tmp_path / "missing.toml")


def test_a_saved_view_gives_its_query() -> None:
    rules = parse_rules(
        '[[rule]]\nname = "r"\nview = "checkout"\ncount_above = 1\n', views={"checkout": "service:x"}.get
    )
    assert (rules.rules[0].query, rules.rules[0].view) == ("service:x", "checkout")


@pytest.mark.parametrize(
    ("text", "seconds"), [(30, 30.0), ("90s", 90.0), ("5m", 300.0), ("2h", 7200.0), ("500ms", 0.5)]
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_a_rule_written_by_the_dashboard_reads_back() -> None:
    text = rule_toml('errors "now"', 'service:"a b" AND level:error', "count_above", "10")
    (rule,) = parse_rules(text).rules
    assert (rule.name, rule.query, rule.threshold) == ('errors "now"', 'service:"a b" AND level:error', 10.0)
