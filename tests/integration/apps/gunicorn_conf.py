"""gunicorn settings for the server tests: ``gunicorn -c tests/integration/apps/gunicorn_conf.py ...``.

With ``SERVERS_SETUP_AT=post_fork`` each worker calls setup() right after it is forked
(the recipe in docs/servers.md); otherwise the app does it at import.
"""

from __future__ import annotations

from typing import Any

from tests.integration.apps.common import SETUP_AT


def post_fork(server: Any, worker: Any) -> None:
    if SETUP_AT == "post_fork":
        import otel_logging

        otel_logging.setup()
