#!/usr/bin/env bash
# (Re)install otel-logging in editable mode into a venv, which builds the native extension in place.
#
#   scripts/build-native.sh [PYTHON [EXTRAS]]   PYTHON: the venv's interpreter (default: .venv/bin/python),
#                                               EXTRAS: e.g. '[test,docs]' (make venv passes it)
#
# `pip install -e <repo>EXTRAS` runs setup.py, whose setuptools-rust builds native/ (the Python module
# otel_logging_native) in place: run this again after editing native/src. Cargo's registry and build
# directory live under ${OTEL_LOGGING_CACHE:-<repo>/.cache}/cargo (CARGO_HOME=cargo/home,
# CARGO_TARGET_DIR=cargo/target), so a rebuild after an edit is incremental and an unchanged one takes
# seconds. Without cargo (https://rustup.rs) the install still succeeds and this prints a warning:
# otel-logging then runs its pure-Python path (`otel-logging --version` says which). Progress goes to stderr.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${OTEL_LOGGING_CACHE:-$REPO/.cache}"
PYTHON="${1:-$REPO/.venv/bin/python}"
EXTRAS="${2:-}"

case "${PYTHON}" in
  -h | --help)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
esac

log() { echo "build-native: $*" >&2; }

[[ -x "$PYTHON" ]] || {
  log "no Python interpreter at $PYTHON (create the venv first: make venv)"
  exit 1
}
PYTHON="$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")" # absolute: the import check runs from /

if ! command -v cargo >/dev/null && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if command -v cargo >/dev/null; then
  mkdir -p "$CACHE/cargo"
  export CARGO_HOME="$CACHE/cargo/home"
  export CARGO_TARGET_DIR="$CACHE/cargo/target"
  log "installing otel-logging$EXTRAS (editable) with its native extension (cargo $(cargo --version | cut -d' ' -f2), target dir $CARGO_TARGET_DIR)"
else
  log "WARNING: cargo is not installed (https://rustup.rs); otel_logging_native is not built and"
  log "WARNING: otel-logging uses its pure-Python path (slower)."
fi

# The extension was once a distribution of its own (built with maturin); its copy would shadow the new one.
if "$PYTHON" -m pip show -q otel-logging-native >/dev/null 2>&1; then
  "$PYTHON" -m pip uninstall -q -y otel-logging-native >&2
fi

start=$SECONDS
"$PYTHON" -m pip install -q -e "$REPO$EXTRAS" >&2
if command -v cargo >/dev/null; then
  (cd / && "$PYTHON" -c 'import otel_logging_native') || {
    log "otel-logging was installed but otel_logging_native does not import (see the build output above)"
    exit 1
  }
  log "installed otel-logging with otel_logging_native in $((SECONDS - start)) s"
fi
