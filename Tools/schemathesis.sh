#!/usr/bin/env bash
# API fuzzing: schemathesis against a running `msgstore serve` and the OpenAPI
# document it serves (GET /openapi.yaml). Fails on any 5xx, any response that
# does not conform to the document (status code, content type, headers, body
# schema), any invalid request that is accepted, any valid one that is refused,
# a server that died or stopped answering /health, a server that does not exit
# 0 on SIGTERM, or a data directory that `msgstore verify` does not find sound.
# The event stream (GET /messages/{recipient}/events, operation streamInbox) is left
# out: a valid request never ends by itself. Long polls are fuzzed with `wait` cut to
# 0 or 1 second (Tools/schemathesis/hooks.py), so the run cannot hang on them.
#
#   Tools/schemathesis.sh                                   # CI size (Tools/test.sh)
#   SCHEMATHESIS_MAX_EXAMPLES=500 Tools/schemathesis.sh     # the documented larger run
#
# Environment (defaults in brackets):
#   SCHEMATHESIS_MAX_EXAMPLES [100]  examples per operation and phase (fuzzing, stateful)
#   SCHEMATHESIS_SEED []            hypothesis seed (printed by schemathesis; replays a run)
#   SCHEMATHESIS_PHASES [examples,coverage,fuzzing,stateful]
#   SCHEMATHESIS_VENV [.build/schemathesis-venv]  the virtualenv schemathesis is installed into
#   SCHEMATHESIS_WORKERS [1]        concurrent schemathesis workers
#   SCHEMATHESIS_ARGS []            more arguments for `schemathesis run`
#   MSGSTORE_BINARY [.build/release/msgstore]     BUILD=0: use it as it is
#   BUILD [1]                       1: `swift build -c release --product msgstore` first
#   OUT [$TMPDIR/msgstore-schemathesis]           server log, schemathesis reports
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

SCHEMATHESIS_VERSION=4.32.5
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-100}
PHASES=${SCHEMATHESIS_PHASES:-examples,coverage,fuzzing,stateful}
VENV=${SCHEMATHESIS_VENV:-$root/.build/schemathesis-venv}
BINARY=${MSGSTORE_BINARY:-$root/.build/release/msgstore}
BUILD=${BUILD:-1}
OUT=${OUT:-${TMPDIR:-/tmp}/msgstore-schemathesis}

# 1. schemathesis, pinned, in its own virtualenv.
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "version $SCHEMATHESIS_VERSION\$"; then
  echo "== installing schemathesis $SCHEMATHESIS_VERSION into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# 2. The release server.
if [ "$BUILD" = 1 ]; then
  echo "== swift build -c release --product msgstore" >&2
  swift build -c release --product msgstore 2>&1 | grep -E "error|warning:" || true
fi
[ -x "$BINARY" ] || { echo "no msgstore binary at $BINARY" >&2; exit 1; }

# 3. A server on a fresh data directory and a free port.
rm -rf "$OUT"
mkdir -p "$OUT"
data=$(mktemp -d "${TMPDIR:-/tmp}/msgstore-schemathesis-data.XXXXXX")
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid" 2>/dev/null || true; fi
  rm -rf "$data"
}
trap cleanup EXIT
"$BINARY" serve --data "$data" --port 0 --sync always >"$OUT/server.out" 2>"$OUT/server.err" &
server_pid=$!
port=
for _ in $(seq 1 300); do
  port=$(sed -n 's#^msgstore listening on http://[^:]*:\([0-9]*\)$#\1#p' "$OUT/server.out" | head -1)
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$OUT/server.err" >&2; echo "msgstore serve exited at start" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "msgstore serve did not start listening" >&2; exit 1; }
base="http://127.0.0.1:$port"
echo "== msgstore serve on $base, data $data (log: $OUT/server.err)" >&2

# 4. schemathesis with every check and every phase (examples, coverage, fuzzing of
#    valid and invalid data, stateful sequences chained through the ids responses return).
status=0
seed_args=()
[ -n "${SCHEMATHESIS_SEED:-}" ] && seed_args=(--seed "$SCHEMATHESIS_SEED")
start=$(date +%s)
# shellcheck disable=SC2086
MSGSTORE_SCHEMATHESIS_BASE_URL=$base SCHEMATHESIS_SEED=${SCHEMATHESIS_SEED:-} \
  "$VENV/bin/schemathesis" --config-file Tools/schemathesis/schemathesis.toml run "$base/openapi.yaml" \
  --url "$base" \
  --checks all \
  --mode all \
  --exclude-operation-id streamInbox \
  --phases "$PHASES" \
  --max-examples "$MAX_EXAMPLES" \
  --workers "${SCHEMATHESIS_WORKERS:-1}" \
  --request-timeout 60 \
  --generation-database none \
  --no-color \
  --report junit,ndjson --report-dir "$OUT" \
  "${seed_args[@]}" ${SCHEMATHESIS_ARGS:-} || status=$?
echo "== schemathesis: exit $status after $(( $(date +%s) - start )) s (reports in $OUT)" >&2

# 5. The server must still be alive and healthy, stop cleanly on SIGTERM, and
#    leave a sound data directory.
health=$(python3 -c 'import sys, urllib.request, urllib.error
try: print(urllib.request.urlopen(sys.argv[1], timeout=10).status)
except urllib.error.HTTPError as e: print(e.code)
except Exception as e: print(type(e).__name__)' "$base/health")
if [ "$health" != 200 ]; then
  echo "FAILED: GET /health answered '$health' after the run (server alive: $(kill -0 "$server_pid" 2>/dev/null && echo yes || echo no))" >&2
  status=1
fi
# Log lines are "<date> <level> msgstore: ..."; a 500 is logged at error level.
if grep -E '^[^ ]+ (error|critical) |Fatal error' "$OUT/server.err" >/dev/null; then
  echo "FAILED: the server logged errors:" >&2
  grep -E '^[^ ]+ (error|critical) |Fatal error' "$OUT/server.err" | head -20 >&2
  status=1
fi
if kill -0 "$server_pid" 2>/dev/null; then
  kill -TERM "$server_pid"
  exit_status=0
  wait "$server_pid" || exit_status=$?
  server_pid=
  if [ "$exit_status" -ne 0 ]; then echo "FAILED: msgstore serve exited $exit_status on SIGTERM" >&2; status=1; fi
else
  echo "FAILED: msgstore serve died during the run" >&2
  tail -20 "$OUT/server.err" >&2
  status=1
fi
if ! "$BINARY" verify "$data" >"$OUT/verify.txt" 2>&1; then
  echo "FAILED: msgstore verify:" >&2; cat "$OUT/verify.txt" >&2; status=1
fi
if [ "$status" -eq 0 ]; then echo "schemathesis: 1 passed, 0 failed"; else echo "schemathesis: 0 passed, 1 failed"; fi
exit "$status"
