"""Message templates: the variable parts of a message masked, so similar messages group together.

``MASKS`` is an ordered list of ``(pattern, replacement)``; ``template_of`` applies it with Python's ``re`` and
``template_sql`` builds the same chain of ``regexp_replace(..., 'g')`` for DuckDB (RE2). Both must give the same
string, so the patterns only use what both engines read the same way: no lookaround, no backreferences, no ``\\w``,
``\\d``, ``$`` or ``.``. "Not preceded by one of X" is written ``(^|[^X])`` and the captured character put back
with ``\\1``: it consumes the character *before* a token, never the one after, so back-to-back tokens (``1,2,3``)
are all found by one global replace. A token's end needs no test: every pattern ends with a greedy run of the
token's own characters, or with ``\\b``. For speed, Python runs the boundary as a lookbehind (the same, see
``_python_form``) and skips a rule when a cheap search shows that it cannot match (see ``_RULES``).

What is masked, in order (later rules see the placeholders of earlier ones):

- quoted strings -> ``"<str>"`` / ``'<str>'``, except JSON / dict keys (``"user": ``) and HTTP request lines
  (``"GET /a/42 HTTP/1.1"``), which stay and are masked inside by the rules below; a single quote opens a string
  only at the start of a word, so ``can't ... won't`` is no string;
- JWTs -> ``<jwt>``; UUIDs -> ``<uuid>``; MAC -> ``<mac>``; IPv6 and IPv4 (any four dotted numbers) -> ``<ip>``
  (a port stays a number: ``<ip>:<num>``); ISO and access-log timestamps, dates, times of day -> ``<ts>``;
- URL query values (``?page=2&q=shoes``) -> ``<val>``; e-mail addresses -> ``<email>``;
- ``0x`` hex -> ``<hex>``; padded base64 (16+ characters ending in ``=``) -> ``<id>``;
- Kubernetes pods of a deployment (``api-7d9f8c6b5-x2kqp`` -> ``api-<id>``) and prefixed ids (``ch_62341da18f7e``,
  ``cus_N7xQk2LpA9``): a letters-only prefix ending in ``_`` or ``-`` stays and the rest of the token becomes
  ``<id>`` (``ch_<id>``) when the part after the prefix looks random (see ``_ID_PART``); ``order_123`` is a
  number: ``order_<num>`` (from 8 digits on, an id);
- scientific numbers (``1.5e-05``) -> ``<num>``; compound durations (``1m30s``) -> ``<dur>``; sizes
  (``1920x1080``) -> ``<num>x<num>``;
- bare hex of 8+ digits with at least one letter (shas, span ids), or of 16+ digits -> ``<hex>``;
- bare random tokens (see ``_RANDOM``: ``N7xQk2LpA9``) -> ``<id>``;
- numbers (``42``, ``3.14``, ``1.2.3``), also before a unit (``870ms`` -> ``<num>ms``, ``42MB``) or after ``_``
  or ``-``. Digits glued after letters stay (``sha256``, ``v1``, ``k8s``, ``Base64DecodeError``, ``TLSv1.3``),
  as do words (``user_id``, ``payment_failed``, ``ValueError``, ``shop.pay``).
"""

from __future__ import annotations

import re

MAX_MESSAGE_CHARS = 1000  # longer messages are cut before masking

_HEX = "0-9a-fA-F"
_H4 = f"[{_HEX}]{{1,4}}"
_IPV4 = r"(?:[0-9]{1,3}\.){3}[0-9]{1,3}"
_METHODS = "GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|CONNECT|TRACE"
_ESCAPED = r"\\[\s\S]"  # a backslash and any character, newline included


def _run_with(other: str, must: str, min_len: int) -> str:
    """A run of >= ``min_len`` characters of ``[other must]`` holding at least one ``must``.

    RE2 has no lookahead, so there is one branch per count of leading ``other`` characters.
    """
    run = f"[{other}{must}]"
    branches = [f"[{must}]{run}{{{min_len - 1},}}"]
    branches += [f"[{other}]{{{k}}}[{must}]{run}{{{min_len - k - 1},}}" for k in range(1, min_len - 1)]
    branches.append(f"[{other}]{{{min_len - 1},}}[{must}]{run}*")
    return "(?:" + "|".join(branches) + ")"


_HEX8 = _run_with("0-9", "a-fA-F", 8)  # 8+ hex digits, one at least a-f: a sha, a span id, not 12345678
_RANDOM_DLD = "[A-Za-z]*[0-9]+[A-Za-z]+[0-9][A-Za-z0-9]*"  # digits, letters, digits: N7xQk2LpA9, 7x9tz
_K8S = "[bcdfghjklmnpqrstvwxz2456789]"  # the alphabet of Kubernetes' generated names: no vowels
# The part of a token after a letters-only prefix (ch_, cus_, api-) that makes it an id: hex-like, 8+ characters
# with a digit (ARVnKhanHPIYL5), digits-letters-digits, letters-digits-2+ letters (x2kqp, not k8s), or mixed case
# with 2+ lower-to-upper changes (wwIgGnKEvrWsdp: random base62, not a snake_case word).
_ID_PART = (
    f"{_HEX8}[A-Za-z0-9]*|{_run_with('A-Za-z', '0-9', 8)}|{_RANDOM_DLD}"
    "|[A-Za-z]+[0-9]+[A-Za-z]{2,}[A-Za-z0-9]*|[A-Z]*(?:[a-z]+[A-Z]+){2,}[A-Za-z0-9]*"
)
_ID_REST = "(?:[_-][A-Za-z0-9]+)*"  # an id swallows the rest of its token: api-<id> for api-7d9f8c6b5-x2kqp
# A token with no prefix needs more to be an id, since utf8mb4, v1beta1, x509v3 and Base64DecodeError are words:
# digits-letters-digits with an uppercase letter (N7xQk2LpA9), three digit runs (a8f3k2m9x1), or 20+ characters
# with a digit.
_RANDOM = (
    "[A-Za-z]*[A-Z][A-Za-z]*[0-9]+[A-Za-z]+[0-9][A-Za-z0-9]*"
    "|[A-Za-z]*[0-9]+[A-Za-z]*[A-Z][A-Za-z]*[0-9][A-Za-z0-9]*"
    "|[A-Za-z]*[0-9]+[A-Za-z]+[0-9][A-Za-z0-9]*[A-Z][A-Za-z0-9]*"
    "|[A-Za-z]*[0-9]+[A-Za-z]+[0-9]+[A-Za-z]+[0-9][A-Za-z0-9]*"
    f"|{_run_with('A-Za-z', '0-9', 20)}"
)

# (pattern, replacement, Python-only shortcut): the shortcut is a regex that every text the pattern can match in also
# matches, cheaper to search for; Python skips the rule where it is not found (None: always run the rule).
_RULES: tuple[tuple[str, str, str | None], ...] = (
    # Double-quoted strings become "" here and "<str>" next; request lines and keys ("user": ) are kept whole.
    (
        rf'(")((?:{_METHODS}) [^"]*")|(")([A-Za-z_][A-Za-z0-9_.-]*" *:)|(")(?:[^"\\]|{_ESCAPED})*(")',
        r"\1\2\3\4\5\6",
        '"',
    ),
    (r'""', '"<str>"', None),
    # Single-quoted strings only from the start of a word (not the apostrophe of can't); keys ('user': ) stay.
    (r"(^|[^A-Za-z0-9_':])(?:(')([A-Za-z_][A-Za-z0-9_.-]*' *:)|(')[^']*('))", r"\1\2\3\4\5", "'"),
    (r"''", "'<str>'", None),
    (r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*", "<jwt>", None),
    (f"[{_HEX}]{{8}}-[{_HEX}]{{4}}-[{_HEX}]{{4}}-[{_HEX}]{{4}}-[{_HEX}]{{12}}", "<uuid>", None),
    (f"(^|[^0-9A-Za-z_:-])[{_HEX}]{{2}}(?:[:-][{_HEX}]{{2}}){{5}}\\b", r"\1<mac>", None),
    (
        f"(^|[^0-9A-Za-z_:.])(?:::ffff:{_IPV4}|{_H4}(?::{_H4}){{7}}|{_H4}(?::{_H4}){{0,5}}::{_H4}(?::{_H4}){{0,5}}"
        f"|::{_H4}(?::{_H4}){{0,6}})\\b",
        r"\1<ip>",
        ":",
    ),
    (r"(^|[^0-9A-Za-z_.])(?:[0-9]+\.){3}[0-9]+\b", r"\1<ip>", r"[0-9]\.[0-9]"),  # any 4 dotted numbers
    (
        r"(^|[^0-9A-Za-z:])(?:[0-9]{4}[-/][0-9]{2}[-/][0-9]{2}"
        r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2})?(?:[.,][0-9]+)?(?:Z| ?[+-][0-9]{2}:?[0-9]{2})?)?"
        r"|[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2}(?: [+-][0-9]{4})?"
        r"|[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:[.,][0-9]+)?)",
        r"\1<ts>",
        r"[0-9][-/:][0-9A-Z]",
    ),
    (r"([?&][A-Za-z0-9_.%\[\]-]+=)[^&# \t\r\n\"'<>]+", r"\1<val>", "="),
    (r"(^|[^A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+", r"\1<email>", "@"),
    (f"(^|[^A-Za-z0-9_])0[xX][{_HEX}]+\\b", r"\1<hex>", "0[xX]"),
    # Written ([^X]|^), not (^|[^X]), so that Python keeps the capture too: a match ends with "=", outside X.
    (r"([^A-Za-z0-9+/]|^)[A-Za-z0-9+/]{16,}={1,2}", r"\1<id>", "="),
    # A pod of a deployment (name-<replica set hash>-<suffix>, maybe _namespace), even without digits; then ids.
    (
        f"(^|[^A-Za-z0-9_-])(?:([A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*-){_K8S}{{8,10}}-{_K8S}{{5}}(?:_[A-Za-z0-9]+)*\\b"
        f"|([A-Za-z]+(?:[_-][A-Za-z]+)*[_-])(?:{_ID_PART}){_ID_REST})",
        r"\1\2\3<id>",
        "[A-Za-z][_-][A-Za-z0-9]",
    ),
    # Scientific numbers; a bare 39672e0524228128 is hex, not 39672 * 10^524228128.
    (
        r"(^|[^A-Za-z0-9_.])(?:[0-9]+\.[0-9]+[eE][+-]?[0-9]+|[0-9]+[eE][+-][0-9]+|[0-9]{1,3}[eE][0-9]{1,3})\b",
        r"\1<num>",
        "[0-9][eE]",
    ),
    (
        r"(^|[^A-Za-z0-9_.])(?:[0-9]+(?:\.[0-9]+)?(?:ms|us|ns|h|m|s)){2,}\b",
        r"\1<dur>",
        "[0-9](?:ms|us|ns|h|m|s)[0-9]",
    ),
    (r"(^|[^A-Za-z0-9_.])[0-9]+[xX][0-9]+\b", r"\1<num>x<num>", "[0-9][xX][0-9]"),
    # 8+ hex digits with a letter, or 16+ digits: a hex id that happens to have no letter.
    (f"(^|[^A-Za-z0-9_])(?:{_HEX8}|[0-9]{{16,}})\\b", r"\1<hex>", f"[{_HEX}]{{8}}"),
    (f"(^|[^A-Za-z0-9_.])(?:{_RANDOM}){_ID_REST}", r"\1<id>", "[0-9][A-Za-z]+[0-9]|[A-Za-z0-9]{20}"),
    (r"(^|[^A-Za-z0-9.])[0-9]+(?:\.[0-9]+)*", r"\1<num>", "[0-9]"),
)

MASKS: tuple[tuple[str, str], ...] = tuple((pattern, replacement) for pattern, replacement, _ in _RULES)

_BOUNDARY = re.compile(r"\(\^\|\[\^((?:\\.|[^\]\\])+)\]\)")


def _python_form(pattern: str, replacement: str) -> tuple[re.Pattern[str], str]:
    """``pattern`` compiled for Python, with a leading ``(^|[^X])`` turned into the faster ``(?<![X])``.

    The two find the same matches when every match of the rule ends with a character of ``X``: the character
    before a match is then never the last one of the previous match, whether or not it was consumed. A rule whose
    match may end otherwise writes its boundary ``([^X]|^)`` and is left as it is.
    """
    boundary = _BOUNDARY.match(pattern)
    if boundary is None:
        return re.compile(pattern, re.ASCII), replacement
    shifted = re.sub(r"\\([1-9])", lambda m: "" if m[1] == "1" else f"\\{int(m[1]) - 1}", replacement)
    return re.compile(f"(?<![{boundary[1]}])" + pattern[boundary.end() :], re.ASCII), shifted


def _compiled(rule: tuple[str, str, str | None]) -> tuple[re.Pattern[str], str, re.Pattern[str] | None]:
    pattern, replacement, shortcut = rule
    return (*_python_form(pattern, replacement), re.compile(shortcut, re.ASCII) if shortcut else None)


_COMPILED = tuple(_compiled(rule) for rule in _RULES)


def template_of(message: str) -> str:
    """The template of one message: ``"order 42 for 'bob'"`` -> ``"order <num> for '<str>'"``."""
    text = message[:MAX_MESSAGE_CHARS]
    for pattern, replacement, shortcut in _COMPILED:
        if shortcut is None or shortcut.search(text):
            text = pattern.sub(replacement, text)
    return text


def template_sql(column: str) -> str:
    """A DuckDB expression computing ``template_of`` over ``column``."""
    expr = f"left({column}, {MAX_MESSAGE_CHARS})"
    for pattern, replacement in MASKS:
        quoted_pattern = pattern.replace("'", "''")
        quoted_replacement = replacement.replace("'", "''")
        expr = f"regexp_replace({expr}, '{quoted_pattern}', '{quoted_replacement}', 'g')"
    return expr
