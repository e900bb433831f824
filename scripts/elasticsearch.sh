#!/usr/bin/env bash
# Fetch, start and stop Elasticsearch on 127.0.0.1 for the tests and benchmarks: a single node, or a cluster's.
#
#   scripts/elasticsearch.sh fetch [--version V]            download + unpack (cached); prints the ES home
#   scripts/elasticsearch.sh start [--version V] [--run-dir D] [--port P]
#                                                          start a node; prints run_dir=, url=, pid=, version= lines
#   scripts/elasticsearch.sh stop --run-dir D               stop the node of that run dir (data kept)
#
# A node of a multi-node cluster (all on 127.0.0.1): start also takes --node-name N --transport-port T
# --seed-hosts 127.0.0.1:T1,127.0.0.1:T2,... --initial-masters N1,N2,... (all four, instead of single-node
# discovery); they are kept in the run dir, so a restart with --run-dir D alone rejoins the cluster.
#
# Version: --version, else (restarting an existing --run-dir) the version it was started with, else
# $OTEL_LOGGING_ES_VERSION, else $ES_VERSION, else 9.2.0 (the current major). A major alone picks the pinned
# release of that major: 9 -> 9.2.0, 8 -> 8.19.21 ($OTEL_LOGGING_ES_VERSION_9 / _8 change these).
# Each version is cached on its own.
# The distribution is Maven Central's JDK-less integ-test-zip
# (org.elasticsearch.distribution.integ-test-zip:elasticsearch:<version>:zip), fetched with
# `mvn dependency:copy` into ${OTEL_LOGGING_CACHE:-<repo>/.cache}/elasticsearch. A new run dir (data, logs,
# config) is made under /tmp per start unless --run-dir names an existing one (a restart keeps its data).
# The JDK is found at run time: $ES_JAVA_HOME, else the default java, else a JDK under /usr/lib/jvm (or
# $OTEL_LOGGING_JVM_DIR), the first new enough for the version (8.x: Java 17+, 9.x: Java 21+); if none is,
# it stops and lists what it looked at. As root, the node runs as the system user
# otel-logging-es (created here), since Elasticsearch refuses to run as root. Heap: $OTEL_LOGGING_ES_HEAP (512m).
set -euo pipefail

# The pinned releases the tests run (both on Maven Central; 9.x releases are missing from its
# maven-metadata.xml, so they are pinned by hand). docker-compose.otel.yml uses ES_VERSION_9's default.
# OTEL_LOGGING_ES_VERSION_9 / _8 point a major (and so the test fixtures) at another release, e.g. 9.5.2.
ES_VERSION_9="${OTEL_LOGGING_ES_VERSION_9:-9.2.0}"
ES_VERSION_8="${OTEL_LOGGING_ES_VERSION_8:-8.19.21}"
DEFAULT_VERSION="$ES_VERSION_9"
VERSION_ARG=""  # set by --version
HEAP="${OTEL_LOGGING_ES_HEAP:-512m}"
ES_USER=otel-logging-es
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${OTEL_LOGGING_CACHE:-$REPO/.cache}/elasticsearch"
JVM_DIR="${OTEL_LOGGING_JVM_DIR:-/usr/lib/jvm}"

log() { echo "elasticsearch.sh: $*" >&2; }
die() {
  log "$*"
  exit 1
}

resolve_version() { # resolve_version [RUN_DIR]: sets VERSION and HOME_DIR
  local wanted="$VERSION_ARG"
  if [[ -z "$wanted" && -n "${1:-}" && -s "$1/version" ]]; then
    wanted="$(cat "$1/version")"
  fi
  [[ -n "$wanted" ]] || wanted="${OTEL_LOGGING_ES_VERSION:-}"
  [[ -n "$wanted" ]] || wanted="${ES_VERSION:-}"
  [[ -n "$wanted" ]] || wanted="$DEFAULT_VERSION"
  case "$wanted" in
    9) wanted="$ES_VERSION_9" ;;
    8) wanted="$ES_VERSION_8" ;;
  esac
  [[ "$wanted" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "version '$wanted' is not X.Y.Z (or a major: 8, 9)"
  VERSION="$wanted"
  HOME_DIR="$CACHE/elasticsearch-$VERSION"
  if [[ -n "${1:-}" && -s "$1/version" && "$(cat "$1/version")" != "$VERSION" ]]; then
    die "$1 holds the data of Elasticsearch $(cat "$1/version"), not $VERSION; use a new run dir"
  fi
}

ensure_tool() { # ensure_tool COMMAND DEBIAN_PACKAGE: install the package when the command is missing (as root)
  command -v "$1" >/dev/null && return
  if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing $2 (for $1)"
    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2") >&2 ||
      die "could not install $2; install it and run again"
  else
    die "$1 is not on PATH; install $2 and run again"
  fi
}

fetch() {
  if [[ -x "$HOME_DIR/bin/elasticsearch" ]]; then
    echo "$HOME_DIR"
    return
  fi
  ensure_tool mvn maven
  ensure_tool unzip unzip
  mkdir -p "$CACHE"
  exec 8>"$CACHE/fetch.lock"
  flock 8
  if [[ ! -x "$HOME_DIR/bin/elasticsearch" ]]; then
    local zip="$CACHE/elasticsearch-$VERSION.zip"
    if [[ ! -s "$zip" ]]; then
      log "downloading Elasticsearch $VERSION (integ-test-zip) from Maven Central"
      mvn -q -B -Dstyle.color=never dependency:copy \
        -Dartifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$VERSION:zip" \
        -DoutputDirectory="$CACHE/download" -Dmdep.overWriteReleases=true >&2 ||
        die "could not download Elasticsearch $VERSION from Maven Central; pick another with --version (e.g. $ES_VERSION_9 or $ES_VERSION_8)"
      mv "$CACHE/download/elasticsearch-$VERSION.zip" "$zip" && rmdir "$CACHE/download"
    fi
    rm -rf "$CACHE/unpack"
    mkdir -p "$CACHE/unpack"
    unzip -q "$zip" -d "$CACHE/unpack"
    mv "$CACHE/unpack/elasticsearch-$VERSION" "$HOME_DIR"
    rm -rf "$CACHE/unpack"
    chmod -R a+rX "$HOME_DIR"
  fi
  echo "$HOME_DIR"
}

java_major() { # java_major JAVA_HOME -> major version number (0 if unusable)
  local out
  out="$("$1/bin/java" -version 2>&1 | head -1)" || {
    echo 0
    return
  }
  sed -E 's/.*version "([0-9]+)(\.[0-9._]*)?.*/\1/' <<<"$out" | grep -E '^[0-9]+$' || echo 0
}

pick_java() {
  local need=17
  [[ "${VERSION%%.*}" -ge 9 ]] && need=21
  local candidates=() tried=() major
  [[ -n "${ES_JAVA_HOME:-}" ]] && candidates+=("$ES_JAVA_HOME")
  if command -v java >/dev/null; then
    candidates+=("$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")")
  fi
  for d in "$JVM_DIR"/*/; do [[ -d "$d" ]] && candidates+=("${d%/}"); done
  for home in "${candidates[@]}"; do
    if [[ ! -x "$home/bin/java" ]]; then
      tried+=("$home (no bin/java)")
      continue
    fi
    major="$(java_major "$home")"
    if [[ "$major" -ge "$need" ]]; then
      echo "$home"
      return
    fi
    tried+=("$home (Java $major)")
  done
  local list="none"
  [[ ${#tried[@]} -gt 0 ]] && list="$(printf '%s, ' "${tried[@]}")" && list="${list%, }"
  die "Elasticsearch $VERSION needs Java $need or newer; looked at \$ES_JAVA_HOME, the java on PATH and $JVM_DIR/*: $list. Install a JDK $need+ (e.g. Temurin) or set ES_JAVA_HOME to one"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

as_es_user() {
  if [[ "$(id -u)" -eq 0 ]]; then
    runuser -u "$ES_USER" -- "$@"
  else
    "$@"
  fi
}

start() {
  local run_dir="" port="" node_name="" transport_port="" seed_hosts="" initial_masters=""
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --version) VERSION_ARG="$2"; shift 2 ;;
      --run-dir) run_dir="$2"; shift 2 ;;
      --port) port="$2"; shift 2 ;;
      --node-name) node_name="$2"; shift 2 ;;
      --transport-port) transport_port="$2"; shift 2 ;;
      --seed-hosts) seed_hosts="$2"; shift 2 ;;
      --initial-masters) initial_masters="$2"; shift 2 ;;
      *) die "start: unknown argument '$1'" ;;
    esac
  done
  local home java_home
  resolve_version "$run_dir"
  java_home="$(pick_java)"
  home="$(fetch)"
  if [[ -z "$run_dir" ]]; then
    run_dir="$(mktemp -d /tmp/otel-logging-es.XXXXXX)"
  fi
  mkdir -p "$run_dir/data" "$run_dir/logs"
  chmod 755 "$run_dir"
  echo "$VERSION" >"$run_dir/version"
  if [[ ! -d "$run_dir/config" ]]; then
    cp -r "$home/config" "$run_dir/config"
  fi
  [[ -n "$port" ]] || port="$(cat "$run_dir/port" 2>/dev/null || free_port)"
  echo "$port" >"$run_dir/port"
  # Discovery: a single node, unless this is (or was started as) a node of a cluster.
  if [[ -n "$node_name$transport_port$seed_hosts$initial_masters" ]]; then
    [[ -n "$node_name" && -n "$transport_port" && -n "$seed_hosts" && -n "$initial_masters" ]] ||
      die "a cluster node needs all of --node-name, --transport-port, --seed-hosts and --initial-masters"
    printf '%s\n' "-Enode.name=$node_name" "-Etransport.port=$transport_port" \
      "-Ediscovery.seed_hosts=$seed_hosts" "-Ecluster.initial_master_nodes=$initial_masters" \
      "-Ecluster.name=otel-logging-test" >"$run_dir/cluster.args"
  fi
  local discovery=(-Ediscovery.type=single-node -Etransport.port=0)
  if [[ -s "$run_dir/cluster.args" ]]; then
    mapfile -t discovery <"$run_dir/cluster.args"
  fi
  if [[ "$(id -u)" -eq 0 ]]; then
    id -u "$ES_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$ES_USER" ||
      id -u "$ES_USER" >/dev/null 2>&1 || die "could not create the user $ES_USER to run Elasticsearch (it refuses root)"
    chown -R "$ES_USER" "$run_dir"
  fi
  rm -f "$run_dir/pid"
  log "starting Elasticsearch $VERSION on 127.0.0.1:$port with $java_home (run dir $run_dir)"
  as_es_user env ES_JAVA_HOME="$java_home" ES_PATH_CONF="$run_dir/config" ES_TMPDIR="$run_dir/tmp" \
    ES_JAVA_OPTS="-Xms$HEAP -Xmx$HEAP ${OTEL_LOGGING_ES_JAVA_OPTS:-}" \
    bash -c 'mkdir -p "$ES_TMPDIR" && exec "$@"' _ "$home/bin/elasticsearch" -d -p "$run_dir/pid" \
    "${discovery[@]}" -Enetwork.host=127.0.0.1 -Ehttp.port="$port" \
    -Expack.security.enabled=false -Expack.ml.enabled=false \
    -Epath.data="$run_dir/data" -Epath.logs="$run_dir/logs" \
    -Ecluster.routing.allocation.disk.threshold_enabled=false \
    >"$run_dir/logs/stdout.log" 2>&1 ||
    die "Elasticsearch did not start; see $run_dir/logs/stdout.log and $run_dir/logs/*.log"
  echo "run_dir=$run_dir"
  echo "url=http://127.0.0.1:$port"
  echo "pid=$(cat "$run_dir/pid" 2>/dev/null || echo)"
  echo "version=$VERSION"
}

stop() {
  [[ "${1:-}" == "--run-dir" && -n "${2:-}" ]] || die "stop: needs --run-dir DIR"
  local run_dir="$2" pid
  pid="$(cat "$run_dir/pid" 2>/dev/null || true)"
  [[ -n "$pid" ]] || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  log "Elasticsearch (pid $pid) did not stop within 30 s; killing it"
  kill -9 "$pid" 2>/dev/null || true
}

fetch_command() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --version) VERSION_ARG="$2"; shift 2 ;;
      *) die "fetch: unknown argument '$1'" ;;
    esac
  done
  resolve_version
  fetch
}

case "${1:-}" in
  fetch) shift; fetch_command "$@" ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  *)
    sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
