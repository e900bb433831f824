"""Which optional part of otel-logging needs which extra, and one clear line when it is not installed.

``pip install otel-logging`` is the app side (``setup()``). The service's commands and the dashboard need more:

- ``server``: ``otel-logging serve``, ``aggregate`` and ``kibana`` (the gRPC health service, the Elasticsearch
  client);
- ``dashboard``: ``otel-logging dashboard`` and ``store`` (Streamlit, DuckDB, pandas, Altair, the Elasticsearch
  client for its Elasticsearch source);
- ``all``: both.

``require(extra, what)`` raises ``MissingExtraError`` (an ``ImportError``) naming the extra and the modules that
are missing; the CLI prints its message as one line and exits 2.
"""

from __future__ import annotations

import importlib.util

# extra -> the top-level modules it brings (import names, not distribution names)
EXTRAS: dict[str, tuple[str, ...]] = {
    "server": ("grpc_health", "elasticsearch"),
    "dashboard": ("streamlit", "duckdb", "pandas", "altair", "elasticsearch"),
}

# a module that only an extra brings -> the extra to name when it is missing
EXTRA_OF_MODULE: dict[str, str] = {
    module: extra for extra in ("server", "dashboard") for module in EXTRAS[extra] if module != "elasticsearch"
} | {"elasticsearch": "server", "elastic_transport": "server"}


class MissingExtraError(ImportError):
    """An optional part of otel-logging was used without the extra that installs it."""

    def __init__(self, what: str, extra: str, missing: list[str]) -> None:
        self.extra = extra
        self.missing = missing
        super().__init__(
            f"{what} needs the '{extra}' extra: pip install 'otel-logging[{extra}]' (missing: {', '.join(missing)})"
        )


def missing_modules(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here (no import is run: only looked up)."""
    return [module for module in EXTRAS[extra] if importlib.util.find_spec(module) is None]


def require(extra: str, what: str) -> None:
    """Raise ``MissingExtraError`` when a module of ``extra`` is not installed."""
    missing = missing_modules(extra)
    if missing:
        raise MissingExtraError(what, extra, missing)


def extra_for(error: ModuleNotFoundError, what: str) -> MissingExtraError | None:
    """The ``MissingExtraError`` that explains ``error`` (a module an extra brings was not found), or None."""
    top = (error.name or "").split(".")[0]
    extra = EXTRA_OF_MODULE.get(top)
    return MissingExtraError(what, extra, [top]) if extra else None
