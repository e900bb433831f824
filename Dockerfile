# otel-logging: the central service (`otel-logging serve`) and the dashboard (`otel-logging dashboard`)
# in one image; docker-compose.otel.yml runs it twice with different commands.

# The native extension (native/: the receiver's OTLP -> JSON-lines converter, aggregation's stdlib
# reader), built into a wheel with maturin; the image itself carries no Rust toolchain.
FROM rust:1-slim-bookworm AS native
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip python3-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/maturin && /opt/maturin/bin/pip install --no-cache-dir "maturin>=1.8,<2"
WORKDIR /src
COPY native ./native
RUN /opt/maturin/bin/maturin build --release --manifest-path native/Cargo.toml --out /wheels --interpreter python3.11

FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY otel_logging ./otel_logging
COPY dashboards ./dashboards
COPY --from=native /wheels /wheels
RUN pip install '.[all]' /wheels/*.whl

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
