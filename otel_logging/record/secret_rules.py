"""The built-in secret rules: provider tokens by their documented formats, credentials in URLs and
connection strings, and secrets introduced by a keyword in free text.

Each rule is a named regular expression with *triggers*: lower-case literals (or, for a few, a small
regex) of which one must occur in the lower-cased text for the rule to be tried at all, as in
gitleaks' ``keywords``. ``Redactor`` searches all triggers in one pass first; a message without any
costs that one search. The rules are hand-written (no rule file is vendored): the formats are the
providers' documented prefixes and lengths, checked by ``tests/unit/record/test_secret_corpus.py``.

A rule's ``replace`` is the text put in place of a match (``\\1`` style references allowed) or a
function of the match; a function may return the match unchanged (the keyword rules do when the
word after ``password`` is not a secret, e.g. ``password reset``), which is not counted as masked.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

MASK = "[REDACTED]"

Replacement = str | Callable[[re.Match[str]], str]


@dataclass(frozen=True, slots=True)
class SecretRule:
    name: str
    pattern: re.Pattern[str]
    replace: Replacement = MASK
    triggers: tuple[str, ...] = ()  # lower-case literals; one must occur for the rule to be tried
    trigger_pattern: str = ""  # or a small regex searched in the lower-cased text
    # Optional speed-up for rules that would otherwise scan every position case-insensitively: a
    # case-sensitive regex run over the lower-cased text finds where a match can start (after stepping
    # back over ``back`` characters); ``pattern`` is then only tried there (``pattern.match(text, pos)``).
    finder: re.Pattern[str] | None = None
    back: str = ""
    description: str = field(default="", compare=False)


# Characters that end a bare token in text: whitespace, quotes, brackets and a few separators.
_END = r"(?![A-Za-z0-9_\-])"


def _keep_prefix_mask(match: re.Match[str]) -> str:
    return match.group(1) + MASK


def _credential_like(token: str) -> bool:
    """``Bearer abc.def-123`` is a credential, ``basic authentication`` is not."""
    return looks_like_secret(token.rstrip("="))


# --- provider tokens -------------------------------------------------------------------------------

# The Twilio rule's trigger (the native redaction pre-check, otel_logging_native.TriggerScan, implements it).
TWILIO_TRIGGER = r"sk[0-9a-f]{32}"

_PROVIDER_RULES: tuple[SecretRule, ...] = (
    SecretRule(
        "private_key",
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
            re.S,
        ),
        triggers=("-----begin",),
        description="PEM / OpenSSH / PGP private key blocks (to the END line, or to the end of the text)",
    ),
    SecretRule(
        "jwt",
        re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}"),
        triggers=("eyj",),
        description="JSON Web Tokens (header.payload.signature)",
    ),
    SecretRule(
        "bearer",
        re.compile(r"(?i)\b(bearer|basic)(\s+)([A-Za-z0-9\-._~+/]{8,}=*)"),
        lambda m: m.group(1) + m.group(2) + MASK if _credential_like(m.group(3)) else m.group(0),
        triggers=("bearer", "basic "),
        description="HTTP Authorization credentials: Bearer / Basic followed by a token",
    ),
    SecretRule(
        "aws_access_key_id",
        re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b"),
        triggers=("akia", "asia", "abia", "acca", "a3t"),
        description="AWS access key ids",
    ),
    SecretRule(
        "aws_secret_access_key",
        # 40 base64 characters, mixed case, in a text that names AWS or holds an access key id.
        re.compile(
            r"(?:(?<![A-Za-z0-9/+=])|(?<=\]/))(?=[A-Za-z0-9/+]{0,39}[A-Z])(?=[A-Za-z0-9/+]{0,39}[a-z])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
        ),
        triggers=("akia", "asia", "aws"),
        description="AWS secret access keys next to an access key id or the word AWS",
    ),
    SecretRule(
        "github_token",
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})" + _END),
        triggers=("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        description="GitHub tokens: ghp_, gho_, ghu_, ghs_, ghr_, github_pat_",
    ),
    SecretRule(
        "gitlab_token",
        re.compile(r"\bgl(?:pat|dt|rt|ptt|cbt|soat|ft|imt|agent|oas)-[A-Za-z0-9_\-]{20,}" + _END),
        triggers=("glpat-", "gldt-", "glrt-", "glptt-", "glcbt-", "glsoat-", "glft-", "glimt-", "glagent-", "gloas-"),
        description="GitLab tokens: glpat-, gldt-, glrt-, ...",
    ),
    SecretRule(
        "slack_token",
        re.compile(r"\b(?:xox[abposre]|xapp)-[A-Za-z0-9-]{10,}"),
        triggers=("xox", "xapp-"),
        description="Slack tokens: xoxb-, xoxa-, xoxp-, xoxr-, xoxe-, xapp-",
    ),
    SecretRule(
        "slack_webhook",
        re.compile(r"(hooks\.slack\.com/(?:services|workflows|triggers)/)[A-Za-z0-9+/_\-]{10,}"),
        _keep_prefix_mask,
        triggers=("hooks.slack.com",),
        description="Slack incoming webhook URLs (the path after /services/)",
    ),
    SecretRule(
        "stripe_key",
        re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{8,}|\bwhsec_[A-Za-z0-9]{20,}"),
        triggers=("sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_"),
        description="Stripe secret and restricted keys (sk_live_, sk_test_, rk_live_, rk_test_), webhook secrets",
    ),
    SecretRule(
        "google_api_key",
        re.compile(r"\bAIza[0-9A-Za-z_\-]{35}" + _END),
        triggers=("aiza",),
        description="Google API keys (AIza + 35 characters)",
    ),
    SecretRule(
        "azure_storage_key",
        re.compile(r"(?i)((?:AccountKey|SharedAccessKey)\s*=\s*)[A-Za-z0-9+/]{20,}={0,2}"),
        _keep_prefix_mask,
        triggers=("accountkey", "sharedaccesskey"),
        description="Azure storage / Service Bus keys in connection strings (AccountKey=, SharedAccessKey=)",
    ),
    SecretRule(
        "url_signature",
        re.compile(r"(?i)([?&](?:sig|X-Amz-Signature|X-Goog-Signature|Signature)=)[A-Za-z0-9%+/=_\-]{16,}"),
        _keep_prefix_mask,
        triggers=("sig=", "signature="),
        description="signatures of pre-signed URLs (Azure SAS sig=, S3 X-Amz-Signature=, GCS X-Goog-Signature=)",
    ),
    SecretRule(
        "anthropic_key",
        re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{20,}"),
        triggers=("sk-ant-",),
        description="Anthropic API keys (sk-ant-)",
    ),
    SecretRule(
        "openai_key",
        # sk-, sk-proj-, sk-svcacct-, sk-admin-: letters of both cases and digits (so sk-learn-... is not one).
        re.compile(r"\bsk-(?=[A-Za-z0-9_\-]*[0-9])(?=[A-Za-z0-9_\-]*[A-Z])(?=[A-Za-z0-9_\-]*[a-z])[A-Za-z0-9_\-]{20,}"),
        triggers=("sk-",),
        description="OpenAI-style keys (sk-, sk-proj-, sk-svcacct-)",
    ),
    SecretRule(
        "npm_token",
        re.compile(r"\bnpm_[A-Za-z0-9]{30,}" + _END),
        triggers=("npm_",),
        description="npm access tokens (npm_)",
    ),
    SecretRule(
        "pypi_token",
        re.compile(r"\bpypi-AgE[A-Za-z0-9_\-]{30,}"),
        triggers=("pypi-age",),
        description="PyPI API tokens (pypi-AgE...)",
    ),
    SecretRule(
        "sendgrid_key",
        re.compile(r"\bSG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}"),
        triggers=("sg.",),
        description="SendGrid API keys (SG.xxx.yyy)",
    ),
    SecretRule(
        "twilio_key",
        re.compile(r"\bSK[0-9a-fA-F]{32}\b"),
        trigger_pattern=TWILIO_TRIGGER,
        description="Twilio API key SIDs' secrets (SK + 32 hex)",
    ),
    SecretRule(
        "url_credentials",
        # scheme://user:password@host -> scheme://user:[REDACTED]@host (postgres, mysql, redis, amqp, https, ...)
        re.compile(r"\b([A-Za-z][A-Za-z0-9+.\-]{1,20}://[^\s:/?#@\"'<>]+:)[^\s@/?#\"'<>]+(@)"),
        r"\1" + MASK + r"\2",
        triggers=("://",),
        finder=re.compile("://"),
        back="abcdefghijklmnopqrstuvwxyz0123456789+.-",
        description="credentials in URLs and connection strings (scheme://user:password@host)",
    ),
)

# --- secrets introduced by a keyword ---------------------------------------------------------------

# Longer phrases first: the alternation takes the first that matches.
_KEYWORDS = (
    r"secret[ _.\-]?access[ _.\-]?key|client[ _.\-]?secret|secret[ _.\-]?key|private[ _.\-]?key|"
    r"api[ _.\-]?key|api[ _.\-]?token|access[ _.\-]?key|access[ _.\-]?token|auth[ _.\-]?token|"
    r"refresh[ _.\-]?token|passphrase|password|passwd|pwd|secret|token|credentials?|authorization"
)
_KEYWORD_TRIGGERS = (
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "api key",
    "api_key",
    "api-key",
    "apikey",
    "api.key",
    "access_key",
    "access-key",
    "accesskey",
    "access key",
    "private_key",
    "private key",
    "privatekey",
    "credential",
    "authorization",
)
_PASSWORD_WORDS = frozenset({"password", "passwd", "pwd", "passphrase"})

# Words that follow a keyword in ordinary sentences and are never the secret itself.
_NOT_SECRET_WORDS = """
    a an the is was be been being are were has have had not no none null nil true false yes ok empty blank
    missing required invalid valid incorrect correct wrong expired expiring expires expiry expiration revoked
    weak strong too short long reset resets changed change changes update updated updates set unset saved
    stored sent accepted rejected denied refused matched mismatch match matches hashed hash hashing
    encrypted encryption decrypted rotated rotation rotate policy policies manager managers field fields
    prompt prompted protected based less free authentication auth login logins length strength reuse
    history complexity validation verification verified check checks checked hint hints recovery recover
    request requested requests link links email emails mail form page screen dialog input store vault
    for to of in on at by from with without and or but if then when while via as into
    refresh refreshed refreshing renewal renewed renew issued issue generated generation created
    count counts limit limits usage used use budget bucket buckets type types format length size
    bearer basic digest negotiate santa agent agents sauce ingredient service services scanner scanning
    detected found rule rules
    exchange endpoint provider providers cache cached lookup store flow grant grants scope scopes
    file files path env variable variables config configuration value values name names id ids
    """
NOT_SECRETS = frozenset(_NOT_SECRET_WORDS.split())

_KEY_VALUE = re.compile(
    # the keyword at the end of a key (``access_token=``, ``DB_PASSWORD:``): nothing but the separator after it
    r"(?i)(?P<key>(?:" + _KEYWORDS + r"))"
    r"(?P<sep>[\"']?\s*(?:=>|:=|==|=|:)\s*)"
    r"(?P<value>\"[^\"\n]*\"|'[^'\n]*'|[^\s,;&\"'<>]+)"
)
_FREE_TEXT = re.compile(
    r"(?i)(?P<key>\b(?:" + _KEYWORDS + r"))\b"
    r"(?P<sep>\s+(?:is|was|for\s+\S+\s+is)\s+|\s+)"
    r"(?P<value>\"[^\"\n]*\"|'[^'\n]*'|[^\s,;\"'<>()\[\]{}]+)"
)
_TRAILING = ".,:;!?)"


def _is_masked_already(value: str) -> bool:
    return MASK in value or set(value) <= {"*", "x", "X", "#", "-"} or value.startswith(("<", "${", "{{", "%("))


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    counts: dict[str, int] = {}
    for ch in value:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def looks_like_secret(value: str) -> bool:
    """A bare word after a keyword is taken for a secret when it looks like one: letters and digits
    mixed (``hunter2``), a symbol (``p@ss!``), mixed case beyond a capital first letter (``SuperSecret``),
    six digits or more (a one-time code), or a long high-entropy token; never a path, a URL or a plain word."""
    if len(value) < 4 or value.lower() in NOT_SECRETS or _is_masked_already(value):
        return False
    if value.startswith(("/", "./", "~/", "http://", "https://", "file:")):
        return False
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    if has_digit and has_alpha:
        return True
    if has_digit:
        return value.isdigit() and len(value) >= 6
    if any(c in "!@#$%^&*+=?~|" for c in value):
        return True
    if any(c.isupper() for c in value[1:]) and any(c.islower() for c in value):
        return True
    return len(value) >= 16 and entropy(value) >= 3.5


def _strip_trailing(value: str) -> tuple[str, str]:
    stripped = value.rstrip(_TRAILING)
    return stripped, value[len(stripped) :]


def _mask_value(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[0] + MASK + value[0]
    return MASK


def _key_value(match: re.Match[str]) -> str:
    value = match.group("value")
    bare, tail = _strip_trailing(value)
    unquoted = bare.strip("\"'")
    if not unquoted or unquoted.lower() in NOT_SECRETS or _is_masked_already(unquoted):
        return match.group(0)
    if match.group("sep").strip() == "==":  # a comparison in code, not an assignment
        return match.group(0)
    if match.group("key").lower().endswith("pwd") and unquoted.startswith(("/", "~")):  # the shell's pwd
        return match.group(0)
    return match.group("key") + match.group("sep") + _mask_value(bare) + tail


def _free_text(match: re.Match[str]) -> str:
    value = match.group("value")
    key = match.group("key").lower()
    sep = match.group("sep")
    if value[0] in "\"'":  # quoted after a keyword: ``password 'x y'``
        if len(value) > 2 and not _is_masked_already(value[1:-1]):
            return match.group("key") + sep + _mask_value(value)
        return match.group(0)
    bare, tail = _strip_trailing(value)
    secret = looks_like_secret(bare)
    if not secret and key in _PASSWORD_WORDS and bare.isalpha() and len(bare) >= 4 and bare.lower() not in NOT_SECRETS:
        # ``password is swordfish``, ``with password swordfish``: a plain word is the password in these
        # phrasings unless it is one of the words that follow "password" in ordinary sentences.
        phrasing = sep.strip().lower()
        secret = phrasing in ("is", "was") or phrasing.startswith("for") or _preceded_by_with(match)
    if not secret:
        return match.group(0)
    return match.group("key") + sep + MASK + tail


def _preceded_by_with(match: re.Match[str]) -> bool:
    before = match.string[max(0, match.start() - 12) : match.start()].lower().split()
    return bool(before) and before[-1] in ("with", "using", "new", "old", "temporary", "pw", "initial")


# Every position a keyword starts at, overlapping ones too (client_secret_key: client_secret, secret_key).
_KEYWORD_STARTS = re.compile("(?=(?:" + _KEYWORDS + "))")

_KEYWORD_RULES: tuple[SecretRule, ...] = (
    SecretRule(
        "keyword_assignment",
        _KEY_VALUE,
        _key_value,
        triggers=_KEYWORD_TRIGGERS,
        finder=_KEYWORD_STARTS,
        description="key = value / key: value pairs whose key ends with a secret word (password=, api_key:, ...)",
    ),
    SecretRule(
        "keyword_phrase",
        _FREE_TEXT,
        _free_text,
        triggers=_KEYWORD_TRIGGERS,
        finder=_KEYWORD_STARTS,
        description='a secret after a keyword in free text ("with password hunter2", "pwd hunter2", '
        '"password is hunter2", "api key sk_...") when it looks like one',
    ),
)

BUILTIN_RULES: tuple[SecretRule, ...] = _PROVIDER_RULES + _KEYWORD_RULES
