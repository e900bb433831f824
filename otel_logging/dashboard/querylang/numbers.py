"""Numeric comparisons as regular expressions over a number's decimal text.

Elasticsearch keeps attribute values (``flattened`` fields) as keywords: a ``range`` there compares text
("10" < "9"), and regexp queries are refused on keyed flattened fields. The Elasticsearch source therefore
asks which distinct values of the key match a regular expression (a ``terms`` aggregation's ``include``)
and filters on those; ``compare_regex`` writes that expression for ``value OP bound``.

The numbers matched are those written the JSON way without an exponent: ``-?(0|[1-9][0-9]*)(\\.[0-9]+)?``
(``NUMBER_PATTERN``); the files source compares exactly those too, so both answer the same. The output
uses only what Lucene's RegExp and Python's ``re`` read alike: literals, ``\\.``, ``[a-b]``, ``{m,n}``,
``?``, ``*``, ``|`` and groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

NUMBER_PATTERN = r"-?(0|[1-9][0-9]*)(\.[0-9]+)?"
_ANY_FRACTION = r"(\.[0-9]+)?"


def _digits(low: int, high: int) -> str:
    if low > high:
        return ""
    return str(low) if low == high else f"[{low}-{high}]"


def _alt(options: Sequence[str | None]) -> str | None:
    kept = [o for o in options if o is not None]
    if not kept:
        return None
    return kept[0] if len(kept) == 1 else "(" + "|".join(kept) + ")"


def _split(bound: Decimal) -> tuple[str, str]:
    """(integer digits, fraction digits without trailing zeros) of ``|bound|``."""
    text = format(abs(bound), "f")
    whole, _, fraction = text.partition(".")
    return whole.lstrip("0") or "0", fraction.rstrip("0")


def _frac_gt(fraction: str) -> str | None:
    """Non-empty digit strings F with 0.F > 0.fraction."""
    if not fraction:
        return "[0-9]*[1-9][0-9]*"
    head, rest = int(fraction[0]), fraction[1:].rstrip("0")
    options: list[str] = []
    if head < 9:
        options.append(_digits(head + 1, 9) + "[0-9]*")
    options.append(str(head) + (_frac_gt(rest) or ""))
    return _alt(options)


def _frac_lt(fraction: str) -> str | None:
    """Non-empty digit strings F with 0.F < 0.fraction (``fraction`` has no trailing zeros)."""
    if not fraction:
        return None
    head, rest = int(fraction[0]), fraction[1:].rstrip("0")
    options: list[str] = []
    if head > 0:
        options.append(_digits(0, head - 1) + "[0-9]*")
    if rest:
        deeper = _frac_lt(rest)
        options.append(str(head) + (f"({deeper})?" if deeper else ""))
    return _alt(options)


def _int_gt(whole: str) -> list[str]:
    """Integer texts (no leading zeros) greater than ``whole``."""
    n = len(whole)
    if whole == "0":
        return ["[1-9][0-9]*"]
    options = [f"[1-9][0-9]{{{n},}}"]
    for i, c in enumerate(whole):
        d = int(c)
        if d < 9:
            rest = n - i - 1
            options.append(whole[:i] + _digits(d + 1, 9) + (f"[0-9]{{{rest}}}" if rest else ""))
    return options


def _int_lt(whole: str) -> list[str]:
    """Integer texts (no leading zeros) less than ``whole``."""
    n = len(whole)
    if whole == "0":
        return []
    options = ["0"]
    if n >= 2:
        options.append("[1-9]" + (f"[0-9]{{0,{n - 2}}}" if n > 2 else ""))
    for i, c in enumerate(whole):
        d = int(c)
        low = 1 if i == 0 else 0
        if d > low:
            rest = n - i - 1
            options.append(whole[:i] + _digits(low, d - 1) + (f"[0-9]{{{rest}}}" if rest else ""))
    return options


def _magnitude(op: str, bound: Decimal) -> str | None:
    """Unsigned number texts whose value is ``op`` |bound| (op one of >, <, =)."""
    whole, fraction = _split(bound)
    if op == "=":
        return whole + (r"(\.0+)?" if not fraction else rf"\.{fraction}0*")
    if op == ">":
        options = [f"{o}{_ANY_FRACTION}" for o in _int_gt(whole)]
        tail = _frac_gt(fraction)
        options.append(whole + rf"\.{tail}")
        return _alt(options)
    options = [f"{o}{_ANY_FRACTION}" for o in _int_lt(whole)]
    if fraction:
        tail = _frac_lt(fraction)
        options.append(whole + (rf"(\.{tail})?" if tail else ""))
    return _alt(options)


def compare_regex(op: str, bound: Decimal) -> str | None:
    """A regular expression (anchored: it must match the whole text) for number texts with ``value op bound``;
    ``op`` is ``>``, ``>=``, ``<``, ``<=`` or ``=``. None when no number text can match."""
    if op in (">=", "<="):
        parts = [compare_regex(op[0], bound), compare_regex("=", bound)]
        return _alt([p for p in parts if p])
    negative = bound < 0
    zero = bound == 0
    if op == "=":
        magnitude = _magnitude("=", bound)
        if zero:
            return f"-?{magnitude}"
        return f"-{magnitude}" if negative else magnitude
    if op == ">":
        if negative or zero:
            # every unsigned number is >= 0 (> a negative bound); negatives with a smaller magnitude
            smaller = _magnitude("<", bound)
            if zero:
                return _alt([f"[1-9][0-9]*{_ANY_FRACTION}", f"0\\.{_frac_gt('')}"])
            return _alt([f"[0-9]+{_ANY_FRACTION}", f"-{smaller}" if smaller else None])
        return _magnitude(">", bound)
    # op == "<"
    if negative or zero:
        larger = _magnitude(">", bound)
        return f"-{larger}" if larger else None
    smaller = _magnitude("<", bound)
    return _alt([smaller, "-[0-9]+" + _ANY_FRACTION])
