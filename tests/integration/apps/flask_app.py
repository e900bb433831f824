"""A Flask app instrumented by opentelemetry-instrumentation-wsgi, for gunicorn sync workers.

opentelemetry-instrumentation-flask builds on the WSGI instrumentation (and names the span after
the route); it has no release matching this project's opentelemetry-instrumentation (0.66b2), the
WSGI package has. Either makes the request's SERVER span current while the view runs.

``gunicorn tests.integration.apps.flask_app:app``; service, endpoint and batching come from the
OTEL_* environment. With ``SERVERS_SETUP_AT=import`` (the default) setup() runs when the app is
imported: in each worker, or once in the master with ``--preload``.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware

import otel_logging
from tests.integration.apps.common import SETUP_AT, current_span, use_sdk_tracer_provider

use_sdk_tracer_provider()
if SETUP_AT == "import":
    otel_logging.setup()

app = Flask(__name__)
app.wsgi_app = OpenTelemetryMiddleware(app.wsgi_app)
log = logging.getLogger("app.flask")


@app.get("/work/<request_id>")
def work(request_id: str) -> dict[str, Any]:
    span = current_span()
    log.info("handled %s", request_id, extra={"request_id": request_id})
    return span
