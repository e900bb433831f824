#!/usr/bin/env bash
# `make run`: the central service and the dashboard, both URLs printed.
# Every port is checked before anything starts (a taken one: one line, exit 2). Ctrl-C stops both; if either
# exits on its own, the other is stopped too and the reason is printed (exit 1).
#   BIN=.venv/bin LOG_DIR=logs GRPC_PORT=4317 HTTP_PORT=4318 DASHBOARD_PORT=8050 scripts/run.sh
# ALERTS=alerts.toml: the dashboard also evaluates that rule file (docs/alerts.md); its alerts are printed here.
set -euo pipefail

BIN="${BIN:-.venv/bin}"
LOG_DIR="${LOG_DIR:-logs}"
GRPC_PORT="${GRPC_PORT:-4317}"
HTTP_PORT="${HTTP_PORT:-4318}"
DASHBOARD_PORT="${DASHBOARD_PORT:-8050}"
# Retention of the embedded default: files rotate daily (gzip) and are deleted after RETAIN_AGE; the store
# follows the files, so it keeps the same days. RETAIN_AGE= (empty) keeps everything.
RETAIN_AGE="${RETAIN_AGE-7d}"
retention=()
if [[ -n "$RETAIN_AGE" ]]; then
  retention=(--rotate-interval 1d --compress --retain-age "$RETAIN_AGE")
fi

state="$(mktemp -d)"
serve_pid=""
dashboard_pid=""
stop() {
  local pid
  for pid in "$dashboard_pid" "$serve_pid"; do
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$state"
}
trap stop EXIT
describe() {  # an exit status in words
  if (($1 > 128)); then echo "killed by signal $(($1 - 128))"; else echo "status $1"; fi
}
trap 'exit 130' INT TERM

# Every port, before anything starts (port 0: any free one).
if ! "$BIN/python" -m otel_logging.commands.ports 127.0.0.1 \
  "$GRPC_PORT:GRPC_PORT, the service's OTLP/gRPC" \
  "$HTTP_PORT:HTTP_PORT, the service's OTLP/HTTP" \
  "$DASHBOARD_PORT:DASHBOARD_PORT, the dashboard" 2>"$state/ports.err"; then
  message="$(cat "$state/ports.err")"  # port N is in use (VARIABLE, what)
  variable="${message#*(}"
  variable="${variable%%,*}"
  echo "make run: $message; stop what listens there or choose another: make run $variable=<port>" >&2
  exit 2
fi

mkdir -p "$LOG_DIR"
"$BIN/otel-logging" serve --log-dir "$LOG_DIR" --port "$GRPC_PORT" --http-port "$HTTP_PORT" "${retention[@]}" \
  >"$state/serve.out" &
serve_pid=$!

# The service prints one JSON line when it listens (and its addresses on stderr); wait for it.
for _ in $(seq 1 600); do
  if [[ -s "$state/serve.out" ]]; then
    break
  fi
  if ! kill -0 "$serve_pid" 2>/dev/null; then
    status=0
    wait "$serve_pid" || status=$?
    serve_pid=""
    echo "make run: otel-logging serve exited before listening (status $status; its error is above)" >&2
    exit 1
  fi
  sleep 0.1
done
if [[ ! -s "$state/serve.out" ]]; then
  echo "make run: otel-logging serve did not report listening within 60 s" >&2
  exit 1
fi

alerts=()
if [[ -n "${ALERTS:-}" ]]; then
  alerts=(--alerts "$ALERTS")
fi
"$BIN/otel-logging" dashboard --log-dir "$LOG_DIR" --port "$DASHBOARD_PORT" "${alerts[@]}" >"$state/dashboard.out" &
dashboard_pid=$!

# Watch both: print the dashboard's URL once it answers; if either exits, stop the other and say why.
announced=""
shown=0  # lines of the dashboard's output looked at for alerts
while true; do
  if [[ -n "${ALERTS:-}" ]]; then
    total="$(wc -l <"$state/dashboard.out")"
    if ((total > shown)); then
      tail -n "+$((shown + 1))" "$state/dashboard.out" | head -n "$((total - shown))" | grep '"event": "alert"' || true
      shown=$total
    fi
  fi
  if [[ -z "$announced" ]] && grep -q '"event":"listening"' "$state/dashboard.out" 2>/dev/null; then
    line="$(grep -m1 '"event":"listening"' "$state/dashboard.out")"
    url="${line#*\"url\":\"}"
    echo "Dashboard:       ${url%%\"*}   (Ctrl-C stops both)"
    announced=1
  fi
  if ! kill -0 "$serve_pid" 2>/dev/null; then
    status=0
    wait "$serve_pid" || status=$?
    serve_pid=""
    echo "make run: the service (otel-logging serve) exited unexpectedly ($(describe "$status")); stopping the dashboard" >&2
    exit 1
  fi
  if ! kill -0 "$dashboard_pid" 2>/dev/null; then
    status=0
    wait "$dashboard_pid" || status=$?
    dashboard_pid=""
    echo "make run: the dashboard exited ($(describe "$status")); stopping the service" >&2
    exit 1
  fi
  sleep 0.2
done
