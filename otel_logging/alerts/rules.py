"""The rule file: TOML read with the standard library's ``tomllib``, checked whole before any rule is used.

A file that is wrong anywhere is refused whole (``RuleFileError``) with every problem found, each naming
the rule, the field and why; the caller keeps the rules it had (see ``otel_logging/alerts/__init__.py``)::

    [defaults]
    every = "5s"          # evaluation interval
    window = "5m"
    repeat = "4h"         # notify again while firing this long
    notify = ["ops"]

    [[target]]
    name = "ops"
    kind = "webhook"      # webhook (documented JSON body), slack (incoming-webhook body) or log
    url = "http://alerts.example/hook"

    [[rule]]
    name = "checkout errors"
    query = "service:checkout AND level:error"   # or: view = "checkout errors" (a saved view)
    window = "5m"
    count_above = 10      # one condition: count_above, count_below, ratio_above (+ base), change_above,
                          # new_pattern = true (+ lookback), silence = "10m"
    labels = { team = "shop" }

    [[silence]]
    rule = "checkout errors"   # or "*"
    until = 2026-12-03T18:00:00Z
    comment = "deploy"
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from otel_logging.dashboard.querylang import QuerySyntaxError, parse
from otel_logging.durations import seconds
from otel_logging.record.atomic import write_atomic

CONDITIONS: tuple[str, ...] = ("count_above", "count_below", "ratio_above", "change_above", "new_pattern", "silence")
TARGET_KINDS: tuple[str, ...] = ("webhook", "slack", "log")
DEFAULT_EVERY_S = 5.0
DEFAULT_WINDOW_S = 300.0
DEFAULT_REPEAT_S = 4 * 3600.0
DEFAULT_LOOKBACK_S = 7 * 86400.0
MIN_EVERY_S = 1.0
_RULE_KEYS = frozenset(
    {
        "name",
        "query",
        "view",
        "window",
        "every",
        "for",
        "repeat",
        "labels",
        "notify",
        "base",
        "min_count",
        "lookback",
        *CONDITIONS,
    }
)
_DEFAULT_KEYS = frozenset({"every", "window", "repeat", "notify", "labels"})
_TARGET_KEYS = frozenset({"name", "kind", "url", "timeout"})
_SILENCE_KEYS = frozenset({"rule", "until", "comment"})
_TOP_KEYS = frozenset({"defaults", "target", "rule", "silence"})


class RuleFileError(ValueError):
    """A rule file that cannot be used; ``problems`` lists each one as ``rule 'x': field: why``."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"rule file {path}: " + "; ".join(problems))


@dataclass(frozen=True)
class Target:
    name: str
    kind: str  # one of TARGET_KINDS
    url: str = ""
    timeout_s: float = 5.0


@dataclass(frozen=True)
class Rule:
    name: str
    query: str  # the query language; a saved view's query once resolved
    condition: str  # one of CONDITIONS
    threshold: float  # count / ratio / factor; for silence and new_pattern: unused (0)
    window_s: float
    every_s: float = DEFAULT_EVERY_S
    for_s: float = 0.0
    repeat_s: float = DEFAULT_REPEAT_S
    view: str = ""  # the saved view the query came from, if any
    base: str = ""  # ratio_above: the query of the denominator ("" = every record)
    min_count: int = 1  # change_above: the current window needs at least this many records
    lookback_s: float = DEFAULT_LOOKBACK_S  # new_pattern: how far back a pattern counts as known
    labels: dict[str, str] = field(default_factory=dict)
    notify: tuple[str, ...] = ()

    def fingerprint(self) -> str:
        """Changes when what the rule checks changes (its state then starts over)."""
        keys = ("query", "condition", "threshold", "window_s", "base", "min_count", "lookback_s")
        text = json.dumps({k: asdict(self)[k] for k in keys}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def describe(self) -> str:
        """The condition in words: ``count > 10 in 5m``."""
        window = format_duration(self.window_s)
        if self.condition == "count_above":
            return f"count > {self.threshold:g} in {window}"
        if self.condition == "count_below":
            return f"count < {self.threshold:g} in {window}"
        if self.condition == "ratio_above":
            return f"ratio to {self.base or 'all records'!r} > {self.threshold:g} in {window}"
        if self.condition == "change_above":
            return f"count >= {self.threshold:g}x the previous {window}"
        if self.condition == "new_pattern":
            return f"a message pattern not seen in the {format_duration(self.lookback_s)} before appears in {window}"
        return f"no record for {window}"


@dataclass(frozen=True)
class Silence:
    rule: str  # a rule name or "*"
    until: datetime  # UTC
    comment: str = ""

    def covers(self, rule: str, now: datetime) -> bool:
        return now < self.until and self.rule in ("*", rule)


@dataclass(frozen=True)
class RuleSet:
    rules: list[Rule]
    targets: dict[str, Target]
    silences: list[Silence]

    def silenced(self, rule: str, now: datetime) -> Silence | None:
        return next((s for s in self.silences if s.covers(rule, now)), None)


def parse_duration(value: object) -> float:
    """``30`` (seconds), ``"90s"``, ``"5m"``, ``"1h"``, ``"7d"``, ``"500ms"`` -> seconds; ValueError otherwise."""
    result = seconds(value)
    if result <= 0:
        raise ValueError(f"{value!r} is not a positive duration")
    return result


def format_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _until(value: object) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime.combine(value, time(), tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError(f"{value!r} is not a date and time such as 2026-12-03T18:00:00Z")


ViewLookup = Callable[[str], str | None]  # a saved view's name -> its query (None: no such view)


def load_rules(path: Path, views: ViewLookup | None = None) -> RuleSet:
    """The rules of ``path``; ``RuleFileError`` naming every problem when any rule is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleFileError(path, [f"cannot read it: {exc.strerror or exc}"]) from exc
    return parse_rules(text, path, views)


def parse_rules(text: str, path: Path | str = "<text>", views: ViewLookup | None = None) -> RuleSet:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleFileError(path, [f"not valid TOML: {exc}"]) from exc
    problems: list[str] = []
    for key in sorted(set(data) - _TOP_KEYS):
        problems.append(f"{key}: unknown table (use defaults, target, rule and silence)")
    defaults = _table(data.get("defaults", {}), "defaults", problems)
    for key in sorted(set(defaults) - _DEFAULT_KEYS):
        problems.append(f"defaults: {key}: unknown field (known: {', '.join(sorted(_DEFAULT_KEYS))})")
    targets = _targets(data.get("target", []), problems)
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, raw in enumerate(_array(data.get("rule", []), "rule", problems)):
        rule = _rule(index, raw, defaults, targets, views, problems)
        if rule is None:
            continue
        if rule.name in seen:
            problems.append(f"rule {rule.name!r}: name: another rule has the same name")
        seen.add(rule.name)
        rules.append(rule)
    silences: list[Silence] = []
    for index, raw in enumerate(_array(data.get("silence", []), "silence", problems)):
        where = f"silence #{index + 1}"
        if not isinstance(raw, dict):
            problems.append(f"{where}: not a table")
            continue
        for key in sorted(set(raw) - _SILENCE_KEYS):
            problems.append(f"{where}: {key}: unknown field (known: {', '.join(sorted(_SILENCE_KEYS))})")
        name = raw.get("rule")
        if not isinstance(name, str) or not name:
            problems.append(f'{where}: rule: required, a rule name or "*"')
            continue
        if name != "*" and name not in seen:
            problems.append(f"{where}: rule: there is no rule named {name!r}")
        try:
            until = _until(raw.get("until"))
        except ValueError as exc:
            problems.append(f"{where}: until: {exc}")
            continue
        silences.append(Silence(name, until.astimezone(UTC), str(raw.get("comment", ""))))
    if problems:
        raise RuleFileError(path, problems)
    return RuleSet(rules, targets, silences)


def _table(value: object, where: str, problems: list[str]) -> Mapping[str, Any]:
    if isinstance(value, dict):
        return value
    problems.append(f"{where}: must be a table")
    return {}


def _array(value: object, where: str, problems: list[str]) -> list[Any]:
    if isinstance(value, list):
        return value
    problems.append(f"{where}: write it as [[{where}]] tables")
    return []


def _targets(raw_targets: object, problems: list[str]) -> dict[str, Target]:
    targets: dict[str, Target] = {}
    for index, raw in enumerate(_array(raw_targets, "target", problems)):
        where = f"target #{index + 1}"
        if not isinstance(raw, dict):
            problems.append(f"{where}: not a table")
            continue
        name = raw.get("name")
        if isinstance(name, str) and name:
            where = f"target {name!r}"
        else:
            problems.append(f"{where}: name: required (rules name their targets)")
            continue
        for key in sorted(set(raw) - _TARGET_KEYS):
            problems.append(f"{where}: {key}: unknown field (known: {', '.join(sorted(_TARGET_KEYS))})")
        kind = raw.get("kind", "webhook")
        if kind not in TARGET_KINDS:
            problems.append(f"{where}: kind: {kind!r} is not one of {', '.join(TARGET_KINDS)}")
            continue
        url = raw.get("url", "")
        if kind != "log" and not (isinstance(url, str) and re.match(r"^https?://[^/\s]+", url)):
            problems.append(f"{where}: url: {kind} needs an http:// or https:// URL ({url!r} given)")
            continue
        try:
            timeout = parse_duration(raw.get("timeout", 5))
        except ValueError as exc:
            problems.append(f"{where}: timeout: {exc}")
            continue
        if name in targets:
            problems.append(f"{where}: name: another target has the same name")
        targets[name] = Target(name, kind, str(url or ""), timeout)
    return targets


def _rule(
    index: int,
    raw: object,
    defaults: Mapping[str, Any],
    targets: dict[str, Target],
    views: ViewLookup | None,
    problems: list[str],
) -> Rule | None:
    where = f"rule #{index + 1}"
    if not isinstance(raw, dict):
        problems.append(f"{where}: not a table")
        return None
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{where}: name: required (a non-empty string)")
        return None
    name = name.strip()
    where = f"rule {name!r}"
    before = len(problems)
    for key in sorted(set(raw) - _RULE_KEYS):
        problems.append(f"{where}: {key}: unknown field (known: {', '.join(sorted(_RULE_KEYS))})")

    def duration(key: str, fallback: float) -> float:
        value = raw.get(key, defaults.get(key, fallback))
        try:
            return parse_duration(value)
        except ValueError as exc:
            problems.append(f"{where}: {key}: {exc}")
            return fallback

    # The records: a query, or a saved view's query.
    query, view = raw.get("query"), raw.get("view")
    if query is not None and view is not None:
        problems.append(f"{where}: query: give a query or a view, not both")
    if view is not None:
        if not isinstance(view, str) or not view:
            problems.append(f"{where}: view: must be the name of a saved view")
        elif views is None:
            problems.append(f"{where}: view: saved views are not available here (no --log-dir)")
        else:
            found = views(view)
            if found is None:
                problems.append(f"{where}: view: there is no saved view named {view!r}")
            query = found or ""
    if query is None:
        query = ""
    if not isinstance(query, str):
        problems.append(f"{where}: query: must be a string in the query language")
        query = ""
    for key, text in (("query", query), ("base", raw.get("base", ""))):
        if not isinstance(text, str):
            problems.append(f"{where}: {key}: must be a string in the query language")
            continue
        try:
            parse(text)
        except QuerySyntaxError as exc:
            problems.append(f"{where}: {key}: {exc.message} (column {exc.column} of {text!r})")

    # One condition.
    given = [c for c in CONDITIONS if c in raw]
    if len(given) != 1:
        what = "none" if not given else ", ".join(given)
        problems.append(f"{where}: condition: give exactly one of {', '.join(CONDITIONS)} ({what} given)")
        return None
    condition = given[0]
    value = raw[condition]
    threshold = 0.0
    window = duration("window", DEFAULT_WINDOW_S)
    if condition in ("count_above", "count_below", "ratio_above", "change_above"):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            problems.append(f"{where}: {condition}: must be a number >= 0 ({value!r} given)")
        else:
            threshold = float(value)
        if condition == "ratio_above" and not 0 <= threshold <= 1:
            problems.append(f"{where}: ratio_above: a ratio is between 0 and 1 ({value!r} given)")
        if condition == "change_above" and threshold <= 1 and not problems[before:]:
            problems.append(f"{where}: change_above: a factor above 1, e.g. 3 for three times more ({value!r} given)")
        if condition == "count_below" and threshold <= 0 and not problems[before:]:
            problems.append(f"{where}: count_below: a count below 0 never happens; use silence for 'no record'")
    elif condition == "new_pattern":
        if value is not True:
            problems.append(f"{where}: new_pattern: write new_pattern = true")
    else:  # silence: the window is the silence
        try:
            window = parse_duration(value)
        except ValueError as exc:
            problems.append(f"{where}: silence: {exc}")
        if "window" in raw:
            problems.append(f"{where}: window: a silence rule's window is its silence duration: leave window out")
    for key, allowed in (("base", "ratio_above"), ("min_count", "change_above"), ("lookback", "new_pattern")):
        if key in raw and condition != allowed:
            problems.append(f"{where}: {key}: only for {allowed} ({condition} given)")
    min_count = raw.get("min_count", 1)
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        problems.append(f"{where}: min_count: a whole number >= 1 ({min_count!r} given)")
        min_count = 1
    lookback = duration("lookback", DEFAULT_LOOKBACK_S)
    if condition == "new_pattern" and lookback <= window:
        problems.append(f"{where}: lookback: must be longer than the window ({format_duration(window)})")
    every = duration("every", DEFAULT_EVERY_S)
    if every < MIN_EVERY_S:
        problems.append(f"{where}: every: at least {MIN_EVERY_S:g}s")
    for_s = raw.get("for", 0)
    try:
        for_s = 0.0 if for_s == 0 else parse_duration(for_s)
    except ValueError as exc:
        problems.append(f"{where}: for: {exc}")
        for_s = 0.0
    repeat = duration("repeat", DEFAULT_REPEAT_S)
    if condition != "silence" and window < every:
        problems.append(
            f"{where}: window: {format_duration(window)} is shorter than every ({format_duration(every)}): "
            "records between two evaluations would never be counted"
        )

    labels_raw = {**defaults.get("labels", {}), **raw.get("labels", {})} if _is_labels(raw, defaults) else None
    if labels_raw is None:
        problems.append(f'{where}: labels: a table of strings, e.g. labels = {{ team = "shop" }}')
        labels_raw = {}
    notify = raw.get("notify", defaults.get("notify", []))
    if isinstance(notify, str):
        notify = [notify]
    if not isinstance(notify, list) or not all(isinstance(n, str) for n in notify):
        problems.append(f"{where}: notify: a list of target names")
        notify = []
    for target in notify:
        if target not in targets:
            known = ", ".join(sorted(targets)) or "none defined: add [[target]] tables"
            problems.append(f"{where}: notify: no target named {target!r} (targets: {known})")
    if problems[before:]:
        return None
    return Rule(
        name=name,
        query=query,
        condition=condition,
        threshold=threshold,
        window_s=window,
        every_s=every,
        for_s=for_s,
        repeat_s=repeat,
        view=view or "",
        base=str(raw.get("base", "")),
        min_count=min_count,
        lookback_s=lookback,
        labels={str(k): str(v) for k, v in labels_raw.items()},
        notify=tuple(notify),
    )


def _is_labels(raw: Mapping[str, Any], defaults: Mapping[str, Any]) -> bool:
    return all(
        isinstance(value, dict) and all(isinstance(v, str | int | float | bool) for v in value.values())
        for value in (raw.get("labels", {}), defaults.get("labels", {}))
    )


def rule_toml(name: str, query: str, condition: str, value: str, window: str = "5m") -> str:
    """One ``[[rule]]`` table, to append to a rule file (the dashboard's "alert on this query")."""
    window_line = f"window = {json.dumps(window)}\n" if window else ""
    return f"\n[[rule]]\nname = {json.dumps(name)}\nquery = {json.dumps(query)}\n{window_line}{condition} = {value}\n"


def silence_toml(rule: str, until: datetime, comment: str = "") -> str:
    """One ``[[silence]]`` table, to append to a rule file (``otel-logging alerts silence``)."""
    stamp = until.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"\n[[silence]]\nrule = {json.dumps(rule)}\nuntil = {stamp}\ncomment = {json.dumps(comment)}\n"


def append_to_rule_file(path: Path, block: str, views: ViewLookup | None = None) -> RuleSet:
    """Append ``block`` (TOML tables) to the rule file if the whole file with it passes every check; written
    atomically (a temporary file renamed over it). ``RuleFileError`` (the file untouched) otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleFileError(path, [f"cannot read it: {exc.strerror or exc}"]) from exc
    if text and not text.endswith("\n"):
        text += "\n"
    rules = parse_rules(text + block, path, views)
    write_atomic(path, text + block)
    return rules
