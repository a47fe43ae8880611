#!/usr/bin/env bash
# Release-mode volume tests with bounded sizes (debug Swift is 10-50x slower),
# run by Tools/test.sh after the debug suite. Only the engine and the helper are
# built in release (not the server), so this stays a few minutes on 2 cores.
#   - a 2M-entry load through the engine, peak RSS checked against the budgets;
#   - 1M records through the durable queue, disk use back to near empty;
#   - SIGKILL of a release server three times during fan-outs to 20,000 members
#     (the debug test binary drives a release `msgstore`; MSGSTORE_VOLUME_FANOUT_MEMBERS).
set -euo pipefail
cd "$(dirname "$0")/.."
ENTRIES=${MSGSTORE_VOLUME_ENTRIES:-2000000}
RECORDS=${MSGSTORE_VOLUME_QUEUE_RECORDS:-1000000}
FANOUT_MEMBERS=${MSGSTORE_VOLUME_FANOUT_MEMBERS:-20000}
swift build -c release --product MsgStoreTestHelper 2>&1 | grep -E "error|warning:" || true
swift build -c release --product msgstore 2>&1 | grep -E "error|warning:" || true
helper=.build/release/MsgStoreTestHelper
dir=$(mktemp -d "${TMPDIR:-/tmp}/msgstore-volume.XXXXXX")
trap 'rm -rf "$dir"' EXIT
passed=0
failed=0
run() {
  local name=$1; shift
  echo "== volume: $name" >&2
  if "$helper" "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "volume test $name FAILED" >&2; fi
}
run "engine, $ENTRIES entries" volume "$dir/engine" "$ENTRIES"
run "queue, $RECORDS records" queue-volume "$dir/queue" "$RECORDS"
echo "== volume: fan-out SIGKILL, $FANOUT_MEMBERS members" >&2
if MSGSTORE_BINARY="$PWD/.build/release/msgstore" MSGSTORE_FANOUT_KILL_MEMBERS="$FANOUT_MEMBERS" \
    swift test --skip-build --no-parallel --filter FanOutKillTests; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); echo "volume test fan-out SIGKILL FAILED" >&2
fi
echo "volume: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
