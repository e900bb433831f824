# otel-logging: the central service (`otel-logging serve`) and the dashboard (`otel-logging dashboard`)
# in one image; docker-compose.otel.yml runs it twice with different commands.
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY otel_logging ./otel_logging
COPY dashboards ./dashboards
RUN pip install .

# An unprivileged user owning only the log directory.
RUN useradd --system --uid 10001 --home-dir /var/lib/otel-logging otel \
    && mkdir -p /var/lib/otel-logging/logs \
    && chown -R otel /var/lib/otel-logging
USER otel
VOLUME ["/var/lib/otel-logging"]

# 4317 OTLP/gRPC, 4318 OTLP/HTTP (+ /healthz, /metrics), 8050 dashboard
EXPOSE 4317 4318 8050
ENTRYPOINT ["otel-logging"]
CMD ["serve", "--host", "0.0.0.0", "--port", "4317", "--http-port", "4318", "--log-dir", "/var/lib/otel-logging/logs"]
