"""Turning untrusted ``service.name`` values into safe file stems and index names.

A service name arrives from the network. It must never become a path outside the log
directory, and two different names must never silently share one file. Names that are
already safe are used as they are; any name that had to be changed gets a short hash of
the original appended, so ``a/b`` and ``a_b`` end up in different files.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import NamedTuple

DEFAULT_SERVICE_NAME = "unknown_service"
MAX_STEM_LENGTH = 96

_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_SAFE_STEM = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
# A rotated file is <stem>.<UTC stamp>.jsonl (see rotated_name); a stem must not look like one. This is
# deliberately looser than the exact stamp (any fraction, optional Z), so no stem comes close.
_ROTATED_SUFFIX = re.compile(r"\.\d{8}T\d{6}(?:\.\d+)?Z?$")


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def safe_app_name(service_name: str | None) -> str:
    """Return the file stem for ``service_name``: letters, digits, ``.``, ``_``, ``-``.

    No leading dot, never empty, at most ``MAX_STEM_LENGTH`` characters, never a path.
    """
    if service_name is None or service_name == "":
        return DEFAULT_SERVICE_NAME
    if (
        len(service_name) <= MAX_STEM_LENGTH
        and _SAFE_STEM.fullmatch(service_name)
        and not _ROTATED_SUFFIX.search(service_name)
        and not service_name.startswith("_")
    ):
        return service_name
    cleaned = _UNSAFE_CHARS.sub("_", service_name).lstrip("._") or "app"
    cleaned = _ROTATED_SUFFIX.sub("", cleaned) or "app"
    suffix = "-" + _digest(service_name)
    return cleaned[: MAX_STEM_LENGTH - len(suffix)].rstrip(".") + suffix


_NOT_DATASET = re.compile(r"[^a-z0-9._]")
MAX_DATASET_LENGTH = 100


def data_stream_dataset(service_name: str | None) -> str:
    """The ``<dataset>`` of the data stream ``logs-<dataset>-<namespace>`` for ``service_name``.

    Lower case, every character other than ``a-z``, ``0-9``, ``.`` and ``_`` replaced by ``_`` (``-``
    separates the parts of a data stream name), at most 100 characters. The Logstash pipeline
    (``logstash/pipeline``) applies the same rule, so both paths write to the same streams.
    Different services may share a dataset (``my-app``, ``my_app``); their ``service`` field tells them apart.
    """
    if not service_name:
        return DEFAULT_SERVICE_NAME
    return _NOT_DATASET.sub("_", service_name.lower())[:MAX_DATASET_LENGTH]


def data_stream_namespace(namespace: str) -> str:
    """Check a data stream namespace (``default``, ``prod``...): raises ValueError naming the rule broken."""
    if not namespace or len(namespace) > MAX_DATASET_LENGTH or _NOT_DATASET.search(namespace):
        raise ValueError(
            f"data stream namespace {namespace!r} is not valid: use 1..{MAX_DATASET_LENGTH} characters "
            "from a-z, 0-9, '.', '_' (no '-', no upper case)"
        )
    return namespace


def data_stream_prefix(prefix: str) -> str:
    """Check a data stream prefix (``logs``): raises ValueError naming the rule broken."""
    if not prefix or prefix != prefix.lower() or "-" in prefix or prefix.startswith(("_", "+", ".")):
        raise ValueError(f"index prefix {prefix!r}: use lower case letters, digits, '_' or '.', no '-'")
    return prefix


# --- per-app file names: <app>.jsonl, rotated <app>.<UTC stamp>.jsonl[.gz] -------------------------
LOG_SUFFIX = ".jsonl"
GZ_SUFFIX = ".gz"
ROTATED_STAMP_FORMAT = "%Y%m%dT%H%M%S.%fZ"  # 20260101T000000.000000Z
_STAMP = r"\d{8}T\d{6}\.\d{6}Z"
_LOG_FILE_NAME = re.compile(
    r"(?P<app>[A-Za-z0-9_-][A-Za-z0-9._-]*?)(?:\.(?P<stamp>" + _STAMP + r"))?\.jsonl(?P<gz>\.gz)?"
)


class LogFileName(NamedTuple):
    app: str  # the file stem (``safe_app_name`` of the service)
    stamp: str | None  # the UTC rotation stamp of a rotated file, else None
    compressed: bool  # ends in .gz

    @property
    def rotated(self) -> bool:
        return self.stamp is not None


def rotated_name(stem: str, when: datetime | None = None) -> str:
    """The name a rotated file of app ``stem`` gets: ``<stem>.<UTC stamp>.jsonl`` (``when`` defaults to now)."""
    return f"{stem}.{(when or datetime.now(UTC)).astimezone(UTC).strftime(ROTATED_STAMP_FORMAT)}{LOG_SUFFIX}"


def parse_log_file_name(name: str) -> LogFileName | None:
    """``<app>.jsonl``, ``<app>.<stamp>.jsonl`` or either with ``.gz`` -> its parts; any other name -> None."""
    match = _LOG_FILE_NAME.fullmatch(name)
    if match is None:
        return None
    return LogFileName(match["app"], match["stamp"], match["gz"] is not None)


def rotated_pattern(stem: str) -> re.Pattern[str]:
    """Matches the rotated files of app ``stem`` (plain or .gz); group 1 is the stamp, group 2 the ``.gz``."""
    return re.compile(re.escape(stem) + r"\.(" + _STAMP + r")\.jsonl(\.gz)?$")


def logstash_queue_name(host: str, port: int) -> str:
    """The queue directory name of a Logstash target: ``logstash-<host>-<port>`` with only safe characters.

    Two targets with one name would share a queue: ``LogstashSettings.validate`` refuses them."""
    return "logstash-" + re.sub(r"[^A-Za-z0-9._-]+", "_", f"{host}-{port}").strip("._")
