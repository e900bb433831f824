#!/usr/bin/env bash
# Fuzz the export path (OTLP protobuf + OTLP/JSON decoding, conversion, JSON lines) with atheris.
#   scripts/fuzz.sh [SECONDS] [libFuzzer flags...]      e.g. scripts/fuzz.sh 600 -workers=2 -jobs=2
# Installs atheris into the project's venv once; keeps the corpus and any crashing inputs under
# ${OTEL_LOGGING_CACHE:-<repo>/.cache}/fuzz/ so that later runs start where earlier ones stopped.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-60}"
[ $# -gt 0 ] && shift
python="${VENV:-$repo/.venv}/bin/python"
cache="${OTEL_LOGGING_CACHE:-$repo/.cache}/fuzz"
if [ ! -x "$python" ]; then
  echo "fuzz.sh: no venv at ${python%/bin/python}; run 'make venv' first" >&2
  exit 2
fi
if ! "$python" -c "import atheris" 2>/dev/null; then
  echo "fuzz.sh: installing atheris into the venv" >&2
  "$python" -m pip install -q "atheris>=2.3"
fi
mkdir -p "$cache/corpus" "$cache/crashes"
cd "$repo"
"$python" fuzz/fuzz_export.py --write-seeds "$cache/corpus"
exec "$python" fuzz/fuzz_export.py -max_total_time="$seconds" -max_len=65536 -artifact_prefix="$cache/crashes/" \
  "$@" "$cache/corpus"
