"""Masking secrets before a record leaves the process (app side) or is stored (service side).

One rule set for the app side (``setup()``, the handler and the bridges), ``serve --redact`` and
``otel-logging aggregate``:
- by key name: a value whose key ends with a sensitive word (``password``, ``api_key``,
  ``Authorization``, ...; case and separators ignored) is replaced, in nested maps and lists too;
- by pattern in text (``secret_rules.py``): provider tokens by their documented formats (AWS, GitHub,
  GitLab, Slack, Stripe, Google, Azure, OpenAI, Anthropic, npm, PyPI, SendGrid, Twilio), private key
  blocks, JWTs, Bearer/Basic credentials, credentials in URLs, card numbers that pass the Luhn check,
  and secrets introduced by a keyword in free text (``password=...``, ``with password hunter2``,
  ``api key sk_...``).
A message in which no rule's trigger word occurs costs one search of the lower-cased text; with the
native extension an ASCII text is searched by ``otel_logging_native.TriggerScan`` instead (exactly the
trigger regex's answer; the regex stays the reference, and the search for any other text).
The mask shows no character of the secret; ``Redactor.counts()`` tells how often each rule masked.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from otel_logging.record import native
from otel_logging.record.secret_rules import BUILTIN_RULES, MASK, TWILIO_TRIGGER, SecretRule

BACK_LIMIT = 32  # how far before a candidate a rule's match may start (a URL scheme is at most 21 characters)

__all__ = [
    "KEY_NAME_RULE",
    "MASK",
    "SENSITIVE_KEY_WORDS",
    "Redactor",
    "SecretRule",
    "redactor_from_rules_file",
]

SENSITIVE_KEY_WORDS = (
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "authorization",
    "auth",
    "cookie",
    "session",
    "sessionid",
    "privatekey",
    "accesskey",
    "credential",
    "credentials",
    "signature",
)

KEY_NAME_RULE = "key_name"  # the rule name counted for values masked by their key
METRIC_NAME = "otel_logging_redactions_total"

_SEPARATORS = re.compile(r"[\s_\-.]+")
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _mask_card(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group(0))
    if 13 <= len(digits) <= 19 and _luhn_ok(digits):
        return MASK
    return match.group(0)


CARD_RULE = SecretRule(
    "card_number",
    _CARD,
    _mask_card,
    # eight digits, as ten branches that each start with a literal digit (see _Trigger)
    trigger_pattern="|".join(f"{d}\\d{{3}}[ -]?\\d{{4}}" for d in range(10)),
    description="card numbers of 13-19 digits that pass the Luhn check",
)
EMAIL_RULE = SecretRule("email", _EMAIL, triggers=("@",), description="e-mail addresses (mask_emails only)")


class Redactor:
    """Masks secrets by key name and by pattern; extensible with more words and patterns.

    ``extra_patterns``: regular expressions (named ``custom_0``, ``custom_1``, ...) or a mapping of
    name to regular expression; a match is replaced whole by the mask.
    """

    def __init__(
        self,
        extra_key_words: Iterable[str] = (),
        extra_patterns: Iterable[str] | Mapping[str, str] = (),
        *,
        mask_emails: bool = False,
    ) -> None:
        words = {_SEPARATORS.sub("", w.lower()) for w in (*SENSITIVE_KEY_WORDS, *extra_key_words)}
        self._key_words = tuple(sorted(words))
        self._key_cache: dict[str, bool] = {}
        if isinstance(extra_patterns, Mapping):
            named = [(str(name), str(pattern)) for name, pattern in extra_patterns.items()]
        else:
            named = [(f"custom_{i}", str(pattern)) for i, pattern in enumerate(extra_patterns)]
        custom = [SecretRule(name, re.compile(pattern)) for name, pattern in named]
        provider = [r for r in BUILTIN_RULES if not r.name.startswith("keyword_")]
        keyword = [r for r in BUILTIN_RULES if r.name.startswith("keyword_")]
        optional = [EMAIL_RULE] if mask_emails else []
        self.rules: tuple[SecretRule, ...] = (*provider, CARD_RULE, *optional, *keyword)
        self._keyword_from = len(self.rules) - len(keyword)
        self.custom_rules: tuple[SecretRule, ...] = tuple(custom)
        self._trigger_set = _Trigger(self.rules)
        self._trigger = self._trigger_set.pattern
        # Custom patterns are searched as they are, in the original text.
        self._trigger_extra = re.compile("|".join(f"(?:{p})" for _, p in named)) if named else None
        # The native pre-check (exactly the trigger regex's answer for ASCII text), when the rules have no
        # custom pattern (those are searched in the original text by ``re``) and no trigger regex it lacks.
        self._scan = None if named else _native_scan(self.rules)
        self._counts: dict[str, int] = {}
        self._counts_lock = threading.Lock()

    @property
    def key_words(self) -> tuple[str, ...]:
        """The sensitive key words, normalized: a key is sensitive when its normalized form ends with one."""
        return self._key_words

    @property
    def native_scan(self) -> Any:
        """The native trigger pre-check (``otel_logging_native.TriggerScan``), or None: not available, or the
        rules have a custom pattern."""
        return self._scan

    # --- counts --------------------------------------------------------------------------------------

    def _count(self, rule: str, n: int = 1) -> None:
        with self._counts_lock:
            self._counts[rule] = self._counts.get(rule, 0) + n

    def counts(self) -> dict[str, int]:
        """How many secrets each rule masked so far (rule name -> count); never the secrets."""
        with self._counts_lock:
            return dict(self._counts)

    def metric_samples(self) -> Iterator[tuple[str, dict[str, str], int]]:
        """``otel_logging_redactions_total{rule="..."} N`` samples, for the service's ``/metrics``."""
        for rule, n in sorted(self.counts().items()):
            yield METRIC_NAME, {"rule": rule}, n

    # --- matching ------------------------------------------------------------------------------------

    def _triggered(self, value: str) -> bool:
        scan = self._scan
        if scan is not None:
            hit = scan.hit(value)
            if hit is not None:
                return bool(hit)
        if self._trigger.search(value.lower()):
            return True
        return self._trigger_extra is not None and self._trigger_extra.search(value) is not None

    def is_sensitive_key(self, key: str) -> bool:
        cached = self._key_cache.get(key)
        if cached is None:
            normalized = _SEPARATORS.sub("", key.lower())
            cached = any(normalized.endswith(word) for word in self._key_words)
            if len(self._key_cache) < 10_000:
                self._key_cache[key] = cached
        return cached

    def text(self, value: str) -> str:
        """Mask secrets inside free text."""
        scan = self._scan
        if scan is not None and scan.hit(value) is False:  # ASCII without a trigger: the common case
            return value
        lower = value.lower()
        first = self._trigger.search(lower)
        extra = self._trigger_extra
        custom = extra is not None and extra.search(value) is not None
        if first is None and not custom:
            return value
        wanted = self._trigger_set.rules_in(lower, first.start()) if first is not None else set()
        rules = self.rules
        keyword_from = self._keyword_from
        for i in sorted(wanted):  # provider tokens first, then the user's patterns, then the keyword rules
            if i < keyword_from:
                value = self._apply(rules[i], value)
        if custom:
            for rule in self.custom_rules:
                value = self._apply(rule, value)
        for i in sorted(wanted):
            if i >= keyword_from:
                value = self._apply(rules[i], value)
        return value

    def _apply(self, rule: SecretRule, value: str) -> str:
        if rule.finder is not None:
            lower = value.lower()
            if len(lower) == len(value):  # positions in the lower-cased text are positions in value
                return self._apply_at_candidates(rule, value, lower)
        replace = rule.replace
        if isinstance(replace, str):
            value, n = rule.pattern.subn(replace, value)
        else:
            n = 0

            def counted(match: re.Match[str]) -> str:
                nonlocal n
                out = replace(match)
                if out != match.group(0):
                    n += 1
                return out

            value = rule.pattern.sub(counted, value)
        if n:
            self._count(rule.name, n)
        return value

    def _apply_at_candidates(self, rule: SecretRule, value: str, lower: str) -> str:
        assert rule.finder is not None
        replace = rule.replace
        back = rule.back
        pieces: list[str] = []
        last = n = 0
        for candidate in rule.finder.finditer(lower):
            first = candidate.start()
            if first < last:
                continue
            earliest = first
            if back:  # the match may start before the candidate: from the furthest start back, as re.sub would
                while earliest > last and first - earliest < BACK_LIMIT and lower[earliest - 1] in back:
                    earliest -= 1
            match = None
            for start in range(earliest, first + 1):
                match = rule.pattern.match(value, start)
                if match is not None:
                    break
            if match is None:
                continue
            found = match.group(0)
            out = match.expand(replace) if isinstance(replace, str) else replace(match)
            if out != found:
                pieces.append(value[last:start])
                pieces.append(out)
                last = match.end()
                n += 1
        if not n:
            return value
        self._count(rule.name, n)
        pieces.append(value[last:])
        return "".join(pieces)

    def value(self, value: Any) -> Any:
        """Mask secrets inside an attribute value (strings, nested maps and lists)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return self.mapping(value)
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        return value

    def mapping(self, attributes: dict[str, Any]) -> dict[str, Any]:
        """Mask values under sensitive keys and secrets inside the other values.

        Returns ``attributes`` itself when nothing needs masking (the common case).
        """
        search = self._triggered
        sensitive = self._key_cache.get
        for key, value in attributes.items():
            kind = type(value)
            flag = sensitive(key)
            if flag is None:
                flag = self.is_sensitive_key(key)
            if flag or (kind is str and search(value)) or kind in (dict, list, tuple):
                break
        else:
            return attributes
        out: dict[str, Any] = {}
        for key, value in attributes.items():
            if value is not None and self.is_sensitive_key(key):
                if value != MASK:
                    self._count(KEY_NAME_RULE)
                out[key] = MASK
            else:
                out[key] = self.value(value)
        return out


def _native_scan(rules: tuple[SecretRule, ...]) -> Any:
    """``otel_logging_native.TriggerScan`` for these rules' triggers, or None (not built, disabled, or a
    trigger regex other than the card number's and the Twilio key's)."""
    patterns = {rule.trigger_pattern for rule in rules if rule.trigger_pattern}
    if not patterns <= {CARD_RULE.trigger_pattern, TWILIO_TRIGGER}:
        return None
    literals = sorted({trigger for rule in rules for trigger in rule.triggers})
    if not all(t.isascii() and t == t.lower() for t in literals):
        return None
    return native.trigger_scan(literals, CARD_RULE.trigger_pattern in patterns, TWILIO_TRIGGER in patterns)


class _Trigger:
    """Every rule's triggers in one regex over the lower-cased text.

    The literals are compiled as a trie (``a(?:kia|sia|ws|...)|...``): ``re`` has no multi-literal
    search, and a trie keeps the work per character close to one comparison per distinct first
    letter. No capture groups: a group before a literal turns off ``re``'s quick branch skip.
    """

    def __init__(self, rules: tuple[SecretRule, ...]) -> None:
        literal_rules: dict[str, set[int]] = {}
        for i, rule in enumerate(rules):
            for trigger in rule.triggers:
                literal_rules.setdefault(trigger, set()).add(i)
        # A trigger that holds another (``sk-ant-`` holds ``sk-``) also tries the other's rules: the
        # search reports only the longest trigger at a position.
        self.literals = {
            trigger: frozenset(i for other, ids in literal_rules.items() if other in trigger for i in ids)
            for trigger in literal_rules
        }
        self.fragments = [(re.compile(r.trigger_pattern), i) for i, r in enumerate(rules) if r.trigger_pattern]
        alternatives = [_trie(list(literal_rules))] if literal_rules else []
        for rule in rules:  # a trigger_pattern should start with a literal character, for the same reason
            if rule.trigger_pattern:
                alternatives.append(rule.trigger_pattern)
        self.pattern = re.compile("|".join(alternatives) or r"(?!)")

    def rules_in(self, lower: str, start: int) -> set[int]:
        wanted: set[int] = set()
        literals = self.literals
        for match in self.pattern.finditer(lower, start):
            found = match.group()
            ids = literals.get(found)
            if ids is not None:
                wanted |= ids
                continue
            for fragment, i in self.fragments:
                if fragment.fullmatch(found):
                    wanted.add(i)
        return wanted


def _trie(words: list[str]) -> str:
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def compile_node(node: dict[str, Any]) -> str:
        ends = "" in node
        branches = [re.escape(ch) + compile_node(sub) for ch, sub in sorted(node.items()) if ch]
        if not branches:
            return ""
        if len(branches) == 1 and not ends:
            return branches[0]
        return "(?:" + "|".join(branches) + ("|)" if ends else ")")

    return compile_node(root)


def redactor_from_rules_file(path: Path | str) -> Redactor:
    """Extra rules from a JSON file: ``{"keys": [...], "patterns": [...], "mask_emails": false}``.

    ``patterns`` is a list of regular expressions (counted as ``custom_0``, ``custom_1``, ...) or an
    object of rule name to regular expression (counted under those names on ``/metrics``).
    """
    try:
        rules = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(rules, dict):
            raise ValueError("the top level must be an object")
        keys = [str(k) for k in rules.get("keys", [])]
        given = rules.get("patterns", [])
        patterns: list[str] | dict[str, str]
        if isinstance(given, dict):
            patterns = {str(name): str(p) for name, p in given.items()}
            texts = list(patterns.values())
        else:
            patterns = [str(p) for p in given]
            texts = patterns
        for pattern in texts:
            re.compile(pattern)
        return Redactor(keys, patterns, mask_emails=bool(rules.get("mask_emails", False)))
    except (OSError, ValueError, re.error) as exc:
        raise ValueError(f"redaction rules {path}: {exc}") from exc
