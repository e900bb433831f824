#!/usr/bin/env bash
# Make Debian's docker-compose (1.29, the Python implementation) available: it parses and validates
# docker-compose.otel.yml without a Docker engine (`docker-compose -f FILE config -q`). Idempotent:
# does nothing when docker-compose is already on PATH. Called by the compose test's fixture.
set -euo pipefail

if command -v docker-compose >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-docker-compose: apt-get not found; install docker-compose (1.29+) by hand" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# Wait for another apt/dpkg run (other test fixtures install packages too) instead of failing.
APT=(-o DPkg::Lock::Timeout=600 -y -q)
if ! $SUDO apt-get "${APT[@]}" install --no-install-recommends docker-compose; then
  $SUDO apt-get -o DPkg::Lock::Timeout=600 -q update
  $SUDO apt-get "${APT[@]}" install --no-install-recommends docker-compose
fi
docker-compose version
