#!/usr/bin/env bash
# Build the otel-logging OpenTelemetry Collector distribution from collector-config/builder-config.yaml.
#
#   scripts/build-collector.sh                  build (or reuse) the collector; the last stdout line is its path
#   scripts/build-collector.sh --update-modules re-resolve collector-config/go.mod and go.sum from the manifest
#                                               (run after editing the manifest, then commit both files)
#
# Everything lives under ${OTEL_LOGGING_CACHE:-<repo>/.cache}/go: the Go module and build caches, the builder
# itself and the binary, at go/otelcol/<hash>/otelcol-otel-logging where <hash> covers the manifest, go.mod,
# go.sum, the builder version and the Go version. An unchanged manifest reuses the binary without building.
# Needs: go (1.26+) and access to the Go module proxy. Progress goes to stderr.
set -euo pipefail

BUILDER_VERSION=v0.160.0
BINARY_NAME=otelcol-otel-logging

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONFIG_DIR="$REPO/collector-config"
MANIFEST="$CONFIG_DIR/builder-config.yaml"
CACHE="${OTEL_LOGGING_CACHE:-$REPO/.cache}"
GO_ROOT_CACHE="$CACHE/go"

update_modules=0
case "${1:-}" in
  "") ;;
  --update-modules) update_modules=1 ;;
  -h | --help)
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "build-collector.sh: unknown argument '$1' (use --update-modules or nothing)" >&2
    exit 2
    ;;
esac

log() { echo "build-collector: $*" >&2; }

command -v go >/dev/null || {
  log "go is not on PATH; install Go 1.26+ (https://go.dev/dl/) and run again"
  exit 1
}
[[ -f "$MANIFEST" ]] || {
  log "manifest $MANIFEST is missing"
  exit 1
}

mkdir -p "$GO_ROOT_CACHE"
export GOMODCACHE="$GO_ROOT_CACHE/mod"
export GOCACHE="$GO_ROOT_CACHE/build"
export GOPATH="$GO_ROOT_CACHE/path"
export GOBIN="$GO_ROOT_CACHE/bin/builder-$BUILDER_VERSION"
# Module files writable, so that `rm -rf` of the cache works.
export GOFLAGS="-modcacherw ${GOFLAGS:-}"

# One build at a time per cache (parallel test sessions share it).
exec 9>"$GO_ROOT_CACHE/build.lock"
flock 9

builder="$GOBIN/builder"
if [[ ! -x "$builder" ]]; then
  log "installing the collector builder $BUILDER_VERSION"
  go install "go.opentelemetry.io/collector/cmd/builder@$BUILDER_VERSION"
fi

work="$(mktemp -d "$GO_ROOT_CACHE/work.XXXXXX")"
trap 'rm -rf "$work"' EXIT
src="$work/$BINARY_NAME" # the manifest's output_path, relative to the directory the builder runs in

if ((update_modules)); then
  log "resolving modules for $MANIFEST"
  # The builder's own `go mod tidy` fails on a test-only import of the file exporter that the proxy refuses;
  # go.mod is written before that, and `go mod tidy -e` completes it. The checksum database has no entry
  # for the ebpf-profiler pseudo-version the elasticsearch exporter v0.156.0 pulls in.
  if ! (cd "$work" && "$builder" --config "$MANIFEST" --skip-compilation >&2); then
    log "the builder's own tidy failed (expected, see above); completing with go mod tidy -e"
  fi
  (cd "$src" && GONOSUMDB=go.opentelemetry.io/ebpf-profiler go mod tidy -e >&2)
  cp "$src/go.mod" "$src/go.sum" "$CONFIG_DIR/"
  log "wrote $CONFIG_DIR/go.mod and go.sum; commit them"
fi

for f in go.mod go.sum; do
  [[ -f "$CONFIG_DIR/$f" ]] || {
    log "$CONFIG_DIR/$f is missing; run scripts/build-collector.sh --update-modules"
    exit 1
  }
done

hash="$(cat "$MANIFEST" "$CONFIG_DIR/go.mod" "$CONFIG_DIR/go.sum" <(echo "$BUILDER_VERSION") <(go version) |
  sha256sum | cut -c1-16)"
out_dir="$GO_ROOT_CACHE/otelcol/$hash"
binary="$out_dir/$BINARY_NAME"

if [[ -x "$binary" ]]; then
  log "reusing $binary (manifest unchanged)"
  echo "$binary"
  exit 0
fi

log "building $BINARY_NAME (a first build downloads about 160 MiB of modules and takes a few minutes)"
started=$SECONDS
(cd "$work" && "$builder" --config "$MANIFEST" --skip-compilation --skip-get-modules >&2)
cp "$CONFIG_DIR/go.mod" "$CONFIG_DIR/go.sum" "$src/"
(cd "$work" && "$builder" --config "$MANIFEST" --skip-generate --skip-get-modules >&2)

mkdir -p "$out_dir"
mv "$src/$BINARY_NAME" "$binary.tmp"
mv "$binary.tmp" "$binary"
# Older builds are only disk space (about 85 MB each).
find "$GO_ROOT_CACHE/otelcol" -mindepth 1 -maxdepth 1 -type d ! -name "$hash" -exec rm -rf {} +
log "built $binary in $((SECONDS - started)) s"
echo "$binary"
