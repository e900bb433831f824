#!/usr/bin/env bash
# Build the native extension (native/, Python module otel_logging_native) and install it into a venv.
#
#   scripts/build-native.sh [PYTHON]     PYTHON is the venv's interpreter (default: .venv/bin/python)
#
# pip builds native/ with maturin as its PEP 517 backend (fetched from PyPI into pip's isolated build
# environment) and installs the wheel. Cargo's registry and build directory live under
# ${OTEL_LOGGING_CACHE:-<repo>/.cache}/cargo (CARGO_HOME=cargo/home, CARGO_TARGET_DIR=cargo/target), so a
# rebuild after an edit is incremental. Nothing is built when the sources (native/ minus build output),
# the Rust toolchain and the interpreter are unchanged since the last install into this venv and the module
# still imports.
# Without cargo (https://rustup.rs) it prints a warning and exits 0: otel-logging then runs its pure-Python
# conversion. Progress goes to stderr.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NATIVE="$REPO/native"
CACHE="${OTEL_LOGGING_CACHE:-$REPO/.cache}"
PYTHON="${1:-$REPO/.venv/bin/python}"

case "${PYTHON}" in
  -h | --help)
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
esac

log() { echo "build-native: $*" >&2; }

[[ -x "$PYTHON" ]] || {
  log "no Python interpreter at $PYTHON (create the venv first: make venv)"
  exit 1
}
PYTHON="$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")"

if ! command -v cargo >/dev/null; then
  if [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    log "WARNING: cargo is not installed (https://rustup.rs); otel_logging_native is not built and"
    log "WARNING: otel-logging uses its pure-Python OTLP conversion (slower)."
    exit 0
  fi
fi

mkdir -p "$CACHE/cargo"
export CARGO_HOME="$CACHE/cargo/home"
export CARGO_TARGET_DIR="$CACHE/cargo/target"
# Build exactly the dependency versions of native/Cargo.lock.
export MATURIN_PEP517_ARGS="--locked"

# The stamp lives in the venv: another venv sharing the cache still gets its own install.
VENV_DIR="$(dirname "$(dirname "$PYTHON")")"
STAMP="$VENV_DIR/.otel-logging-native"

fingerprint() {
  (
    cd "$NATIVE"
    find . -path ./target -prune -o -type f -print | LC_ALL=C sort | xargs sha256sum
    cargo --version
    rustc --version
    "$PYTHON" -c 'import sys; print(sys.version)'
  ) | sha256sum | cut -d' ' -f1
}

# One build at a time per cache (parallel sessions share the target directory).
exec 9>"$CACHE/cargo/build.lock"
flock 9

want="$(fingerprint)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] && "$PYTHON" -c 'import otel_logging_native' 2>/dev/null; then
  log "otel_logging_native is up to date"
  exit 0
fi

log "building otel_logging_native (cargo $(cargo --version | cut -d' ' -f2), target dir $CARGO_TARGET_DIR)"
start=$SECONDS
"$PYTHON" -m pip install -q --no-deps --force-reinstall "$NATIVE" >&2
"$PYTHON" -c 'import otel_logging_native' || {
  log "otel_logging_native was installed but does not import"
  exit 1
}
echo "$want" >"$STAMP"
log "installed otel_logging_native in $((SECONDS - start)) s"
