#!/usr/bin/env bash
# `make run`: the central service in the background, the dashboard in the foreground, both URLs printed.
# Ctrl-C (or the dashboard exiting) stops both.
#   BIN=.venv/bin LOG_DIR=logs GRPC_PORT=4317 HTTP_PORT=4318 DASHBOARD_PORT=8050 scripts/run.sh
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
stop() {
  if [[ -n "$serve_pid" ]] && kill -0 "$serve_pid" 2>/dev/null; then
    kill -TERM "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true
  fi
  rm -rf "$state"
}
trap stop EXIT
trap 'exit 130' INT TERM

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
    echo "run.sh: otel-logging serve exited before listening (is port $GRPC_PORT or $HTTP_PORT taken?)" >&2
    exit 1
  fi
  sleep 0.1
done
if [[ ! -s "$state/serve.out" ]]; then
  echo "run.sh: otel-logging serve did not report listening within 60 s" >&2
  exit 1
fi

"$BIN/otel-logging" dashboard --log-dir "$LOG_DIR" --port "$DASHBOARD_PORT" | while IFS= read -r line; do
  case "$line" in
    *'"event":"listening"'*)
      url="${line#*\"url\":\"}"
      echo "Dashboard:       ${url%%\"*}   (Ctrl-C stops both)"
      ;;
    *) echo "$line" ;;
  esac
done
